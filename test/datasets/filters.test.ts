import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noisyBands, sqrtTransform, standardizeBands, rescaleToUnit, selectBands, normalize, findNonFinite } from '../../datasets/filters.js';
import { Prng } from '../../datasets/prng.js';
import { isUserError } from '../../core/errors.js';

const ROWS = 20;
const COLS = 30;
const BANDS = 6;

/** Smooth scene per band + small noise; band 3 drowned in noise, band 5 constant, band 4 a clean ramp. */
function cube(): Float32Array {
  const r = new Prng(9);
  const d = new Float32Array(ROWS * COLS * BANDS);
  for (let y = 0; y < ROWS; y++) {
    for (let x = 0; x < COLS; x++) {
      const p = (y * COLS + x) * BANDS;
      const scene = 1 + 0.3 * Math.sin(x / 5) * Math.cos(y / 7);
      d[p + 0] = scene * 0.8 + r.normal() * 0.01;
      d[p + 1] = scene * 1.2 + r.normal() * 0.01;
      d[p + 2] = scene * 0.5 + r.normal() * 0.005;
      d[p + 3] = scene * 0.2 + r.normal() * 0.3; // water-absorption-like: little signal, much noise
      d[p + 4] = 2 + 0.05 * x; // strong horizontal gradient, no noise
      d[p + 5] = 0.7;
    }
  }
  return d;
}

test('noisyBands flags an injected noise band and a constant band, not clean ones', () => {
  const { flagged, snr } = noisyBands(cube(), ROWS, COLS, BANDS, 10);
  assert.deepEqual(flagged, [3, 5]);
  assert.equal(snr.length, BANDS);
  for (const b of [0, 1, 2]) assert.ok(snr[b] > 40, `band ${b} snr ${snr[b]}`);
  assert.ok(snr[3] < 2, `noise band snr ${snr[3]}`);
  assert.ok(snr[4] > 1e4, `a gradient is not noise: ${snr[4]}`); // the differences' mean is removed
  assert.equal(snr[5], Infinity); // no noise at all, flagged for its zero variance
  // A lower threshold keeps the noisy band but still flags the dead one.
  assert.deepEqual(noisyBands(cube(), ROWS, COLS, BANDS, 0.1).flagged, [5]);
});

test('noisyBands: the SNR estimate of white noise around a level is level / σ', () => {
  const r = new Prng(4);
  const rows = 40;
  const cols = 50;
  const d = new Float32Array(rows * cols).map(() => 5 + r.normal() * 1);
  const { snr } = noisyBands(d, rows, cols, 1, 1);
  assert.ok(Math.abs(snr[0] - 5) < 0.4, `snr ${snr[0]}`);
  // All-zero band: SNR 0, flagged.
  assert.deepEqual(noisyBands(new Float32Array(8), 2, 4, 1, 0), { flagged: [0], snr: new Float64Array([0]) });
  assert.throws(() => noisyBands(new Float32Array(10), 2, 4, 1, 1), isUserError);
  assert.throws(() => noisyBands(new Float32Array(4), 4, 1, 1, 1), isUserError);
});

test('sqrtTransform clips negatives to 0 and counts them', () => {
  const { data, negatives } = sqrtTransform(new Float32Array([4, -1, 0, 2.25, -0.5, -0, 1e-8]));
  assert.equal(negatives, 2);
  assert.deepEqual([...data.slice(0, 6)], [2, 0, 0, 1.5, 0, 0]);
  assert.ok(Object.is(data[5], 0), '-0 becomes +0');
  assert.ok(Math.abs(data[6] - 1e-4) < 1e-9);
  assert.ok(Number.isNaN(sqrtTransform(new Float32Array([NaN])).data[0]));
});

test('standardizeBands: per band mean 0 and (population) std 1; constant bands → 0 and reported', () => {
  // By hand: band 0 = [1, 3, 5] → mean 3, std √(8/3); band 1 constant.
  const small = standardizeBands(new Float32Array([1, 10, 3, 10, 5, 10]), 2);
  assert.deepEqual([...small.mean], [3, 10]);
  assert.ok(Math.abs(small.std[0] - Math.sqrt(8 / 3)) < 1e-12);
  assert.equal(small.std[1], 0);
  assert.deepEqual(small.constantBands, [1]);
  const z = Math.sqrt(3 / 2);
  const got = [...small.data];
  [-z, 0, 0, 0, z, 0].forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-6, `${i}: ${got[i]} vs ${v}`));

  const c = cube();
  const s = standardizeBands(c, BANDS);
  assert.deepEqual(s.constantBands, [5]);
  const n = ROWS * COLS;
  for (let b = 0; b < BANDS; b++) {
    let m = 0;
    let v = 0;
    for (let p = 0; p < n; p++) m += s.data[p * BANDS + b];
    m /= n;
    for (let p = 0; p < n; p++) v += (s.data[p * BANDS + b] - m) ** 2;
    const sd = Math.sqrt(v / n);
    assert.ok(Math.abs(m) < 1e-6, `band ${b} mean ${m}`);
    if (b === 5) assert.equal(sd, 0);
    else assert.ok(Math.abs(sd - 1) < 1e-5, `band ${b} std ${sd}`);
  }
  assert.ok(Math.abs(s.mean[5] - 0.7) < 1e-6);
  assert.throws(() => standardizeBands(new Float32Array(7), 2), isUserError);
});

test('rescaleToUnit: data bounds map to exactly -1 and 1; given bounds are applied, not clipped', () => {
  const d = new Float32Array([3, 7, 5, 11, -1]);
  const r = rescaleToUnit(d);
  assert.equal(r.min, -1);
  assert.equal(r.max, 11);
  assert.deepEqual([...r.data], [-1 + 4 / 6, -1 + 8 / 6, -1 + 6 / 6, 1, -1].map((v) => Math.fround(v)));
  // Bounds from a training split: values beyond them land beyond [-1, 1].
  const t = rescaleToUnit(new Float32Array([0, 5, 10, 15]), 0, 10);
  assert.deepEqual([...t.data], [-1, 0, 1, 2]);
  assert.deepEqual([t.min, t.max], [0, 10]);
  // Non-finite values do not set the bounds.
  const f = rescaleToUnit(new Float32Array([2, NaN, 4, Infinity]));
  assert.deepEqual([f.min, f.max], [2, 4]);
  assert.deepEqual([f.data[0], f.data[2]], [-1, 1]);
  // Constant data maps to 0; an empty given range is an error.
  assert.deepEqual([...rescaleToUnit(new Float32Array([3, 3])).data], [0, 0]);
  assert.throws(() => rescaleToUnit(d, 5, 5), isUserError);
  assert.throws(() => rescaleToUnit(d, 6, 2), isUserError);
  const big = rescaleToUnit(cube());
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of big.data) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  assert.deepEqual([lo, hi], [-1, 1]);
});

test('existing exports behave as before', () => {
  const d = new Float32Array([0, 1, 2, 3, 4, 5]);
  assert.deepEqual(selectBands(d, 3, { start: 1, step: 1 }).indices, [1, 2]);
  assert.deepEqual([...selectBands(d, 3, { start: 0, step: 2 }).data], [0, 2, 3, 5]);
  assert.throws(() => selectBands(d, 3, { start: 3, step: 1 }), isUserError);
  assert.deepEqual([...normalize(new Float32Array([0, 5, 10]), 'minmax').data], [-1, 0, 1]);
  assert.equal(normalize(new Float32Array([1, 2, 3]), 'zscore').stats.sd, 1);
  assert.deepEqual(findNonFinite(new Float32Array([1, NaN, 2, Infinity]), 2), { count: 2, first: { pixel: 0, band: 1, value: NaN } });
});
