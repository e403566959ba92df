/**
 * The Temporal side of `gantry run --executor temporal`, `gantry status` and `gantry cancel`:
 * launch a prepared study as a workflow, follow it, read its progress, pause, resume or cancel it.
 *
 * Launches are idempotent. The workflow id is `gantry-<study>-<hash of the plan's trial ids and
 * step keys>`: launching the same grid while it runs attaches to the running workflow
 * (WorkflowIdConflictPolicy USE_EXISTING); launching it after it closed starts a new run
 * (WorkflowIdReusePolicy ALLOW_DUPLICATE) that schedules only the trials whose steps are not all
 * done in the store's ledger — the missing and failed cells. Trial ids never change, so the
 * catalog never holds a trial twice.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import type { Hasher } from '../../core/canonical.js';
import { isStudyWorkflowIdOf, studyWorkflowIdFrom } from '../../workflows/temporal/ids.js';
import {
  CANCEL_SIGNAL, PAUSE_SIGNAL, RESUME_SIGNAL, STUDY_PROGRESS_QUERY, STUDY_WORKFLOW, TRIAL_PROGRESS_QUERY,
  type ActivityClass, type ActivityTunings, type StepHeartbeat, type TaskQueues, type StudyInput, type StudyProgressInfo, type StudyResult, type TrialPlan, type TrialProgressInfo,
} from '../../workflows/temporal/types.js';
import { UserError } from '../../core/errors.js';
import { launchId, registerStudy, type PreparedStudy } from '../prepare.js';
import { idHasher } from '../../infra/hash.js';
import type { ArtifactStore } from '../../infra/store/store.js';
import { withClient, type TemporalTarget } from './connection.js';
import { writePlan } from './plan.js';
import { cachedRecord } from '../step-attempt.js';

export type { TemporalTarget } from './connection.js';

/** The study workflow's id: stable for the same grid (trial ids and step keys, in any order). */
export function studyWorkflowId(study: string, trials: readonly TrialPlan[], hash: Hasher = idHasher): string {
  return studyWorkflowIdFrom(study, launchId(trials, hash));
}

const tuningSchema = z
  .object({
    startToCloseMs: z.number().int().positive(),
    heartbeatTimeoutMs: z.number().int().min(0),
    maxAttempts: z.number().int().min(1),
    initialIntervalMs: z.number().int().positive(),
    maximumIntervalMs: z.number().int().positive(),
    scheduleToCloseMs: z.number().int().min(0),
  })
  .partial()
  .strict();

const CLASSES = ['light', 'train', 'score', 'record', 'plan'] as const satisfies readonly ActivityClass[];

const launchSchema = z
  .object({
    concurrency: z.number().int().min(1).max(10_000).default(4),
    batchSize: z.number().int().min(1).max(2_000).default(200),
    retries: z.number().int().min(0).max(100).default(2),
    inlineLimitBytes: z.number().int().min(0).default(256 * 1024),
    checkpoint: z.object({ everyIterations: z.number().int().min(1), everyMinutes: z.number().positive(), keep: z.number().int().min(1) }).partial().default({}),
    tuning: z.partialRecord(z.enum(CLASSES), tuningSchema).default({}),
  })
  .strict();

export interface LaunchOptions {
  /** The store the workers share (GANTRY_STORE): trial and study files, the ledger, large plans. */
  store: ArtifactStore;
  /** Trials at once (default 4). */
  concurrency?: number;
  /** Trials per workflow run before it continues as new (default 200). */
  batchSize?: number;
  /** Extra attempts for a light step that fails with a transient error (default 2, like the embedded executor). */
  retries?: number;
  checkpoint?: { everyIterations?: number; everyMinutes?: number; keep?: number };
  /** Timeouts and retries per activity class, over the defaults of workflows/temporal/options.ts. */
  tuning?: ActivityTunings;
  /** Plans larger than this (JSON bytes) are written to the store and read in slices (default 256 KiB). */
  inlineLimitBytes?: number;
}

export interface LaunchResult {
  workflowId: string;
  /** The first run of the workflow this launch started or attached to. */
  runId: string;
  /** True when the same grid was already running: this launch attached to it. */
  attached: boolean;
  total: number;
  /** Trials scheduled by this launch (0 when attached). */
  scheduled: number;
  /** Trials whose steps were all done already: not scheduled again. */
  alreadyDone: number;
  /** Where the plan went when it was too large to travel inline. */
  planKey?: string;
}

export async function launchStudy(prepared: PreparedStudy, conn: TemporalTarget, opts: LaunchOptions): Promise<LaunchResult> {
  const o = parseLaunchOptions(opts);
  const trials: TrialPlan[] = prepared.trials.map((t) => ({ id: t.id, steps: t.steps }));
  const workflowId = studyWorkflowId(prepared.study, trials);

  return withClient(conn, async (client, settings) => {
    const existing = await describeOrUndefined(client.workflow.getHandle(workflowId));
    if (existing?.status.name === 'RUNNING') {
      return { workflowId, runId: existing.runId, attached: true, total: trials.length, scheduled: 0, alreadyDone: 0 };
    }
    const plan = await planLaunch(prepared, opts.store, settings.queues, o);
    const handle = await client.workflow.start(STUDY_WORKFLOW, {
      workflowId,
      taskQueue: settings.queues.main,
      args: [plan.input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      memo: { gantryStudy: prepared.study, trials: trials.length },
    });
    return {
      workflowId, runId: handle.firstExecutionRunId, attached: false, total: trials.length, scheduled: plan.input.total - plan.input.alreadyDone,
      alreadyDone: plan.input.alreadyDone, ...(plan.planKey ? { planKey: plan.planKey } : {}),
    };
  });
}

type ParsedLaunch = z.output<typeof launchSchema>;

export function parseLaunchOptions(opts: Omit<LaunchOptions, 'store'> & { store?: unknown }): ParsedLaunch {
  const { store: _store, ...rest } = opts;
  const parsed = launchSchema.safeParse(rest);
  if (!parsed.success) throw new UserError(`invalid launch options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * The launcher's side of a launch, without Temporal: write the trial and study files, find the
 * trials not done yet, put a large plan in the store, and build the study workflow's input.
 */
export async function planLaunch(prepared: PreparedStudy, store: ArtifactStore, queues: TaskQueues, o: ParsedLaunch): Promise<{ workflowId: string; input: StudyInput; planKey?: string }> {
  const trials: TrialPlan[] = prepared.trials.map((t) => ({ id: t.id, steps: t.steps }));
  await store.checkWritable();
  const now = new Date();
  await registerStudy(store, prepared, now.toISOString(), 'temporal');
  const pending = await trialsToSchedule(store, trials);
  const inline = Buffer.byteLength(JSON.stringify(pending)) <= o.inlineLimitBytes;
  const planKey = inline ? undefined : await writePlan(store, prepared.study, pending);
  const input: StudyInput = {
    study: prepared.study,
    total: trials.length,
    alreadyDone: trials.length - pending.length,
    plan: planKey ? { kind: 'store', key: planKey, total: pending.length } : { kind: 'inline', trials: pending },
    concurrency: o.concurrency,
    batchSize: o.batchSize,
    queues,
    checkpoint: { everyIterations: 50, everyMinutes: 5, keep: 2, ...o.checkpoint },
    tuning: { ...o.tuning, light: { maxAttempts: o.retries + 1, ...o.tuning.light } },
    launchedAt: now.toISOString(),
  };
  return { workflowId: studyWorkflowId(prepared.study, trials), input, ...(planKey ? { planKey } : {}) };
}

/** The trials with a step not done (or whose outputs went missing): what a relaunch schedules. */
export async function trialsToSchedule(store: ArtifactStore, trials: TrialPlan[], parallel = 16): Promise<TrialPlan[]> {
  const keys = [...new Set(trials.flatMap((t) => t.steps.map((s) => s.key)))];
  const calls = new Map(trials.flatMap((t) => t.steps.map((s) => [s.key, s] as const)));
  const done = new Set<string>();
  let next = 0;
  const lane = async () => {
    while (next < keys.length) {
      const k = keys[next++];
      if (await cachedRecord(store, calls.get(k)!)) done.add(k);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, keys.length) }, lane));
  return trials.filter((t) => !t.steps.every((s) => done.has(s.key)));
}

async function describeOrUndefined(handle: WorkflowHandle) {
  try {
    return await handle.describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return undefined;
    throw e;
  }
}

/** Which studies a command acts on: one workflow, or the workflows of a study (newest first). */
export type StudyRef = { workflowId: string } | { study: string; limit?: number };

export interface RunningTrialStatus {
  trialId: string;
  workflowId: string;
  /** The step running now, when the trial answered. */
  step?: TrialProgressInfo['step'];
  stepsDone?: number;
  total?: number;
  /** The running step's last heartbeat: iteration, total, newest checkpoint. */
  heartbeat?: StepHeartbeat;
}

export interface StudyStatus {
  workflowId: string;
  runId: string;
  status: string;
  startTime: Date;
  closeTime?: Date;
  /** Counters: from the `progress` query while running, from the result when completed. */
  progress?: StudyProgressInfo | StudyResult;
  trials: RunningTrialStatus[];
  /** Why progress is missing (no worker answered, the workflow failed). */
  note?: string;
}

const QUERY_DEADLINE_MS = 10_000;

/** Study workflows matching `ref`, newest first, with their progress and their running trials' steps. */
export async function studyProgress(conn: TemporalTarget, ref: StudyRef): Promise<StudyStatus[]> {
  return withClient(conn, async (client) => {
    const ids = await findStudyWorkflows(client, ref);
    const out: StudyStatus[] = [];
    for (const id of ids) {
      const handle = client.workflow.getHandle(id);
      const d = await describeOrUndefined(handle);
      if (!d) {
        if ('workflowId' in ref) throw new UserError(`no workflow ${id}`, { hint: 'list the studies with gantry status' });
        continue;
      }
      const st: StudyStatus = { workflowId: id, runId: d.runId, status: d.status.name, startTime: d.startTime, closeTime: d.closeTime, trials: [] };
      if (d.status.name === 'RUNNING') {
        try {
          const p = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query<StudyProgressInfo>(STUDY_PROGRESS_QUERY));
          st.progress = p;
          for (const r of p.running) st.trials.push(await trialStatus(client, r.trialId, r.workflowId));
        } catch (e) {
          st.note = `no progress: ${String((e as Error).message).split('\n')[0]} (is a gantry worker polling the main task queue?)`;
        }
      } else if (d.status.name === 'COMPLETED') {
        st.progress = await handle.result().catch(() => undefined);
      } else if (d.status.name === 'FAILED' || d.status.name === 'TERMINATED' || d.status.name === 'TIMED_OUT') {
        st.note = `the study workflow ${d.status.name.toLowerCase()}`;
      }
      out.push(st);
    }
    return out;
  });
}

async function trialStatus(client: Client, trialId: string, workflowId: string): Promise<RunningTrialStatus> {
  const out: RunningTrialStatus = { trialId, workflowId };
  const handle = client.workflow.getHandle(workflowId);
  try {
    const p = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query<TrialProgressInfo>(TRIAL_PROGRESS_QUERY));
    out.step = p.step;
    out.stepsDone = p.stepsDone;
    out.total = p.total;
    const d = await handle.describe();
    const pa = d.raw.pendingActivities?.[0];
    const payload = pa?.heartbeatDetails?.payloads?.[0];
    if (payload) out.heartbeat = defaultPayloadConverter.fromPayload<StepHeartbeat>(payload);
  } catch {
    /* a trial just starting or ending does not answer: leave the details out */
  }
  return out;
}

/** Study workflow ids for a ref: the one given, or the study's (running ones first, then newest). */
export async function findStudyWorkflows(client: Client, ref: StudyRef): Promise<string[]> {
  if ('workflowId' in ref) return [ref.workflowId];
  const seen = new Map<string, { running: boolean; start: number }>();
  let scanned = 0;
  for await (const w of client.workflow.list({ query: `WorkflowType = '${STUDY_WORKFLOW}'` })) {
    if (++scanned > 5_000) break;
    if (!isStudyWorkflowIdOf(w.workflowId, ref.study)) continue;
    const prev = seen.get(w.workflowId);
    const running = w.status.name === 'RUNNING';
    const start = w.startTime.getTime();
    if (!prev || running || (!prev.running && start > prev.start)) seen.set(w.workflowId, { running: running || !!prev?.running, start: Math.max(start, prev?.start ?? 0) });
  }
  return [...seen]
    .sort(([, a], [, b]) => Number(b.running) - Number(a.running) || b.start - a.start)
    .slice(0, ref.limit ?? 5)
    .map(([id]) => id);
}

/**
 * Cancel the running study workflows of `ref`: their running trials stop after a checkpoint, the
 * ledger says `interrupted`, and a later launch of the same grid resumes them. Returns the ids cancelled.
 * With `wait`, returns once they have closed.
 */
export async function cancelStudy(conn: TemporalTarget, ref: StudyRef, opts: { wait?: boolean } = {}): Promise<string[]> {
  return withClient(conn, async (client) => {
    const cancelled: string[] = [];
    for (const id of await findStudyWorkflows(client, ref)) {
      const handle = client.workflow.getHandle(id);
      const d = await describeOrUndefined(handle);
      if (d?.status.name !== 'RUNNING') continue;
      await handle.cancel();
      cancelled.push(id);
    }
    if (opts.wait) for (const id of cancelled) await client.workflow.getHandle(id).result().catch(() => undefined);
    if (!cancelled.length && 'workflowId' in ref) throw new UserError(`workflow ${ref.workflowId} is not running`);
    return cancelled;
  });
}

/** Pause (start no new trials; running ones go on) or resume the running study workflows of `ref`. */
export async function signalStudy(conn: TemporalTarget, ref: StudyRef, what: 'pause' | 'resume' | 'cancel'): Promise<string[]> {
  const name = what === 'pause' ? PAUSE_SIGNAL : what === 'resume' ? RESUME_SIGNAL : CANCEL_SIGNAL;
  return withClient(conn, async (client) => {
    const out: string[] = [];
    for (const id of await findStudyWorkflows(client, ref)) {
      const handle = client.workflow.getHandle(id);
      if ((await describeOrUndefined(handle))?.status.name !== 'RUNNING') continue;
      await handle.signal(name);
      out.push(id);
    }
    return out;
  });
}

export interface WaitOptions {
  /** Called with the study's progress every `intervalMs` (default 2000) while it runs. */
  onProgress?: (p: StudyProgressInfo) => void;
  intervalMs?: number;
  /** Stop waiting (the study keeps running) when aborted. */
  signal?: AbortSignal;
}

/**
 * Wait for a study workflow to close (following continue-as-new) and return its result. A
 * cancelled study returns its last progress with `cancelled: true`; a failed one throws.
 * Aborting `signal` stops waiting and returns undefined: the study keeps running.
 */
export async function waitForStudy(conn: TemporalTarget, workflowId: string, opts: WaitOptions = {}): Promise<StudyResult | undefined> {
  return withClient(conn, async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    let last: StudyProgressInfo | undefined;
    let stop = false;
    const poll = (async () => {
      while (!stop && !opts.signal?.aborted) {
        try {
          last = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query<StudyProgressInfo>(STUDY_PROGRESS_QUERY));
          opts.onProgress?.(last);
        } catch {
          /* between runs (continue-as-new) or no worker yet: try again */
        }
        await sleepUnless(opts.intervalMs ?? 2000, opts.signal, () => stop);
      }
    })();
    const aborted = new Promise<'aborted'>((resolve) => {
      if (opts.signal?.aborted) resolve('aborted');
      opts.signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    try {
      const r = await Promise.race([handle.result() as Promise<StudyResult>, aborted]);
      return r === 'aborted' ? undefined : r;
    } catch (e) {
      const d = await describeOrUndefined(handle);
      if (d?.status.name === 'CANCELLED') {
        const base: StudyResult = last ?? { study: '', total: 0, alreadyDone: 0, done: 0, failed: 0, interrupted: 0, stepsRun: 0, stepsCached: 0, cancelled: true, runs: 1, failures: [] };
        return { ...stripProgress(base), cancelled: true };
      }
      throw e;
    } finally {
      stop = true;
      await poll.catch(() => {});
    }
  });
}

function stripProgress(p: StudyResult | StudyProgressInfo): StudyResult {
  const { study, total, alreadyDone, done, failed, interrupted, stepsRun, stepsCached, cancelled, runs, failures } = p;
  return { study, total, alreadyDone, done, failed, interrupted, stepsRun, stepsCached, cancelled, runs, failures };
}

async function sleepUnless(ms: number, signal: AbortSignal | undefined, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && !signal?.aborted && !stopped()) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
}

/** A few lines for `gantry status`: counters, then each running trial's step and iteration. */
export function formatStudyStatus(s: StudyStatus): string {
  const lines: string[] = [];
  const p = s.progress;
  const head = `${s.workflowId} (${s.status.toLowerCase()}, started ${s.startTime.toISOString()}${s.closeTime ? `, closed ${s.closeTime.toISOString()}` : ''})`;
  lines.push(head);
  if (p) {
    const parts = [`${p.done + p.alreadyDone}/${p.total} done`];
    if (p.alreadyDone) parts.push(`${p.alreadyDone} of them before this launch`);
    if (p.failed) parts.push(`${p.failed} failed`);
    if (p.interrupted) parts.push(`${p.interrupted} interrupted`);
    if ('running' in p) {
      parts.push(`${p.running.length} running`, `${p.pending} pending`);
      if (p.paused) parts.push('paused');
      if (p.cancelling) parts.push('cancelling');
    }
    parts.push(`${p.stepsRun} steps ran, ${p.stepsCached} cached`);
    lines.push('  ' + parts.join(', '));
    for (const f of p.failures.slice(0, 10)) lines.push(`  ${f.status} ${f.trialId}: ${f.error}`);
  }
  for (const t of s.trials) {
    const step = t.step ? `${t.step.kind} (step ${t.step.index + 1}/${t.total ?? '?'})` : 'between steps';
    const hb = t.heartbeat && t.heartbeat.total ? `, iteration ${t.heartbeat.iteration}/${t.heartbeat.total}` : '';
    const ck = t.heartbeat?.checkpointIteration !== undefined ? `, checkpoint at ${t.heartbeat.checkpointIteration}` : '';
    lines.push(`  running ${t.trialId}: ${step}${hb}${ck}`);
  }
  if (s.note) lines.push(`  ${s.note}`);
  return lines.join('\n');
}
