/**
 * Launches: one document per `gantry run` invocation, in the store (the source of truth; the
 * catalog's `launches` and `launch_trials` tables index them). A launch says how a study was run —
 * profile, `--set` overrides, when, by which gantry, from which commit, on which executor — and
 * which trials it included, so re-runs of one study with other settings can be told apart.
 *
 * Two ids: the launch id is unique per invocation (time-ordered, so the newest sorts last); the grid
 * id (executors/prepare.ts `launchId()`) is a hash of the trials and their steps, the same for every
 * launch of the same grid: the Temporal workflow id and the MLflow parent run key on it.
 *
 * The document is sealed (infra/sealed.ts) like step records; the trial ids and the compact plan
 * (activities/launch-plan.ts) are separate artifacts beside it, referenced with their checksums: a
 * grid of 10^6 trials makes a 17 MB id list and a 330 MB plan beside a small document, never a
 * huge JSON array. The embedded executor adds a progress document (activities/launch-progress.ts).
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { artifactRefSchema } from '../infra/ledger.js';
import { getVerified, type ArtifactStore } from '../infra/store/store.js';
import { getSealed, putSealed } from '../infra/sealed.js';
import { CODE_VERSION } from '../infra/version.js';
import type { Catalog } from '../infra/catalog.js';
import { oneLine } from '../core/errors.js';

/** gantry's package version, e.g. `0.1.0` (CODE_VERSION is `gantry@0.1.0`). */
export const PACKAGE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export const launchDocSchema = z.object({
  launchId: z.string(),
  /** The grid's content id (trials and step keys): the same for every launch of the same grid. */
  gridId: z.string(),
  study: z.string(),
  profile: z.string().nullable(),
  /** `--set` overrides as given on the command line (dotted path → JSON value); {} when none. */
  overrides: z.record(z.string(), z.unknown()),
  startedAt: z.string(),
  gantryVersion: z.string(),
  codeVersion: z.string(),
  /** HEAD of the git checkout holding the study file; null when it is not in one (or git is missing). */
  gitCommit: z.string().nullable(),
  executor: z.enum(['embedded', 'temporal']),
  trials: z.number().int().nonnegative(),
  /** The launch's trial ids, one per line. */
  trialIds: artifactRefSchema,
  /** Its compact plan (activities/launch-plan.ts), one line per trial in the order of trialIds; absent in launches written before plans were stored. */
  plan: artifactRefSchema.optional(),
});
export type LaunchDoc = z.output<typeof launchDocSchema>;
export type Executor = LaunchDoc['executor'];

const PREFIX = 'launches';
export const launchKey = (study: string, id: string) => `${PREFIX}/${study}/${id}.json`;
const trialIdsKey = (study: string, id: string) => `${PREFIX}/${study}/${id}.trials`;
const planKey = (study: string, id: string) => `${PREFIX}/${study}/${id}.plan`;

/** `20250102T030405.678Z-9f3a1c2e`: sorts by time, unique across processes and machines. */
export function newLaunchId(now: Date): string {
  return `${now.toISOString().replace(/[-:]/g, '')}-${randomBytes(4).toString('hex')}`;
}

/** HEAD of the git checkout at `dir`, or null: best effort, one short-lived `git`, never an error. */
export function gitHead(dir: string, timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    try {
      execFile('git', ['rev-parse', 'HEAD'], { cwd: dir, timeout: timeoutMs, windowsHide: true }, (err, stdout) => {
        const head = String(stdout ?? '').trim();
        resolve(!err && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head) ? head : null);
      });
    } catch {
      resolve(null);
    }
  });
}

export interface NewLaunch {
  study: string;
  gridId: string;
  profile: string | null;
  overrides: Record<string, unknown>;
  executor: Executor;
  /** The compact plan, a local file (executors/prepare.ts planStudy writes it). */
  planFile: string;
  trials: number;
  /** Where the study file is (its git commit is recorded). */
  dir: string;
  now: Date;
}

/**
 * Write a launch: its plan and trial list first (both streamed from the plan file), then the
 * document that references them (a document never points at nothing).
 */
export async function writeLaunch(store: ArtifactStore, l: NewLaunch): Promise<LaunchDoc> {
  const launchId = newLaunchId(l.now);
  const plan = await store.putFile(planKey(l.study, launchId), l.planFile);
  const idsFile = `${l.planFile}.ids`;
  const out = await open(idsFile, 'w');
  try {
    let first = true;
    let chunk = '';
    for await (const line of createInterface({ input: createReadStream(l.planFile), crlfDelay: Infinity })) {
      if (!line) continue;
      chunk += (first ? '' : '\n') + (JSON.parse(line) as { id: string }).id;
      first = false;
      if (chunk.length > 1 << 20) (await out.write(chunk), (chunk = ''));
    }
    await out.write(chunk);
  } finally {
    await out.close();
  }
  const trialIds = await store.putFile(trialIdsKey(l.study, launchId), idsFile);
  await rm(idsFile, { force: true });
  const doc: LaunchDoc = {
    launchId, gridId: l.gridId, study: l.study, profile: l.profile, overrides: l.overrides, startedAt: l.now.toISOString(),
    gantryVersion: PACKAGE_VERSION, codeVersion: CODE_VERSION, gitCommit: await gitHead(l.dir), executor: l.executor,
    trials: l.trials, trialIds, plan,
  };
  await putSealed(store, launchKey(l.study, launchId), doc);
  return doc;
}

/** The keys of every launch document (of one study, or all), oldest first within a study. */
export async function launchKeys(store: ArtifactStore, study?: string): Promise<string[]> {
  return (await store.list(study ? `${PREFIX}/${study}` : PREFIX)).filter((k) => k.endsWith('.json'));
}

export async function readLaunch(store: ArtifactStore, key: string): Promise<LaunchDoc> {
  return launchDocSchema.parse((await getSealed(store, key)).value);
}

export async function readLaunchTrials(store: ArtifactStore, doc: LaunchDoc): Promise<string[]> {
  const text = Buffer.from(await getVerified(store, doc.trialIds)).toString('utf8');
  return text ? text.split('\n') : [];
}

/** A launch document by its id. */
export function readLaunchById(store: ArtifactStore, study: string, id: string): Promise<LaunchDoc> {
  return readLaunch(store, launchKey(study, id));
}

/** How many trials a study file's latest launch had. */
export const studyTrialCount = (file: { trials?: string[]; trialCount?: number }): number => file.trialCount ?? file.trials?.length ?? 0;

/** A study's trial ids, in plan order: its launch's list, or (an older study file) the list it holds. */
export async function studyTrialIds(store: ArtifactStore, file: { study: string; trials?: string[]; launch?: string }): Promise<string[]> {
  if (file.trials) return file.trials;
  if (!file.launch) return [];
  return readLaunchTrials(store, await readLaunchById(store, file.study, file.launch));
}

/** A study's newest readable launch (ids sort by time), or undefined when it has none. */
export async function latestLaunch(store: ArtifactStore, study: string): Promise<LaunchDoc | undefined> {
  const keys = await launchKeys(store, study);
  for (let i = keys.length - 1; i >= 0; i--) {
    const doc = await readLaunch(store, keys[i]).catch(() => undefined);
    if (doc) return doc;
  }
  return undefined;
}

/**
 * Index the store's launches (of one study, or all) in the catalog. Documents are immutable, so one
 * already indexed is skipped: a run indexes only its own new launch. A damaged document (or trial
 * list) is reported, not thrown: it must not stop a run or a rebuild.
 */
export async function recordLaunches(store: ArtifactStore, catalog: Catalog, study?: string): Promise<{ recorded: number; damaged: { key: string; error: string }[] }> {
  const known = await catalog.launchIds();
  const damaged: { key: string; error: string }[] = [];
  let recorded = 0;
  for (const key of await launchKeys(store, study)) {
    const id = key.slice(key.lastIndexOf('/') + 1, -'.json'.length);
    if (known.has(id)) continue;
    try {
      const doc = await readLaunch(store, key);
      const trialIds = await readLaunchTrials(store, doc);
      await catalog.insertLaunch({
        launchId: doc.launchId, gridId: doc.gridId, study: doc.study, profile: doc.profile, overrides: doc.overrides,
        startedAt: doc.startedAt, gantryVersion: doc.codeVersion, gitCommit: doc.gitCommit, executor: doc.executor, trials: doc.trials,
      }, trialIds);
      recorded++;
    } catch (e) {
      damaged.push({ key, error: oneLine(e) });
    }
  }
  return { recorded, damaged };
}
