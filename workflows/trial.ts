/**
 * The orchestration of one trial: its planned steps, in order, stopping at the first failure.
 * Deterministic (no I/O, clock or randomness): the embedded executor runs it with in-process
 * step runners, and the Temporal executor will run it with activity proxies, so both follow
 * the same sequence.
 */
import type { StepCall } from '../experiments/plan.js';

/** Steps that fit or use a model; the others prepare data, and bad input there is the dataset's fault. */
const MODEL_STEP_KINDS: ReadonlySet<string> = new Set(['train', 'score', 'evaluate', 'export']);
export const isDataStep = (kind: string): boolean => !MODEL_STEP_KINDS.has(kind);

export interface StepOutcome {
  output?: Record<string, unknown>;
}

export interface TrialResult {
  ok: boolean;
  /** Index of the step that failed, when one did. */
  failedAt?: number;
  error?: unknown;
  /** The evaluate step's metrics, when it ran. */
  metrics: Record<string, number>;
}

export async function trialWorkflow(steps: StepCall[], runStep: (call: StepCall) => Promise<StepOutcome>): Promise<TrialResult> {
  let metrics: Record<string, number> = {};
  for (const [i, call] of steps.entries()) {
    try {
      const r = await runStep(call);
      if (call.kind === 'evaluate') metrics = (r.output?.metrics ?? {}) as Record<string, number>;
    } catch (error) {
      return { ok: false, failedAt: i, error, metrics };
    }
  }
  return { ok: true, metrics };
}
