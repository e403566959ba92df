/**
 * Precision–recall metrics: the PR curve, its two areas, and precision / recall / F1 at a
 * threshold with the rules that choose one. A sample is flagged anomalous when its score is
 * >= the threshold (the convention of sklearn's curves). Everything is exact on float64 counts,
 * O(n log n), and tie-aware: tied scores are flagged or not together, never split.
 *
 * The two areas differ; papers mix them up, so name the one you report:
 * - averagePrecision = sklearn.metrics.average_precision_score: the step-wise sum
 *   Σₖ (Rₖ − Rₖ₋₁)·Pₖ over distinct thresholds from the highest down (no interpolation).
 * - prAuc = sklearn.metrics.auc(recall, precision) over sklearn's precision_recall_curve: the
 *   trapezoidal area through the same points plus the curve's start (recall 0, precision 1). It
 *   exceeds AP by Σₖ (Rₖ − Rₖ₋₁)·(Pₖ₋₁ − Pₖ)/2: straight lines between PR points overstate
 *   precision where it falls (Davis & Goadrich, 2006).
 */
import { UserError } from '../core/errors.js';
import { checkLabelled, checkScores, sortScores, splitByLabel, thresholdCounts, type ThresholdCounts } from './inputs.js';

export interface PrCurve {
  /** Points from the highest threshold down; the first is sklearn's appended (recall 0, precision 1) at +Infinity. */
  precision: Float64Array;
  recall: Float64Array;
  thresholds: Float64Array;
}

/** Negatives are optional for precision and recall (AP is then 1); positives are not. */
function counts(scores: ArrayLike<number>, labels: ArrayLike<number>, what: string): ThresholdCounts {
  return thresholdCounts(splitByLabel(scores, labels, what, 'positives', 'recall'));
}

/** sklearn.metrics.precision_recall_curve, one point per distinct score, highest threshold first. */
export function precisionRecallCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): PrCurve {
  const c = counts(scores, labels, 'precisionRecallCurve');
  const m = c.thresholds.length;
  const out: PrCurve = { precision: new Float64Array(m + 1), recall: new Float64Array(m + 1), thresholds: new Float64Array(m + 1) };
  out.precision[0] = 1;
  out.thresholds[0] = Infinity;
  for (let k = 0; k < m; k++) {
    out.precision[k + 1] = c.tp[k] / (c.tp[k] + c.fp[k]);
    out.recall[k + 1] = c.tp[k] / c.P;
    out.thresholds[k + 1] = c.thresholds[k];
  }
  return out;
}

/** Average precision (step-wise; = sklearn.metrics.average_precision_score). See the module comment. */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const c = counts(scores, labels, 'averagePrecision');
  let sum = 0;
  let prevTp = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    sum += (c.tp[k] - prevTp) * (c.tp[k] / (c.tp[k] + c.fp[k]));
    prevTp = c.tp[k];
  }
  return sum / c.P;
}

/** Trapezoidal area under the PR curve (= sklearn.metrics.auc(recall, precision)). See the module comment. */
export function prAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const c = counts(scores, labels, 'prAuc');
  let area = 0;
  let prevTp = 0;
  let prevPrecision = 1;
  for (let k = 0; k < c.thresholds.length; k++) {
    const p = c.tp[k] / (c.tp[k] + c.fp[k]);
    area += (c.tp[k] - prevTp) * 0.5 * (p + prevPrecision);
    prevTp = c.tp[k];
    prevPrecision = p;
  }
  return area / c.P;
}

export interface Confusion {
  threshold: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  /** tp / (tp + fp); 0 when nothing is flagged (sklearn's zero_division=0). */
  precision: number;
  /** tp / (tp + fn). */
  recall: number;
  /** 2·tp / (2·tp + fp + fn), the harmonic mean of the two; 0 when tp = 0. */
  f1: number;
}

function confusion(threshold: number, tp: number, fp: number, P: number, N: number): Confusion {
  return { threshold, tp, fp, fn: P - tp, tn: N - fp, precision: tp + fp > 0 ? tp / (tp + fp) : 0, recall: tp / P, f1: (2 * tp) / (tp + fp + P) };
}

function checkThreshold(t: number, what: string): void {
  if (typeof t !== 'number' || Number.isNaN(t)) throw new UserError(`${what}: the threshold is ${t}, not a number`);
}

function checkPercentile(p: number, what: string): void {
  if (typeof p !== 'number' || !(p >= 0 && p <= 100)) throw new UserError(`${what}: percentile must be in [0, 100], got ${p}`);
}

/** Precision, recall and F1 when score >= threshold is flagged anomalous (a fixed threshold, or one a rule chose). */
export function atThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number, what = 'atThreshold'): Confusion {
  checkThreshold(threshold, what);
  const P = checkLabelled(scores, labels, what, 'positives', 'recall');
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] >= threshold) {
      if (labels[i] === 1) tp++;
      else fp++;
    }
  }
  return confusion(threshold, tp, fp, P, scores.length - P);
}

/**
 * numpy.percentile(scores, p) (linear interpolation between order statistics, numpy's default,
 * computed as numpy does), so flagging score >= it flags the top (100 − p) % of the scores: ALAD's
 * "top 20 %" is p = 80. Ties are handled the deterministic way the >= rule implies: every score
 * equal to the threshold is flagged, so with ties at the cut more than (100 − p) % can be flagged.
 * Labels are not used.
 */
export function percentileThreshold(scores: ArrayLike<number>, p: number, what = 'percentileThreshold'): number {
  checkPercentile(p, what);
  if (scores.length === 0) throw new UserError(`${what}: no scores; a percentile of nothing is undefined`);
  checkScores(scores, what);
  const x = sortScores(Float64Array.from(scores));
  const n = x.length;
  const h = (n - 1) * (p / 100);
  const lo = Math.floor(h);
  const g = h - lo;
  const a = x[lo];
  const b = x[Math.min(lo + 1, n - 1)];
  // Infinite ends give the interpolation's limit (numpy gives NaN there).
  if (g === 0 || a === b || a === -Infinity) return a;
  if (b === Infinity) return b;
  const d = b - a;
  // numpy's _lerp: from the nearer end, so the result stays within [a, b].
  return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

/**
 * The threshold with the highest F1 on these scores, exact over every distinct score (flagging
 * score >= it). F1 values are compared as exact fractions; among equal F1 the highest threshold
 * (fewest flagged) wins. Reported on the test set this is an oracle, never an honest figure.
 */
export function bestF1Threshold(scores: ArrayLike<number>, labels: ArrayLike<number>): Confusion {
  const c = counts(scores, labels, 'bestF1Threshold');
  let best = 0;
  for (let k = 1; k < c.thresholds.length; k++) {
    // F1 = 2tp / (tp + fp + P): compare a/b > a'/b' as a·b' > a'·b (integers far below 2⁵³).
    if (c.tp[k] * (c.tp[best] + c.fp[best] + c.P) > c.tp[best] * (c.tp[k] + c.fp[k] + c.P)) best = k;
  }
  return confusion(c.thresholds[best], c.tp[best], c.fp[best], c.P, c.N);
}

export interface Labelled {
  scores: ArrayLike<number>;
  labels: ArrayLike<number>;
}

export type ThresholdSource = 'val-best-f1' | 'val-percentile';

export interface ValidationChosen extends Confusion {
  /** How the threshold was chosen on validation: best F1, or the percentile rule where validation has no anomaly. */
  source: ThresholdSource;
  /** The percentile used, when source is 'val-percentile'. */
  percentile?: number;
}

/**
 * The honest thresholded figures: the threshold is chosen on validation — best F1 there, or,
 * where validation holds no anomaly, percentileThreshold(validation scores, percentile) (default
 * 80: the top 20 %) — and precision, recall and F1 are those of the test set at that threshold.
 */
export function validationChosen(validation: Labelled, test: Labelled, opts: { percentile?: number } = {}): ValidationChosen {
  const percentile = opts.percentile ?? 80;
  const what = 'validationChosen';
  checkPercentile(percentile, what);
  if (validation.scores.length === 0) throw new UserError(`${what}: no validation samples to choose a threshold on`);
  const positives = checkLabelled(validation.scores, validation.labels, `${what} (validation)`, 'none');
  checkLabelled(test.scores, test.labels, `${what} (test)`, 'positives', 'recall');
  if (positives > 0) {
    const { threshold } = bestF1Threshold(validation.scores, validation.labels);
    return { ...atThreshold(test.scores, test.labels, threshold, `${what} (test)`), source: 'val-best-f1' };
  }
  const threshold = percentileThreshold(validation.scores, percentile, `${what} (validation)`);
  return { ...atThreshold(test.scores, test.labels, threshold, `${what} (test)`), source: 'val-percentile', percentile };
}
