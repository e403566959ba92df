/**
 * Detection metrics: exact ROC AUC (Mann–Whitney, = sklearn.metrics.roc_auc_score) overall and per
 * anomaly class, Eide's (2018) ROC / semi-log ROC with logAUC and lgFAR, and a downsampled ROC
 * curve for plots.
 * Higher scores mean more anomalous; labels are 1 (anomaly, positive) or 0 (background).
 */
import { UserError } from '../core/errors.js';
import { sortScores, splitByLabel as split, thresholdCounts } from './inputs.js';

/**
 * Exact area under the ROC curve: P(score of a random positive > score of a random negative),
 * ties counting 1/2. Equal to sklearn.metrics.roc_auc_score. O(n log n).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { pos, neg } = split(scores, labels, 'rocAuc');
  return mannWhitney(pos, neg);
}

/** The Mann–Whitney AUC of ascending-sorted positive and negative scores, in one merge. */
export function mannWhitney(pos: Float64Array, neg: Float64Array): number {
  let lo = 0; // negatives strictly below the current positive
  let hi = 0; // negatives at or below it
  let wins = 0;
  for (let i = 0; i < pos.length; i++) {
    const s = pos[i];
    while (lo < neg.length && neg[lo] < s) lo++;
    if (hi < lo) hi = lo;
    while (hi < neg.length && neg[hi] <= s) hi++;
    wins += lo + 0.5 * (hi - lo);
  }
  return wins / pos.length / neg.length;
}

/**
 * Per-class ROC AUC: for each class that has anomalies (label 1), the AUC of that class's
 * anomalies against every normal sample (label 0), whatever class the normals carry. Keys are the
 * anomaly classes in code-point order. One sort of the normals, one per class: O(n log n).
 */
export function perClassRocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, classes: ArrayLike<string>): Record<string, number> {
  const what = 'perClassRocAuc';
  const { neg } = split(scores, labels, what);
  if (classes.length !== labels.length) throw new UserError(`${what}: ${labels.length} labels but ${classes.length} classes`);
  const byClass = new Map<string, number[]>();
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    const c = classes[i];
    if (typeof c !== 'string' || c === '') throw new UserError(`${what}: anomaly at index ${i} has no class name`);
    let list = byClass.get(c);
    if (!list) byClass.set(c, (list = []));
    list.push(scores[i]);
  }
  const out: Record<string, number> = {};
  for (const c of [...byClass.keys()].sort()) out[c] = mannWhitney(sortScores(Float64Array.from(byClass.get(c)!)), neg);
  return out;
}

export interface EideRoc {
  /** Vertices: (0,0), one per positive in descending-score order, then (1,1); fpr 0 replaced by l. */
  fpr: Float64Array;
  tpr: Float64Array;
  /** Trapezoidal area under the vertices (np.trapz(tpr, fpr)). */
  auc: number;
  /** Semi-log area over fpr ∈ [l, 1] on a log10 axis, normalised by |log10 l| to [0, 1]. */
  logAuc: number;
  /** log10 of the false-positive rate at the first detected positive. */
  lgFar: number;
  /** The fpr floor, 0.5 / number of negatives ("half a false positive"). */
  l: number;
}

/**
 * ROC, AUC, logAUC and lgFAR exactly as Eide (2018) computes them (pub-ffi-gan tflib/plot.py
 * `fpr_tpr`, `log_auc`): vertices only at positives, linear between them, so the AUC can exceed
 * the Mann–Whitney AUC by up to 0.5/N_pos. Eide's argsort leaves ties in arbitrary order; here a
 * negative tied with a positive always ranks first (pessimistic, and independent of input order).
 */
export function eideRoc(scores: ArrayLike<number>, labels: ArrayLike<number>): EideRoc {
  const { pos, neg } = split(scores, labels, 'eideRoc');
  const P = pos.length;
  const N = neg.length;
  const l = 0.5 / N;
  const fpr = new Float64Array(P + 2);
  const tpr = new Float64Array(P + 2);
  // Walk positives from the highest score down, counting negatives scored at or above each.
  let f = 0;
  for (let p = 1; p <= P; p++) {
    const s = pos[P - p];
    while (f < N && neg[N - 1 - f] >= s) f++;
    fpr[p] = f / N;
    tpr[p] = p / P;
  }
  fpr[P + 1] = 1;
  tpr[P + 1] = 1;
  for (let i = 0; i < fpr.length; i++) if (fpr[i] === 0) fpr[i] = l;

  let auc = 0;
  let logArea = 0;
  for (let i = 0; i + 1 < fpr.length; i++) {
    const ymid = 0.5 * (tpr[i + 1] + tpr[i]);
    auc += (fpr[i + 1] - fpr[i]) * ymid;
    logArea += (Math.log10(fpr[i + 1]) - Math.log10(fpr[i])) * ymid;
  }
  return { fpr, tpr, auc, logAuc: logArea / Math.abs(Math.log10(l)), lgFar: Math.log10(fpr[1]), l };
}

/** Eide's (2018) normalised semi-log AUC; see eideRoc. */
export function logAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  return eideRoc(scores, labels).logAuc;
}

export interface RocCurve {
  fpr: Float64Array;
  tpr: Float64Array;
  /** Score threshold of each point (score >= threshold is flagged); the first is +Infinity. */
  thresholds: Float64Array;
}

/**
 * The staircase ROC (one point per distinct score, like sklearn.metrics.roc_curve with
 * drop_intermediate), then thinned to at most maxPoints points, keeping both ends, for plotting.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = 1000): RocCurve {
  if (!Number.isInteger(maxPoints) || maxPoints < 2) throw new UserError(`rocCurve: maxPoints must be an integer ≥ 2, got ${maxPoints}`);
  const c = thresholdCounts(split(scores, labels, 'rocCurve'));
  const P = c.P;
  const N = c.N;
  // One point per distinct score, highest first, after the (0, 0) start at +Infinity.
  const fps = [0, ...c.fp];
  const tps = [0, ...c.tp];
  const thr = [Infinity, ...c.thresholds];
  // Drop points collinear with both neighbours (equal steps in fp and tp).
  let keep: number[] = [];
  const m = fps.length;
  for (let k = 0; k < m; k++) {
    if (k === 0 || k === m - 1) keep.push(k);
    else if (fps[k + 1] - 2 * fps[k] + fps[k - 1] !== 0 || tps[k + 1] - 2 * tps[k] + tps[k - 1] !== 0) keep.push(k);
  }
  if (keep.length > maxPoints) {
    const thinned: number[] = [];
    for (let k = 0; k < maxPoints; k++) {
      const idx = keep[Math.round((k * (keep.length - 1)) / (maxPoints - 1))];
      if (thinned.length === 0 || thinned[thinned.length - 1] !== idx) thinned.push(idx);
    }
    keep = thinned;
  }
  const out: RocCurve = {
    fpr: new Float64Array(keep.length),
    tpr: new Float64Array(keep.length),
    thresholds: new Float64Array(keep.length),
  };
  keep.forEach((k, o) => {
    out.fpr[o] = fps[k] / N;
    out.tpr[o] = tps[k] / P;
    out.thresholds[o] = thr[k];
  });
  return out;
}
