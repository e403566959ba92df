/**
 * Grid expansion: a study spec (plus a profile and --set overrides) becomes a list of trials.
 * A trial's id hashes its study name and normalized config (defaults applied, key order
 * irrelevant), so relaunching a grid finds the same ids and never duplicates a cell.
 */
import { Prng } from '../datasets/prng.js';
import { canonicalJson, type Hasher } from '../core/canonical.js';
import { SpecError, isItemConfig, trialConfigSchema, type GridBlock, type SpecProblem, type StudySpec, type TrialConfig, formatPath } from './spec.js';
import { modelIsStochastic } from '../models/params.js';

export interface ResolvedTrial {
  id: string;
  /** Id of the cell: the same config without the seed. Aggregates over seeds group by it. */
  cellId: string;
  /** The grid-axis values that define this trial's cell, e.g. {'model.noiseDim': 4}. */
  cell: Record<string, unknown>;
  config: TrialConfig;
  /** The name of the grid block that made it, where the block has one (a readable run name). */
  block?: string;
}

export interface ResolvedStudy {
  study: string;
  version: number;
  profile: string | undefined;
  /** Dotted paths that vary across the grid. */
  axes: string[];
  seeds: number[];
  trials: ResolvedTrial[];
}

export interface ResolveOptions {
  profile?: string;
  /** Dotted-path overrides from the command line; the key 'seeds' replaces the seed list. */
  set?: Record<string, unknown>;
}

/** A grid ready to expand: what every trial shares, and its trials on demand (expandGrid). */
export interface GridExpansion extends Omit<ResolvedStudy, 'trials'> {
  /**
   * Every valid trial of the grid, in plan order, one at a time: memory does not grow with the
   * grid. Not de-duplicated (two blocks can make one config: resolveStudy keeps the first).
   * An invalid combination yields no trial and adds its problems to `problems`.
   */
  trials(problems: { push(...p: SpecProblem[]): unknown }): Generator<ResolvedTrial>;
  /** What resolving it is called in errors: the study, and the profile when there is one. */
  title: string;
}

/**
 * The grid of a spec under a profile and overrides, expanded lazily. Problems with the profile or
 * the overrides throw at once (SpecError); problems of single combinations come out of trials().
 */
export function expandGrid(spec: StudySpec, opts: ResolveOptions, hash: Hasher): GridExpansion {
  const profileName = opts.profile ?? spec.defaultProfile;
  const profile = profileName === undefined ? undefined : spec.profiles[profileName];
  if (profileName !== undefined && !profile) {
    const known = Object.keys(spec.profiles);
    throw new SpecError(spec.name, [{ path: 'profile', message: `no profile '${profileName}' (known: ${known.length ? known.join(', ') : 'none'})` }]);
  }
  const title = spec.name + (profileName ? ` (profile ${profileName})` : '');
  const problems: SpecProblem[] = [];
  const base = structuredClone(spec.base) as Record<string, unknown>;
  const overrides = { ...(profile?.set ?? {}), ...(opts.set ?? {}) };
  let seeds = profile?.seeds ?? spec.seeds;
  for (const [path, value] of Object.entries(overrides)) {
    if (path === 'seeds') {
      if (Array.isArray(value) && value.length > 0 && value.every((s) => Number.isInteger(s) && s >= 0)) seeds = value as number[];
      else problems.push({ path: 'seeds', message: 'expected a non-empty list of non-negative integers, e.g. --set seeds=[0,1,2]' });
      continue;
    }
    const bad = badPath(path);
    if (bad) problems.push({ path, message: bad });
    else setPath(base, path, value);
  }
  if (problems.length) throw new SpecError(title, problems);
  const grid = profile?.grid ?? spec.grid;
  // Cells list every axis of the study, so a block that leaves an axis at its base value still says so.
  const axes = [...new Set(grid.flatMap((block) => [...Object.keys(block.cartesian ?? {}), ...Object.keys(block.zip ?? {}), ...Object.keys(block.random?.space ?? {})]))].sort();

  function* trials(problems: { push(...p: SpecProblem[]): unknown }): Generator<ResolvedTrial> {
    for (let bi = 0; bi < grid.length; bi++) {
      const block = grid[bi];
      let combos: Iterable<Record<string, unknown>>;
      try {
        combos = blockCombos(block);
      } catch (e) {
        problems.push({ path: `grid[${bi}]`, message: (e as Error).message });
        continue;
      }
      for (const combo of combos) {
        const cfg = structuredClone(base);
        for (const [path, value] of Object.entries(combo)) setPath(cfg, path, value);
        const probe = trialConfigSchema.safeParse({ ...cfg, seed: seeds[0] });
        if (!probe.success) {
          const where = Object.keys(combo).length ? ` (${label(combo)})` : '';
          for (const i of probe.error.issues) problems.push({ path: formatPath(i.path), message: i.message + (grid.length > 1 || where ? ` in grid[${bi}]${where}` : '') });
          continue;
        }
        // The seed of a deterministic model (RX) on a cube changes nothing: one trial, not one per
        // seed. Item datasets draw their split from the seed, so every model gets every seed there.
        const trialSeeds = modelIsStochastic(probe.data.model.kind) || isItemConfig(probe.data) ? seeds : [0];
        for (const seed of trialSeeds) {
          const config = trialConfigSchema.parse({ ...cfg, seed });
          const id = hash(canonicalJson({ study: spec.name, config }));
          const { seed: _seed, ...cellConfig } = config;
          const cell: Record<string, unknown> = {};
          for (const a of axes) {
            const v = getPath(config as unknown as Record<string, unknown>, a);
            if (v !== undefined) cell[a] = v; // an axis of another model (RX has no noiseDim)
          }
          yield { id, cellId: hash(canonicalJson({ study: spec.name, config: cellConfig })), cell, config, ...(block.name ? { block: block.name } : {}) };
        }
      }
    }
  }
  return { study: spec.name, version: spec.version, profile: profileName, axes, seeds, trials, title };
}

/** The whole grid at once, de-duplicated by id (first kept); every problem throws as one SpecError. */
export function resolveStudy(spec: StudySpec, opts: ResolveOptions, hash: Hasher): ResolvedStudy {
  const grid = expandGrid(spec, opts, hash);
  const problems: SpecProblem[] = [];
  const byId = new Map<string, ResolvedTrial>();
  for (const t of grid.trials(problems)) if (!byId.has(t.id)) byId.set(t.id, t);
  if (problems.length) throw new SpecError(grid.title, dedupe(problems));
  const { trials: _, title: _title, ...header } = grid;
  return { ...header, trials: [...byId.values()] };
}

export function dedupe(ps: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const k = p.path + '\0' + p.message;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** All assignments of one grid block: set × cartesian × zip × random (blockCombos, as a list). */
export function expandBlock(block: GridBlock): Record<string, unknown>[] {
  return [...blockCombos(block)];
}

/**
 * The assignments of one grid block, one at a time (a block of 10⁶ combinations is never a list):
 * cartesian axes vary last-fastest in the order written, then zip entries, then random samples.
 * A bad block throws before the first one.
 */
export function blockCombos(block: GridBlock): Iterable<Record<string, unknown>> {
  for (const path of [...Object.keys(block.set ?? {}), ...Object.keys(block.cartesian ?? {}), ...Object.keys(block.zip ?? {}), ...Object.keys(block.random?.space ?? {})]) {
    const bad = badPath(path);
    if (bad) throw new Error(`'${path}': ${bad}`);
  }
  const zip = Object.entries(block.zip ?? {});
  const n = zip.length ? zip[0][1].length : 1;
  const bad = zip.find(([, vs]) => vs.length !== n);
  if (bad) throw new Error(`zip lists must have equal lengths: '${zip[0][0]}' has ${n}, '${bad[0]}' has ${bad[1].length}`);
  // One list of choices per digit of a mixed-radix counter: each cartesian axis, the zip rows, the random samples.
  const digits: Record<string, unknown>[][] = Object.entries(block.cartesian ?? {}).map(([path, values]) => values.map((v) => ({ [path]: v })));
  if (zip.length) digits.push(Array.from({ length: n }, (_, i) => Object.fromEntries(zip.map(([p, vs]) => [p, vs[i]]))));
  if (block.random) {
    const rng = new Prng(block.random.seed);
    digits.push(Array.from({ length: block.random.n }, () => {
      const s: Record<string, unknown> = {};
      for (const [path, axis] of Object.entries(block.random!.space)) s[path] = sampleAxis(axis, rng);
      return s;
    }));
  }
  const set = block.set ?? {};
  return {
    *[Symbol.iterator]() {
      if (digits.some((d) => d.length === 0)) return;
      const at = digits.map(() => 0);
      for (;;) {
        yield Object.assign({ ...set }, ...digits.map((d, i) => d[at[i]]));
        let i = digits.length - 1;
        while (i >= 0 && ++at[i] === digits[i].length) at[i--] = 0;
        if (i < 0) return;
      }
    },
  };
}

function sampleAxis(axis: { uniform?: [number, number]; loguniform?: [number, number]; int?: [number, number]; choice?: unknown[] }, rng: Prng): unknown {
  if (axis.uniform) return round(axis.uniform[0] + (axis.uniform[1] - axis.uniform[0]) * rng.uniform());
  if (axis.loguniform) {
    const [a, b] = axis.loguniform.map(Math.log);
    return round(Math.exp(a + (b - a) * rng.uniform()));
  }
  if (axis.int) return axis.int[0] + rng.int(axis.int[1] - axis.int[0] + 1);
  return axis.choice![rng.int(axis.choice!.length)];
}

/** Six significant digits: sampled values print and hash the same everywhere. */
function round(x: number): number {
  return Number(x.toPrecision(6));
}

/** Why a dotted path cannot name a config value (an empty part, or one that would reach Object.prototype), else undefined. */
export function badPath(path: string): string | undefined {
  const parts = path.split('.');
  if (parts.some((p) => p === '')) return 'a dotted path with an empty part';
  if (parts.some((p) => p === '__proto__' || p === 'constructor' || p === 'prototype')) return 'not a config key';
  return undefined;
}

export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const p of parts.slice(0, -1)) {
    if (cur[p] === null || typeof cur[p] !== 'object' || Array.isArray(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = structuredClone(value);
}

export function getPath(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

export function label(cell: Record<string, unknown>): string {
  return Object.entries(cell)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
}

/** Parse `key=value` pairs from the command line; values are JSON when they parse, else strings. */
export function parseSets(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new SpecError('--set', [{ path: pair, message: "expected key=value, e.g. --set model.noiseDim=8" }]);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a bare string */
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}
