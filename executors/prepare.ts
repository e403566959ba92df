/**
 * Everything that happens before any step runs: resolve the grid, check dataset files, fingerprint
 * them and plan each trial's steps. An invalid spec or a missing file fails here, before any work.
 */
import { createReadStream } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { resolveStudy, type ResolveOptions, type ResolvedStudy, type ResolvedTrial } from '../experiments/grid.js';
import { planTrial, type StepCall } from '../experiments/plan.js';
import type { StudySpec } from '../experiments/spec.js';
import { saveStudy, saveTrial } from '../activities/record.js';
import { UserError } from '../core/errors.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { idHasher } from '../infra/hash.js';
import { canonicalJson, type Hasher } from '../core/canonical.js';

export interface PlannedTrial extends ResolvedTrial {
  steps: StepCall[];
}

export interface PreparedStudy extends Omit<ResolvedStudy, 'trials'> {
  description: string;
  trials: PlannedTrial[];
  /** Distinct steps over all trials (shared steps counted once). */
  uniqueSteps: number;
}

export async function prepareStudy(spec: StudySpec, opts: ResolveOptions): Promise<PreparedStudy> {
  const resolved = resolveStudy(spec, opts, idHasher);
  const paths = new Set<string>();
  for (const t of resolved.trials) if (t.config.dataset.kind === 'mat') paths.add(t.config.dataset.path);
  const fingerprints: Record<string, string> = {};
  for (const p of paths) fingerprints[p] = await fingerprintFile(p);
  const trials = resolved.trials.map((t) => ({ ...t, steps: planTrial(t.config, { hash: idHasher, fingerprints }) }));
  // The locator must let a step find the file from any working directory.
  for (const t of trials) for (const s of t.steps) if (s.locator?.path) s.locator = { ...s.locator, path: resolve(s.locator.path) };
  const unique = new Set(trials.flatMap((t) => t.steps.map((s) => s.key)));
  return { ...resolved, description: spec.description, trials, uniqueSteps: unique.size };
}

/** Write the trial and study files that the catalog and `gantry status` read; both executors do this before any step. */
export async function registerStudy(store: ArtifactStore, study: PreparedStudy, now: string): Promise<void> {
  for (const t of study.trials) {
    await saveTrial(store, { id: t.id, study: study.study, cellId: t.cellId, cell: t.cell, config: t.config as unknown as Record<string, unknown>, steps: t.steps.map((s) => ({ kind: s.kind, key: s.key })), createdAt: now, ...(t.block ? { block: t.block } : {}) });
  }
  await saveStudy(store, {
    study: study.study, version: study.version, description: study.description, profile: study.profile ?? null,
    axes: study.axes, seeds: study.seeds, trials: study.trials.map((t) => t.id), updatedAt: now,
  });
}

/** sha256 of a dataset file's content; a missing or unreadable file is the user's to fix. */
export async function fingerprintFile(path: string): Promise<string> {
  const full = resolve(path);
  try {
    const st = await stat(full);
    if (!st.isFile()) throw new UserError(`dataset ${path} is not a file`);
    await access(full, constants.R_OK);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`dataset file ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`, { hint: 'check dataset.path' });
  }
  const h = createHash('sha256');
  for await (const chunk of createReadStream(full)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * A launch's id: a hash of its trials' ids and step keys, in any order. Launching the same grid
 * again gives the same id: the Temporal study workflow's id ends with it, and the MLflow mirror
 * finds the launch's parent run by it.
 */
export function launchId(trials: readonly { id: string; steps: readonly { key: string }[] }[], hash: Hasher = idHasher): string {
  const signature = trials.map((t) => ({ id: t.id, steps: t.steps.map((s) => s.key) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return hash(canonicalJson(signature));
}
