/**
 * Fuzz cases for study specs: random JSON, and valid studies (the built-in ones, the tests' toy
 * study) with values replaced, removed or added at random paths, through `defineStudy`, then
 * `resolveStudy` and planning; and valid studies with random `--set key=value` pairs as the
 * command line gives them (`parseSets`). Each must resolve or fail with a UserError (a SpecError
 * listing its problems). Run by spec.test.ts in a worker (harness.ts).
 */
import { Prng } from '../../datasets/prng.js';
import { defineStudy, type StudyInput, type StudySpec } from '../../experiments/spec.js';
import { parseSets, resolveStudy } from '../../experiments/grid.js';
import { maxTrials } from '../../experiments/grid-size.js';
import { planTrial } from '../../experiments/plan.js';
import { BUILTIN_STUDIES } from '../../experiments/studies.js';
import { idHasher } from '../../infra/hash.js';
import { toyStudy } from '../helpers.js';
import { FuzzCheckError } from './harness.js';

type Note = (what: string) => void;
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const pick = <T>(rng: Prng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Keys the schemas know, so that random objects get past the first level of checks. */
const KEYS = [
  'name', 'base', 'grid', 'seeds', 'profiles', 'defaultProfile', 'version', 'report', 'dataset', 'model', 'filter', 'tiling', 'split', 'evaluation', 'features',
  'kind', 'rows', 'cols', 'bands', 'path', 'variable', 'labels', 'order', 'shape', 'start', 'end', 'step', 'normalize', 'size', 'stride', 'threshold', 'train',
  'validation', 'maxTrain', 'protocol', 'normal', 'anomalous', 'set', 'cartesian', 'zip', 'random', 'n', 'seed', 'space', 'uniform', 'loguniform', 'int', 'choice',
  'metrics', 'percentile', 'select', 'iterations', 'hidden', 'noiseDim', 'classes', 'metadata', 'minSize', '__proto__', 'constructor', '', 'x.y',
];
const STRINGS = ['', 'x', 'rx', 'wgan-gp', 'mat', 'synthetic-hsi', 'synthetic-textures', 'images', 'pixel', 'window', 'patches', 'fractions', 'val-auc', 'auc', 'toy', 'A B', '__proto__', 'é', '../../etc/passwd', 'x'.repeat(300)];
const NUMBERS = [0, -0, 1, -1, 2, 3, 0.5, 7, 8, 64, 255, 1e6, 1e9, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e-308, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5];

function randomValue(rng: Prng, depth: number): Json {
  const r = rng.int(depth > 2 ? 4 : 7);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.int(2) === 0;
    case 2:
      return pick(rng, NUMBERS);
    case 3:
      return pick(rng, STRINGS);
    case 4:
    case 5: {
      const o: Record<string, Json> = {};
      for (let i = rng.int(5); i > 0; i--) o[pick(rng, KEYS)] = randomValue(rng, depth + 1);
      return o;
    }
    default:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
  }
}

/** Every path to a value in `v` (object keys and array indices). */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** One to three edits of a copy of `study`: replace, delete, add a key, or swap a value for one of another type. */
function mutateStudy(rng: Prng, study: Json, note: Note): Json {
  let root = structuredClone(study);
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const all = paths(root);
    const path = pick(rng, all);
    const v = randomValue(rng, 1);
    const label = path.join('.') || '(root)';
    if (path.length === 0) {
      note(`root = ${JSON.stringify(v).slice(0, 60)}`);
      root = v;
      continue;
    }
    const parent = path.slice(0, -1).reduce<Json>((o, p) => (o as Record<string, Json>)[p as string], root) as Record<string, Json> | Json[];
    const leaf = path[path.length - 1];
    const op = rng.int(3);
    if (op === 0) {
      note(`${label} = ${JSON.stringify(v).slice(0, 60)}`);
      (parent as Record<string | number, Json>)[leaf] = v;
    } else if (op === 1) {
      note(`delete ${label}`);
      if (Array.isArray(parent)) parent.splice(leaf as number, 1);
      else delete (parent as Record<string, Json>)[leaf as string];
    } else {
      const target = (parent as Record<string | number, Json>)[leaf];
      if (target && typeof target === 'object' && !Array.isArray(target)) {
        const key = pick(rng, KEYS);
        note(`${label}.${key} = ${JSON.stringify(v).slice(0, 60)}`);
        target[key] = v;
      } else {
        note(`${label} = ${JSON.stringify(v).slice(0, 60)}`);
        (parent as Record<string | number, Json>)[leaf] = v;
      }
    }
  }
  return root;
}

const BASES: Json[] = [toyStudy() as Json, ...Object.values(BUILTIN_STUDIES).map((s) => JSON.parse(JSON.stringify(s)) as Json)];

/** Fingerprints for whatever paths a config names: planning needs one per file, not its content. */
const anyFingerprint = new Proxy({}, { get: (_t, p) => (typeof p === 'string' ? `fp-${p.length}` : undefined) }) as Record<string, string>;

/** Grids above this are what `gantry run` asks about (--confirm-above) before resolving; a fuzz case skips them. */
const MAX_TRIALS = 2000;

function resolveAndPlan(spec: StudySpec, opts: { profile?: string; set?: Record<string, unknown> }, note: Note): void {
  const n = maxTrials(spec, opts);
  if (n !== undefined && n > MAX_TRIALS) {
    note(`(${n} trials: not resolved)`);
    return;
  }
  const r = resolveStudy(spec, opts, idHasher);
  if (r.trials.length === 0) throw new FuzzCheckError('a study resolved to no trials');
  for (const t of r.trials.slice(0, 50)) {
    const steps = planTrial(t.config, { hash: idHasher, fingerprints: anyFingerprint });
    if (!steps.some((s) => s.kind === 'evaluate')) throw new FuzzCheckError(`trial ${t.id} has no evaluate step`);
  }
}

export async function spec(rng: Prng, note: Note): Promise<void> {
  const fromScratch = rng.int(5) === 0;
  const k = rng.int(BASES.length);
  note(fromScratch ? 'random' : `base ${k}`);
  const input = fromScratch ? randomValue(rng, 0) : mutateStudy(rng, BASES[k], note);
  const s = defineStudy(input as unknown as StudyInput);
  const profiles = Object.keys(s.profiles);
  const profile = profiles.length && rng.int(2) ? pick(rng, [...profiles, 'nope']) : undefined;
  if (profile) note(`profile ${profile}`);
  resolveAndPlan(s, profile ? { profile } : {}, note);
}

const SET_PATHS = ['model.kind', 'model.lr', 'model.noiseDim', 'model.select', 'dataset.kind', 'dataset.rows', 'dataset.bands', 'filter.bands.start', 'filter.bands.end', 'filter.bands', 'tiling.kind', 'tiling.size', 'split.validation', 'split.protocol', 'split.train', 'evaluation.metrics', 'seeds', 'seed', 'name', '', '.', 'a..b', '__proto__.polluted', 'constructor.prototype.polluted', 'model', 'dataset', 'x.y.z'];
const SET_VALUES = ['1', '0', '-1', '1e309', 'NaN', 'null', 'true', '[]', '[0,1,2]', '[-1]', '{}', '{"kind":"rx"}', '"x"', 'rx', 'wgan-gp', 'val-auc', 'window', '0.2', '99999999', '{"start":5,"end":2}', '{"a":', '', '=', '[1,[2,[3]]]'];

const PLAUSIBLE_SETS = ['seeds=[0,1]', 'model.kind=rx', 'model.noiseDim=4', 'model.iterations=5', 'split.validation=0.2', 'split.maxTrain=100', 'filter.normalize=zscore', 'evaluation.metrics=["auc","ap"]', 'tiling.kind=pixel', 'dataset.seed=3', 'model.lr=0.001'];

export async function sets(rng: Prng, note: Note): Promise<void> {
  const k = rng.int(BASES.length);
  const base = defineStudy(BASES[k] as unknown as StudyInput);
  // Half the cases set one plausible value, so that resolving and planning run, not only the checks.
  const pairs = rng.int(2) === 0 ? [pick(rng, PLAUSIBLE_SETS)] : Array.from({ length: 1 + rng.int(3) }, () => {
    const key = rng.int(8) === 0 ? String.fromCharCode(...Array.from({ length: rng.int(8) }, () => 32 + rng.int(95))) : pick(rng, SET_PATHS);
    return `${key}=${pick(rng, SET_VALUES)}`;
  });
  note(`base ${k}, --set ${pairs.join(' --set ')}`);
  const before = Object.keys(Object.prototype).length;
  try {
    resolveAndPlan(base, { set: parseSets(pairs) }, note);
  } finally {
    // A --set path must never reach Object.prototype (every object of the process would change).
    if (Object.keys(Object.prototype).length !== before || ({} as Record<string, unknown>).polluted !== undefined) {
      throw new FuzzCheckError('a --set path polluted Object.prototype');
    }
  }
}
