/**
 * The executor's TrialTracker hook onto the MLflow mirror: trial start → run (params = the
 * trial's config, tags = gantry.*), metric points → outbox, trial end → all of the trial's
 * points (the outbox drops the ones already queued) and the run status.
 * Every call only appends to the outbox, so it is fast and never throws, as the hook requires.
 */
import type { TrialTracker } from '../executor/embedded.js';
import type { PlannedTrial } from '../executor/prepare.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mlflowStatusOf, type MlflowMirror } from './mirror.js';

/**
 * `filesDir`, when given, receives a small summary file per ended trial (its config, step keys,
 * status and final metrics), uploaded as the run's artifact `gantry/trial.json`.
 */
export function mlflowTracker(mirror: MlflowMirror, o: { codeVersion?: string; backend?: string; filesDir?: string } = {}): TrialTracker {
  const started = new Map<string, PlannedTrial>();
  return {
    trialStarted(trial: PlannedTrial, study: string) {
      started.set(trial.id, trial);
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
      const trial = started.get(trialId);
      if (o.filesDir && trial) {
        const final: Record<string, number> = {};
        for (const p of [...points].sort((a, b) => a.step - b.step)) final[p.name] = p.value;
        const file = join(o.filesDir, `${trialId}.json`);
        try {
          mkdirSync(o.filesDir, { recursive: true });
          writeFileSync(file, JSON.stringify({ trialId, status, config: trial.config, cell: trial.cell, steps: trial.steps.map((s) => ({ kind: s.kind, key: s.key })), finalMetrics: final }, null, 1));
          mirror.enqueueArtifact(trialId, 'gantry/trial.json', file);
        } catch {
          // A summary the disk refused is not worth failing a trial over; metrics and status still go.
        }
      }
      mirror.enqueueStatus(trialId, mlflowStatusOf(status));
    },
  };
}
