import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticHsi, type SyntheticHsiParams } from '../../datasets/synthetic-hsi.js';
import { isUserError } from '../../core/errors.js';

const P: SyntheticHsiParams = { rows: 40, cols: 50, bands: 30, endmembers: 4, anomalies: 8, anomalySize: 3, noise: 0.01, seed: 42 };

test('shape, value range and anomaly mask', () => {
  const s = syntheticHsi(P);
  assert.deepEqual([s.rows, s.cols, s.bands], [40, 50, 30]);
  assert.ok(s.data instanceof Float32Array);
  assert.equal(s.data.length, 40 * 50 * 30);
  assert.equal(s.mask.length, 40 * 50);
  const count = s.mask.reduce((a, b) => a + b, 0);
  assert.ok(count > 0 && count <= 8 * 9, `mask count ${count}`);
  assert.ok(s.mask.every((m) => m === 0 || m === 1));
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of s.data) {
    assert.ok(Number.isFinite(x));
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  assert.ok(lo > -0.2 && hi < 1.2, `range [${lo}, ${hi}]`);
});

test('deterministic for a seed; another seed gives another scene', () => {
  const a = syntheticHsi(P);
  const b = syntheticHsi({ ...P });
  assert.deepEqual(a.data, b.data);
  assert.deepEqual(a.mask, b.mask);
  const c = syntheticHsi({ ...P, seed: 43 });
  assert.notDeepEqual(a.data, c.data);
  // Noise has its own stream: changing it leaves the layout (mask) alone.
  assert.deepEqual(syntheticHsi({ ...P, noise: 0.05 }).mask, a.mask);
});

test('anomalous pixels differ from their local background on average', () => {
  const s = syntheticHsi({ ...P, rows: 64, cols: 64, anomalies: 15 });
  const { rows, cols, bands, data, mask } = s;
  // Distance of each pixel to the mean of the non-anomalous pixels in its 9×9 window (itself
  // excluded): the background varies across the scene, so a global mean would hide the targets.
  const local = new Float64Array(bands);
  let dA = 0;
  let dB = 0;
  let nA = 0;
  let nB = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      local.fill(0);
      let k = 0;
      for (let rr = Math.max(0, r - 4); rr <= Math.min(rows - 1, r + 4); rr++) {
        for (let cc = Math.max(0, c - 4); cc <= Math.min(cols - 1, c + 4); cc++) {
          const j = rr * cols + cc;
          if (mask[j] || (rr === r && cc === c)) continue;
          for (let b = 0; b < bands; b++) local[b] += data[j * bands + b];
          k++;
        }
      }
      const i = r * cols + c;
      let d = 0;
      for (let b = 0; b < bands; b++) d += (data[i * bands + b] - local[b] / k) ** 2;
      if (mask[i]) {
        dA += Math.sqrt(d);
        nA++;
      } else {
        dB += Math.sqrt(d);
        nB++;
      }
    }
  }
  dA /= nA;
  dB /= nB;
  assert.ok(dA > 2 * dB, `anomaly ${dA} vs background ${dB}`);
});

test('edge cases and invalid parameters', () => {
  const one = syntheticHsi({ ...P, rows: 1, cols: 1, bands: 1, endmembers: 1, anomalies: 1, anomalySize: 5 });
  assert.equal(one.data.length, 1);
  assert.equal(one.mask[0], 1);
  assert.equal(syntheticHsi({ ...P, anomalies: 0 }).mask.reduce((a, b) => a + b, 0), 0);
  for (const bad of [{ rows: 0 }, { bands: 2.5 }, { anomalySize: 0 }, { noise: -1 }, { noise: NaN }, { endmembers: 0 }]) {
    assert.throws(() => syntheticHsi({ ...P, ...bad }), (e: unknown) => isUserError(e));
  }
});
