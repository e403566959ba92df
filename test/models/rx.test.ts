import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { covariance, pinvSymmetric, symmetricEigen } from '../../models/components/linalg.js';
import { fitRx, scoreRx } from '../../models/rx/rx.js';
import { rocAuc } from '../../evaluation/roc.js';
import { readMatFile, toRowMajorCube } from '../../datasets/mat.js';
import { syntheticHsi } from '../../datasets/synthetic-hsi.js';
import { Prng } from '../../datasets/prng.js';
import { isUserError } from '../../core/errors.js';
import { SANDIEGO } from '../helpers.js';


function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function randomSymmetric(rng: Prng, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  return a;
}

test('symmetricEigen: known 2×2 and random symmetric matrices', () => {
  const e = symmetricEigen([2, 1, 1, 2], 2);
  assert.ok(maxAbsDiff(e.values, [3, 1]) < 1e-14);
  assert.ok(Math.abs(Math.abs(e.vectors[0]) - Math.SQRT1_2) < 1e-14);

  const rng = new Prng(1);
  const n = 40;
  const a = randomSymmetric(rng, n);
  const { values, vectors: v } = symmetricEigen(a, n);
  for (let k = 1; k < n; k++) assert.ok(values[k] <= values[k - 1]);
  // A V = V Λ and Vᵀ V = I.
  const av = matmul(a, v, n);
  const vl = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) vl[i * n + k] = v[i * n + k] * values[k];
  assert.ok(maxAbsDiff(av, vl) < 1e-12);
  const vt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vt[i * n + j] = v[j * n + i];
  const id = new Float64Array(n * n);
  for (let i = 0; i < n; i++) id[i * n + i] = 1;
  assert.ok(maxAbsDiff(matmul(vt, v, n), id) < 1e-13);
});

test('pinvSymmetric: singular matrices and the Moore–Penrose conditions', () => {
  // [[1,1],[1,1]] has rank 1; its pseudo-inverse is itself / 4.
  assert.ok(maxAbsDiff(pinvSymmetric([1, 1, 1, 1], 2), [0.25, 0.25, 0.25, 0.25]) < 1e-15);
  // The zero matrix's pseudo-inverse is zero.
  assert.deepEqual(Array.from(pinvSymmetric([0, 0, 0, 0], 2)), [0, 0, 0, 0]);
  // Rank 2 in 3-D: A = 4 uuᵀ + 1 wwᵀ (u, w orthonormal) → A⁺ = uuᵀ/4 + wwᵀ.
  const u = [1 / Math.sqrt(2), 1 / Math.sqrt(2), 0];
  const w = [1 / Math.sqrt(6), -1 / Math.sqrt(6), 2 / Math.sqrt(6)];
  const a = new Float64Array(9);
  const want = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    a[i * 3 + j] = 4 * u[i] * u[j] + w[i] * w[j];
    want[i * 3 + j] = u[i] * u[j] / 4 + w[i] * w[j];
  }
  const p = pinvSymmetric(a, 3);
  assert.ok(maxAbsDiff(p, want) < 1e-14, `pinv off by ${maxAbsDiff(p, want)}`);
  assert.ok(maxAbsDiff(matmul(matmul(a, p, 3), a, 3), a) < 1e-14);
  assert.ok(maxAbsDiff(matmul(matmul(p, a, 3), p, 3), p) < 1e-14);
  // Indefinite but invertible: pinv is the inverse.
  const rng = new Prng(2);
  const b = randomSymmetric(rng, 12);
  const id = new Float64Array(144);
  for (let i = 0; i < 12; i++) id[i * 12 + i] = 1;
  assert.ok(maxAbsDiff(matmul(b, pinvSymmetric(b, 12), 12), id) < 1e-10);
});

test('pinvSymmetric of a 189×189 covariance is fast', () => {
  const rng = new Prng(3);
  const n = 500;
  const dim = 189;
  const x = new Float64Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * (1 + (i % dim));
  const { cov } = covariance(x, n, dim);
  const t = performance.now();
  const p = pinvSymmetric(cov, dim);
  const ms = performance.now() - t;
  assert.ok(ms < 3000, `pinv took ${ms} ms`);
  // P·C ≈ I (C is full rank here).
  const pc = matmul(p, cov, dim);
  for (let i = 0; i < dim; i++) assert.ok(Math.abs(pc[i * dim + i] - 1) < 1e-8);
});

test('covariance: mean and n-1 normalisation; bad input is a UserError', () => {
  // Samples (1,2), (3,6), (5,4): mean (3,4); cov = [[4, 2], [2, 4]].
  const { mean, cov } = covariance([1, 2, 3, 6, 5, 4], 3, 2);
  assert.deepEqual(Array.from(mean), [3, 4]);
  assert.deepEqual(Array.from(cov), [4, 2, 2, 4]);
  assert.throws(() => covariance([1, NaN, 3, 6], 2, 2), (e: unknown) => isUserError(e) && /1 of 4 values are NaN/.test((e as Error).message));
  assert.throws(() => covariance([1, 2, 3], 2, 2), (e: unknown) => isUserError(e));
  assert.throws(() => covariance([1, 2], 1, 2), (e: unknown) => isUserError(e));
});

test('RX on a 2-D Gaussian sample matches the direct formula', () => {
  const rng = new Prng(4);
  const n = 2000;
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const a = rng.normal();
    const b = rng.normal();
    x[2 * i] = 3 + 2 * a;
    x[2 * i + 1] = -1 + 0.5 * a + 0.3 * b;
  }
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[2 * i];
    my += x[2 * i + 1];
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[2 * i] - mx;
    const dy = x[2 * i + 1] - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  sxx /= n - 1;
  sxy /= n - 1;
  syy /= n - 1;
  const det = sxx * syy - sxy * sxy;
  const model = fitRx(x, n, 2);
  assert.ok(maxAbsDiff(model.mean, [mx, my]) < 1e-12);
  assert.ok(maxAbsDiff(model.precision, [syy / det, -sxy / det, -sxy / det, sxx / det]) < 1e-9);
  const s = scoreRx(model, x, n, 2);
  let meanScore = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[2 * i] - mx;
    const dy = x[2 * i + 1] - my;
    const want = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det;
    assert.ok(Math.abs(s[i] - want) < 1e-9 * Math.max(1, want));
    meanScore += s[i] / n;
  }
  // The mean squared Mahalanobis distance with the n-1 covariance is exactly dim·(n-1)/n.
  assert.ok(Math.abs(meanScore - (2 * (n - 1)) / n) < 1e-9);
});

test('RX with a rank-deficient covariance (duplicated band) equals RX without the duplicate', () => {
  const rng = new Prng(5);
  const n = 300;
  const x3 = new Float64Array(n * 3);
  const x4 = new Float64Array(n * 4);
  for (let i = 0; i < n; i++) {
    const a = rng.normal();
    const b = rng.normal();
    const c = rng.normal();
    x3.set([a, a + b, 2 * c - b], 3 * i);
    x4.set([a, a + b, 2 * c - b, a + b], 4 * i);
  }
  const s3 = scoreRx(fitRx(x3, n, 3), x3, n, 3);
  const s4 = scoreRx(fitRx(x4, n, 4), x4, n, 4);
  assert.ok(maxAbsDiff(s3, s4) < 1e-9, `max diff ${maxAbsDiff(s3, s4)}`);
});

test('RX: mismatched shapes and NaN input are UserErrors', () => {
  const m = fitRx(new Float64Array([0, 0, 1, 2, 2, 1]), 3, 2);
  assert.throws(() => scoreRx(m, new Float64Array(6), 2, 3), (e: unknown) => isUserError(e) && /2 features, data has 3/.test((e as Error).message));
  assert.throws(() => scoreRx(m, new Float64Array(5), 3, 2), (e: unknown) => isUserError(e));
  assert.throws(() => scoreRx(m, new Float64Array([0, NaN, 1, 1]), 2, 2), (e: unknown) => isUserError(e) && /1 of 2 samples/.test((e as Error).message));
  assert.throws(() => fitRx(new Float32Array([0, NaN, 1, 1]), 2, 2), (e: unknown) => isUserError(e));
});

test('RX on a synthetic scene: detection is possible but not trivial', () => {
  const p = { rows: 64, cols: 64, bands: 50, endmembers: 4, anomalies: 12, anomalySize: 3, noise: 0.01, seed: 1 };
  const scene = syntheticHsi(p);
  const n = p.rows * p.cols;
  const auc = rocAuc(scoreRx(fitRx(scene.data, n, p.bands), scene.data, n, p.bands), scene.mask);
  assert.ok(auc > 0.7 && auc < 0.995, `AUC ${auc}`);
});

test('ACCEPTANCE: global RX on sandiego_plane.mat reproduces AUC 0.9403', async (t) => {
  if (!existsSync(SANDIEGO)) {
    t.skip('sandiego_plane.mat not present');
    return;
  }
  const m = await readMatFile(SANDIEGO, { variables: ['data', 'map'] });
  const cube = toRowMajorCube(m.get('data')!);
  const labels = toRowMajorCube(m.get('map')!);
  assert.deepEqual([cube.rows, cube.cols, cube.bands], [100, 100, 189]);
  const n = cube.rows * cube.cols;
  const t0 = performance.now();
  const model = fitRx(cube.data, n, cube.bands);
  const scores = scoreRx(model, cube.data, n, cube.bands);
  const ms = performance.now() - t0;
  const auc = rocAuc(scores, labels.data);
  t.diagnostic(`sandiego RX AUC = ${auc.toFixed(6)} (fit+score ${ms.toFixed(0)} ms)`);
  // Reference figure from /work/shared/data/hsi/README.md (independent NumPy implementation).
  assert.equal(auc.toFixed(4), '0.9403');
  // numpy.linalg.pinv(numpy.cov(X.T)) + rank-based AUC in float64 gives 0.940292456226873.
  assert.ok(Math.abs(auc - 0.940292456226873) < 1e-9, `AUC ${auc}`);
  assert.ok(ms < 10000, `RX took ${ms} ms`);
});
