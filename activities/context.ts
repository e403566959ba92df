/**
 * What a step function sees of the world. The executor (embedded or Temporal) builds it; step
 * functions never touch the ledger, the catalog or the terminal directly, so the same functions
 * run under both executors.
 */
import type { ArtifactRef, ArtifactStore } from '../infra/store/store.js';
import type { MetricPoint } from '../models/detector.js';

export interface InputHandle {
  key: string;
  output: Record<string, unknown>;
  /** Read one of the input step's artifacts, verified against its recorded checksum. */
  read(name: string): Promise<Uint8Array>;
}

export interface CheckpointPolicy {
  everyIterations: number;
  everyMinutes: number;
  /** How many checkpoints to keep (the newest ones). */
  keep: number;
}

export interface StepContext {
  key: string;
  store: ArtifactStore;
  locator: Record<string, string>;
  input(name: string): Promise<InputHandle>;
  /** Write an output artifact of this step. */
  write(name: string, data: Uint8Array | string): Promise<ArtifactRef>;
  progress(done: number, total: number): void;
  /** Training-curve points of this step's trial (stored with the step's output). */
  log(points: MetricPoint[]): void;
  checkpointPolicy: CheckpointPolicy;
  /** Called when a training step restores a checkpoint, so the ledger can say it resumed. */
  onResume(iteration: number): void;
  signal: AbortSignal;
  backend?: string;
}

export interface StepResult {
  output: Record<string, unknown>;
}

export type StepFn = (ctx: StepContext, params: Record<string, unknown>) => Promise<StepResult>;
