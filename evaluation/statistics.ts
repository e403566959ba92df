/**
 * Statistics over seeds: what `gantry compare` says about cells of a study.
 *
 * A study has few seeds per cell (2–10), so every method here is chosen to stay honest at small n:
 *
 * - **Summary of a cell**: n, mean, sample standard deviation (n − 1), and a 95 % **percentile
 *   bootstrap** confidence interval of the mean: B = 10,000 resamples of the n values with
 *   replacement, drawn with the seeded PRNG of datasets/prng.ts (the same seed gives the same
 *   interval on every machine), bounds at the 2.5 % and 97.5 % quantiles of the B resampled means
 *   (linear interpolation between order statistics, NumPy's default). With n = 1 there is no
 *   spread and no interval: both are null, with a note. With a handful of values the percentile
 *   bootstrap is too narrow (it cannot reach beyond the observed range): treat it as descriptive.
 * - **Paired comparison** of cells A and B on matched seeds: the differences d = A − B.
 *   - The **exact paired permutation test** (sign flips): under H0 each d_i is as likely to be
 *     −d_i; the statistic is the sum of d (the mean difference); two-sided p = the share of the
 *     2^n sign vectors whose |sum| is at least the observed |sum| (sums within 1e-9·Σ|d| count as
 *     equal, so rounding does not split exact ties). Enumerated exactly for n ≤ 20; above that
 *     (only when asked for) B = 100,000 seeded random sign vectors, p = (1 + hits) / (1 + B).
 *     Zero differences need no rule: flipping them changes nothing. Its smallest attainable p is
 *     2 / 2^(non-zero differences): 0.5 with 2 seeds, 0.0625 with 5.
 *   - The **Wilcoxon signed-rank test** (@stdlib/stats-wilcoxon): zero differences dropped
 *     (zero method 'wilcox'), two-sided; exact distribution when at most 50 differences remain
 *     and they hold no zeros and no tied magnitudes, else the normal approximation with tie
 *     correction and a continuity correction (the library's defaults, as R's wilcox.test).
 *   - Which test: `auto` (the default) uses the exact permutation test for n ≤ 20 pairs — exact,
 *     no approximation for zeros or ties, and it tests the mean difference that is reported — and
 *     Wilcoxon above 20, where ranks resist an outlying seed and the normal approximation is sound.
 *   - n < 2 pairs: no test (p is null) and a note saying so. All differences zero: p = 1.
 *   - Effect sizes: the mean paired difference with its 95 % percentile bootstrap CI (resampling
 *     pairs), and the **matched-pairs rank-biserial correlation** r = (R+ − R−) / (R+ + R−) over
 *     the ranks of |d| (average ranks for ties, zeros dropped as Wilcoxon drops them; Kerby 2014):
 *     in [−1, 1], +1 when every seed favours A, defined even when every difference is the same
 *     (where Cohen's d_z divides by a zero standard deviation); 0 when every difference is zero.
 * - **Holm correction** (@stdlib/stats-padjust) over the family of comparisons that have a p-value;
 *   controls the family-wise error rate without assuming independence.
 *
 * Pure: imports nothing but core/ and datasets/prng.ts (and the two stdlib packages).
 */
import wilcoxon from '@stdlib/stats-wilcoxon';
import padjust from '@stdlib/stats-padjust';
import { Prng } from '../datasets/prng.js';

export const DEFAULT_RESAMPLES = 10_000;
export const DEFAULT_LEVEL = 0.95;
/** Largest n whose 2^n sign vectors are enumerated. */
export const MAX_EXACT_PERMUTATION = 20;
export const PERMUTATION_RESAMPLES = 100_000;

export interface BootstrapOptions {
  /** Confidence level (default 0.95). */
  level?: number;
  /** Bootstrap resamples (default 10,000). */
  resamples?: number;
  /** PRNG seed: the same seed, the same interval. */
  seed?: number | string;
}

export interface Interval {
  low: number;
  high: number;
  level: number;
  resamples: number;
}

export interface Summary {
  n: number;
  mean: number | null;
  /** Sample standard deviation (n − 1); null for n < 2. */
  std: number | null;
  /** Percentile bootstrap CI of the mean; null for n < 2. */
  ci: Interval | null;
  note: string | null;
}

export function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

export function sampleStd(x: ArrayLike<number>): number {
  const m = mean(x);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - m) ** 2;
  return Math.sqrt(s / (x.length - 1));
}

/** Quantile q of ascending `sorted` by linear interpolation between order statistics (Hyndman–Fan type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function checkFinite(x: ArrayLike<number>, what: string): void {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new RangeError(`${what}: value ${i} is ${x[i]}, not a finite number`);
}

/** Percentile bootstrap CI of the mean; null for fewer than 2 values (one value has no sampling spread to resample). */
export function bootstrapMeanCi(x: ArrayLike<number>, opts: BootstrapOptions = {}): Interval | null {
  checkFinite(x, 'bootstrap');
  const n = x.length;
  if (n < 2) return null;
  const level = opts.level ?? DEFAULT_LEVEL;
  const B = opts.resamples ?? DEFAULT_RESAMPLES;
  if (!(level > 0 && level < 1)) throw new RangeError(`confidence level must be in (0, 1), got ${level}`);
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`resamples must be a positive integer, got ${B}`);
  const rng = new Prng(opts.seed ?? 0);
  const means = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[rng.int(n)];
    means[b] = s / n;
  }
  means.sort();
  const tail = (1 - level) / 2;
  return { low: quantileSorted(means, tail), high: quantileSorted(means, 1 - tail), level, resamples: B };
}

/** n, mean, sample std and the bootstrap CI of the mean, with a note where a figure cannot exist. */
export function summarize(x: ArrayLike<number>, opts: BootstrapOptions = {}): Summary {
  checkFinite(x, 'summary');
  const n = x.length;
  if (n === 0) return { n, mean: null, std: null, ci: null, note: 'no values' };
  if (n === 1) return { n, mean: x[0], std: null, ci: null, note: 'one value: no standard deviation and no confidence interval' };
  return { n, mean: mean(x), std: sampleStd(x), ci: bootstrapMeanCi(x, opts), note: null };
}

export interface SignFlipResult {
  /** Two-sided p-value. */
  p: number;
  method: 'exact' | 'monte-carlo';
  /** Sign vectors counted: 2^n (exact) or the random ones drawn. */
  flips: number;
  /** The smallest p this test can give with these differences: 2 / 2^(non-zero differences) when exact. */
  minP: number;
}

/** Lower bound: first index with a[i] >= v (a ascending). */
function lowerBound(a: Float64Array, v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Upper bound: first index with a[i] > v (a ascending). */
function upperBound(a: Float64Array, v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Every signed sum of `d` (2^d.length of them), each summed directly (no running update, so no drift). */
function signedSums(d: ArrayLike<number>): Float64Array {
  const m = d.length;
  const out = new Float64Array(1 << m);
  for (let mask = 0; mask < out.length; mask++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += mask & (1 << i) ? -d[i] : d[i];
    out[mask] = s;
  }
  return out;
}

/**
 * The paired permutation (sign-flip) test on the sum of the differences, two-sided. Exact for
 * n ≤ maxExact: the 2^n signed sums are counted by meeting in the middle (two halves of 2^(n/2)
 * sums each), so n = 20 costs a few milliseconds.
 */
export function signFlipTest(d: ArrayLike<number>, opts: { maxExact?: number; resamples?: number; seed?: number | string } = {}): SignFlipResult {
  checkFinite(d, 'permutation test');
  const n = d.length;
  const maxExact = Math.min(opts.maxExact ?? MAX_EXACT_PERMUTATION, 30);
  let abs = 0, obs = 0, nonZero = 0;
  for (let i = 0; i < n; i++) {
    abs += Math.abs(d[i]);
    obs += d[i];
    if (d[i] !== 0) nonZero++;
  }
  const tol = 1e-9 * abs;
  const c = Math.abs(obs) - tol;
  if (n <= maxExact) {
    const minP = Math.min(1, 2 / 2 ** nonZero);
    // Every sign vector reaches |sum| >= 0: p = 1 (this also covers all-zero differences).
    if (c <= 0) return { p: 1, method: 'exact', flips: 2 ** n, minP };
    const h = n >> 1;
    const left = signedSums(Array.from({ length: h }, (_, i) => d[i]));
    const right = signedSums(Array.from({ length: n - h }, (_, i) => d[h + i])).sort();
    let hits = 0;
    for (let i = 0; i < left.length; i++) {
      // s = left + right >= c, or s <= -c (disjoint, as c > 0).
      hits += right.length - lowerBound(right, c - left[i]);
      hits += upperBound(right, -c - left[i]);
    }
    return { p: Math.min(1, hits / 2 ** n), method: 'exact', flips: 2 ** n, minP };
  }
  const B = opts.resamples ?? PERMUTATION_RESAMPLES;
  const rng = new Prng(opts.seed ?? 0);
  let hits = 0;
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += rng.nextU32() & 1 ? -d[i] : d[i];
    if (Math.abs(s) >= c) hits++;
  }
  return { p: (1 + hits) / (1 + B), method: 'monte-carlo', flips: B, minP: 1 / (1 + B) };
}

export interface WilcoxonResult {
  p: number;
  /** R+, the sum of the ranks of the positive differences. */
  statistic: number;
  method: 'exact' | 'normal';
  zeros: number;
}

/**
 * Two-sided Wilcoxon signed-rank test of the differences (the library's defaults: zeros dropped,
 * exact without zeros and ties up to 50 values, else normal with tie and continuity corrections).
 * Needs at least 2 differences; all-zero differences give p = 1 (the library refuses them).
 */
export function wilcoxonSignedRank(d: ArrayLike<number>): WilcoxonResult {
  checkFinite(d, 'Wilcoxon test');
  const x = Array.from(d);
  if (x.length < 2) throw new RangeError('the Wilcoxon test needs at least 2 differences');
  const zeros = x.filter((v) => v === 0).length;
  if (zeros === x.length) return { p: 1, statistic: 0, method: 'exact', zeros };
  const nz = x.filter((v) => v !== 0).map(Math.abs);
  const ties = new Set(nz).size !== nz.length;
  const r = wilcoxon(x, { alternative: 'two-sided', zeroMethod: 'wilcox', correction: true });
  // The library's exact two-sided p doubles a tail that includes the centre, so it can pass 1.
  return { p: Math.min(1, r.pValue), statistic: r.statistic, method: zeros > 0 || ties || nz.length > 50 ? 'normal' : 'exact', zeros };
}

/** Average ranks (1-based) of x, ties sharing the mean of their positions. */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(x.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Matched-pairs rank-biserial correlation (R+ − R−)/(R+ + R−), zeros dropped; 0 when every difference is zero. */
export function rankBiserial(d: ArrayLike<number>): number {
  checkFinite(d, 'rank-biserial');
  const nz = Array.from(d).filter((v) => v !== 0);
  if (nz.length === 0) return 0;
  const r = averageRanks(nz.map(Math.abs));
  let plus = 0, minus = 0;
  nz.forEach((v, i) => (v > 0 ? (plus += r[i]) : (minus += r[i])));
  return (plus - minus) / (plus + minus);
}

export type TestChoice = 'auto' | 'permutation' | 'wilcoxon';
export type TestName = 'permutation (exact)' | 'permutation (monte carlo)' | 'wilcoxon (exact)' | 'wilcoxon (normal approx.)';

export interface PairedResult {
  n: number;
  /** Pairs whose difference is exactly zero. */
  zeros: number;
  meanDiff: number | null;
  /** Bootstrap CI of the mean difference (pairs resampled); null for n < 2. */
  diffCi: Interval | null;
  rankBiserial: number | null;
  test: TestName | null;
  p: number | null;
  /** Smallest p the test could give on these pairs (exact tests), or null. */
  minP: number | null;
  note: string | null;
}

export interface PairedOptions extends BootstrapOptions {
  test?: TestChoice;
}

/** Which test `choice` means for n pairs. */
export function testFor(choice: TestChoice, n: number): 'permutation' | 'wilcoxon' {
  return choice === 'auto' ? (n <= MAX_EXACT_PERMUTATION ? 'permutation' : 'wilcoxon') : choice;
}

/** Compare a and b, matched by index (a[i] and b[i] come from the same seed and split). */
export function pairedComparison(a: ArrayLike<number>, b: ArrayLike<number>, opts: PairedOptions = {}): PairedResult {
  if (a.length !== b.length) throw new RangeError(`paired samples differ in length (${a.length} and ${b.length})`);
  checkFinite(a, 'paired comparison');
  checkFinite(b, 'paired comparison');
  const n = a.length;
  const d = Float64Array.from({ length: n }, (_, i) => a[i] - b[i]);
  const zeros = d.filter((v) => v === 0).length;
  if (n === 0) return { n, zeros, meanDiff: null, diffCi: null, rankBiserial: null, test: null, p: null, minP: null, note: 'no matched pairs: no test' };
  if (n === 1) return { n, zeros, meanDiff: d[0], diffCi: null, rankBiserial: rankBiserial(d), test: null, p: null, minP: null, note: 'one matched pair: no test (a paired test needs at least 2)' };
  const base = { n, zeros, meanDiff: mean(d), diffCi: bootstrapMeanCi(d, opts), rankBiserial: rankBiserial(d) };
  const allZero = zeros === n ? `all ${n} differences are zero` : null;
  if (testFor(opts.test ?? 'auto', n) === 'permutation') {
    const r = signFlipTest(d, { seed: opts.seed });
    return { ...base, test: r.method === 'exact' ? 'permutation (exact)' : 'permutation (monte carlo)', p: r.p, minP: r.method === 'exact' ? r.minP : null, note: allZero };
  }
  const w = wilcoxonSignedRank(d);
  const nz = n - zeros;
  return { ...base, test: w.method === 'exact' ? 'wilcoxon (exact)' : 'wilcoxon (normal approx.)', p: w.p, minP: w.method === 'exact' ? Math.min(1, 2 / 2 ** nz) : null, note: allZero ?? (w.method === 'normal' && nz < 10 ? `normal approximation with ${nz} non-zero differences (zeros or ties): rough` : null) };
}

/** Holm-adjusted p-values of the family; null entries (no test) stay null and do not count as comparisons. */
export function holmAdjust(ps: readonly (number | null)[]): (number | null)[] {
  const at = ps.flatMap((p, i) => (p === null ? [] : [i]));
  if (at.length === 0) return ps.map(() => null);
  const adj = padjust(at.map((i) => ps[i] as number), 'holm');
  const out: (number | null)[] = ps.map(() => null);
  at.forEach((i, k) => (out[i] = adj[k]));
  return out;
}
