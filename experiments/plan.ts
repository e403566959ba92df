/**
 * A trial's plan: its steps in order, each with a key = hash(kind, version, params, input keys).
 * Trials that share upstream data get the same keys for those steps, so the executor computes
 * them once. Pure: the hasher and dataset fingerprints are passed in (workflow code stays
 * deterministic; hashing and file reads happen outside it).
 */
import { canonicalJson, type Hasher } from '../core/canonical.js';
import type { TrialConfig } from './spec.js';
import { splitModelParams } from '../models/params.js';

/** Bump a step's version when its semantics change: every key built on it changes, like a cache version. */
// evaluate 2: secondary score sets' metrics are named `<set>/<metric>` (was `<set>.<metric>`).
export const STEP_VERSIONS = { load: 1, filter: 1, tile: 1, train: 1, score: 1, evaluate: 2 } as const;
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
  let loadParams: Record<string, unknown>;
  let locator: Record<string, string> | undefined;
  if (cfg.dataset.kind === 'mat') {
    const { path, ...rest } = cfg.dataset;
    const fingerprint = ctx.fingerprints[path];
    if (!fingerprint) throw new Error(`no fingerprint for dataset file ${path}`);
    loadParams = { ...rest, sha256: fingerprint };
    locator = { path };
  } else {
    loadParams = { ...cfg.dataset };
  }
  const load = add('load', loadParams, {}, locator);
  const filter = add('filter', { ...cfg.filter }, { data: load });
  // The seed matters to tiling only when it subsamples the training set.
  const tileSeed = cfg.split.maxTrain > 0 ? cfg.seed : 0;
  const tile = add('tile', { tiling: cfg.tiling, split: cfg.split, seed: tileSeed }, { data: filter });
  const { train: trainParams, score: scoreParams } = splitModelParams(cfg.model);
  const train = add('train', { model: trainParams, seed: cfg.seed }, { tiles: tile });
  const score = add('score', { model: scoreParams, seed: cfg.seed }, { model: train, tiles: tile });
  add('evaluate', { metrics: cfg.evaluation.metrics }, { scores: score, tiles: tile });
  return steps;
}
