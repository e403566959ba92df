/**
 * What every detection metric checks first, and the one shape they all compute from: scores split
 * by label and sorted, walked from the highest score down one distinct threshold at a time.
 * Higher scores mean more anomalous; labels are 1 (anomaly, positive) or 0 (background); a sample
 * is flagged at threshold t when its score is >= t. Bad input is a UserError naming the cause.
 */
import { UserError } from '../core/errors.js';

/** Which classes a metric cannot do without. */
export type Needs = 'both' | 'positives' | 'none';

export interface Split {
  /** Scores of the positives and of the negatives, each sorted ascending. */
  pos: Float64Array;
  neg: Float64Array;
}

/** UserError unless no score is NaN (counting them); `what` names the metric. */
export function checkScores(scores: ArrayLike<number>, what: string): void {
  let nan = 0;
  for (let i = 0; i < scores.length; i++) if (Number.isNaN(scores[i])) nan++;
  if (nan > 0) throw nanError(what, nan, scores.length);
}

function nanError(what: string, nan: number, n: number): UserError {
  return new UserError(`${what}: ${nan} of ${n} scores are NaN`, { hint: 'the detector produced NaN scores; check the model and the data for NaN' });
}

/**
 * Validates (scores, labels) and counts the positives: equal lengths, labels 0 or 1, no NaN score,
 * and the classes the metric needs (`curve` names what would be undefined without them).
 */
export function checkLabelled(scores: ArrayLike<number>, labels: ArrayLike<number>, what: string, needs: Needs = 'both', curve = 'ROC'): number {
  if (scores.length !== labels.length) throw new UserError(`${what}: ${scores.length} scores but ${labels.length} labels`);
  const n = scores.length;
  let nan = 0;
  let npos = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) nan++;
    const l = labels[i];
    if (l === 1) npos++;
    else if (l !== 0) throw new UserError(`${what}: labels must be 0 or 1, found ${l} at index ${i}`);
  }
  if (nan > 0) throw nanError(what, nan, n);
  if (npos === 0 && needs !== 'none') throw new UserError(`${what}: no positive (label 1) samples among ${n}; ${curve} is undefined`);
  if (needs === 'both' && npos === n) throw new UserError(`${what}: no negative (label 0) samples among ${n}; ${curve} is undefined`);
  return npos;
}

/** Validates and splits scores by label, each side sorted ascending. */
export function splitByLabel(scores: ArrayLike<number>, labels: ArrayLike<number>, what: string, needs: Needs = 'both', curve = 'ROC'): Split {
  const npos = checkLabelled(scores, labels, what, needs, curve);
  const n = scores.length;
  const pos = new Float64Array(npos);
  const neg = new Float64Array(n - npos);
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    if (labels[i] === 1) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  sortScores(pos);
  sortScores(neg);
  return { pos, neg };
}

/** The 11-bit digits of a 64-bit key held as (lo, hi) words: digit = ((lo >>> ls) & lm) | (((hi >>> hs) & hm) << hl). */
const DIGITS = [
  [0, 2047, 0, 0, 0],
  [11, 2047, 0, 0, 0],
  [22, 1023, 0, 1, 10],
  [0, 0, 1, 2047, 0],
  [0, 0, 12, 2047, 0],
  [0, 0, 23, 511, 0],
] as const;
const BUCKETS = 2048;

/**
 * Sorts non-NaN doubles ascending in place (-0 before +0; both compare equal), permuting `payload`
 * alongside when given. An LSD radix sort, 11 bits a pass, on the IEEE-754 bits made unsigned-
 * order-preserving (negatives: every bit flipped; positives: the sign bit), skipping passes where
 * every key has the same digit. About twice as fast as Float64Array.prototype.sort (V8's is a
 * comparison sort) on millions of scores, and exact: it moves bits, never computes with values.
 * The words are read little-endian, as on every platform Node runs on.
 */
export function sortScores(a: Float64Array, payload?: Float64Array): Float64Array {
  const n = a.length;
  if (payload && payload.length !== n) throw new Error(`sortScores: ${n} values but ${payload.length} payload values`);
  if (n < 1024 && !payload) return a.sort();
  const w = new Uint32Array(a.buffer, a.byteOffset, 2 * n);
  const counts = new Uint32Array(DIGITS.length * BUCKETS);
  for (let i = 0; i < 2 * n; i += 2) {
    const hi = w[i + 1];
    const m = hi >> 31;
    const lo = (w[i] ^ m) >>> 0;
    const kh = (hi ^ (m | 0x80000000)) >>> 0;
    w[i] = lo;
    w[i + 1] = kh;
    counts[lo & 2047]++;
    counts[BUCKETS + ((lo >>> 11) & 2047)]++;
    counts[2 * BUCKETS + ((lo >>> 22) | ((kh & 1) << 10))]++;
    counts[3 * BUCKETS + ((kh >>> 1) & 2047)]++;
    counts[4 * BUCKETS + ((kh >>> 12) & 2047)]++;
    counts[5 * BUCKETS + (kh >>> 23)]++;
  }
  let src: Uint32Array = w;
  let dst: Uint32Array = new Uint32Array(2 * n);
  let psrc: Float64Array | undefined = payload;
  let pdst: Float64Array | undefined = payload && new Float64Array(n);
  const next = new Uint32Array(BUCKETS);
  for (const [d, [ls, lm, hs, hm, hl]] of DIGITS.entries()) {
    let trivial = false;
    let sum = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const c = counts[d * BUCKETS + b];
      if (c === n) trivial = true;
      next[b] = sum;
      sum += c;
    }
    if (trivial) continue;
    if (psrc && pdst) {
      for (let i = 0, j = 0; j < n; i += 2, j++) {
        const lo = src[i];
        const hi = src[i + 1];
        const k = next[((lo >>> ls) & lm) | (((hi >>> hs) & hm) << hl)]++;
        dst[2 * k] = lo;
        dst[2 * k + 1] = hi;
        pdst[k] = psrc[j];
      }
      [psrc, pdst] = [pdst, psrc];
    } else {
      for (let i = 0; i < 2 * n; i += 2) {
        const lo = src[i];
        const hi = src[i + 1];
        const k = 2 * next[((lo >>> ls) & lm) | (((hi >>> hs) & hm) << hl)]++;
        dst[k] = lo;
        dst[k + 1] = hi;
      }
    }
    [src, dst] = [dst, src];
  }
  // Back from keys to doubles, into `a`.
  for (let i = 0; i < 2 * n; i += 2) {
    const kh = src[i + 1];
    const m = ~(kh >> 31);
    w[i] = (src[i] ^ m) >>> 0;
    w[i + 1] = (kh ^ (m | 0x80000000)) >>> 0;
  }
  if (payload && psrc && psrc !== payload) payload.set(psrc);
  return a;
}

/**
 * The counts at each distinct threshold, highest first: flagging score >= thresholds[k] catches
 * tp[k] positives and fp[k] negatives. Tied scores share one threshold, so a tie between classes
 * is one step in both counts (sklearn's _binary_clf_curve). No +Infinity point is added.
 */
export interface ThresholdCounts {
  thresholds: Float64Array;
  tp: Float64Array;
  fp: Float64Array;
  /** Number of positives and negatives. */
  P: number;
  N: number;
}

export function thresholdCounts({ pos, neg }: Split): ThresholdCounts {
  const P = pos.length;
  const N = neg.length;
  const thresholds = new Float64Array(P + N);
  const tp = new Float64Array(P + N);
  const fp = new Float64Array(P + N);
  let i = P - 1;
  let j = N - 1;
  let k = 0;
  while (i >= 0 || j >= 0) {
    const s = Math.max(i >= 0 ? pos[i] : -Infinity, j >= 0 ? neg[j] : -Infinity);
    while (i >= 0 && pos[i] === s) i--;
    while (j >= 0 && neg[j] === s) j--;
    thresholds[k] = s;
    tp[k] = P - 1 - i;
    fp[k] = N - 1 - j;
    k++;
  }
  return { thresholds: thresholds.slice(0, k), tp: tp.slice(0, k), fp: fp.slice(0, k), P, N };
}
