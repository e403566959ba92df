/**
 * The executor's TrialTracker hook onto the MLflow mirror, following MLflow's conventions for
 * sweeps: a launch is a parent run, each trial a run nested under it (mlflow.parentRunId), with
 * readable names (`gan: hidden=32, noiseDim=4 · seed 0`, `baseline`), the readable cell, the
 * backend that trained it, and mlflow.user / mlflow.source.* tags.
 *
 * Statuses change only with the trial's own progress: RUNNING when one of its steps really runs,
 * FINISHED / FAILED / KILLED when it ends (the mirror skips a status the run already has), so a
 * relaunch that runs nothing leaves every run, its end time included, as it was.
 * Every call only appends to the outbox, so it is fast and never throws, as the hook requires.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { label } from '../experiments/grid.js';
import { modelIsStochastic } from '../models/params.js';
import type { TrialFacts } from '../activities/record.js';
import type { TrialTracker } from './embedded.js';
import type { PlannedTrial, StudyPlan } from './prepare.js';
import { gitCommit } from '../infra/version.js';
import { launchKey, mlflowStatusOf, type MlflowMirror, type MirrorStatus } from '../infra/mlflow/mirror.js';

export interface TrackerOptions {
  codeVersion?: string;
  /** Where trials run: `embedded` or `temporal` (tag gantry.executor). */
  executor?: string;
  /** Receives a small summary file per ended trial (config, step keys, status, final metrics), uploaded as the run's artifact `gantry/trial.json`. */
  filesDir?: string;
}

/** A launch as the tracker needs it: the study's name, profile, and its trials. */
export type LaunchInfo = Pick<StudyPlan, 'study' | 'version' | 'profile' | 'axes' | 'seeds' | 'count' | 'gridId'>;

/** `gan: hidden=32, noiseDim=4 · seed 0`; a deterministic model's trial has no seed to show. */
export function runNameOf(trial: Pick<PlannedTrial, 'id' | 'cell' | 'config'> & { block?: string }): string {
  const config = trial.config as unknown as { seed?: number; model?: { kind?: string } };
  const cell = Object.entries(trial.cell)
    .map(([k, v]) => `${k.split('.').pop()}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  const what = trial.block && cell ? `${trial.block}: ${cell}` : trial.block || cell || `trial ${trial.id.slice(0, 12)}`;
  const stochastic = config.model?.kind === undefined || modelIsStochastic(config.model.kind);
  return stochastic && config.seed !== undefined ? `${what} · seed ${config.seed}` : what;
}

/** A launch's parent run: `quickstart (smoke)`. */
function launchName(study: string, profile?: string | null): string {
  return profile ? `${study} (${profile})` : study;
}

/** MLflow's own tags for who ran what, from where. */
function sourceTags(o: TrackerOptions): Record<string, string> {
  const tags: Record<string, string> = { 'mlflow.source.type': 'LOCAL', 'mlflow.source.name': 'gantry' };
  // As MLflow's own client does: the OS user (not the tracking server's login).
  let user = process.env.USER || process.env.LOGNAME;
  try {
    user ||= userInfo().username;
  } catch {
    // no passwd entry (a container's random uid): leave it out
  }
  if (user) tags['mlflow.user'] = user;
  const commit = gitCommit();
  if (commit) tags['mlflow.source.git.commit'] = commit;
  if (o.codeVersion) tags['gantry.code_version'] = o.codeVersion;
  if (o.executor) tags['gantry.executor'] = o.executor;
  return tags;
}

export function mlflowTracker(mirror: MlflowMirror, o: TrackerOptions = {}): TrialTracker {
  const started = new Map<string, { trial: PlannedTrial; study: string; parent?: string; backend?: string }>();
  const running = new Set<string>();
  const launches = new Map<string, string>(); // launch id → its key in the mirror
  let current: string | undefined; // the mirror key of the launch this tracker runs
  let lastEnd: number | undefined; // the latest end of a trial of this launch, from the store
  const source = sourceTags(o);

  const announce = (id: string) => {
    const s = started.get(id)!;
    const config = s.trial.config as unknown as Record<string, unknown>;
    mirror.enqueueRun({
      trialId: s.trial.id,
      study: s.study,
      parent: s.parent,
      runName: runNameOf(s.trial),
      cell: label(s.trial.cell) || undefined,
      seed: config.seed as number | undefined,
      stepKeys: s.trial.steps.map((st) => st.key),
      codeVersion: o.codeVersion,
      backend: s.backend,
      params: config,
      tags: { ...source, 'gantry.cell_id': s.trial.cellId, ...(s.trial.block ? { 'gantry.block': s.trial.block } : {}) },
    });
  };

  return {
    launchStarted(study: LaunchInfo) {
      const id = study.gridId;
      const key = launchKey(id);
      launches.set(id, key);
      current = key;
      mirror.enqueueLaunch({
        launchId: id,
        study: study.study,
        runName: launchName(study.study, study.profile),
        params: { study: { version: study.version, profile: study.profile ?? '', axes: study.axes, seeds: study.seeds, trials: study.count } },
        tags: { ...source, ...(study.profile ? { 'gantry.profile': study.profile } : {}) },
      });
    },
    launchEnded(status: 'done' | 'failed' | 'interrupted') {
      // The mirror skips a status the run already has: a launch that ran nothing changes nothing.
      // Its end is its last trial's (from the store), so two homes reporting one launch agree.
      if (current) mirror.enqueueStatus(current, mlflowStatusOf(status), lastEnd);
    },
    trialStarted(trial: PlannedTrial, study: string, launch?: { id: string; profile?: string | null }) {
      if (launch && !launches.has(launch.id)) {
        // The Temporal catalog worker learns of a launch from its trials: the parent run is found by
        // its id (the launcher made it, when it mirrors too), or made here under the same name.
        launches.set(launch.id, launchKey(launch.id));
        mirror.enqueueLaunch({ launchId: launch.id, study, runName: launchName(study, launch.profile), tags: { ...source, ...(launch.profile ? { 'gantry.profile': launch.profile } : {}) } });
      }
      const parent = launch ? launches.get(launch.id) : current;
      started.set(trial.id, { trial, study, parent });
      announce(trial.id);
    },
    trialRunning(trialId: string) {
      if (running.has(trialId) || !started.has(trialId)) return;
      const first = running.size === 0;
      running.add(trialId);
      const parent = started.get(trialId)!.parent;
      if (first && parent) mirror.enqueueStatus(parent, 'RUNNING');
      mirror.enqueueStatus(trialId, 'RUNNING');
    },
    metrics(trialId, points) {
      mirror.enqueueMetrics(trialId, points);
    },
    trialEnded(trialId, status, points, facts?: TrialFacts) {
      const s = started.get(trialId);
      if (facts?.endedAt !== undefined) lastEnd = Math.max(lastEnd ?? 0, facts.endedAt);
      if (s && facts?.backend && facts.backend !== s.backend) {
        s.backend = facts.backend;
        announce(trialId); // the run's tags now say which backend trained it
      }
      mirror.enqueueMetrics(trialId, points);
      if (o.filesDir && s) {
        const final: Record<string, number> = {};
        for (const p of [...points].sort((a, b) => a.step - b.step)) final[p.name] = p.value;
        const file = join(o.filesDir, `${trialId}.json`);
        try {
          mkdirSync(o.filesDir, { recursive: true });
          writeFileSync(file, JSON.stringify({ trialId, status, config: s.trial.config, cell: s.trial.cell, steps: s.trial.steps.map((st) => ({ kind: st.kind, key: st.key })), finalMetrics: final }, null, 1));
          mirror.enqueueArtifact(trialId, 'gantry/trial.json', file);
        } catch {
          // A summary the disk refused is not worth failing a trial over; metrics and status still go.
        }
      }
      // The end time is the store's (its last step's), so every home that reports this trial agrees on it.
      const end: MirrorStatus = mlflowStatusOf(status);
      mirror.enqueueStatus(trialId, end, end === 'RUNNING' ? undefined : facts?.endedAt);
    },
  };
}
