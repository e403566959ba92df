import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eideRoc, logAuc, rocAuc, rocCurve } from '../../evaluation/roc.js';
import { isUserError } from '../../core/errors.js';
import { Prng } from '../../datasets/prng.js';

function close(a: number, b: number, tol = 1e-12, msg?: string): void {
  assert.ok(Math.abs(a - b) <= tol, msg ?? `${a} != ${b} (tol ${tol})`);
}

function userError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isUserError(e), `expected UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

/** O(n²) Mann–Whitney for cross-checking. */
function bruteAuc(s: ArrayLike<number>, y: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < s.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < s.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      wins += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

test('rocAuc: hand-computed cases', () => {
  // sklearn's documented example.
  close(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  // pos {0.5, 0.9} vs neg {0.5, 0.2}: tie 1/2 + 1 + 1 + 1 = 3.5 of 4 pairs.
  close(rocAuc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]), 0.875);
  close(rocAuc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5);
  close(rocAuc(new Float64Array([3, 1, 2]), new Uint8Array([1, 0, 0])), 1);
});

test('rocAuc: perfect, inverted, infinite scores', () => {
  const y = [0, 0, 0, 1, 1];
  close(rocAuc([1, 2, 3, 4, 5], y), 1);
  close(rocAuc([5, 4, 3, 2, 1], y), 0);
  close(rocAuc([-Infinity, 0, 1, Infinity, Infinity], y), 1);
  // pos {0, 2} vs neg {-0, 0, 1}: -0 and 0 tie.
  close(rocAuc([-0, 0, 1, 0, 2], y), (0.5 + 0.5 + 0 + 1 + 1 + 1) / 6);
});

test('rocAuc: matches brute force with many ties; random classifier ≈ 0.5', () => {
  const rng = new Prng(7);
  for (let trial = 0; trial < 20; trial++) {
    const n = 50 + rng.int(200);
    const s = Array.from({ length: n }, () => rng.int(6));
    const y = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng.uniform() < 0.3 ? 1 : 0));
    close(rocAuc(s, y), bruteAuc(s, y), 1e-12);
  }
  const n = 40000;
  const s = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s[i] = rng.uniform();
    y[i] = rng.uniform() < 0.1 ? 1 : 0;
  }
  // Std of the AUC under H0 here is ≈ 0.005.
  close(rocAuc(s, y), 0.5, 0.02);
});

test('metrics reject bad input with a UserError', () => {
  for (const fn of [rocAuc, logAuc, eideRoc, (s: number[], y: number[]) => rocCurve(s, y)]) {
    userError(() => fn([1, 2, 3], [0, 1]), /3 scores but 2 labels/);
    userError(() => fn([1, 2, 3], [0, 0, 0]), /no positive/);
    userError(() => fn([1, 2, 3], [1, 1, 1]), /no negative/);
    userError(() => fn([1, NaN, 3, NaN], [0, 1, 0, 1]), /2 of 4 scores are NaN/);
    userError(() => fn([1, 2], [0, 2]), /labels must be 0 or 1/);
  }
  userError(() => rocCurve([1, 2], [0, 1], 1), /maxPoints/);
});

test('eideRoc: hand-computed vertices, AUC, logAUC, lgFAR', () => {
  // Descending: pos .9, neg .8, pos .7, neg .6, neg .5 → vertices (0,0) (0,1) (1,2) (3,2) in counts.
  const r = eideRoc([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 0]);
  const l = 0.5 / 3;
  assert.equal(r.l, l);
  assert.deepEqual(Array.from(r.fpr), [l, l, 1 / 3, 1]);
  assert.deepEqual(Array.from(r.tpr), [0, 0.5, 1, 1]);
  close(r.auc, (1 / 3 - l) * 0.75 + (2 / 3) * 1);
  close(r.logAuc, (Math.log10(2) * 0.75 + Math.log10(3)) / Math.log10(6));
  close(r.logAuc, 0.9032867981913646); // Eide's plot.py (ported to Python 3) on the same input
  close(r.lgFar, Math.log10(l));
  close(logAuc([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 0]), r.logAuc);
});

test('eideRoc: ties rank the negative first; perfect and random classifiers', () => {
  // Tied pos/neg: the negative counts as a false positive before the positive is reached.
  const t = eideRoc([1, 1, 0], [1, 0, 0]);
  assert.deepEqual(Array.from(t.fpr), [0.5 / 2, 0.5, 1]);
  close(t.lgFar, Math.log10(0.5));
  assert.deepEqual(eideRoc([1, 1, 0], [0, 1, 0]), t);

  const perfect = eideRoc([5, 4, 3, 2, 1], [1, 1, 0, 0, 0]);
  close(perfect.logAuc, 1);
  close(perfect.auc, 1 - perfect.l);
  close(perfect.lgFar, Math.log10(0.5 / 3));

  const rng = new Prng(11);
  const n = 200000;
  const s = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s[i] = rng.uniform();
    y[i] = rng.uniform() < 0.05 ? 1 : 0;
  }
  const r = eideRoc(s, y);
  close(r.auc, 0.5, 0.02);
  // Interpolating between positives adds at most 0.5/N_pos over the staircase (Mann–Whitney);
  // the fpr floor l takes off at most l.
  const npos = y.reduce((a, b) => a + b, 0);
  const gap = r.auc - rocAuc(s, y);
  assert.ok(gap >= -r.l && gap <= 0.5 / npos, `gap ${gap}`);
  // tpr ≈ fpr: ∫ x dlog10(x) over [l, 1], normalised.
  const nneg = n - y.reduce((a, b) => a + b, 0);
  const l = 0.5 / nneg;
  close(r.logAuc, (1 - l) / (Math.LN10 * Math.abs(Math.log10(l))), 0.01);
});

test('rocCurve: staircase points, thresholds, thinning', () => {
  const c = rocCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
  assert.deepEqual(Array.from(c.fpr), [0, 0, 0.5, 0.5, 1]);
  assert.deepEqual(Array.from(c.tpr), [0, 0.5, 0.5, 1, 1]);
  assert.deepEqual(Array.from(c.thresholds), [Infinity, 0.8, 0.4, 0.35, 0.1]);

  const rng = new Prng(3);
  const n = 20000;
  const s = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.uniform() < 0.2 ? 1 : 0;
    s[i] = Math.round((rng.normal() + y[i]) * 50) / 50; // plenty of ties
  }
  // Unthinned, the trapezoid under the curve is exactly the Mann–Whitney AUC (ties → diagonals).
  const full = rocCurve(s, y, 1e9);
  let area = 0;
  for (let i = 1; i < full.fpr.length; i++) area += (full.fpr[i] - full.fpr[i - 1]) * 0.5 * (full.tpr[i] + full.tpr[i - 1]);
  close(area, rocAuc(s, y), 1e-9);
  const thin = rocCurve(s, y, 50);
  assert.ok(thin.fpr.length <= 50 && thin.fpr.length >= 10);
  assert.deepEqual([thin.fpr[0], thin.tpr[0], thin.thresholds[0]], [0, 0, Infinity]);
  assert.deepEqual([thin.fpr.at(-1), thin.tpr.at(-1)], [1, 1]);
  for (let i = 1; i < thin.fpr.length; i++) {
    assert.ok(thin.fpr[i] >= thin.fpr[i - 1] && thin.tpr[i] >= thin.tpr[i - 1] && thin.thresholds[i] < thin.thresholds[i - 1]);
  }
});

test('rocAuc is O(n log n): a million scores in well under a second or two', () => {
  const rng = new Prng(5);
  const n = 1_000_000;
  const s = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.uniform() < 0.01 ? 1 : 0;
    s[i] = rng.normal() + 2 * y[i];
  }
  const t = performance.now();
  const auc = rocAuc(s, y);
  const e = eideRoc(s, y);
  const ms = performance.now() - t;
  assert.ok(auc > 0.9 && e.auc > 0.9);
  assert.ok(ms < 5000, `took ${ms} ms`);
});
