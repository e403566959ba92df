/**
 * What crosses the boundaries of gantry's Temporal workflows: workflow inputs and results,
 * activity inputs and results, query and signal payloads, and their names. Types and string
 * constants only (no I/O, no Node APIs), so workflow code, activities and the client share them.
 */
import type { StepCall, StepKind } from '../../experiments/plan.js';

/** Workflow type names: the exported workflow functions of workflows/temporal/index.ts. */
export const STUDY_WORKFLOW = 'gantryStudy';
export const TRIAL_WORKFLOW = 'gantryTrial';

/** Query and signal names (the client may use them as plain strings). */
export const STUDY_PROGRESS_QUERY = 'progress';
export const TRIAL_PROGRESS_QUERY = 'trialProgress';
export const PAUSE_SIGNAL = 'pause';
export const RESUME_SIGNAL = 'resume';
export const CANCEL_SIGNAL = 'cancel';
/** A trial tells its study that a step other pending trials also need is done. */
export const STEP_DONE_SIGNAL = 'stepDone';

/** The three task queues a deployment polls, derived from one base name (default 'gantry'). */
export interface TaskQueues {
  /** Workflows, the light steps (load, filter, tile, scan, screen, extract, split, evaluate) and plan reads. */
  main: string;
  /** Compute-heavy steps (train, score): GPU machines poll this one. */
  gpu: string;
  /** The catalog `record` activity: exactly one worker, one activity at a time (DuckDB has one writer). */
  catalog: string;
}

/** One trial as the workflows see it: its id and its planned steps (keys computed outside workflow code). */
export interface TrialPlan {
  id: string;
  steps: StepCall[];
}

/**
 * Where a study's trials come from. Small plans travel inline in the workflow input; large ones
 * (thousands of trials) are written to the store by the launcher and read in slices by an
 * activity, so no payload comes near Temporal's 2 MB limit.
 */
export type PlanSource =
  | { kind: 'inline'; trials: TrialPlan[] }
  | { kind: 'store'; key: string; total: number };

/** Timeouts and retries of one class of activity; every field optional (defaults in options.ts). */
export interface ActivityTuning {
  startToCloseMs?: number;
  heartbeatTimeoutMs?: number;
  /** Total attempts (1 = no retry). */
  maxAttempts?: number;
  initialIntervalMs?: number;
  maximumIntervalMs?: number;
  /** Limit on all attempts including waiting for a worker (0 = none). */
  scheduleToCloseMs?: number;
}

export type ActivityClass = 'light' | 'train' | 'score' | 'record' | 'plan';
export type ActivityTunings = Partial<Record<ActivityClass, ActivityTuning>>;

export interface CheckpointSettings {
  everyIterations: number;
  everyMinutes: number;
  keep: number;
}

/** Counters carried across continue-as-new. */
export interface StudyCounters {
  done: number;
  failed: number;
  interrupted: number;
  stepsRun: number;
  stepsCached: number;
}

export interface TrialFailure {
  trialId: string;
  status: 'failed' | 'interrupted';
  error: string;
  /** It failed on bad input in a data step: the dataset is at fault, not the trial. */
  badInput?: boolean;
}

/** State a study run hands to the next one when it continues as new. */
export interface StudyCarry {
  counters: StudyCounters;
  /** Index in the plan (store plans) where the next window starts. */
  cursor: number;
  /** Trials of the window at `cursor` that were not started before continuing as new (store plans). */
  leftover?: string[];
  failures: TrialFailure[];
  paused: boolean;
  /** How many runs (this one included) the study has had. */
  runs: number;
}

export interface StudyInput {
  study: string;
  /** Trials in the whole launch (scheduled now + already done at launch). */
  total: number;
  /** Trials whose steps were all done when launched: counted, not scheduled. */
  alreadyDone: number;
  plan: PlanSource;
  concurrency: number;
  /** Trials per workflow run before it continues as new (bounded history). */
  batchSize: number;
  queues: TaskQueues;
  checkpoint: CheckpointSettings;
  tuning?: ActivityTunings;
  /** When the launcher planned this study (ISO): steps recorded earlier explain why a new step ran. */
  launchedAt: string;
  carry?: StudyCarry;
}

export interface StudyResult {
  study: string;
  total: number;
  alreadyDone: number;
  done: number;
  failed: number;
  interrupted: number;
  stepsRun: number;
  stepsCached: number;
  cancelled: boolean;
  runs: number;
  /** The failed and interrupted trials (the first 100). */
  failures: TrialFailure[];
}

export interface RunningTrial {
  trialId: string;
  workflowId: string;
}

export interface StudyProgressInfo extends StudyResult {
  running: RunningTrial[];
  pending: number;
  paused: boolean;
  cancelling: boolean;
}

export interface TrialInput {
  trialId: string;
  study: string;
  steps: StepCall[];
  queues: TaskQueues;
  checkpoint: CheckpointSettings;
  tuning?: ActivityTunings;
  launchedAt: string;
  /** Step keys that other trials wait for: their completion is signalled to the parent study. */
  reportKeys: string[];
}

export interface TrialOutcome {
  trialId: string;
  status: 'done' | 'failed' | 'interrupted';
  error: string | null;
  /** The key of the step that failed for good (absent when done or interrupted). */
  failedKey?: string;
  /** The failure was bad input (a UserError) in a data step. */
  badInput?: boolean;
  metrics: Record<string, number>;
  stepsRun: number;
  stepsCached: number;
}

export interface TrialProgressInfo {
  trialId: string;
  /** The step running now (null between steps and after the last). */
  step: { index: number; kind: StepKind; key: string } | null;
  stepsDone: number;
  stepsCached: number;
  total: number;
}

export interface StepDonePayload {
  trialId: string;
  key: string;
}

/** Input of a step activity: one planned step and how the trial runs it. */
export interface StepActivityInput {
  call: StepCall;
  trialId: string;
  study: string;
  checkpoint: CheckpointSettings;
  launchedAt: string;
  /** Attempts the retry policy allows (so the activity knows when a failure is final). */
  maxAttempts: number;
}

export interface StepActivityResult {
  key: string;
  cached: boolean;
  output: Record<string, unknown>;
}

/** The small details a step heartbeats: never weights (payloads are capped at 2 MB). */
export interface StepHeartbeat {
  kind: StepKind;
  iteration: number;
  total: number;
  /** Store key of the newest training checkpoint's state, when there is one. */
  checkpointKey?: string;
  checkpointIteration?: number;
  resumedFrom?: number;
}

export interface RecordActivityInput {
  study: string;
  trialIds: string[];
  /** Also upsert the study's row. */
  withStudy: boolean;
}

export interface PlanSliceInput {
  key: string;
  offset: number;
  limit: number;
}

/** A trial's status as the store says it (activities/record.ts trialStatus). */
export type StoredTrialStatus = 'done' | 'failed' | 'interrupted' | 'running' | 'pending';

/**
 * The activities a gantry worker registers (executors/temporal/activities.ts implements them): one per
 * step kind, each running the very step function the embedded executor runs, plus the catalog
 * `record` and `planSlice` (reads a stored plan). Workflow code sees only this type.
 */
export type GantryActivities = {
  [K in StepKind]: (input: StepActivityInput) => Promise<StepActivityResult>;
} & {
  record(input: RecordActivityInput): Promise<Record<string, StoredTrialStatus>>;
  planSlice(input: PlanSliceInput): Promise<TrialPlan[]>;
};
