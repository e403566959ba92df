/**
 * An in-process stand-in for a Temporal server and worker, for offline tests of the workflow code
 * (not a test file itself). It runs the real workflow bundle in the SDK's own workflow sandbox
 * (VMWorkflowCreator, as a Worker does), sends it activations (start, activity results, child
 * results, signals, queries, cancellation, timers) and carries out the commands it returns:
 * activities run the given functions with the retry policy the workflow asked for, children are
 * workflows of their own, continue-as-new starts a new run, parent-close policies apply.
 *
 * It is not Temporal: no persistence, no timeouts other than what tests trigger, activities run
 * at once. What it checks is what workflow code decides: which commands, in which order, with
 * which options — and, by replaying each run's recorded activations in a fresh sandbox, that the
 * code is deterministic (the same activations give the same commands), as a worker replaying
 * history after a restart needs.
 *
 * It relies on SDK internals (@temporalio/worker/lib/workflow/vm.js, core activation and command
 * shapes) of the installed version (1.24).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import assert from 'node:assert/strict';
import protoPkg from '@temporalio/proto';
import timePkg from '@temporalio/common/lib/time.js';
import vmPkg from '@temporalio/worker/lib/workflow/vm.js';
import workerPkg from '@temporalio/worker/lib/worker.js';
import { CancelledFailure, defaultFailureConverter, defaultPayloadConverter, ensureApplicationFailure, type Payload } from '@temporalio/common';
import type { ActivityRuntime } from '../../executors/temporal/activities.js';
import type { StepHeartbeat } from '../../workflows/temporal/types.js';

const { coresdk } = protoPkg;
const { msToTs, tsToMs } = timePkg;
const { VMWorkflowCreator } = vmPkg;

type Job = protoPkg.coresdk.workflow_activation.IWorkflowActivationJob;
type Command = protoPkg.coresdk.workflow_commands.IWorkflowCommand;
type Failure = protoPkg.temporal.api.failure.v1.IFailure;
type VMWorkflow = Awaited<ReturnType<InstanceType<typeof VMWorkflowCreator>['createWorkflow']>>;

const WAIT_CANCELLATION_COMPLETED = 1; // coresdk ActivityCancellationType
const PARENT_CLOSE = { 1: 'TERMINATE', 2: 'ABANDON', 3: 'REQUEST_CANCEL' } as Record<number, string>;

const toPayload = (v: unknown): Payload => defaultPayloadConverter.toPayload(v);
const fromPayload = (p: Payload | null | undefined): unknown => (p ? defaultPayloadConverter.fromPayload(p) : undefined);
const toFailure = (e: unknown): Failure => defaultFailureConverter.errorToFailure(e, defaultPayloadConverter) as Failure;
const cancelledFailure = (): Failure => ({ message: 'cancelled', source: 'TypeScriptSDK', canceledFailureInfo: {} });

/** What the activity functions see of "Temporal": the runtime of executors/temporal/activities.ts. */
export const activityRuntime = new AsyncLocalStorage<ActivityRuntime>();

export interface ScheduledActivity {
  workflowId: string;
  type: string;
  taskQueue: string;
  input: unknown;
  attempts: number;
  outcome?: 'completed' | 'failed' | 'cancelled';
  result?: unknown;
  heartbeats: StepHeartbeat[];
  options: { startToCloseMs: number; heartbeatTimeoutMs?: number; maxAttempts: number; cancellationType: number; nonRetryable: string[] };
}

export type ExecStatus = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED' | 'CONTINUED_AS_NEW';

interface ActivityRun {
  seq: number;
  abort: AbortController;
  cancelRequested: boolean;
  record: ScheduledActivity;
}

let runCounter = 0;

class Execution {
  readonly runId = `run-${++runCounter}`;
  wf?: VMWorkflow;
  jobs: Job[] = [];
  status: ExecStatus = 'RUNNING';
  result?: unknown;
  failure?: Failure;
  /** Activations and the commands they gave, for the replay check. */
  readonly history: { activation: Record<string, unknown>; commands: unknown }[] = [];
  historyLength = 0;
  readonly activities = new Map<number, ActivityRun>();
  readonly children = new Map<number, { exec: Execution; policy: string }>();
  readonly timers = new Map<number, NodeJS.Timeout>();
  busy: Promise<void> = Promise.resolve();
  taskFailure?: Failure;
  next?: Execution;
  private closedResolve!: () => void;
  readonly closed = new Promise<void>((r) => (this.closedResolve = r));

  constructor(
    readonly workflowId: string,
    readonly type: string,
    readonly args: Payload[],
    readonly taskQueue: string,
    readonly parent?: { exec: Execution; seq: number },
    readonly firstRunId?: string,
  ) {}

  close(status: ExecStatus): void {
    this.status = status;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.closedResolve();
  }
}

export interface SimOptions {
  bundle: { code: string };
  /** Activity functions by type. */
  activities: Record<string, (input: never) => Promise<unknown>>;
  /** History length from which activations say continueAsNewSuggested. */
  suggestContinueAsNewAt?: number;
  /** Real milliseconds per workflow timer millisecond (default 0.001: a 15 s sleep takes 15 ms). */
  timerScale?: number;
  /** Real ms between activity retries (default 5). */
  retryDelayMs?: number;
  namespace?: string;
}

export class TemporalSim {
  private creator?: InstanceType<typeof VMWorkflowCreator>;
  private readonly byId = new Map<string, Execution>();
  private readonly all: Execution[] = [];
  readonly scheduled: ScheduledActivity[] = [];
  /** Workflow ids some other "workflow" holds (tests of id conflicts). */
  private readonly reserved = new Set<string>();
  private now = Date.parse('2026-01-01T00:00:00Z');
  private queryId = 0;
  /** Errors the simulator met (a workflow task failure, an unknown command): tests assert none. */
  readonly problems: string[] = [];

  constructor(private readonly o: SimOptions) {}

  private async creatorReady() {
    // As a Worker does with a prebuilt bundle: split out its inline source map.
    this.creator ??= await VMWorkflowCreator.create(workerPkg.parseWorkflowCode(this.o.bundle.code), 5_000, new Set(Object.keys(this.o.activities)));
    return this.creator;
  }

  /** Start a workflow (the client's start). */
  async start(type: string, workflowId: string, args: unknown[], taskQueue = 'sim'): Promise<void> {
    const cur = this.byId.get(workflowId);
    if ((cur && cur.status === 'RUNNING') || this.reserved.has(workflowId)) throw new Error(`workflow ${workflowId} is running`);
    await this.begin(new Execution(workflowId, type, args.map(toPayload), taskQueue));
  }

  /** Hold a workflow id as if another workflow ran under it, until released. */
  reserve(workflowId: string): () => void {
    this.reserved.add(workflowId);
    return () => this.reserved.delete(workflowId);
  }

  private async begin(exec: Execution): Promise<void> {
    const creator = await this.creatorReady();
    this.byId.set(exec.workflowId, exec);
    this.all.push(exec);
    exec.wf = await creator.createWorkflow(this.createOptions(exec));
    this.push(exec, {
      initializeWorkflow: {
        workflowId: exec.workflowId, workflowType: exec.type, arguments: exec.args, randomnessSeed: 7 as never, attempt: 1,
        firstExecutionRunId: exec.firstRunId ?? exec.runId, startTime: msToTs(this.now),
        ...(exec.parent ? { parentWorkflowInfo: { namespace: this.ns, workflowId: exec.parent.exec.workflowId, runId: exec.parent.exec.runId } } : {}),
      },
    });
  }

  private get ns(): string {
    return this.o.namespace ?? 'default';
  }

  private createOptions(exec: Execution) {
    const info = {
      workflowId: exec.workflowId, runId: exec.runId, workflowType: exec.type, searchAttributes: {}, typedSearchAttributes: undefined,
      parent: exec.parent ? { workflowId: exec.parent.exec.workflowId, runId: exec.parent.exec.runId, namespace: this.ns } : undefined,
      root: undefined, taskQueue: exec.taskQueue, namespace: this.ns, firstExecutionRunId: exec.firstRunId ?? exec.runId,
      originalExecutionRunId: exec.runId, continuedFromExecutionRunId: undefined, startTime: new Date(this.now), runStartTime: new Date(this.now),
      taskTimeoutMs: 10_000, attempt: 1, historyLength: 0, historySize: 0, continueAsNewSuggested: false, targetWorkerDeploymentVersionChanged: false,
      suggestedContinueAsNewReasons: undefined, currentBuildId: '', currentDeploymentVersion: undefined,
      unsafe: { now: () => Date.now(), isReplaying: false, isReplayingHistoryEvents: false, random: Math.random },
      priority: undefined,
    };
    return { info: info as never, randomnessSeed: [0, 0, 0, 0, 0, 0, 0, 7], now: this.now, showStackTraceSources: false };
  }

  private push(exec: Execution, job: Job): void {
    if (exec.status !== 'RUNNING') return;
    exec.jobs.push(job);
    exec.busy = exec.busy.then(() => this.drain(exec)).catch((e) => void this.problems.push(`${exec.workflowId}: ${String(e?.stack ?? e)}`));
  }

  private async drain(exec: Execution): Promise<void> {
    await new Promise((r) => setImmediate(r)); // let jobs arriving together share an activation
    if (exec.status !== 'RUNNING' || !exec.jobs.length) return;
    const jobs = exec.jobs.splice(0);
    this.now += 1000;
    exec.historyLength += 3 + jobs.length; // workflow task scheduled/started/completed + one event per job
    const activation = {
      runId: exec.runId, timestamp: msToTs(this.now), isReplaying: false, historyLength: exec.historyLength, historySizeBytes: 0,
      continueAsNewSuggested: this.o.suggestContinueAsNewAt !== undefined && exec.historyLength >= this.o.suggestContinueAsNewAt, jobs,
    };
    const completion = await exec.wf!.activate(coresdk.workflow_activation.WorkflowActivation.fromObject(activation));
    if (completion.failed) {
      exec.taskFailure = completion.failed.failure ?? { message: 'workflow task failed' };
      this.problems.push(`${exec.workflowId}: workflow task failed: ${exec.taskFailure.message}\n${exec.taskFailure.stackTrace ?? ''}`);
      exec.close('FAILED');
      return;
    }
    const commands = completion.successful?.commands ?? [];
    exec.history.push({ activation, commands: JSON.parse(JSON.stringify(commands)) });
    exec.historyLength += commands.length;
    for (const c of commands) await this.command(exec, c);
  }

  private async command(exec: Execution, c: Command): Promise<void> {
    if (c.scheduleActivity) return void this.runActivity(exec, c.scheduleActivity);
    if (c.requestCancelActivity) {
      const run = exec.activities.get(c.requestCancelActivity.seq!);
      if (run) {
        run.cancelRequested = true;
        run.abort.abort();
      }
      return;
    }
    if (c.startChildWorkflowExecution) return this.startChild(exec, c.startChildWorkflowExecution);
    if (c.cancelChildWorkflowExecution) {
      const child = exec.children.get(c.cancelChildWorkflowExecution.childWorkflowSeq!);
      if (child) this.push(this.current(child.exec), { cancelWorkflow: {} });
      return;
    }
    if (c.signalExternalWorkflowExecution) {
      const s = c.signalExternalWorkflowExecution;
      const id = s.workflowExecution?.workflowId ?? s.childWorkflowId!;
      const target = this.byId.get(id);
      const ok = target && target.status === 'RUNNING' && (!s.workflowExecution?.runId || s.workflowExecution.runId === target.runId);
      if (ok) this.push(target, { signalWorkflow: { signalName: s.signalName, input: s.args ?? [] } });
      this.push(exec, { resolveSignalExternalWorkflow: { seq: s.seq, ...(ok ? {} : { failure: { message: `no running workflow ${id}`, applicationFailureInfo: { type: 'ExternalWorkflowExecutionNotFound' } } }) } });
      return;
    }
    if (c.cancelSignalWorkflow) return;
    if (c.startTimer) {
      const seq = c.startTimer.seq!;
      const ms = tsToMs(c.startTimer.startToFireTimeout);
      exec.timers.set(seq, setTimeout(() => {
        exec.timers.delete(seq);
        this.push(exec, { fireTimer: { seq } });
      }, Math.max(1, ms * (this.o.timerScale ?? 0.001))));
      return;
    }
    if (c.cancelTimer) {
      clearTimeout(exec.timers.get(c.cancelTimer.seq!));
      exec.timers.delete(c.cancelTimer.seq!);
      return;
    }
    if (c.respondToQuery) return; // answered in query()
    if (c.completeWorkflowExecution) return this.finish(exec, 'COMPLETED', { result: fromPayload(c.completeWorkflowExecution.result) });
    if (c.failWorkflowExecution) return this.finish(exec, 'FAILED', { failure: c.failWorkflowExecution.failure ?? undefined });
    if (c.cancelWorkflowExecution) return this.finish(exec, 'CANCELLED', {});
    if (c.continueAsNewWorkflowExecution) {
      const can = c.continueAsNewWorkflowExecution;
      const next = new Execution(exec.workflowId, can.workflowType || exec.type, can.arguments ?? [], can.taskQueue || exec.taskQueue, exec.parent, exec.firstRunId ?? exec.runId);
      exec.next = next;
      await this.finish(exec, 'CONTINUED_AS_NEW', {});
      await this.begin(next);
      return;
    }
    if (c.upsertWorkflowSearchAttributes || c.modifyWorkflowProperties || c.setPatchMarker) return;
    this.problems.push(`${exec.workflowId}: unexpected command ${Object.keys(c).join(',')}`);
  }

  private current(exec: Execution): Execution {
    let e = exec;
    while (e.next) e = e.next;
    return e;
  }

  private async finish(exec: Execution, status: ExecStatus, r: { result?: unknown; failure?: Failure }): Promise<void> {
    exec.result = r.result;
    exec.failure = r.failure;
    exec.close(status);
    // Parent-close policies (they apply on continue-as-new too).
    for (const { exec: child, policy } of exec.children.values()) {
      const c = this.current(child);
      if (c.status !== 'RUNNING') continue;
      this.problems.push(`${exec.workflowId} closed (${status}) with child ${c.workflowId} running (${policy})`);
      if (policy === 'REQUEST_CANCEL') this.push(c, { cancelWorkflow: {} });
      else if (policy === 'TERMINATE') c.close('TERMINATED');
    }
    if (status === 'CONTINUED_AS_NEW' || !exec.parent) return;
    const { exec: parent, seq } = exec.parent;
    const info = { childWorkflowExecutionFailureInfo: { namespace: this.ns, workflowExecution: { workflowId: exec.workflowId, runId: exec.runId }, workflowType: { name: exec.type } } };
    const result =
      status === 'COMPLETED'
        ? { completed: { result: toPayload(r.result) } }
        : status === 'CANCELLED'
          ? { cancelled: { failure: { message: 'Child Workflow execution cancelled', ...info, cause: cancelledFailure() } } }
          : { failed: { failure: { message: 'Child Workflow execution failed', ...info, cause: r.failure } } };
    this.push(parent, { resolveChildWorkflowExecution: { seq, result } });
  }

  private async startChild(exec: Execution, s: protoPkg.coresdk.workflow_commands.IStartChildWorkflowExecution): Promise<void> {
    const busy = this.byId.get(s.workflowId!);
    if ((busy && this.current(busy).status === 'RUNNING') || this.reserved.has(s.workflowId!)) {
      this.push(exec, { resolveChildWorkflowExecutionStart: { seq: s.seq, failed: { workflowId: s.workflowId, workflowType: s.workflowType, cause: 1 } } });
      return;
    }
    const child = new Execution(s.workflowId!, s.workflowType!, s.input ?? [], s.taskQueue || exec.taskQueue, { exec, seq: s.seq! });
    exec.children.set(s.seq!, { exec: child, policy: PARENT_CLOSE[Number(s.parentClosePolicy ?? 1)] ?? 'TERMINATE' });
    await this.begin(child);
    this.push(exec, { resolveChildWorkflowExecutionStart: { seq: s.seq, succeeded: { runId: child.runId } } });
  }

  private async runActivity(exec: Execution, s: protoPkg.coresdk.workflow_commands.IScheduleActivity): Promise<void> {
    const seq = s.seq!;
    const retry = s.retryPolicy ?? {};
    const record: ScheduledActivity = {
      workflowId: exec.workflowId, type: s.activityType!, taskQueue: s.taskQueue!, input: fromPayload(s.arguments?.[0]), attempts: 0, heartbeats: [],
      options: {
        startToCloseMs: tsToMs(s.startToCloseTimeout), heartbeatTimeoutMs: s.heartbeatTimeout ? tsToMs(s.heartbeatTimeout) : undefined,
        maxAttempts: retry.maximumAttempts || Infinity, cancellationType: Number(s.cancellationType ?? 0), nonRetryable: retry.nonRetryableErrorTypes ?? [],
      },
    };
    this.scheduled.push(record);
    const run: ActivityRun = { seq, abort: new AbortController(), cancelRequested: false, record };
    exec.activities.set(seq, run);
    const fn = this.o.activities[s.activityType!];
    const args = (s.arguments ?? []).map(fromPayload);
    let lastHeartbeat: unknown;
    const resolve = (result: Record<string, unknown>, outcome: ScheduledActivity['outcome']) => {
      record.outcome = outcome;
      exec.activities.delete(seq);
      this.push(exec, { resolveActivity: { seq, result } });
    };
    const activityInfo = { activityFailureInfo: { activityType: { name: s.activityType }, activityId: s.activityId, retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED' as never } };
    for (let attempt = 1; ; attempt++) {
      if (exec.status !== 'RUNNING') return;
      if (run.cancelRequested) return resolve({ cancelled: { failure: { message: 'Activity cancelled', ...activityInfo, cause: cancelledFailure() } } }, 'cancelled');
      record.attempts = attempt;
      if (attempt > 1) run.abort = new AbortController();
      const rt: ActivityRuntime = {
        signal: run.abort.signal, attempt, heartbeatTimeoutMs: record.options.heartbeatTimeoutMs, lastHeartbeat,
        heartbeat: (d) => {
          lastHeartbeat = structuredClone(d);
          record.heartbeats.push(structuredClone(d));
        },
      };
      try {
        if (!fn) throw new Error(`activity type ${s.activityType} is not registered`);
        const out = await activityRuntime.run(rt, () => (fn as (...a: unknown[]) => Promise<unknown>)(...args));
        record.result = out;
        return resolve({ completed: { result: toPayload(out) } }, 'completed');
      } catch (err) {
        if (run.cancelRequested && err instanceof CancelledFailure) {
          return resolve({ cancelled: { failure: { message: 'Activity cancelled', ...activityInfo, cause: cancelledFailure() } } }, 'cancelled');
        }
        // A cancellation the workflow did not ask for (worker shutdown) fails the attempt, as Temporal does.
        const app = err instanceof CancelledFailure ? ensureApplicationFailure(new Error(err.message)) : ensureApplicationFailure(err);
        const retryable = !app.nonRetryable && !record.options.nonRetryable.includes(app.type ?? '') && attempt < record.options.maxAttempts;
        if (!retryable) return resolve({ failed: { failure: { message: 'Activity task failed', ...activityInfo, cause: toFailure(app) } } }, 'failed');
        await new Promise((r) => setTimeout(r, this.o.retryDelayMs ?? 5));
      }
    }
  }

  /** Abort the running attempt of an activity as a worker shutdown would (the retry runs elsewhere). */
  interruptActivity(type: string): boolean {
    for (const e of this.all) {
      for (const run of e.activities.values()) {
        if (run.record.type === type && !run.abort.signal.aborted) {
          run.abort.abort();
          return true;
        }
      }
    }
    return false;
  }

  /** Signal the current run of a workflow (the client's signal). */
  signal(workflowId: string, name: string, ...args: unknown[]): void {
    const e = this.latest(workflowId);
    assert.equal(e.status, 'RUNNING', `signal ${name} to a closed workflow`);
    this.push(e, { signalWorkflow: { signalName: name, input: args.map(toPayload) } });
  }

  /** Request cancellation of the current run (the client's cancel). */
  cancel(workflowId: string): void {
    this.push(this.latest(workflowId), { cancelWorkflow: {} });
  }

  /** Query the current run (between activations, as a worker does). */
  async query<T>(workflowId: string, name: string): Promise<T> {
    const e = this.latest(workflowId);
    let answer: T | undefined;
    let failure: Failure | undefined;
    const queryId = `q${++this.queryId}`;
    const run = async () => {
      const completion = await e.wf!.activate(
        coresdk.workflow_activation.WorkflowActivation.fromObject({ runId: e.runId, jobs: [{ queryWorkflow: { queryId, queryType: name, arguments: [] } }] }),
      );
      const r = (completion.successful?.commands ?? []).find((c: Command) => c.respondToQuery?.queryId === queryId)?.respondToQuery;
      if (r?.succeeded) answer = fromPayload(r.succeeded.response) as T;
      else failure = r?.failed ?? completion.failed?.failure ?? { message: 'no answer' };
    };
    const p = e.busy.then(run);
    e.busy = p.catch(() => {});
    await p;
    if (failure) throw new Error(`query ${name} failed: ${failure.message}`);
    return answer as T;
  }

  /** The latest run of a workflow id. */
  latest(workflowId: string): Execution {
    const e = this.byId.get(workflowId);
    assert.ok(e, `no workflow ${workflowId}`);
    return this.current(e);
  }

  /** Wait for the chain of runs of a workflow id to close; returns its last run. */
  async closed(workflowId: string, timeoutMs = 120_000): Promise<Execution> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.latest(workflowId);
      if (e.status !== 'RUNNING' && e.status !== 'CONTINUED_AS_NEW') return e;
      if (this.problems.length) assert.fail(this.problems.join('\n'));
      if (Date.now() > deadline) assert.fail(`${workflowId} still running after ${timeoutMs} ms`);
      await Promise.race([e.closed, new Promise((r) => setTimeout(r, 50))]);
    }
  }

  /** All runs, oldest first (children included). */
  runs(filter?: (e: Execution) => boolean): Execution[] {
    return this.all.filter((e) => !filter || filter(e));
  }

  /**
   * Replay every run's recorded activations in a fresh sandbox and compare the commands: what a
   * worker does when it rebuilds a workflow from its history. A difference is non-determinism.
   */
  async replayAll(): Promise<number> {
    const creator = await this.creatorReady();
    let n = 0;
    for (const e of this.all) {
      if (!e.history.length) continue;
      const wf = await creator.createWorkflow(this.createOptions(e));
      for (const [i, h] of e.history.entries()) {
        const completion = await wf.activate(coresdk.workflow_activation.WorkflowActivation.fromObject({ ...h.activation, isReplaying: true }));
        assert.ok(!completion.failed, `replay of ${e.workflowId} (${e.runId}) failed at activation ${i}: ${completion.failed?.failure?.message}`);
        assert.deepEqual(JSON.parse(JSON.stringify(completion.successful?.commands ?? [])), h.commands, `replay of ${e.workflowId} (${e.runId}) differs at activation ${i}`);
      }
      await wf.dispose();
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    for (const e of this.all) {
      for (const t of e.timers.values()) clearTimeout(t);
      for (const a of e.activities.values()) a.abort.abort();
      await e.wf?.dispose().catch(() => {});
    }
    await this.creator?.destroy();
  }
}

/** The failure of a closed run as an error (ApplicationFailure, CancelledFailure…). */
export function failureOf(e: Execution): Error | undefined {
  return e.failure ? defaultFailureConverter.failureToError(e.failure as never, defaultPayloadConverter) : undefined;
}
