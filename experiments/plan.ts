/**
 * A trial's plan: its steps in order, each with a key = hash(kind, version, params, input keys).
 * Trials that share upstream data get the same keys for those steps, so the executor computes
 * them once. Pure: the hasher and dataset fingerprints are passed in (workflow code stays
 * deterministic; hashing and file reads happen outside it).
 */
import { canonicalJson, type Hasher } from '../core/canonical.js';
import { isItemConfig, type CubeTrialConfig, type ItemTrialConfig, type TrialConfig } from './spec.js';
import { splitModelParams } from '../models/params.js';

/** Bump a step's version when its semantics change: every key built on it changes, like a cache version. */
// evaluate 2: secondary score sets' metrics are named `<set>/<metric>` (was `<set>.<metric>`).
// Cubes: load → filter → tile → train → score → evaluate → export. Items (images): scan → screen →
// extract (→ embed, with features) → split → train → score → evaluate → export. Each kind is one
// module in activities/, registered there.
// extract 2: mask pixels count as anomalous above dataset.maskThreshold (default half of white), not when nonzero.
// export 1 (issue 12): appended after evaluate; no earlier step's params or inputs changed, so no key moved.
/** evaluate's params: `percentile` only when set, so the keys of studies that leave it out stay as they were. */
function evaluateParams(cfg: TrialConfig): { metrics: string[]; percentile?: number } {
  const { metrics, percentile } = cfg.evaluation;
  return percentile === undefined ? { metrics } : { metrics, percentile };
}

export const STEP_VERSIONS = { load: 1, filter: 1, tile: 1, scan: 1, screen: 1, extract: 2, embed: 1, split: 1, train: 1, score: 1, evaluate: 2, export: 1 } as const;
export type StepKind = keyof typeof STEP_VERSIONS;
export const STEP_KINDS = Object.keys(STEP_VERSIONS) as StepKind[];

export interface StepCall {
  kind: StepKind;
  version: number;
  key: string;
  /** What the step computes from: hashed into the key. */
  params: Record<string, unknown>;
  /** Keys of the steps whose outputs this step reads, by input name: hashed into the key. */
  inputs: Record<string, string>;
  /** Where to find things (a file path): needed to run, not part of the key (content is, via a fingerprint). */
  locator?: Record<string, string>;
}

export interface PlanContext {
  hash: Hasher;
  /** Content hash of each dataset file, by path as written in the config. */
  fingerprints: Record<string, string>;
}

export function stepKey(kind: StepKind, params: unknown, inputs: Record<string, string>, hash: Hasher): string {
  return hash(canonicalJson({ kind, version: STEP_VERSIONS[kind], params, inputs }));
}

export function planTrial(cfg: TrialConfig, ctx: PlanContext): StepCall[] {
  const steps: StepCall[] = [];
  const add = (kind: StepKind, params: Record<string, unknown>, inputs: Record<string, string>, locator?: Record<string, string>): string => {
    const key = stepKey(kind, params, inputs, ctx.hash);
    steps.push({ kind, version: STEP_VERSIONS[kind], key, params, inputs, ...(locator ? { locator } : {}) });
    return key;
  };
  if (isItemConfig(cfg)) planItems(cfg, ctx, add);
  else planCube(cfg, ctx, add);
  return steps;
}

type Add = (kind: StepKind, params: Record<string, unknown>, inputs: Record<string, string>, locator?: Record<string, string>) => string;

/** Fields of a dataset spec that name files: [path in the spec, key of its fingerprint beside it, locator name]. */
const PATH_FIELDS: readonly [readonly string[], string, string][] = [
  [['path'], 'sha256', 'path'],
  [['metadata', 'path'], 'sha256', 'metadata'],
  [['labels', 'path'], 'sha256', 'labels'],
  [['labels', 'outer'], 'outerSha256', 'outer'],
];

/**
 * A dataset's load params: its spec with every file path replaced by the content's fingerprint
 * (the key must not depend on where the data lives), and a locator to find the files.
 */
function located(dataset: Record<string, unknown>, ctx: PlanContext): { params: Record<string, unknown>; locator?: Record<string, string> } {
  const params = structuredClone(dataset);
  const locator: Record<string, string> = {};
  for (const [path, hashKey, name] of PATH_FIELDS) {
    const parent = path.slice(0, -1).reduce<Record<string, unknown> | undefined>((o, k) => o?.[k] as Record<string, unknown> | undefined, params);
    const leaf = path[path.length - 1];
    const value = parent?.[leaf];
    if (!parent || typeof value !== 'string') continue;
    const fingerprint = ctx.fingerprints[value];
    if (!fingerprint) throw new Error(`no fingerprint for dataset file ${value}`);
    delete parent[leaf];
    parent[hashKey] = fingerprint;
    locator[name] = value;
  }
  return Object.keys(locator).length ? { params, locator } : { params };
}

function planItems(cfg: ItemTrialConfig, ctx: PlanContext, add: Add): void {
  const { params, locator } = located(cfg.dataset as unknown as Record<string, unknown>, ctx);
  const scan = add('scan', params, {}, locator);
  // Screening and extraction decode the files again: they need to know where the data lives, not what the key says.
  const screen = add('screen', { ...cfg.filter, channels: cfg.dataset.kind === 'images' ? (cfg.dataset.channels ?? 'keep') : 'keep' }, { items: scan }, locator);
  const extract = add('extract', { tiling: cfg.tiling }, { items: screen }, locator);
  // Features (optional): the user's network maps each sample to a vector; its files enter the key by content.
  let tiles = extract;
  if (cfg.features) {
    const { model, ...rest } = cfg.features;
    const fingerprint = ctx.fingerprints[model];
    if (!fingerprint) throw new Error(`no fingerprint for the feature model ${model}`);
    tiles = add('embed', { ...rest, modelSha256: fingerprint }, { tiles: extract }, { model });
  }
  // The split is per item and per seed: a second seed shares scan, screen and extract.
  const split = add('split', { split: cfg.split, seed: cfg.seed }, { items: screen });
  const { train: trainParams, score: scoreParams } = splitModelParams(cfg.model);
  const train = add('train', { model: trainParams, seed: cfg.seed }, { tiles, split });
  const score = add('score', { model: scoreParams, seed: cfg.seed }, { model: train, tiles });
  add('evaluate', evaluateParams(cfg), { scores: score, tiles, split });
  // The samples' labels and lineage are the extract step's (embed keeps them); rel, sha256 and class are in the screened list.
  add('export', {}, { scores: score, tiles: extract, split, items: screen });
}

function planCube(cfg: CubeTrialConfig, ctx: PlanContext, add: Add): void {
  const { params: loadParams, locator } = located(cfg.dataset as unknown as Record<string, unknown>, ctx);
  const load = add('load', loadParams, {}, locator);
  const filter = add('filter', { ...cfg.filter }, { data: load });
  // The seed matters to tiling only when it subsamples or splits the training set.
  const tileSeed = cfg.split.maxTrain > 0 || cfg.split.validation !== undefined ? cfg.seed : 0;
  const tile = add('tile', { tiling: cfg.tiling, split: cfg.split, seed: tileSeed }, { data: filter });
  const { train: trainParams, score: scoreParams } = splitModelParams(cfg.model);
  const train = add('train', { model: trainParams, seed: cfg.seed }, { tiles: tile });
  const score = add('score', { model: scoreParams, seed: cfg.seed }, { model: train, tiles: tile });
  add('evaluate', evaluateParams(cfg), { scores: score, tiles: tile });
  add('export', {}, { scores: score, tiles: tile });
}
