/**
 * Everything that happens before any step runs: expand the grid, check dataset files, fingerprint
 * them and plan each trial's steps. An invalid spec or a missing file fails here, before any work.
 */
import { access, constants, mkdtemp, open, readdir, rename, stat } from 'node:fs/promises';
import { createReadStream, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { expandGrid, type ResolveOptions, type ResolvedStudy, type ResolvedTrial } from '../experiments/grid.js';
import { planTrial, type StepCall } from '../experiments/plan.js';
import { isItemConfig, SpecError, type SpecProblem, type StudySpec } from '../experiments/spec.js';
import { isDataStep } from '../workflows/trial.js';
import { saveStudy, saveTrial } from '../activities/record.js';
import { writeLaunch, type Executor, type LaunchDoc } from '../activities/launches.js';
import { planEntry, type PlanEntry } from '../activities/launch-plan.js';
import { UserError } from '../core/errors.js';
import { locateEnvi } from '../datasets/envi.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { idHasher, sha256File, sha256Hex } from '../infra/hash.js';
import { canonicalJson, type Hasher } from '../core/canonical.js';

export interface PlannedTrial extends ResolvedTrial {
  steps: StepCall[];
}

/**
 * A study planned without holding its trials: what they share, their count, and the trials again
 * on demand (`each()`, the grid expanded a second time), so a grid of 10⁶ trials costs memory for
 * a few of them. Planning wrote the compact plan (activities/launch-plan.ts) to a local file.
 */
export interface StudyPlan extends Omit<ResolvedStudy, 'trials'> {
  description: string;
  /** Trials after de-duplication. */
  count: number;
  /** Distinct steps over all trials (shared steps counted once). */
  uniqueSteps: number;
  /** The grid's content id (launchId): the same for every launch of the same grid. */
  gridId: string;
  /** The `--set` overrides as given (the launch records them); {} when none. */
  overrides?: Record<string, unknown>;
  /** Where the study file is: the launch records the git commit there. */
  baseDir?: string;
  /** The trials in plan order, planned as they are asked for. */
  each(): Iterable<PlannedTrial>;
  /** The compact plan, one line per trial in plan order: a local file, removed when this process exits. */
  planFile: string;
  /** The data steps (those before training), each distinct one once with a trial that has it; undefined when there are more than DATA_STEPS_HELD. */
  dataSteps?: { call: StepCall; trialId: string }[];
  /** Each distinct (extract, split) pair of the item trials: whose test samples the executor checks once the data steps ran (undefined with dataSteps). */
  evaluationSets?: { extract: string; split: string }[];
  /** Model kinds of trials on item datasets without a feature network (the backend check in cli/main). */
  itemModels: Set<string>;
}

/** A planned study with every trial in memory: the Temporal launcher's form, and small grids'. */
export interface PreparedStudy extends StudyPlan {
  trials: PlannedTrial[];
}

/** `overrides`: the --set values as the user gave them, for the launch record (`set` may have had paths resolved). */
export interface PrepareOptions extends ResolveOptions {
  overrides?: Record<string, unknown>;
}

/** Distinct data steps planning keeps to run before any training; a grid with more runs each in its trial. */
export const DATA_STEPS_HELD = 10_000;
/** Distinct problems reported of an invalid grid; planning stops at this many. */
const PROBLEMS_SHOWN = 50;

/** prepareStudy with every trial in memory (planStudy, its trials listed). */
export async function prepareStudy(spec: StudySpec, opts: PrepareOptions, baseDir = process.cwd()): Promise<PreparedStudy> {
  const plan = await planStudy(spec, opts, baseDir);
  return { ...plan, trials: [...plan.each()] };
}

/**
 * Plan a study in one pass over its grid, before any step runs: validate every combination (an
 * invalid grid is one SpecError, before any work), fingerprint each dataset file as a trial first
 * names it, plan each trial's steps, write the compact plan, count trials and distinct steps and
 * compute the grid id. Memory grows by 8 bytes a trial and a step (sorted to find duplicates), not
 * by the trials themselves.
 *
 * `baseDir`: where relative dataset paths in the spec start (the study file's folder; the project
 * for built-in studies). Paths stay as written in the trial config (its id must not depend on
 * where the project lives); steps find the data through absolute locators.
 */
export async function planStudy(spec: StudySpec, opts: PrepareOptions, baseDir = process.cwd()): Promise<StudyPlan> {
  const grid = expandGrid(spec, opts, idHasher);
  const fingerprints: Record<string, string> = {};
  const problems = new ProblemSink(PROBLEMS_SHOWN);
  const ids = new PrefixList();
  const stepPrefixes = new PrefixList();
  const dataSteps = new Map<string, { call: StepCall; trialId: string }>();
  const evaluationSets = new Map<string, { extract: string; split: string }>();
  let dataOverflow = false;
  const itemModels = new Set<string>();
  const digest = new GridDigest();
  const planFile = await tempPlanFile();
  const out = await open(planFile, 'w');
  let buffered: string[] = [];
  let bufferedBytes = 0;
  const flush = async () => {
    if (buffered.length) await out.write(buffered.join(''));
    buffered = [];
    bufferedBytes = 0;
  };
  let count = 0;
  try {
    for (const t of grid.trials(problems)) {
      if (problems.full) break;
      if (problems.size) continue; // only the problems matter now
      for (const [path, what] of dataPaths(t.config)) if (!(path in fingerprints)) fingerprints[path] = await fingerprint(resolve(baseDir, path), path, what);
      const steps = planned(t, fingerprints, baseDir);
      if (isItemConfig(t.config) && !t.config.features) itemModels.add(t.config.model.kind);
      for (const s of steps) {
        if (isDataStep(s.kind) && !dataOverflow) {
          if (!dataSteps.has(s.key)) dataSteps.set(s.key, { call: s, trialId: t.id });
          if (dataSteps.size > DATA_STEPS_HELD) {
            // Too many to run up front: from here on they are counted like the others.
            dataOverflow = true;
            for (const k of dataSteps.keys()) stepPrefixes.push(prefixOf(k));
            dataSteps.clear();
            evaluationSets.clear();
          }
        } else stepPrefixes.push(prefixOf(s.key));
      }
      const extract = steps.find((s) => s.kind === 'extract');
      const split = steps.find((s) => s.kind === 'split');
      if (extract && split && !dataOverflow) evaluationSets.set(`${extract.key}:${split.key}`, { extract: extract.key, split: split.key });
      ids.push(prefixOf(t.id));
      digest.add(t.id, steps);
      const line = JSON.stringify(planEntry({ ...t, steps })) + '\n';
      buffered.push(line);
      bufferedBytes += line.length;
      if (bufferedBytes > 1 << 20) await flush();
      count++;
    }
    await flush();
  } finally {
    await out.close();
  }
  if (problems.size) throw new SpecError(grid.title, problems.list());

  // Two combinations can make one config (overlapping blocks): the first is kept. Prefixes that
  // repeat name the candidates; the plan file is rewritten without the later copies.
  const repeated = ids.repeated();
  if (repeated.size) {
    // Line by line into a new file (the plan of 10⁶ trials is 330 MB), then over the old one.
    const seen = new Set<string>();
    const deduped = `${planFile}.dedup`;
    const w = await open(deduped, 'w');
    try {
      for await (const line of createInterface({ input: createReadStream(planFile), crlfDelay: Infinity })) {
        if (!line) continue;
        const e = JSON.parse(line) as PlanEntry;
        if (repeated.has(prefixOf(e.id))) {
          if (seen.has(e.id)) {
            digest.remove(e.id, e.steps.map(([, key]) => ({ key })));
            count--;
            continue;
          }
          seen.add(e.id);
        }
        await w.write(line + '\n');
      }
    } finally {
      await w.close();
    }
    await rename(deduped, planFile);
  }
  const uniqueSteps = stepPrefixes.distinct() + (dataOverflow ? 0 : dataSteps.size);
  const { trials: _, title: _title, ...header } = grid;
  const each = function* (): Generator<PlannedTrial> {
    const seen = new Set<string>();
    for (const t of grid.trials(new ProblemSink(1))) {
      if (repeated.has(prefixOf(t.id))) {
        if (seen.has(t.id)) continue;
        seen.add(t.id);
      }
      yield { ...t, steps: planned(t, fingerprints, baseDir) };
    }
  };
  return {
    ...header, description: spec.description, count, uniqueSteps, gridId: digest.value(), overrides: opts.overrides ?? opts.set ?? {}, baseDir,
    each, planFile, ...(dataOverflow ? {} : { dataSteps: [...dataSteps.values()], evaluationSets: [...evaluationSets.values()] }), itemModels,
  };
}

/** A trial's steps, with locators made absolute: a step must find the data from any working directory. */
function planned(t: ResolvedTrial, fingerprints: Record<string, string>, baseDir: string): StepCall[] {
  const steps = planTrial(t.config, { hash: idHasher, fingerprints });
  for (const s of steps) if (s.locator) s.locator = Object.fromEntries(Object.entries(s.locator).map(([k, v]) => [k, resolve(baseDir, v)]));
  return steps;
}

type PathKind = 'file' | 'folder' | 'envi' | 'model';

/** What each dataset path of a trial names: a file, a folder of images, an ENVI header/data pair, or a feature model. */
function dataPaths(config: ResolvedTrial['config']): [string, PathKind][] {
  const paths: [string, PathKind][] = [];
  const d = config.dataset;
  if (d.kind === 'mat' || d.kind === 'tiff') paths.push([d.path, 'file']);
  if (d.kind === 'envi') paths.push([d.path, 'envi']);
  if (d.kind === 'mnist' || d.kind === 'cifar10') paths.push([d.path, 'folder']);
  if (d.kind === 'images') {
    paths.push([d.path, 'folder']);
    if (d.metadata) paths.push([d.metadata.path, 'file']);
  }
  const features = (config as { features?: { model: string } }).features;
  if (features) paths.push([features.model, 'model']);
  if (d.kind === 'envi' || d.kind === 'tiff') {
    paths.push([d.labels.path, 'file']);
    if (d.labels.outer) paths.push([d.labels.outer, 'file']);
  }
  return paths;
}

async function fingerprint(full: string, p: string, what: PathKind): Promise<string> {
  if (what === 'folder') return fingerprintFolder(full, p);
  if (what === 'file') return fingerprintFile(full, p);
  if (what === 'model') {
    // model.json and everything beside it (its weight shards).
    const json = await fingerprintFile(full, p).catch((e: unknown) => {
      throw e instanceof UserError ? new UserError(e.message.replace(/^dataset file/, 'feature model (features.model)').replace(/^dataset/, 'feature model (features.model)'), { hint: 'features.model names the model.json of a tfjs graph model; relative paths start at the study file' }) : e;
    });
    return createHash('sha256').update(`${json}\0${await fingerprintFolder(dirname(full), dirname(p))}`).digest('hex');
  }
  await fingerprintFile(full, p); // names the path when it is missing
  const { hdr, data } = await locateEnvi(full);
  return createHash('sha256').update(`${await fingerprintFile(hdr)}\0${await fingerprintFile(data)}`).digest('hex');
}

/** The first 52 bits of a hex id, exactly as a double: what the prefix lists hold. */
const prefixOf = (hex: string): number => parseInt(hex.slice(0, 13), 16);

/** A growing list of id prefixes (8 bytes each), sorted when asked for duplicates. */
class PrefixList {
  private data = new Float64Array(1024);
  private n = 0;
  push(x: number): void {
    if (this.n === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = x;
  }
  private sorted(): Float64Array {
    return this.data.subarray(0, this.n).sort();
  }
  /** Prefixes that occur more than once. */
  repeated(): Set<number> {
    const s = this.sorted();
    const out = new Set<number>();
    for (let i = 1; i < s.length; i++) if (s[i] === s[i - 1]) out.add(s[i]);
    return out;
  }
  distinct(): number {
    const s = this.sorted();
    let n = s.length ? 1 : 0;
    for (let i = 1; i < s.length; i++) if (s[i] !== s[i - 1]) n++;
    return n;
  }
}

/** Collects a grid's problems, each distinct one once, up to `max` (then planning stops). */
class ProblemSink {
  private readonly seen = new Map<string, SpecProblem>();
  constructor(private readonly max: number) {}
  push(...ps: SpecProblem[]): void {
    for (const p of ps) if (this.seen.size < this.max) this.seen.set(p.path + '\0' + p.message, p);
  }
  get size(): number {
    return this.seen.size;
  }
  get full(): boolean {
    return this.seen.size >= this.max;
  }
  list(): SpecProblem[] {
    return [...this.seen.values()];
  }
}

/**
 * The grid id, in any order and one trial at a time: the sum (mod 2²⁵⁶) of each trial's sha256 over
 * its id and step keys, hashed. The same set of trials gives the same id however it is listed.
 */
class GridDigest {
  private sum = 0n;
  private static readonly MOD = 1n << 256n;
  private static of(id: string, steps: readonly { key: string }[]): bigint {
    return BigInt('0x' + sha256Hex(canonicalJson({ id, steps: steps.map((s) => s.key) })));
  }
  add(id: string, steps: readonly { key: string }[]): void {
    this.sum = (this.sum + GridDigest.of(id, steps)) % GridDigest.MOD;
  }
  remove(id: string, steps: readonly { key: string }[]): void {
    this.sum = (this.sum - GridDigest.of(id, steps) + GridDigest.MOD) % GridDigest.MOD;
  }
  value(hash: Hasher = idHasher): string {
    return hash(`grid:${this.sum.toString(16)}`);
  }
}

/** A temporary file for a compact plan, removed when this process exits. */
async function tempPlanFile(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-plan-'));
  planDirs.add(dir);
  if (planDirs.size === 1) process.once('exit', () => { for (const d of planDirs) rmSync(d, { recursive: true, force: true }); });
  return join(dir, 'plan.jsonl');
}
const planDirs = new Set<string>();

/**
 * Write the study's plan, study file and this launch's document (activities/launches.ts); both
 * executors do this before any step. The Temporal launcher also writes every trial's file now
 * (its workers and catalog worker read them); the embedded executor writes each as its trial starts.
 */
export async function registerStudy(store: ArtifactStore, study: StudyPlan, now: string, executor: Executor = 'embedded'): Promise<LaunchDoc> {
  if (executor === 'temporal') for (const t of study.each()) await saveTrialOf(store, study.study, t, now);
  const launch = await writeLaunch(store, {
    study: study.study, gridId: study.gridId, profile: study.profile ?? null, overrides: study.overrides ?? {},
    executor, planFile: study.planFile, trials: study.count, dir: study.baseDir ?? process.cwd(), now: new Date(now),
  });
  await saveStudy(store, {
    study: study.study, version: study.version, description: study.description, profile: study.profile ?? null,
    axes: study.axes, seeds: study.seeds, launch: launch.launchId, trialCount: study.count, updatedAt: now,
  });
  return launch;
}

/** A planned trial's file (record.ts saveTrial). */
export function saveTrialOf(store: ArtifactStore, study: string, t: PlannedTrial, now: string): Promise<void> {
  return saveTrial(store, { id: t.id, study, cellId: t.cellId, cell: t.cell, config: t.config as unknown as Record<string, unknown>, steps: t.steps.map((s) => ({ kind: s.kind, key: s.key })), createdAt: now, ...(t.block ? { block: t.block } : {}) });
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
 * step keys, in any order (GridDigest). Launching the same grid again gives the same id: the
 * Temporal study workflow's id ends with it, and the MLflow parent run is found by it. Not the
 * launch document's id (activities/launches.ts), which is new for every invocation.
 */
export function launchId(trials: Iterable<{ id: string; steps: readonly { key: string }[] }>, hash: Hasher = idHasher): string {
  const d = new GridDigest();
  const seen = new Set<string>();
  for (const t of trials) if (!seen.has(t.id)) (seen.add(t.id), d.add(t.id, t.steps));
  return d.value(hash);
}

/** The grid id under its own name. */
export const gridId = launchId;
