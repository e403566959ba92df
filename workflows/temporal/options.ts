/**
 * Activity options per step kind: which task queue, how long an attempt may run, how soon a
 * silent worker counts as dead (heartbeat timeout), and how failures are retried. Pure data,
 * shared by workflow code and tests.
 *
 * - light steps (load, filter, tile, evaluate, export, and the items' data steps) run on the main queue, minutes, a few retries;
 * - train runs on the GPU queue for up to days per attempt, heartbeating; a dead worker is noticed
 *   within its heartbeat timeout and the retry resumes from the newest checkpoint, so it gets many
 *   attempts (preemptions, reboots);
 * - score runs on the GPU queue too;
 * - record (the catalog) runs on the single-concurrency catalog queue.
 * Bad input (UserError) is never retried: the activity raises a non-retryable failure and the
 * retry policies also list the type.
 */
import type { ActivityOptions } from '@temporalio/common';
import type { StepKind } from '../../experiments/plan.js';
import type { ActivityClass, ActivityTuning, ActivityTunings, TaskQueues } from './types.js';

export const NON_RETRYABLE_ERROR_TYPES = ['UserError', 'SpecError', 'CancelledError'];

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const DEFAULT_TUNING: Record<ActivityClass, Required<ActivityTuning>> = {
  light: { startToCloseMs: 2 * HOUR, heartbeatTimeoutMs: 2 * MINUTE, maxAttempts: 3, initialIntervalMs: 1 * SECOND, maximumIntervalMs: 1 * MINUTE, scheduleToCloseMs: 0 },
  train: { startToCloseMs: 7 * DAY, heartbeatTimeoutMs: 2 * MINUTE, maxAttempts: 20, initialIntervalMs: 10 * SECOND, maximumIntervalMs: 10 * MINUTE, scheduleToCloseMs: 0 },
  score: { startToCloseMs: 1 * DAY, heartbeatTimeoutMs: 2 * MINUTE, maxAttempts: 5, initialIntervalMs: 10 * SECOND, maximumIntervalMs: 10 * MINUTE, scheduleToCloseMs: 0 },
  // A study never waits more than 15 minutes for the catalog: `gantry catalog rebuild` recovers what was not recorded.
  record: { startToCloseMs: 10 * MINUTE, heartbeatTimeoutMs: 0, maxAttempts: 10, initialIntervalMs: 2 * SECOND, maximumIntervalMs: 1 * MINUTE, scheduleToCloseMs: 15 * MINUTE },
  plan: { startToCloseMs: 5 * MINUTE, heartbeatTimeoutMs: 0, maxAttempts: 5, initialIntervalMs: 1 * SECOND, maximumIntervalMs: 30 * SECOND, scheduleToCloseMs: 0 },
};

export function activityClass(kind: StepKind): ActivityClass {
  // embed runs a network over every sample: compute, like scoring.
  return kind === 'train' ? 'train' : kind === 'score' || kind === 'embed' ? 'score' : 'light';
}

export function queueFor(cls: ActivityClass, queues: TaskQueues): string {
  return cls === 'train' || cls === 'score' ? queues.gpu : cls === 'record' ? queues.catalog : queues.main;
}

/** The tuning of a class: defaults, then the launcher's overrides (only the fields it sets). */
export function tuningFor(cls: ActivityClass, tuning?: ActivityTunings): Required<ActivityTuning> {
  const over = tuning?.[cls] ?? {};
  const out = { ...DEFAULT_TUNING[cls] };
  for (const k of Object.keys(out) as (keyof ActivityTuning)[]) {
    const v = over[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] = v;
  }
  out.maxAttempts = Math.max(1, Math.floor(out.maxAttempts));
  return out;
}

export function activityOptions(cls: ActivityClass, queues: TaskQueues, tuning?: ActivityTunings): ActivityOptions {
  const t = tuningFor(cls, tuning);
  const opts: ActivityOptions = {
    taskQueue: queueFor(cls, queues),
    startToCloseTimeout: t.startToCloseMs,
    retry: {
      initialInterval: t.initialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: Math.max(t.initialIntervalMs, t.maximumIntervalMs),
      maximumAttempts: t.maxAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
    // Cancelling a trial waits for the step to confirm: training saves a checkpoint first.
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
  };
  if (t.heartbeatTimeoutMs > 0) opts.heartbeatTimeout = t.heartbeatTimeoutMs;
  if (t.scheduleToCloseMs > 0) opts.scheduleToCloseTimeout = Math.max(t.scheduleToCloseMs, t.startToCloseMs);
  return opts;
}

export function stepActivityOptions(kind: StepKind, queues: TaskQueues, tuning?: ActivityTunings): ActivityOptions {
  return activityOptions(activityClass(kind), queues, tuning);
}

/** The task queues of a deployment, from one base name. */
export function taskQueues(base = 'gantry'): TaskQueues {
  return { main: base, gpu: `${base}-gpu`, catalog: `${base}-catalog` };
}
