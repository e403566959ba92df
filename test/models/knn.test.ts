import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, isUserError } from '../../core/errors.js';
import { memorySource } from '../../core/samples.js';
import { Prng } from '../../datasets/prng.js';
import { selectBackend } from '../../models/backend.js';
import type { TrainHooks } from '../../models/detector.js';
import { decodeKnnModel, encodeKnnModel, fitKnn, knn, knnParams, sampleIndices, scoreKnn, type KnnParams } from '../../models/knn/index.js';

// The default backend (native where built); cpu only if that cannot start.
try {
  await selectBackend();
} catch {
  await selectBackend('cpu');
}

function params(over: Partial<KnnParams> = {}): KnnParams {
  return knnParams.parse(over);
}

function hooks(signal?: AbortSignal): TrainHooks & { last: [number, number] } {
  const h = {
    last: [0, 0] as [number, number],
    restore: async () => undefined,
    checkpointDue: () => false,
    checkpoint: async () => {
      throw new Error('knn must not checkpoint');
    },
    log: () => {},
    progress: (done: number, total: number) => void (h.last = [done, total]),
    signal,
  };
  return h;
}

/** Plain loops in float64: every distance, sorted. */
function bruteForce(ref: Float32Array, m: number, q: Float32Array, nq: number, dim: number, k: number, reduce: 'kth' | 'mean'): Float64Array {
  const out = new Float64Array(nq);
  for (let i = 0; i < nq; i++) {
    const d: number[] = [];
    for (let r = 0; r < m; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (q[i * dim + j] - ref[r * dim + j]) ** 2;
      d.push(Math.sqrt(s));
    }
    d.sort((a, b) => a - b);
    out[i] = reduce === 'kth' ? d[k - 1] : d.slice(0, k).reduce((a, b) => a + b, 0) / k;
  }
  return out;
}

function assertClose(actual: Float64Array, expected: Float64Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `${what}: query ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

/** Clustered data far from the origin (norms ≫ distances: the float32 cancellation case). */
function clustered(rng: Prng, n: number, dim: number, offset: number): Float32Array {
  const centres = Array.from({ length: 4 }, () => Array.from({ length: dim }, () => offset + 3 * rng.normal()));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = centres[rng.int(4)];
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[j] + 0.3 * rng.normal();
  }
  return out;
}

test('knn equals brute force for k=1 and k=5, kth and mean, with blocks smaller than both sets', async () => {
  const rng = new Prng(2);
  const dim = 7;
  const m = 301;
  const nq = 133;
  const ref = clustered(rng, m, dim, 100);
  const queries = clustered(rng, nq, dim, 100);
  // A few queries that are reference items (distance 0) and exact duplicates inside the reference.
  queries.set(ref.subarray(0, dim), 0);
  queries.set(ref.subarray(57 * dim, 58 * dim), 5 * dim);
  ref.set(ref.subarray(10 * dim, 11 * dim), 200 * dim);
  const model = await fitKnn(memorySource({ n: m, dim, data: ref }), params(), 0);
  assert.equal(model.m, m);
  const src = memorySource({ n: nq, dim, data: queries });
  for (const k of [1, 5]) {
    for (const reduce of ['kth', 'mean'] as const) {
      const expected = bruteForce(ref, m, queries, nq, dim, k, reduce);
      for (const blocks of [{ queryBlock: 32, referenceBlock: 50 }, { queryBlock: 7, referenceBlock: 301 }, {}]) {
        const got = await scoreKnn(model, src, { k, reduce }, {}, blocks);
        assertClose(got, expected, 1e-4, `k=${k} ${reduce} ${JSON.stringify(blocks)}`);
      }
    }
  }
  assert.equal((await scoreKnn(model, src, { k: 1, reduce: 'kth' }, {}, { queryBlock: 32, referenceBlock: 50 }))[0], 0);
});

test('knn through the detector: fit and score over image-shaped samples match brute force; no tensor leaks', async () => {
  const rng = new Prng(9);
  const shape = [4, 4, 2];
  const dim = 32;
  const n = 600;
  const train = rng.normals(n * dim);
  const test = Float32Array.from(rng.normals(90 * dim), (v, i) => v * (i < 45 * dim ? 1 : 3));
  const before = tf.memory().numTensors;
  const h = hooks();
  const bytes = await knn.fit(memorySource({ n, dim, data: train, shape }), params(), 1, h);
  assert.deepEqual(h.last, [n, n]);
  const [set] = await knn.score(bytes, memorySource({ n: 90, dim, data: test, shape }), params(), 1);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  assert.equal(set.name, 'knn');
  assertClose(set.scores, bruteForce(train, n, test, 90, dim, 5, 'mean'), 1e-4, 'default params');
  // Wider queries score higher.
  const mean = (a: Float64Array) => a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(mean(set.scores.subarray(45)) > 1.5 * mean(set.scores.subarray(0, 45)));
  const model = decodeKnnModel(bytes);
  assert.deepEqual(model.shape, shape);
  assert.ok(Buffer.from(encodeKnnModel(model)).equals(Buffer.from(bytes)));
  // Below the cap the seed cannot matter.
  assert.ok(Buffer.from(await knn.fit(memorySource({ n, dim, data: train, shape }), params(), 77, hooks())).equals(Buffer.from(bytes)));
});

test('knn maxReference subsampling is seed-deterministic and draws distinct training items', async () => {
  const rng = new Prng(4);
  const dim = 3;
  const n = 1000;
  // Item i carries its own index, so the reference rows say which items were drawn.
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    data[i * dim] = i;
    data[i * dim + 1] = rng.normal();
    data[i * dim + 2] = rng.normal();
  }
  const src = memorySource({ n, dim, data });
  const p = params({ maxReference: 100 });
  const a = await knn.fit(src, p, 1, hooks());
  const b = await knn.fit(src, p, 1, hooks());
  const c = await knn.fit(src, p, 2, hooks());
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), 'same seed, same reference set');
  assert.ok(!Buffer.from(a).equals(Buffer.from(c)), 'another seed, another reference set');
  const ma = decodeKnnModel(a);
  assert.equal(ma.m, 100);
  assert.equal(ma.n, n);
  const picked = Array.from({ length: 100 }, (_, r) => ma.reference[r * dim]);
  assert.equal(new Set(picked).size, 100, 'distinct items');
  for (let r = 0; r < 100; r++) {
    const i = picked[r];
    assert.ok(r === 0 || i > picked[r - 1], 'kept in source order');
    assert.deepEqual(Array.from(ma.reference.subarray(r * dim, (r + 1) * dim)), Array.from(data.subarray(i * dim, (i + 1) * dim)));
  }
  // The draw is uniform: over many seeds each of 10 items is kept about half the time.
  const counts = new Array(10).fill(0);
  for (let s = 0; s < 2000; s++) for (const i of sampleIndices(10, 5, new Prng(s))) counts[i]++;
  for (const c of counts) assert.ok(Math.abs(c / 2000 - 0.5) < 0.05, `inclusion frequency ${c / 2000}`);
  for (let s = 0; s < 50; s++) {
    const idx = sampleIndices(1000, 999, new Prng(s));
    assert.equal(new Set(idx).size, 999);
    assert.ok(idx.every((v) => v >= 0 && v < 1000));
  }
});

test('knn errors: too few references for k, wrong shape, NaN; cancellation', async () => {
  const rng = new Prng(1);
  const src = memorySource({ n: 4, dim: 3, data: rng.normals(12) });
  await rejects(knn.fit(src, params({ k: 5 }), 0, hooks()), /k=5 needs at least 5 reference samples/);
  await rejects(knn.fit(memorySource({ n: 50, dim: 3, data: rng.normals(150) }), params({ k: 5, maxReference: 3 }), 0, hooks()), /holds 3 \(maxReference=3 of 50 training samples\)/);
  await rejects(knn.fit(memorySource({ n: 0, dim: 3, data: new Float32Array(0) }), params({ k: 1 }), 0, hooks()), /at least 1/);
  const model = await knn.fit(src, params({ k: 2 }), 0, hooks());
  await rejects(knn.score(model, src, params({ k: 5 }), 0), /k=5 is more than the 4 reference/);
  await rejects(knn.score(model, memorySource({ n: 2, dim: 2, data: new Float32Array(4) }), params({ k: 2 }), 0), /shape \[3\]/);
  const nan = rng.normals(12);
  nan[4] = Infinity;
  await rejects(knn.fit(memorySource({ n: 4, dim: 3, data: nan }), params({ k: 1 }), 0, hooks()), /NaN or infinite/);
  await rejects(knn.score(model, memorySource({ n: 4, dim: 3, data: nan }), params({ k: 1 }), 0), /NaN or infinite/);
  assert.throws(() => knnParams.parse({ reduce: 'median' }));
  assert.throws(() => knnParams.parse({ kind: 'knn' }), 'strict: unknown keys are errors');

  const ac = new AbortController();
  ac.abort();
  const before = tf.memory().numTensors;
  await assert.rejects(knn.fit(src, params({ k: 1 }), 0, hooks(ac.signal)), CancelledError);
  await assert.rejects(knn.score(model, src, params({ k: 1 }), 0, { progress: () => {}, signal: ac.signal }), CancelledError);
  assert.equal(tf.memory().numTensors, before, 'a cancelled score leaves no tensors');
});
