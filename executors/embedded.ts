/**
 * The embedded executor: runs a prepared study in this process. Trials run with bounded
 * concurrency; each trial's steps run in order; a step shared by several trials runs once.
 * Every step's state goes to the durable ledger before and after it runs, so re-running the same
 * command after any interruption skips what is done and resumes what was cut off.
 */
import type { CheckpointPolicy } from '../activities/context.js';
import { doneTrialSteps, recordStudy, recordTrial, stepList, trialReport, trialStatus, type TrialFacts, type TrialStatus } from '../activities/record.js';
import type { StepCall } from '../experiments/plan.js';
import { Catalog } from '../infra/catalog.js';
import { CancelledError, UserError, isEnvironmentError, isUserError, oneLine } from '../core/errors.js';
import { listRecords, readRecord, type StepRecord } from '../infra/ledger.js';
import { explainNewStep } from './explain.js';
import { studyWorkflow } from '../workflows/study.js';
import { trialWorkflow } from '../workflows/trial.js';
import type { ArtifactStore } from '../infra/store/store.js';
import type { MetricPoint } from '../core/metrics.js';
import { acquireLock } from './lock.js';
import { runStepAttempt, stepRunner } from './step-attempt.js';
import { describeOwner, leasedAttempt, leaseSettings, LeaseLostError, type LeaseOwner, type LeaseSettings } from './step-lease.js';
import { StepPool } from './step-pool.js';
import { registerStudy, saveTrialOf, type PlannedTrial, type StudyPlan } from './prepare.js';
import { recordLaunches } from '../activities/launches.js';
import { ProgressWriter } from '../activities/launch-progress.js';
import { testSetOf } from '../activities/record.js';

export type ExecEvent =
  | { type: 'start'; study: string; trials: number; steps: number }
  | { type: 'step-start'; trialId: string; kind: string; key: string; reason: string }
  | { type: 'step-progress'; trialId: string; kind: string; key: string; done: number; total: number }
  | { type: 'step-done'; trialId: string; kind: string; key: string; cached: boolean; durationMs: number }
  | { type: 'step-retry'; trialId: string; kind: string; key: string; error: string; attempt: number; delayMs: number }
  /** Another process (another home or machine on this store) holds the step's lease: this one waits for it. */
  | { type: 'step-wait'; trialId: string; kind: string; key: string; holder: string }
  | { type: 'warning'; message: string }
  | { type: 'step-damaged'; trialId: string; kind: string; key: string; what: string }
  | { type: 'trial-end'; trialId: string; status: TrialStatus; error: string | null; metrics: Record<string, number> };

export interface EmbeddedOptions {
  store: ArtifactStore;
  catalogPath: string;
  lockPath: string;
  concurrency?: number;
  /** Attempts after the first for a step that fails with a transient error. */
  retries?: number;
  backoffMs?: number;
  checkpoint?: Partial<CheckpointPolicy>;
  signal?: AbortSignal;
  onEvent?: (e: ExecEvent) => void;
  /** Told of trials and their metrics as they happen (the MLflow mirror); must never block or throw. */
  tracker?: TrialTracker;
  /** The tfjs backend to ask for (tensorflow, wasm, cpu); automatic when unset. */
  backend?: string;
  /** Step leases (executors/step-lease.ts); default leaseSettings(), from GANTRY_LEASE_SECONDS. */
  lease?: LeaseSettings;
}

/** An observer of trials: an experiment tracker mirrors them (MLflow). Calls must be fast and never throw. */
export interface TrialTracker {
  /** A launch begins (before any trial): `study` with the trials this launch runs. */
  launchStarted?(study: Pick<StudyPlan, 'study' | 'version' | 'profile' | 'axes' | 'seeds' | 'count' | 'gridId'>): void;
  launchEnded?(status: 'done' | 'failed' | 'interrupted'): void;
  /** `launch`: the trial's launch when it is not the one announced by launchStarted (the Temporal catalog worker). */
  trialStarted(trial: PlannedTrial, study: string, launch?: { id: string; profile?: string | null }): void;
  /** One of the trial's steps really runs (it was not cached): the first call per trial counts. */
  trialRunning?(trialId: string): void;
  /** Training-curve points, once a checkpoint holds them (see the train step). */
  metrics(trialId: string, points: MetricPoint[]): void;
  /** Called when a trial ends, with every metric point the store holds for it (what the catalog gets) and its facts (trialReport). */
  trialEnded(trialId: string, status: TrialStatus, points: MetricPoint[], facts?: TrialFacts): void;
}

export interface TrialOutcome {
  trialId: string;
  status: TrialStatus;
  error: string | null;
  metrics: Record<string, number>;
}

/** Above this many trials, a run's summary lists only the trials that did not end done (memory stays flat). */
export const OUTCOMES_LISTED = 10_000;

export interface RunSummary {
  study: string;
  /** This invocation's launch document (activities/launches.ts). */
  launchId: string;
  /** Trials per final state. */
  counts: Partial<Record<TrialStatus, number>>;
  /** Every trial's outcome, in plan order; for a grid above OUTCOMES_LISTED trials, only those not done. */
  outcomes: TrialOutcome[];
  stepsRun: number;
  stepsCached: number;
}

export async function runEmbedded(study: StudyPlan, opts: EmbeddedOptions): Promise<RunSummary> {
  const { store } = opts;
  await store.checkWritable();
  const release = await acquireLock(opts.lockPath);
  try {
    return await new Run(study, opts).execute();
  } finally {
    await release();
  }
}

class Run {
  private readonly inflight = new Map<string, Promise<StepRecord>>();
  private readonly emit: (e: ExecEvent) => void;
  private readonly policy: CheckpointPolicy;
  private stepsRun = 0;
  private stepsCached = 0;
  /** Steps that ran (were not cached) in this launch: their trials' catalog rows must be written again. */
  private readonly ran = new Set<string>();
  private readonly pool: StepPool;
  private readonly recorder: CatalogRecorder;
  private readonly leaseSettings: LeaseSettings;

  private progress: ProgressWriter | undefined;
  private readonly counts: Partial<Record<TrialStatus, number>> = {};

  constructor(private readonly study: StudyPlan, private readonly opts: EmbeddedOptions) {
    this.emit = opts.onEvent ?? (() => {});
    this.policy = { everyIterations: 50, everyMinutes: 5, keep: 2, ...opts.checkpoint };
    this.recorder = new CatalogRecorder((fn) => this.withCatalog(fn), opts.store);
    this.pool = new StepPool(Math.max(1, opts.concurrency ?? 1), opts.store.url, opts.backend);
    this.leaseSettings = opts.lease ?? leaseSettings();
  }

  async execute(): Promise<RunSummary> {
    const { store } = this.opts;
    const launch = await registerStudy(store, this.study, new Date().toISOString());
    const progress = (this.progress = new ProgressWriter(store, this.study.study, launch.launchId, this.study.count));
    await progress.start();
    await this.withCatalog(async (c) => void (await recordStudy(store, c, this.study.study), await recordLaunches(store, c, this.study.study)));
    this.emit({ type: 'start', study: this.study.study, trials: this.study.count, steps: this.study.uniqueSteps });

    this.opts.tracker?.launchStarted?.(this.study);
    let outcomes: TrialOutcome[];
    try {
      await this.prepareData().catch((e) => {
        this.opts.tracker?.launchEnded?.('failed');
        throw e;
      });
      outcomes = await studyWorkflow(this.study.each(), this.opts.concurrency ?? 1, (t, i) => this.runTrial(t, i), () => !!this.opts.signal?.aborted);
    } finally {
      await this.pool.close();
      await this.recorder.close();
      await progress.close();
    }
    const ended = this.opts.signal?.aborted || outcomes.some((o) => o.status === 'interrupted') ? 'interrupted' : outcomes.some((o) => o.status !== 'done') ? 'failed' : 'done';
    this.opts.tracker?.launchEnded?.(ended);
    return { study: this.study.study, launchId: launch.launchId, counts: this.counts, outcomes, stepsRun: this.stepsRun, stepsCached: this.stepsCached };
  }

  /** `index`: the trial's place in the plan (its character in the launch's progress document). */
  private async runTrial(trial: PlannedTrial, index: number): Promise<TrialOutcome | undefined> {
    // The trial's file is written as it starts, not at planning: a grid of 10⁵ trials writes none before its first step.
    await saveTrialOf(this.opts.store, this.study.study, trial, new Date().toISOString());
    this.progress?.set(index, 'running');
    this.opts.tracker?.trialStarted(trial, this.study.study);
    const r = await trialWorkflow(trial.steps, (call) => this.ensureStep(call, trial.id));
    // A failed trial's status says whether its step failed or was interrupted.
    const status = r.ok ? 'done' : trialStatus([await readRecord(this.opts.store, trial.steps[r.failedAt!].key)]).status;
    // The catalog mirrors the store; a trial is indexed whether it finished or not.
    this.recorder.add(trial.id, status, trial.steps, trial.steps.some((x) => this.ran.has(x.key)));
    if (this.opts.tracker) {
      const { points, facts } = await trialReport(this.opts.store, trial.steps);
      this.opts.tracker.trialEnded(trial.id, status, points, facts);
    }
    const outcome = { trialId: trial.id, status, error: r.ok ? null : oneLine(r.error), metrics: r.metrics };
    this.progress?.set(index, status, outcome.error);
    this.counts[status] = (this.counts[status] ?? 0) + 1;
    this.emit({ type: 'trial-end', ...outcome });
    return status === 'done' && this.study.count > OUTCOMES_LISTED ? undefined : outcome;
  }

  /**
   * The data steps of every trial (everything before training), each distinct step once, before
   * any trial trains: bad data (a missing variable, NaN, nothing left after filtering, a split
   * with no normal training item) then fails the launch once, as bad input, before any training.
   */
  private async prepareData(): Promise<void> {
    // Planning kept the distinct data steps (a grid with very many runs each in its trial instead).
    for (const { call, trialId } of this.study.dataSteps ?? []) {
      if (this.opts.signal?.aborted) return;
      try {
        await this.ensureStep(call, trialId, { quiet: true });
      } catch (e) {
        if (isEnvironmentError(e)) throw e; // a full disk fails the launch once, not every trial
        if (!isUserError(e)) continue; // the trials report it, after their retries
        await this.failTrials((t) => t.steps.some((s) => s.key === call.key), `${call.kind}: ${oneLine(e)}`);
        throw new UserError(`dataset: ${call.kind} step failed: ${oneLine(e)}`, { cause: e });
      }
    }
    // Test samples that evaluation could not rank fail the launch now, not each trial after training.
    // No step failed (the data steps did their part): the trials stay pending, as nothing ran for them.
    for (const set of this.study.evaluationSets ?? []) {
      if (this.opts.signal?.aborted) return;
      const problem = await testSetOf(this.opts.store, set.extract, set.split);
      if (problem) throw new UserError(`dataset: ${problem}`);
    }
  }

  /** Mark the trials `which` selects failed (their files written, the catalog and progress told): a data step failed on bad data. */
  private async failTrials(which: (t: PlannedTrial) => boolean, error: string): Promise<void> {
    let index = 0;
    for (const t of this.study.each()) {
      if (which(t)) {
        await saveTrialOf(this.opts.store, this.study.study, t, new Date().toISOString());
        this.recorder.add(t.id, 'failed', t.steps, true);
        this.progress?.set(index, 'failed', error);
      }
      index++;
    }
  }

  /** One catalog writer at a time, even inside this process: two DuckDB instances on one file corrupt it. */
  private catalogQueue: Promise<unknown> = Promise.resolve();
  private withCatalog<T>(fn: (c: Catalog) => Promise<T>): Promise<T> {
    const run = this.catalogQueue.then(async () => {
      const c = await Catalog.open(this.opts.catalogPath);
      try {
        return await fn(c);
      } finally {
        c.close();
      }
    });
    this.catalogQueue = run.catch(() => undefined);
    return run;
  }

  /** Run a step unless its done record is in the ledger; concurrent callers share one execution. */
  private ensureStep(call: StepCall, trialId: string, opts: { quiet?: boolean } = {}): Promise<StepRecord> {
    let p = this.inflight.get(call.key);
    if (!p) {
      p = this.executeStep(call, trialId, opts.quiet ?? false);
      this.inflight.set(call.key, p);
    }
    return p;
  }

  /**
   * `quiet`: a data step run before its trial started, which trackers do not hear of.
   * Each attempt runs under the step's lease (leasedAttempt): another process running this step
   * (another home or machine on the store) is waited for, and its result taken as cached.
   */
  private async executeStep(call: StepCall, trialId: string, quiet: boolean): Promise<StepRecord> {
    const { store } = this.opts;
    const signal = this.opts.signal ?? new AbortController().signal;
    const maxAttempts = 1 + (this.opts.retries ?? 2);
    const step = { trialId, kind: call.kind, key: call.key };
    const lease = {
      signal, settings: this.leaseSettings,
      waiting: (holder: LeaseOwner) => this.emit({ type: 'step-wait', ...step, holder: describeOwner(holder) }),
      unleased: (why: string) => this.emit({ type: 'warning', message: `${why}, so steps are not leased: run one gantry process at a time on this store` }),
    };
    for (let tries = 1; ; tries++) {
      try {
        const r = await leasedAttempt(store, call, lease, (store, signal) => runStepAttempt(call, {
          store, policy: this.policy, signal, run: stepRunner(store, this.policy, () => this.pool),
          explain: (c) => this.explain(c),
          final: () => tries >= maxAttempts,
          started: (reason) => {
            if (!quiet) this.opts.tracker?.trialRunning?.(trialId);
            this.emit({ type: 'step-start', ...step, reason });
          },
          progress: (done, total) => this.emit({ type: 'step-progress', ...step, done, total }),
          damaged: (what) => this.emit({ type: 'step-damaged', ...step, what }),
          resumed: (iteration) => this.emit({ type: 'step-start', ...step, reason: `resumed from checkpoint at iteration ${iteration}` }),
          log: (points) => this.opts.tracker?.metrics(trialId, points),
        }));
        if (r.cached) this.stepsCached++;
        else {
          this.stepsRun++;
          this.ran.add(call.key);
        }
        this.emit({ type: 'step-done', ...step, cached: r.cached, durationMs: r.record.durationMs ?? 0 });
        return r.record;
      } catch (e) {
        // A lost lease (LeaseLostError: this process stalled past it, or was taken over) is retried
        // like a transient failure: the next try waits for the new owner and, most often, finds its result.
        if (e instanceof CancelledError || signal.aborted || isUserError(e) || tries >= maxAttempts) throw e;
        const delayMs = Math.round((this.opts.backoffMs ?? 500) * 2 ** (tries - 1) * (0.5 + Math.random() / 2));
        const attempt = e instanceof LeaseLostError ? tries : ((await readRecord(store, call.key).catch(() => undefined))?.attempt ?? tries);
        this.emit({ type: 'step-retry', ...step, error: oneLine(e), attempt, delayMs });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }

  /** Steps recorded before this run began, read once, on the first step that has to run. */
  private earlier: Promise<StepRecord[]> | undefined;
  private readonly startedAt = new Date().toISOString();
  private async explain(call: StepCall): Promise<string> {
    this.earlier ??= listRecords(this.opts.store).then((rs) => rs.filter((r) => r.startedAt < this.startedAt));
    return explainNewStep(call, await this.earlier);
  }


}

/**
 * Records ended trials in the catalog in batches (one open per second at most, and at the end),
 * so `gantry query` can open the catalog between batches and a relaunch of a finished grid does
 * not pay a catalog open per trial. A trial the catalog already holds as done is left alone:
 * its steps, and so its rows, can no longer change.
 */
class CatalogRecorder {
  private readonly pending = new Map<string, { status: TrialStatus; steps: string; ran: boolean }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(private readonly withCatalog: <T>(fn: (c: Catalog) => Promise<T>) => Promise<T>, private readonly store: ArtifactStore, private readonly intervalMs = 1000) {}

  /** `ran`: some step of the trial ran in this launch (it was not cached): its rows changed. */
  add(trialId: string, status: TrialStatus, steps: readonly { key: string }[], ran: boolean): void {
    this.pending.set(trialId, { status, steps: stepList(steps), ran });
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((e) => (this.failure ??= e));
    }, this.intervalMs);
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = [...this.pending];
      this.pending.clear();
      if (!batch.length) return;
      await this.withCatalog(async (c) => {
        // A trial the catalog holds as done with the steps it has now, none of which ran (a relaunch that
        // reused everything), is as recorded; any other is recorded again (a repaired step, new step keys).
        const done = await doneTrialSteps(c);
        for (const [id, { status, steps, ran }] of batch) if (!(status === 'done' && !ran && done.get(id) === steps)) await recordTrial(this.store, c, id);
      });
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    if (this.failure) throw this.failure;
  }
}
