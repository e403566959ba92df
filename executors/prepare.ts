/**
 * Everything that happens before any step runs: resolve the grid, check dataset files, fingerprint
 * them and plan each trial's steps. An invalid spec or a missing file fails here, before any work.
 */
import { access, constants, readdir, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { resolveStudy, type ResolveOptions, type ResolvedStudy, type ResolvedTrial } from '../experiments/grid.js';
import { planTrial, type StepCall } from '../experiments/plan.js';
import type { StudySpec } from '../experiments/spec.js';
import { saveStudy, saveTrial } from '../activities/record.js';
import { writeLaunch, type Executor, type LaunchDoc } from '../activities/launches.js';
import { UserError } from '../core/errors.js';
import { locateEnvi } from '../datasets/envi.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { idHasher, sha256File } from '../infra/hash.js';
import { canonicalJson, type Hasher } from '../core/canonical.js';

export interface PlannedTrial extends ResolvedTrial {
  steps: StepCall[];
}

export interface PreparedStudy extends Omit<ResolvedStudy, 'trials'> {
  description: string;
  trials: PlannedTrial[];
  /** Distinct steps over all trials (shared steps counted once). */
  uniqueSteps: number;
  /** The `--set` overrides as given (the launch records them); {} when none. */
  overrides?: Record<string, unknown>;
  /** Where the study file is: the launch records the git commit there. */
  baseDir?: string;
}

/** `overrides`: the --set values as the user gave them, for the launch record (`set` may have had paths resolved). */
export interface PrepareOptions extends ResolveOptions {
  overrides?: Record<string, unknown>;
}

/**
 * `baseDir`: where relative dataset paths in the spec start (the study file's folder; the project
 * for built-in studies). Paths stay as written in the trial config (its id must not depend on
 * where the project lives); steps find the data through absolute locators.
 */
export async function prepareStudy(spec: StudySpec, opts: PrepareOptions, baseDir = process.cwd()): Promise<PreparedStudy> {
  const resolved = resolveStudy(spec, opts, idHasher);
  // What each dataset path names: a file, a folder of images, or an ENVI header/data pair.
  const paths = new Map<string, 'file' | 'folder' | 'envi' | 'model'>();
  for (const t of resolved.trials) {
    const d = t.config.dataset;
    if (d.kind === 'mat' || d.kind === 'tiff') paths.set(d.path, 'file');
    if (d.kind === 'envi') paths.set(d.path, 'envi');
    if (d.kind === 'mnist' || d.kind === 'cifar10') paths.set(d.path, 'folder');
    if (d.kind === 'images') {
      paths.set(d.path, 'folder');
      if (d.metadata) paths.set(d.metadata.path, 'file');
    }
    const features = (t.config as { features?: { model: string } }).features;
    if (features) paths.set(features.model, 'model');
    if (d.kind === 'envi' || d.kind === 'tiff') {
      paths.set(d.labels.path, 'file');
      if (d.labels.outer) paths.set(d.labels.outer, 'file');
    }
  }
  const fingerprints: Record<string, string> = {};
  for (const [p, what] of paths) {
    const full = resolve(baseDir, p);
    if (what === 'folder') fingerprints[p] = await fingerprintFolder(full, p);
    else if (what === 'file') fingerprints[p] = await fingerprintFile(full, p);
    else if (what === 'model') {
      // model.json and everything beside it (its weight shards).
      const json = await fingerprintFile(full, p).catch((e: unknown) => {
        throw e instanceof UserError ? new UserError(e.message.replace(/^dataset file/, 'feature model (features.model)').replace(/^dataset/, 'feature model (features.model)'), { hint: 'features.model names the model.json of a tfjs graph model; relative paths start at the study file' }) : e;
      });
      fingerprints[p] = createHash('sha256').update(`${json}\0${await fingerprintFolder(dirname(full), dirname(p))}`).digest('hex');
    }
    else {
      await fingerprintFile(full, p); // names the path when it is missing
      const { hdr, data } = await locateEnvi(full);
      fingerprints[p] = createHash('sha256').update(`${await fingerprintFile(hdr)}\0${await fingerprintFile(data)}`).digest('hex');
    }
  }
  const trials = resolved.trials.map((t) => ({ ...t, steps: planTrial(t.config, { hash: idHasher, fingerprints }) }));
  // The locator must let a step find the data from any working directory.
  for (const t of trials) {
    for (const s of t.steps) {
      if (!s.locator) continue;
      s.locator = Object.fromEntries(Object.entries(s.locator).map(([k, v]) => [k, resolve(baseDir, v)]));
    }
  }
  const unique = new Set(trials.flatMap((t) => t.steps.map((s) => s.key)));
  return { ...resolved, description: spec.description, trials, uniqueSteps: unique.size, overrides: opts.overrides ?? opts.set ?? {}, baseDir };
}

/**
 * Write the trial and study files that the catalog and `gantry status` read, and this launch's
 * document (activities/launches.ts); both executors do this before any step.
 */
export async function registerStudy(store: ArtifactStore, study: PreparedStudy, now: string, executor: Executor = 'embedded'): Promise<LaunchDoc> {
  for (const t of study.trials) {
    await saveTrial(store, { id: t.id, study: study.study, cellId: t.cellId, cell: t.cell, config: t.config as unknown as Record<string, unknown>, steps: t.steps.map((s) => ({ kind: s.kind, key: s.key })), createdAt: now, ...(t.block ? { block: t.block } : {}) });
  }
  await saveStudy(store, {
    study: study.study, version: study.version, description: study.description, profile: study.profile ?? null,
    axes: study.axes, seeds: study.seeds, trials: study.trials.map((t) => t.id), updatedAt: now,
  });
  return writeLaunch(store, {
    study: study.study, gridId: gridId(study.trials), profile: study.profile ?? null, overrides: study.overrides ?? {},
    executor, trialIds: study.trials.map((t) => t.id), dir: study.baseDir ?? process.cwd(), now: new Date(now),
  });
}

/** sha256 of a dataset file's content; a missing or unreadable file is the user's to fix. `shown`: the path as the user wrote it. */
export async function fingerprintFile(path: string, shown = path): Promise<string> {
  const full = resolve(path);
  const where = shown === full ? shown : `${shown} (${full})`;
  try {
    const st = await stat(full);
    if (!st.isFile()) throw new UserError(`dataset ${where} is not a file`);
    await access(full, constants.R_OK);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`dataset file ${where} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`, { hint: 'check dataset.path; relative paths start at the study file' });
  }
  return sha256File(full);
}

/**
 * A folder's fingerprint: the hash of every file's path (relative, sorted) and content hash, so
 * the same data has the same key on every machine, and any change to any file changes it.
 * Hidden files and folders are skipped. Reads every byte: a 10 GB dataset costs its read time
 * on each launch.
 */
export async function fingerprintFolder(path: string, shown = path): Promise<string> {
  const full = resolve(path);
  const where = shown === full ? shown : `${shown} (${full})`;
  try {
    if (!(await stat(full)).isDirectory()) throw new UserError(`dataset ${where} is not a folder`, { hint: 'image datasets are folders in a known layout' });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`dataset folder ${where} ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read'}`, { hint: 'check dataset.path; relative paths start at the study file' });
  }
  const entries: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(dir, e.name), r);
      else if (e.isFile()) entries.push(`${r}\0${await fingerprintFile(join(dir, e.name), r)}`);
    }
  };
  await walk(full, '');
  if (!entries.length) throw new UserError(`dataset folder ${where} is empty`);
  return createHash('sha256').update(entries.join('\n')).digest('hex');
}

/**
 * The grid id (named `launchId` where Temporal and MLflow use it): a hash of the trials' ids and
 * step keys, in any order. Launching the same grid again gives the same id: the Temporal study
 * workflow's id ends with it, and the MLflow mirror finds the launch's parent run by it. Not the
 * launch document's id (activities/launches.ts), which is new for every invocation.
 */
export function launchId(trials: readonly { id: string; steps: readonly { key: string }[] }[], hash: Hasher = idHasher): string {
  const signature = trials.map((t) => ({ id: t.id, steps: t.steps.map((s) => s.key) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return hash(canonicalJson(signature));
}

/** The grid id under its own name. */
export const gridId = launchId;
