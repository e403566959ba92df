/**
 * The executor's TrialTracker hook onto the MLflow mirror: trial start → run (params = the
 * trial's config, tags = gantry.*), metric points → outbox, trial end → all of the trial's
 * points (the outbox drops the ones already queued) and the run status.
 * Every call only appends to the outbox, so it is fast and never throws, as the hook requires.
 */
import type { TrialTracker } from '../executor/embedded.js';
import type { PlannedTrial } from '../executor/prepare.js';
import { mlflowStatusOf, type MlflowMirror } from './mirror.js';

export function mlflowTracker(mirror: MlflowMirror, o: { codeVersion?: string; backend?: string } = {}): TrialTracker {
  return {
    trialStarted(trial: PlannedTrial, study: string) {
      const config = trial.config as unknown as Record<string, unknown>;
      const seed = config.seed as number | undefined;
      const cell = Object.entries(trial.cell)
        .map(([k, v]) => `${k.split('.').pop()}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(',');
      mirror.enqueueRun({
        trialId: trial.id,
        study,
        runName: `${cell || 'base'}${seed !== undefined ? ` seed=${seed}` : ''}`,
        cell: trial.cellId,
        seed,
        stepKeys: trial.steps.map((s) => s.key),
        codeVersion: o.codeVersion,
        backend: o.backend,
        params: config,
      });
    },
    metrics(trialId, points) {
      mirror.enqueueMetrics(trialId, points);
    },
    trialEnded(trialId, status, points) {
      mirror.enqueueMetrics(trialId, points);
      mirror.enqueueStatus(trialId, mlflowStatusOf(status));
    },
  };
}
