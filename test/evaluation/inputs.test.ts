import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sortScores, thresholdCounts, splitByLabel } from '../../evaluation/inputs.js';
import { Prng } from '../../datasets/prng.js';

test('sortScores: the order of Float64Array.prototype.sort, bit for bit, with a payload carried along', () => {
  const rng = new Prng(41);
  const special = [-0, 0, -Infinity, Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE, 1e-310, -1e-310];
  for (const n of [0, 1, 5, 1000, 1024, 5000, 200_000]) {
    for (const ties of [0, 100, 1]) {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = rng.normal() * 10 ** rng.int(6);
        a[i] = ties ? Math.round(v * ties) / ties : v;
      }
      for (let k = 0; k < Math.min(n, special.length); k++) a[rng.int(n)] = special[k];
      const expected = a.slice().sort();
      const payload = Float64Array.from(a, (x) => x * 3 + 1);
      const got = sortScores(a.slice());
      for (let i = 0; i < n; i++) assert.ok(Object.is(got[i], expected[i]), `n ${n}, ties ${ties}: [${i}] ${got[i]} != ${expected[i]}`);
      const withPayload = a.slice();
      sortScores(withPayload, payload);
      for (let i = 0; i < n; i++) assert.ok(Object.is(payload[i], withPayload[i] * 3 + 1), `payload [${i}]`);
    }
  }
  // Constant keys (every pass trivial) and a subarray view with an offset.
  assert.deepEqual(Array.from(sortScores(new Float64Array(3000).fill(2.5)).subarray(0, 3)), [2.5, 2.5, 2.5]);
  const big = Float64Array.from({ length: 4000 }, (_, i) => 4000 - i);
  const view = big.subarray(1000, 3000);
  sortScores(view);
  assert.deepEqual([view[0], view[1999], big[0], big[999], big[3000]], [1001, 3000, 4000, 3001, 1000]);
});

test('thresholdCounts: one point per distinct score from the highest down; ties step both counts', () => {
  const c = thresholdCounts(splitByLabel([0.5, 0.5, 0.2, 0.9, 0.5, 0.2, 0.9], [1, 0, 0, 1, 1, 1, 0], 't'));
  assert.deepEqual(Array.from(c.thresholds), [0.9, 0.5, 0.2]);
  assert.deepEqual(Array.from(c.tp), [1, 3, 4]);
  assert.deepEqual(Array.from(c.fp), [1, 2, 3]);
  assert.deepEqual([c.P, c.N], [4, 3]);
  const inf = thresholdCounts(splitByLabel([-Infinity, -Infinity, Infinity], [1, 0, 1], 't'));
  assert.deepEqual(Array.from(inf.thresholds), [Infinity, -Infinity]);
  assert.deepEqual(Array.from(inf.tp), [1, 2]);
  assert.deepEqual(Array.from(inf.fp), [0, 1]);
});
