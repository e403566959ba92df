/**
 * Seeded 2-D point sets for the boundary-generation study (Dionelis 2019, BDSGM: "two-dimensional
 * uni- and multi-mode Gaussian distributions", bi-mode with per-component std 0.35, M = 1024 real
 * points). The normal class is a mixture of axis-aligned Gaussians; anomalies (label 1) come from
 * a documented outlier distribution that excludes the high-density region:
 *
 * - `box` (default): uniform on a rectangle, rejecting any point within `minSigma` (default 3)
 *   standardised distance of a mode's mean (‖(x − μ)/σ‖ < minSigma, per axis σ). The default
 *   box is the modes' means ± (minSigma + 3)·σmax, so there is room outside every exclusion zone.
 * - `shell`: "near-boundary" anomalies: pick a mode by weight, a direction uniformly, a
 *   standardised radius uniform in [minSigma, maxSigma]; reject points within minSigma of any
 *   other mode. These are the "strong anomalies near the boundary" the slides aim at.
 *
 * The slides do not give the means; the presets' choices are ours and are stated where defined.
 * Counts are exact: round(n·anomalyFraction) anomalies, and the normal points are split over the
 * modes by weight (largest remainder), then all points are shuffled. Same params → same points.
 */
import { UserError } from '../core/errors.js';
import { Prng } from './prng.js';

export interface GaussianMode {
  mean: [number, number];
  /** Per-axis std (a number means the same on both axes). */
  std: number | [number, number];
  /** Relative weight in the mixture (default 1). */
  weight?: number;
}

export type OutlierSpec =
  | { kind: 'box'; box?: [number, number, number, number] /* xmin, xmax, ymin, ymax */; minSigma?: number }
  | { kind: 'shell'; minSigma?: number; maxSigma?: number };

export interface SyntheticPointsParams {
  /** Total number of points, normal and anomalous. */
  n: number;
  modes: GaussianMode[];
  /** Fraction of the n points that are anomalies, in [0, 1). */
  anomalyFraction: number;
  outliers?: OutlierSpec;
  seed: number;
}

export interface SyntheticPoints {
  n: number;
  /** n×2, row-major: points[2i] = x, points[2i+1] = y. */
  points: Float64Array;
  /** 1 = anomaly. */
  labels: Uint8Array;
  /** Mode each normal point was drawn from; -1 for anomalies. */
  component: Int16Array;
  nAnomalies: number;
}

/** k modes with equal weight, means evenly on a circle of `radius` (k = 1: at the origin). */
export function gaussianModes(k: number, opts: { radius?: number; std?: number; center?: [number, number] } = {}): GaussianMode[] {
  if (!Number.isInteger(k) || k < 1) throw new UserError(`modes: k must be a positive integer, got ${k}`);
  const radius = opts.radius ?? 2;
  const std = opts.std ?? 0.35;
  const [cx, cy] = opts.center ?? [0, 0];
  if (k === 1) return [{ mean: [cx, cy], std }];
  return Array.from({ length: k }, (_, i) => {
    const a = (2 * Math.PI * i) / k;
    return { mean: [cx + radius * Math.cos(a), cy + radius * Math.sin(a)] as [number, number], std };
  });
}

/**
 * Presets. unimodal: N((0,0), 1²I), the standard Gaussian. bimodal: the slides' std 0.35 with
 * means (0,0) and (2,2), our reading of "x ~ N(2)" within the plotted −4..6 range.
 */
export const POINT_PRESETS = {
  unimodal: (): GaussianMode[] => [{ mean: [0, 0], std: 1 }],
  bimodal: (): GaussianMode[] => [
    { mean: [0, 0], std: 0.35 },
    { mean: [2, 2], std: 0.35 },
  ],
};

function stds(m: GaussianMode): [number, number] {
  return typeof m.std === 'number' ? [m.std, m.std] : m.std;
}

function validate(p: SyntheticPointsParams): void {
  if (!Number.isInteger(p.n) || p.n < 1) throw new UserError(`synthetic points: n must be a positive integer, got ${p.n}`);
  if (!Number.isFinite(p.anomalyFraction) || p.anomalyFraction < 0 || p.anomalyFraction >= 1) {
    throw new UserError(`synthetic points: anomalyFraction must be in [0, 1), got ${p.anomalyFraction}`);
  }
  if (!Number.isFinite(p.seed)) throw new UserError(`synthetic points: seed must be a number, got ${p.seed}`);
  if (!Array.isArray(p.modes) || p.modes.length === 0) throw new UserError('synthetic points: at least one mode is needed');
  if (p.modes.length > 32767) throw new UserError('synthetic points: at most 32767 modes');
  let total = 0;
  p.modes.forEach((m, i) => {
    const [sx, sy] = stds(m);
    if (!m.mean.every(Number.isFinite)) throw new UserError(`synthetic points: mode ${i} has a non-finite mean`);
    if (!(sx > 0 && sy > 0 && Number.isFinite(sx) && Number.isFinite(sy))) throw new UserError(`synthetic points: mode ${i} needs a positive finite std`);
    const w = m.weight ?? 1;
    if (!(w >= 0 && Number.isFinite(w))) throw new UserError(`synthetic points: mode ${i} has weight ${w}; weights must be ≥ 0`);
    total += w;
  });
  if (!(total > 0)) throw new UserError('synthetic points: mode weights sum to 0');
  const o = p.outliers;
  if (o && o.kind === 'shell') {
    const lo = o.minSigma ?? 3;
    const hi = o.maxSigma ?? lo + 1;
    if (!(lo >= 0 && hi > lo)) throw new UserError(`synthetic points: shell outliers need 0 ≤ minSigma < maxSigma, got ${lo}, ${hi}`);
  } else if (o && o.kind === 'box') {
    if (o.minSigma !== undefined && !(o.minSigma >= 0)) throw new UserError(`synthetic points: minSigma must be ≥ 0, got ${o.minSigma}`);
    if (o.box && !(o.box[1] > o.box[0] && o.box[3] > o.box[2])) throw new UserError(`synthetic points: box [${o.box}] must have xmin < xmax and ymin < ymax`);
  } else if (o) {
    throw new UserError(`synthetic points: unknown outlier kind '${(o as { kind: string }).kind}'`, { hint: "use 'box' or 'shell'" });
  }
}

/** Smallest standardised distance from (x, y) to any mode's mean, skipping mode `skip`. */
function nearestSigma(modes: GaussianMode[], x: number, y: number, skip = -1): number {
  let best = Infinity;
  for (let k = 0; k < modes.length; k++) {
    if (k === skip) continue;
    const [sx, sy] = stds(modes[k]);
    const dx = (x - modes[k].mean[0]) / sx;
    const dy = (y - modes[k].mean[1]) / sy;
    best = Math.min(best, Math.hypot(dx, dy));
  }
  return best;
}

/** Normal counts per mode: proportional to weight, remainders to the largest fractions. */
function allocate(nNormal: number, modes: GaussianMode[]): number[] {
  const w = modes.map((m) => m.weight ?? 1);
  const total = w.reduce((a, b) => a + b, 0);
  const exact = w.map((x) => (nNormal * x) / total);
  const counts = exact.map(Math.floor);
  let left = nNormal - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let j = 0; left > 0; j++, left--) counts[order[j % order.length][1]]++;
  return counts;
}

const MAX_TRIES_PER_POINT = 10000;

export function syntheticPoints(p: SyntheticPointsParams): SyntheticPoints {
  validate(p);
  const { n, modes } = p;
  const nAnom = Math.round(n * p.anomalyFraction);
  const nNormal = n - nAnom;
  const root = new Prng(p.seed);
  // Independent streams: changing the anomaly settings leaves the normal points alone.
  const rNormal = root.fork('normal');
  const rAnom = root.fork('anomalies');
  const rShuffle = root.fork('shuffle');

  const xs = new Float64Array(2 * n);
  const comp = new Int16Array(n);
  let i = 0;
  allocate(nNormal, modes).forEach((count, k) => {
    const [sx, sy] = stds(modes[k]);
    for (let j = 0; j < count; j++, i++) {
      xs[2 * i] = modes[k].mean[0] + sx * rNormal.normal();
      xs[2 * i + 1] = modes[k].mean[1] + sy * rNormal.normal();
      comp[i] = k;
    }
  });

  const o: OutlierSpec = p.outliers ?? { kind: 'box' };
  const minSigma = o.minSigma ?? 3;
  let draw: () => [number, number];
  if (o.kind === 'shell') {
    const maxSigma = o.maxSigma ?? minSigma + 1;
    const w = modes.map((m) => m.weight ?? 1);
    const total = w.reduce((a, b) => a + b, 0);
    draw = () => {
      let u = rAnom.uniform() * total;
      let k = 0;
      while (k < modes.length - 1 && (u -= w[k]) >= 0) k++;
      const [sx, sy] = stds(modes[k]);
      const a = 2 * Math.PI * rAnom.uniform();
      const r = minSigma + (maxSigma - minSigma) * rAnom.uniform();
      const x = modes[k].mean[0] + sx * r * Math.cos(a);
      const y = modes[k].mean[1] + sy * r * Math.sin(a);
      return [x, y];
    };
  } else {
    const box = o.box ?? defaultBox(modes, minSigma);
    draw = () => [box[0] + (box[1] - box[0]) * rAnom.uniform(), box[2] + (box[3] - box[2]) * rAnom.uniform()];
  }
  for (let a = 0; a < nAnom; a++, i++) {
    let tries = 0;
    for (;;) {
      const [x, y] = draw();
      if (nearestSigma(modes, x, y) >= minSigma) {
        xs[2 * i] = x;
        xs[2 * i + 1] = y;
        comp[i] = -1;
        break;
      }
      if (++tries >= MAX_TRIES_PER_POINT) {
        throw new UserError(`synthetic points: no anomaly found outside ${minSigma}σ of the modes in ${MAX_TRIES_PER_POINT} draws`, {
          hint: 'the outlier region is (almost) all inside the exclusion zone: widen the box or lower minSigma',
        });
      }
    }
  }

  // Shuffle so that batches mix classes and modes; labels follow the points.
  const perm = rShuffle.shuffle(Int32Array.from({ length: n }, (_, j) => j));
  const points = new Float64Array(2 * n);
  const labels = new Uint8Array(n);
  const component = new Int16Array(n);
  for (let j = 0; j < n; j++) {
    const s = perm[j];
    points[2 * j] = xs[2 * s];
    points[2 * j + 1] = xs[2 * s + 1];
    component[j] = comp[s];
    labels[j] = comp[s] < 0 ? 1 : 0;
  }
  return { n, points, labels, component, nAnomalies: nAnom };
}

function defaultBox(modes: GaussianMode[], minSigma: number): [number, number, number, number] {
  let smax = 0;
  for (const m of modes) smax = Math.max(smax, ...stds(m));
  const margin = (minSigma + 3) * smax;
  const mx = modes.map((m) => m.mean[0]);
  const my = modes.map((m) => m.mean[1]);
  return [Math.min(...mx) - margin, Math.max(...mx) + margin, Math.min(...my) - margin, Math.max(...my) + margin];
}
