import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  atThreshold,
  averagePrecision,
  bestF1Threshold,
  percentileThreshold,
  prAuc,
  precisionRecallCurve,
  validationChosen,
} from '../../evaluation/precision-recall.js';
import { perClassRocAuc, rocAuc } from '../../evaluation/roc.js';
import { close, userError } from './vectors.js';

test('averagePrecision and prAuc: hand-computed cases', () => {
  // sklearn's documented example: AP 0.8333; the trapezoid cuts the drop from (.5, 1) to (.5, .5) to (1, 2/3).
  const s = [0.1, 0.4, 0.35, 0.8];
  const y = [0, 0, 1, 1];
  close(averagePrecision(s, y), 0.5 * 1 + 0.5 * (2 / 3));
  close(prAuc(s, y), 0.5 + 0.5 * (0.5 + 2 / 3) * 0.5);
  // Ties across classes: P = 4; thresholds .9 (tp 1, fp 1), .5 (3, 2), .2 (4, 3).
  const ts = [0.5, 0.5, 0.2, 0.9, 0.5, 0.2, 0.9];
  const ty = [1, 0, 0, 1, 1, 1, 0];
  close(averagePrecision(ts, ty), 0.25 * 0.5 + 0.5 * 0.6 + 0.25 * (4 / 7));
  close(prAuc(ts, ty), 0.25 * (1 + 0.5) * 0.5 + 0.5 * (0.5 + 0.6) * 0.5 + 0.25 * (0.6 + 4 / 7) * 0.5);
  // Constant scores: one threshold flags everything.
  close(averagePrecision([3, 3, 3, 3, 3], [0, 1, 0, 1, 0]), 0.4);
  close(prAuc([3, 3, 3, 3, 3], [0, 1, 0, 1, 0]), (1 + 0.4) / 2);
  // A single positive ranked third: precision 1/3 when it is reached.
  close(averagePrecision([0.9, 0.8, 0.7, 0.6], [0, 0, 1, 0]), 1 / 3);
  // Perfect ranking; no negatives at all (AP is 1, as in sklearn).
  close(averagePrecision([1, 2, 3, 4], [0, 0, 1, 1]), 1);
  close(prAuc([1, 2, 3, 4], [0, 0, 1, 1]), 1);
  close(averagePrecision([1, 2], [1, 1]), 1);
});

test('precisionRecallCurve: points from the highest threshold down, starting at (recall 0, precision 1)', () => {
  const c = precisionRecallCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
  // sklearn's docs give the same points in reverse: precision [.5, .667, .5, 1, 1], recall [1, 1, .5, .5, 0].
  assert.deepEqual(Array.from(c.precision), [1, 1, 0.5, 2 / 3, 0.5]);
  assert.deepEqual(Array.from(c.recall), [0, 0.5, 0.5, 1, 1]);
  assert.deepEqual(Array.from(c.thresholds), [Infinity, 0.8, 0.4, 0.35, 0.1]);
});

test('atThreshold: score >= threshold is flagged; counts, precision, recall, F1', () => {
  const s = [0.5, 0.5, 0.2, 0.9, 0.5, 0.2, 0.9];
  const y = [1, 0, 0, 1, 1, 1, 0];
  assert.deepEqual(atThreshold(s, y, 0.5), { threshold: 0.5, tp: 3, fp: 2, fn: 1, tn: 1, precision: 0.6, recall: 0.75, f1: 6 / 9 });
  // Nothing flagged: precision 0 (zero_division=0), F1 0.
  const none = atThreshold(s, y, 1);
  assert.deepEqual([none.tp, none.fp, none.precision, none.recall, none.f1], [0, 0, 0, 0, 0]);
  const all = atThreshold(s, y, -Infinity);
  assert.deepEqual([all.tp, all.fp, all.recall], [4, 3, 1]);
  close(all.f1, 8 / 11);
});

test('bestF1Threshold: exact over every distinct score; ties go to the highest threshold', () => {
  const s = [0.5, 0.5, 0.2, 0.9, 0.5, 0.2, 0.9];
  const y = [1, 0, 0, 1, 1, 1, 0];
  // F1 = 2tp / (tp + fp + P): .9 → 1/3, .5 → 2/3, .2 → 8/11.
  const b = bestF1Threshold(s, y);
  assert.equal(b.threshold, 0.2);
  close(b.f1, 8 / 11);
  // F1 2/3 both at 5 (tp 1, fp 0) and at 2 (tp 2, fp 2): the higher threshold wins.
  const tie = bestF1Threshold([5, 4, 3, 2, 1], [1, 0, 0, 1, 0]);
  assert.equal(tie.threshold, 5);
  close(tie.f1, 2 / 3);
  // Constant scores: the only threshold.
  const c = bestF1Threshold([3, 3, 3, 3, 3], [0, 1, 0, 1, 0]);
  assert.equal(c.threshold, 3);
  close(c.f1, 4 / 7);
});

test('percentileThreshold: numpy.percentile (linear); ties at the cut are all flagged', () => {
  const ten = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
  // (n − 1)·0.8 = 7.2: 8 + 0.2·(9 − 8); flagging >= 8.2 flags the top 20 % (9 and 10).
  close(percentileThreshold(ten, 80), 8.2);
  assert.equal(percentileThreshold(ten, 0), 1);
  assert.equal(percentileThreshold(ten, 100), 10);
  assert.equal(percentileThreshold(ten, 50), 5.5);
  const tied = [1, 1, 2, 2, 2, 2, 2, 3, 3, 3];
  assert.equal(percentileThreshold(tied, 80), 3);
  assert.equal(atThreshold(tied, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0], 3).tp + atThreshold(tied, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0], 3).fp, 3);
  assert.equal(percentileThreshold([7], 80), 7);
  assert.equal(percentileThreshold([-Infinity, 0], 50), -Infinity);
  assert.equal(percentileThreshold([0, Infinity], 50), Infinity);
  userError(() => percentileThreshold([1, 2], 101), /percentile must be in \[0, 100\], got 101/);
  userError(() => percentileThreshold([1, 2], NaN), /percentile must be in/);
  userError(() => percentileThreshold([], 80), /no scores/);
  userError(() => percentileThreshold([1, NaN, NaN], 80), /2 of 3 scores are NaN/);
});

test('validationChosen: best F1 on validation applied to test; the percentile rule where validation has no anomaly', () => {
  const val = { scores: [5, 4, 3, 2, 1], labels: [1, 0, 1, 0, 0] };
  // On validation: 5 → F1 2/3 (tp 1, fp 0, P 2), 3 → 4/5: threshold 3.
  const test = { scores: [3.5, 2.9, 3, 1, 6], labels: [1, 1, 0, 0, 1] };
  const r = validationChosen(val, test);
  assert.equal(r.source, 'val-best-f1');
  assert.equal(r.threshold, 3);
  assert.deepEqual([r.tp, r.fp, r.fn, r.tn], [2, 1, 1, 1]);
  close(r.precision, 2 / 3);
  close(r.recall, 2 / 3);
  close(r.f1, 2 / 3);
  assert.equal(r.percentile, undefined);

  const normalsOnly = { scores: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], labels: new Array(10).fill(0) };
  const p = validationChosen(normalsOnly, { scores: [9, 8, 1, 10], labels: [1, 1, 0, 0] });
  assert.equal(p.source, 'val-percentile');
  assert.equal(p.percentile, 80);
  close(p.threshold, 8.2);
  assert.deepEqual([p.tp, p.fp, p.precision, p.recall, p.f1], [1, 1, 0.5, 0.5, 0.5]);
  const p50 = validationChosen(normalsOnly, { scores: [9, 8, 1, 10], labels: [1, 1, 0, 0] }, { percentile: 50 });
  assert.equal(p50.threshold, 5.5);

  userError(() => validationChosen({ scores: [], labels: [] }, test), /no validation samples/);
  userError(() => validationChosen(val, { scores: [1, 2], labels: [0, 0] }), /validationChosen \(test\): no positive/);
  userError(() => validationChosen({ scores: [1, NaN], labels: [0, 0] }, test), /validationChosen \(validation\): 1 of 2 scores are NaN/);
  userError(() => validationChosen(val, test, { percentile: -1 }), /percentile must be in/);
});

test('precision-recall metrics reject bad input with a UserError naming the cause', () => {
  const fns: [string, (s: number[], y: number[]) => unknown][] = [
    ['averagePrecision', averagePrecision],
    ['prAuc', prAuc],
    ['precisionRecallCurve', precisionRecallCurve],
    ['bestF1Threshold', bestF1Threshold],
    ['atThreshold', (s, y) => atThreshold(s, y, 0.5)],
  ];
  for (const [name, fn] of fns) {
    userError(() => fn([1, 2, 3], [0, 1]), new RegExp(`^${name}: 3 scores but 2 labels`));
    userError(() => fn([1, 2, 3], [0, 0, 0]), new RegExp(`^${name}: no positive \\(label 1\\) samples among 3; recall is undefined`));
    userError(() => fn([1, NaN, 3, NaN], [0, 1, 0, 1]), new RegExp(`^${name}: 2 of 4 scores are NaN`));
    userError(() => fn([1, 2], [0, 2]), new RegExp(`^${name}: labels must be 0 or 1, found 2 at index 1`));
  }
  userError(() => atThreshold([1, 2], [0, 1], NaN), /the threshold is NaN/);
});

test('perClassRocAuc: each anomaly class against every normal', () => {
  const s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
  const y = [1, 1, 0, 1, 0, 0];
  const c = ['a', 'b', 'good', 'a', 'good', 'good'];
  const r = perClassRocAuc(s, y, c);
  assert.deepEqual(Object.keys(r), ['a', 'b']);
  close(r.a, 5 / 6);
  close(r.b, 1);
  // The classes of normals do not matter; one class is the overall AUC.
  const one = perClassRocAuc(s, y, ['x', 'x', 'n1', 'x', 'n2', 'n3']);
  close(one.x, rocAuc(s, y));
  userError(() => perClassRocAuc(s, y, ['a']), /6 labels but 1 classes/);
  userError(() => perClassRocAuc(s, [0, 0, 0, 0, 0, 0], c), /no positive/);
  userError(() => perClassRocAuc(s, [1, 1, 1, 1, 1, 1], c), /no negative/);
  userError(() => perClassRocAuc([NaN, 0.8, 0.7, 0.6, 0.5, 0.4], y, c), /1 of 6 scores are NaN/);
});
