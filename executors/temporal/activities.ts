/**
 * gantry's activities: the very step functions of the embedded executor (activities/index.ts
 * STEPS), run with the same StepContext (executors/step-context.ts) and the same ledger
 * records, plus the catalog `record` activity and `planSlice` (reads a stored plan).
 *
 * - The context's AbortSignal is the activity's cancellation signal: cancelling a trial makes
 *   training save a checkpoint and throw CancelledError, reported to Temporal as cancelled.
 * - Progress becomes heartbeats of a few numbers ({iteration, checkpointKey}), never weights.
 *   A timer heartbeats too, so a step that reports no progress stays alive and still hears a cancel.
 * - A retry (a dead worker's step, after its heartbeat timeout) resumes training from the newest
 *   checkpoint in the store, which is never older than the last heartbeat's.
 * - Compute-heavy steps (train, score) run on worker threads (the embedded executor's StepPool),
 *   so the worker's event loop keeps heartbeating and polling while they compute.
 * - Bad input (UserError) becomes a non-retryable ApplicationFailure of type 'UserError'.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { z } from 'zod';
import { readStudyFile, readTrialFile, recordStudy, recordTrial, trialReport, trialStatus } from '../../activities/record.js';
import { STEP_KINDS, type StepCall, type StepKind } from '../../experiments/plan.js';
import type {
  GantryActivities, PlanSliceInput, RecordActivityInput, StepActivityInput, StepActivityResult, StepHeartbeat, StoredTrialStatus, TrialPlan,
} from '../../workflows/temporal/types.js';
import { Catalog } from '../../infra/catalog.js';
import { recordLaunches } from '../../activities/launches.js';
import type { TrialTracker } from '../embedded.js';
import type { PlannedTrial } from '../prepare.js';
import { CancelledError, isUserError, oneLine } from '../../core/errors.js';
import { explainNewStep } from '../explain.js';
import { StepPool } from '../step-pool.js';
import { listRecords, readableRecord, stepPrefix, type StepRecord } from '../../infra/ledger.js';
import { getJson, type ArtifactStore } from '../../infra/store/store.js';
import { PlanReader, trialPlanSchema } from './plan.js';
import { isStudyWorkflowIdOf, studyWorkflowIdFrom } from '../../workflows/temporal/ids.js';
import { runStepAttempt, stepRunner } from '../step-attempt.js';
import { leasedAttempt } from '../step-lease.js';
import { doneTrialSteps, stepList } from '../../activities/record.js';

/** The most time between two heartbeats a step hands the SDK when it reports no progress. */
export const HEARTBEAT_TICK_MAX_MS = 5000;

/** What an activity needs from Temporal; `temporalRuntime()` in a worker, a fake in unit tests. */
export interface ActivityRuntime {
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  heartbeatTimeoutMs?: number;
  /** Details of the last heartbeat of an earlier attempt (undefined on the first). */
  lastHeartbeat: unknown;
  heartbeat(details: StepHeartbeat): void;
}

export function temporalRuntime(): ActivityRuntime {
  const ctx = Context.current();
  return {
    signal: ctx.cancellationSignal,
    attempt: ctx.info.attempt,
    heartbeatTimeoutMs: ctx.info.heartbeatTimeoutMs,
    lastHeartbeat: ctx.info.heartbeatDetails,
    heartbeat: (d) => ctx.heartbeat(d),
  };
}

export interface ActivityDeps {
  store: ArtifactStore;
  /** The catalog file the `record` activity writes (the catalog worker's GANTRY_CATALOG). */
  catalogPath: string;
  /** tfjs backend for train and score (tensorflow, wasm, cpu); automatic when unset. */
  backend?: string;
  /** Worker threads for train and score (the GPU queue's concurrency). */
  heavyThreads?: number;
  runtime?: () => ActivityRuntime;
  /** Minimum ms between progress heartbeats (the SDK throttles further). */
  progressBeatMs?: number;
  /**
   * Told of each trial the `record` activity indexes (the MLflow mirror): its run, then every
   * metric point the catalog holds for it and its status. Only the catalog worker records, so
   * one process writes each trial's run. Calls must be fast and never throw.
   */
  tracker?: Pick<TrialTracker, 'trialStarted' | 'trialEnded'>;
}

/** One catalog writer at a time in this process, whatever the worker's settings (two DuckDB writers corrupt a file). */
const catalogQueues = new Map<string, Promise<unknown>>();
function withCatalogLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const run = (catalogQueues.get(path) ?? Promise.resolve()).then(fn);
  catalogQueues.set(path, run.catch(() => undefined));
  return run;
}

const checkpointSchema = z.object({ everyIterations: z.number().int().min(1), everyMinutes: z.number().positive(), keep: z.number().int().min(1) });
const stepInputSchema = z.object({
  call: trialPlanSchema.shape.steps.element,
  trialId: z.string().min(1),
  study: z.string().min(1),
  checkpoint: checkpointSchema,
  launchedAt: z.string().min(1),
  maxAttempts: z.number().int().min(1),
});
const recordInputSchema = z.object({ study: z.string().min(1), trialIds: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)), withStudy: z.boolean() });
const sliceInputSchema = z.object({ key: z.string().min(1), offset: z.number().int().min(0), limit: z.number().int().min(0).max(1000) });
const heartbeatSchema = z.object({ checkpointKey: z.string().optional(), checkpointIteration: z.number().optional() }).passthrough();
const pointerSchema = z.object({ iteration: z.number().int(), state: z.object({ key: z.string() }) });

/** Parse an activity's input at the boundary; a malformed input is never retried. */
function parseInput<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw ApplicationFailure.create({ type: 'UserError', nonRetryable: true, message: `invalid ${what} input: ${oneLine(r.error)}` });
  return r.data;
}

/** What Temporal should hear of a failed step. */
export function toActivityFailure(e: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return new CancelledFailure(oneLine(e));
  if (isUserError(e)) return ApplicationFailure.create({ type: 'UserError', nonRetryable: true, message: oneLine(e) });
  if (e instanceof CancelledError || (e as Error)?.name === 'CancelledError') return ApplicationFailure.create({ type: 'CancelledError', nonRetryable: true, message: oneLine(e) });
  return e;
}

export interface GantryActivityWorkerSide {
  activities: GantryActivities;
  /** Stop the step threads. */
  close(): Promise<void>;
}

export function createActivities(deps: ActivityDeps): GantryActivityWorkerSide {
  const { store } = deps;
  const runtime = deps.runtime ?? temporalRuntime;
  const beatEvery = deps.progressBeatMs ?? 1000;
  let pool: StepPool | undefined;
  const plans = new PlanReader(store);

  // Steps recorded before a launch explain why a new step of that launch runs (read once per launch).
  const earlier = new Map<string, Promise<StepRecord[]>>();
  const explain = async (call: StepCall, launchedAt: string): Promise<string> => {
    let p = earlier.get(launchedAt);
    if (!p) {
      p = listRecords(store).then((rs) => rs.filter((r) => r.startedAt < launchedAt));
      earlier.set(launchedAt, p);
      p.catch(() => earlier.delete(launchedAt));
      while (earlier.size > 4) earlier.delete(earlier.keys().next().value!);
    }
    return explainNewStep(call, await p);
  };

  const pooled = () => (pool ??= new StepPool(Math.max(1, deps.heavyThreads ?? 1), store.url, deps.backend));
  const step = (kind: StepCall['kind']) => async (raw: StepActivityInput): Promise<StepActivityResult> => {
    const input = parseInput(stepInputSchema, raw, `${kind} step`) as StepActivityInput;
    const { call } = input;
    if (call.kind !== kind) throw ApplicationFailure.create({ type: 'UserError', nonRetryable: true, message: `activity ${kind} was given a ${call.kind} step` });
    const rt = runtime();
    const hb: StepHeartbeat = { kind, iteration: 0, total: 0 };
    const last = heartbeatSchema.safeParse(rt.lastHeartbeat);
    if (last.success && last.data.checkpointKey) {
      hb.checkpointKey = last.data.checkpointKey;
      hb.checkpointIteration = last.data.checkpointIteration;
    }
    let lastBeat = 0;
    const beat = () => {
      lastBeat = Date.now();
      rt.heartbeat({ ...hb });
    };
    const refreshCheckpoint = async () => {
      if (kind !== 'train') return;
      try {
        const ptr = pointerSchema.parse(await getJson(store, `${stepPrefix(call.key)}/checkpoints/latest.json`));
        hb.checkpointKey = ptr.state.key;
        hb.checkpointIteration = ptr.iteration;
      } catch {
        /* no checkpoint yet */
      }
    };
    let ticking = false;
    let lastLook = 0;
    // Often enough that a step with no progress to report still hears a cancel within seconds (the worker sends heartbeats every 5 s at most).
    const every = Math.min(HEARTBEAT_TICK_MAX_MS, Math.max(500, Math.floor((rt.heartbeatTimeoutMs ?? 60_000) / 3)));
    const timer = setInterval(() => {
      if (ticking) return;
      ticking = true;
      refreshCheckpoint().finally(() => {
        ticking = false;
        beat();
      });
    }, every);
    timer.unref?.();
    beat();
    try {
      // Under its lease, as in the embedded executor: two launches (even of different studies) can share a data step.
      const r = await leasedAttempt(store, call, { signal: rt.signal }, (store, signal) => runStepAttempt(call, {
        store,
        policy: input.checkpoint,
        signal,
        run: stepRunner(store, input.checkpoint, pooled),
        explain: (c) => explain(c, input.launchedAt),
        final: () => rt.attempt >= input.maxAttempts,
        progress: (done, total) => {
          hb.iteration = done;
          hb.total = total;
          if (kind === 'train' && done - lastLook >= input.checkpoint.everyIterations && !ticking) {
            // Checkpoints come every N iterations: look for the newest at the same pace.
            lastLook = done;
            ticking = true;
            void refreshCheckpoint().finally(() => {
              ticking = false;
              beat();
            });
          } else if (Date.now() - lastBeat >= beatEvery) beat();
        },
        resumed: (iteration) => {
          hb.resumedFrom = iteration;
          beat();
        },
      }));
      return { key: call.key, cached: r.cached, output: r.record.output ?? {} };
    } catch (e) {
      throw toActivityFailure(e, rt.signal);
    } finally {
      clearInterval(timer);
    }
  };

  const record = async (raw: RecordActivityInput): Promise<Record<string, StoredTrialStatus>> => {
    const input = parseInput(recordInputSchema, raw, 'record');
    return withCatalogLock(deps.catalogPath, () => recordNow(input));
  };
  const recordNow = async (input: RecordActivityInput): Promise<Record<string, StoredTrialStatus>> => {
    const out: Record<string, StoredTrialStatus> = {};
    const catalog = await Catalog.open(deps.catalogPath);
    try {
      if (input.withStudy) await recordStudy(store, catalog, input.study).then(() => recordLaunches(store, catalog, input.study));
      if (!input.trialIds.length) return out;
      const doneInCatalog = await doneTrialSteps(catalog);
      for (const id of input.trialIds) {
        // A trial the catalog holds as done with the steps the store lists, and the store still says done, can no
        // longer change; one whose steps changed (a new step kind, a changed dataset file) is recorded again.
        const recorded = doneInCatalog.get(id);
        if (recorded !== undefined && (await storedStatus(store, id, recorded)) === 'done') {
          out[id] = 'done';
          continue;
        }
        out[id] = await recordTrial(store, catalog, id);
        if (deps.tracker) await mirrorTrial(deps.tracker, store, input.study, id, out[id]);
      }
      return out;
    } catch (e) {
      // The catalog's troubles (a lock held by a reader, a full disk) pass: retried, whatever their kind.
      throw ApplicationFailure.create({ type: 'CatalogError', message: oneLine(e), nonRetryable: false, cause: e instanceof Error ? e : undefined });
    } finally {
      catalog.close();
    }
  };

  const planSlice = async (raw: PlanSliceInput): Promise<TrialPlan[]> => {
    const input = parseInput(sliceInputSchema, raw, 'planSlice');
    try {
      return await plans.slice(input.key, input.offset, input.limit);
    } catch (e) {
      throw toActivityFailure(e, new AbortController().signal);
    }
  };

  // One activity per registered step kind, named after it.
  const steps = Object.fromEntries(STEP_KINDS.map((k) => [k, step(k)])) as Record<StepKind, ReturnType<typeof step>>;
  const activities: GantryActivities = { ...steps, record, planSlice };
  return {
    activities,
    close: async () => {
      await pool?.close();
      pool = undefined;
    },
  };
}

/** Hand an indexed trial to the tracker: its run (from the trial file), then its points, facts and status (from the store, as the catalog's). */
async function mirrorTrial(tracker: NonNullable<ActivityDeps['tracker']>, store: ArtifactStore, study: string, trialId: string, status: StoredTrialStatus): Promise<void> {
  try {
    const t = await readTrialFile(store, trialId);
    // The study workflow's id ends with the launch's id: the trial's run nests under that launch's parent run.
    const workflowId = activityWorkflowId();
    const launchId = workflowId && isStudyWorkflowIdOf(workflowId, study) ? workflowId.slice(studyWorkflowIdFrom(study, '').length) : undefined;
    const launch = launchId ? { id: launchId, profile: (await readStudyFile(store, study).catch(() => undefined))?.profile } : undefined;
    tracker.trialStarted({ id: t.id, cellId: t.cellId, cell: t.cell, config: t.config, steps: t.steps, block: t.block } as unknown as PlannedTrial, study, launch);
    const { points, facts } = await trialReport(store, t.steps);
    tracker.trialEnded(trialId, status, points, facts);
  } catch {
    /* the mirror is best effort: the store and catalog stay the source of truth */
  }
}

/** The id of the workflow that called this activity; undefined outside an activity (tests call activities directly). */
function activityWorkflowId(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.workflowId;
  } catch {
    return undefined;
  }
}

/** A trial's status from the store alone (its steps' ledger records). */
/** A trial's status from the store; 'pending' when its file lists another number of steps than `steps` (when given). */
/** `steps`: the trial's step keys as the catalog lists them (doneTrialSteps); other keys in the store make it 'pending'. */
export async function storedStatus(store: ArtifactStore, trialId: string, steps?: string): Promise<StoredTrialStatus> {
  const t = await readTrialFile(store, trialId);
  if (steps !== undefined && stepList(t.steps) !== steps) return 'pending';
  return trialStatus(await Promise.all(t.steps.map((s) => readableRecord(store, s.key)))).status;
}
