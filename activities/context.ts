/**
 * What a step function sees of the world. The executor (embedded or Temporal) builds it; step
 * functions never touch the ledger, the catalog or the terminal directly, so the same functions
 * run under both executors.
 */
import type { z } from 'zod';
import type { ArtifactRef, ArtifactStore } from '../infra/store/store.js';
import type { MetricPoint } from '../core/metrics.js';

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
  /** Whether the step was planned with this input (optional inputs, e.g. a split). */
  hasInput(name: string): boolean;
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

/**
 * A step with zod-typed boundaries: its params are parsed before it runs and its output is
 * checked before the ledger records it, so a step can neither start from nor leave behind a
 * malformed record.
 */
export function defineStep<P extends z.ZodType, O extends z.ZodType<Record<string, unknown>>>(
  kind: string,
  schemas: { params: P; output: O },
  run: (ctx: StepContext, params: z.output<P>) => Promise<z.input<O>>,
): StepFn {
  return async (ctx, raw) => {
    const params = schemas.params.parse(raw);
    const out = await run(ctx, params);
    const checked = schemas.output.safeParse(out);
    if (!checked.success) throw new Error(`step ${kind} produced an invalid output: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return { output: checked.data };
  };
}
