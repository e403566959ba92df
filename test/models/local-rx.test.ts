/** Local dual-window RX against a direct computation, on both solve paths (Woodbury and full). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localRx } from '../../models/rx/local.js';
import { covariance, pinvSymmetric } from '../../models/components/linalg.js';
import { Prng } from '../../datasets/prng.js';
import { UserError } from '../../core/errors.js';

/** The score of one pixel, the slow and obvious way: background, covariance, ridge, inverse. */
function direct(cube: Float64Array, rows: number, cols: number, bands: number, r: number, c: number, inner: number, outer: number, ridge: number): number {
  const ri = (inner - 1) / 2;
  const ro = (outer - 1) / 2;
  const bg: number[] = [];
  for (let rr = r - ro; rr <= r + ro; rr++) for (let cc = c - ro; cc <= c + ro; cc++) {
    if (rr < 0 || cc < 0 || rr >= rows || cc >= cols) continue;
    if (Math.abs(rr - r) <= ri && Math.abs(cc - c) <= ri) continue;
    for (let b = 0; b < bands; b++) bg.push(cube[(rr * cols + cc) * bands + b]);
  }
  const n = bg.length / bands;
  const { mean, cov } = covariance(bg, n, bands);
  let trace = 0;
  for (let b = 0; b < bands; b++) trace += cov[b * bands + b];
  for (let b = 0; b < bands; b++) cov[b * bands + b] += ridge * (trace / bands);
  const p = pinvSymmetric(cov, bands);
  const y = Array.from({ length: bands }, (_, b) => cube[(r * cols + c) * bands + b] - mean[b]);
  let s = 0;
  for (let i = 0; i < bands; i++) for (let j = 0; j < bands; j++) s += y[i] * p[i * bands + j] * y[j];
  return s;
}

for (const [bands, what] of [[4, 'more background pixels than bands (full solve)'], [30, 'fewer background pixels than bands (Woodbury)']] as const) {
  test(`local RX equals the direct computation: ${what}`, () => {
    const rows = 9, cols = 8;
    const rng = new Prng(bands);
    const cube = Float64Array.from({ length: rows * cols * bands }, () => rng.normal());
    // A target pixel unlike its surroundings.
    for (let b = 0; b < bands; b++) cube[(4 * cols + 4) * bands + b] += 6;
    const scores = localRx(cube, rows, cols, bands, { inner: 3, outer: 5, ridge: 0.01 });
    for (const [r, c] of [[0, 0], [4, 4], [8, 7], [2, 5]]) {
      const want = direct(cube, rows, cols, bands, r, c, 3, 5, 0.01);
      assert.ok(Math.abs(scores[r * cols + c] - want) <= 1e-8 * Math.max(1, want), `(${r},${c}): ${scores[r * cols + c]} vs ${want}`);
    }
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
    assert.equal(best, 4 * cols + 4, 'the target scores highest');
  });
}

test('local RX rejects windows that are not odd or not nested', () => {
  assert.throws(() => localRx(new Float64Array(16), 2, 2, 4, { inner: 3, outer: 3 }), UserError);
  assert.throws(() => localRx(new Float64Array(16), 2, 2, 4, { inner: 2, outer: 5 }), UserError);
});
