/**
 * How many trials a launch asks for, counted from the spec alone — no config is resolved, nothing
 * is hashed — so `gantry run` can say it at once and ask before planning a grid of 10⁶ trials
 * (resolving that many took minutes and gigabytes before the first line of output).
 */
import type { GridBlock, StudySpec } from './spec.js';
import type { ResolveOptions } from './grid.js';

/** Combinations one grid block makes (expandBlock's count): set × cartesian × zip × random. */
export function blockSize(block: GridBlock): number {
  let n = 1;
  for (const values of Object.values(block.cartesian ?? {})) n *= values.length;
  const zip = Object.values(block.zip ?? {});
  if (zip.length) n *= zip[0].length;
  if (block.random) n *= block.random.n;
  return n;
}

/**
 * At most this many trials: blocks × seeds. Fewer when a deterministic model ignores the seed or
 * two blocks make the same config (both collapse when the grid is resolved). An unknown profile
 * or bad seeds give undefined: resolving the grid names the problem.
 */
export function maxTrials(spec: StudySpec, opts: ResolveOptions): number | undefined {
  const name = opts.profile ?? spec.defaultProfile;
  const profile = name === undefined ? undefined : spec.profiles[name];
  if (name !== undefined && !profile) return undefined;
  const overrides = { ...(profile?.set ?? {}), ...(opts.set ?? {}) };
  const seeds = 'seeds' in overrides ? overrides.seeds : profile?.seeds ?? spec.seeds;
  if (!Array.isArray(seeds) || !seeds.length) return undefined;
  const grid = profile?.grid ?? spec.grid;
  return grid.reduce((sum, b) => sum + blockSize(b), 0) * seeds.length;
}
