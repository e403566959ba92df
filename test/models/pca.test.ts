import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, isUserError } from '../../core/errors.js';
import { memorySource, type SampleSource } from '../../core/samples.js';
import { Prng } from '../../datasets/prng.js';
import { selectBackend } from '../../models/backend.js';
import { covariance, symmetricEigen } from '../../models/components/linalg.js';
import type { MetricPoint, TrainHooks } from '../../models/detector.js';
import { decodePcaModel, encodePcaModel, fitPca, pca, pcaParams, scorePca, type PcaModel, type PcaParams } from '../../models/pca/index.js';

// The default backend (native where built); cpu only if that cannot start.
try {
  await selectBackend();
} catch {
  await selectBackend('cpu');
}

function params(over: Partial<PcaParams> = {}): PcaParams {
  return pcaParams.parse(over);
}

function hooks(over: { signal?: AbortSignal } = {}): TrainHooks & { logs: MetricPoint[]; last: [number, number] } {
  const h = {
    logs: [] as MetricPoint[],
    last: [0, 0] as [number, number],
    restore: async () => undefined,
    checkpointDue: () => false,
    checkpoint: async () => {
      throw new Error('pca must not checkpoint');
    },
    log: (points: MetricPoint[]) => void h.logs.push(...points),
    progress: (done: number, total: number) => void (h.last = [done, total]),
    signal: over.signal,
  };
  return h;
}

/** r orthonormal row vectors in `dim` dimensions (Gram–Schmidt of Gaussians). */
function orthonormalRows(rng: Prng, r: number, dim: number): Float64Array {
  const b = new Float64Array(r * dim);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < dim; j++) b[i * dim + j] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (let q = 0; q < i; q++) {
        let d = 0;
        for (let j = 0; j < dim; j++) d += b[i * dim + j] * b[q * dim + j];
        for (let j = 0; j < dim; j++) b[i * dim + j] -= d * b[q * dim + j];
      }
    }
    let s = 0;
    for (let j = 0; j < dim; j++) s += b[i * dim + j] ** 2;
    for (let j = 0; j < dim; j++) b[i * dim + j] /= Math.sqrt(s);
  }
  return b;
}

/** n samples mean + Σᵢ sdᵢ·zᵢ·bᵢ + noise·ε: a known low-rank structure plus isotropic noise. */
function lowRank(rng: Prng, n: number, dim: number, basis: Float64Array, sds: number[], noise: number, mean: Float64Array, extra?: Float64Array): Float32Array {
  const out = new Float32Array(n * dim);
  for (let s = 0; s < n; s++) {
    const z = sds.map((sd) => sd * rng.normal());
    for (let j = 0; j < dim; j++) {
      let v = mean[j] + noise * rng.normal() + (extra ? extra[j] : 0);
      for (let i = 0; i < sds.length; i++) v += z[i] * basis[i * dim + j];
      out[s * dim + j] = v;
    }
  }
  return out;
}

/** A source over shards of odd sizes: every read assembles a fresh copy across shard boundaries. */
function shardedSource(data: Float32Array, n: number, shape: number[], sizes: number[]): SampleSource {
  const dim = shape.reduce((a, b) => a * b, 1);
  const shards: { start: number; data: Float32Array }[] = [];
  for (let start = 0, i = 0; start < n; i++) {
    const count = Math.min(sizes[i % sizes.length], n - start);
    shards.push({ start, data: data.slice(start * dim, (start + count) * dim) });
    start += count;
  }
  const item = (idx: number, out: Float32Array, at: number) => {
    let which = shards.length - 1;
    while (shards[which].start > idx) which--;
    const sh = shards[which];
    out.set(sh.data.subarray((idx - sh.start) * dim, (idx - sh.start + 1) * dim), at * dim);
  };
  return {
    n,
    shape,
    dim,
    read: async (start, count) => {
      const out = new Float32Array(count * dim);
      for (let i = 0; i < count; i++) item(start + i, out, i);
      return out;
    },
    gather: async (idx) => {
      const out = new Float32Array(idx.length * dim);
      for (let i = 0; i < idx.length; i++) item(idx[i], out, i);
      return out;
    },
  };
}

/** P = UᵀU for k×dim rows U: the projector onto the fitted subspace. */
function projector(u: ArrayLike<number>, k: number, dim: number): Float64Array {
  const p = new Float64Array(dim * dim);
  for (let i = 0; i < k; i++) for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) p[a * dim + b] += u[i * dim + a] * u[i * dim + b];
  return p;
}

/** Cosines of the principal angles between span(rows of a) and span(rows of b), both orthonormal. */
function principalCosines(a: Float64Array, ka: number, b: Float64Array, kb: number, dim: number): Float64Array {
  // Singular values of M = A·Bᵀ (ka×kb) = sqrt of the eigenvalues of MᵀM.
  const m = new Float64Array(ka * kb);
  for (let i = 0; i < ka; i++) for (let j = 0; j < kb; j++) for (let t = 0; t < dim; t++) m[i * kb + j] += a[i * dim + t] * b[j * dim + t];
  const mtm = new Float64Array(kb * kb);
  for (let i = 0; i < kb; i++) for (let j = 0; j < kb; j++) for (let t = 0; t < ka; t++) mtm[i * kb + j] += m[t * kb + i] * m[t * kb + j];
  return symmetricEigen(mtm, kb).values.map((v) => Math.sqrt(Math.max(0, v)));
}

/** Direct reference: numpy-style covariance, full Jacobi, top k; errors in float64. */
function reference(data: Float32Array, n: number, dim: number, k: number) {
  const { mean, cov } = covariance(data, n, dim);
  const e = symmetricEigen(cov, dim);
  const rows = new Float64Array(k * dim);
  for (let i = 0; i < k; i++) for (let j = 0; j < dim; j++) rows[i * dim + j] = e.vectors[j * dim + i];
  const errors = (x: Float32Array, nx: number) => {
    const out = new Float64Array(nx);
    for (let s = 0; s < nx; s++) {
      const d = Array.from({ length: dim }, (_, j) => x[s * dim + j] - mean[j]);
      const r = d.slice();
      for (let i = 0; i < k; i++) {
        let c = 0;
        for (let j = 0; j < dim; j++) c += d[j] * rows[i * dim + j];
        for (let j = 0; j < dim; j++) r[j] -= c * rows[i * dim + j];
      }
      out[s] = r.reduce((a, v) => a + v * v, 0);
    }
    return out;
  };
  return { mean, values: e.values.slice(0, k), rows, errors };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-300));
  return m;
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

test('pca recovers a low-rank subspace: principal angles ~0, in-subspace errors at the noise level, off-subspace errors large', async () => {
  const rng = new Prng(11);
  const dim = 64;
  const r = 4;
  const noise = 0.01;
  const basis = orthonormalRows(rng, r, dim);
  const mean = Float64Array.from({ length: dim }, () => 5 * rng.normal());
  const n = 3000;
  const train = lowRank(rng, n, dim, basis, [3, 2, 1.5, 1], noise, mean);
  const h = hooks();
  const model = await fitPca(memorySource({ n, dim, data: train, shape: [8, 8, 1] }), params({ components: r }), h);
  assert.equal(model.k, r);
  assert.ok(model.iterations > 0, 'dim 64 with 4+16 vectors goes through the subspace iteration');
  assert.ok(model.converged, `residual ${model.residual}`);
  assert.deepEqual(h.last, [2 * n + 1, 2 * n + 1]);
  assert.ok(h.logs.some((p) => p.name === 'pca/residual'));
  assert.deepEqual(model.shape, [8, 8, 1]);

  // Every principal angle between the fitted and the true subspace is ~0.
  const cos = principalCosines(model.basis, r, basis, r, dim);
  for (const c of cos) assert.ok(Math.sqrt(Math.max(0, 1 - c * c)) < 5e-3, `principal angle sine ${Math.sqrt(1 - c * c)}`);
  // Eigenvalues ≈ the generating variances (+ the noise variance), within sampling error.
  [9, 4, 2.25, 1].forEach((v, i) => assert.ok(Math.abs(model.eigenvalues[i] / v - 1) < 0.1, `eigenvalue ${i}: ${model.eigenvalues[i]} vs ${v}`));

  // New points from the same structure: error ≈ (dim − r)·noise²; off it by 1 unit: ≈ 1.
  const m = 200;
  const inside = lowRank(rng, m, dim, basis, [3, 2, 1.5, 1], noise, mean);
  const away = new Float64Array(dim);
  for (let j = 0; j < dim; j++) away[j] = rng.normal();
  for (let i = 0; i < r; i++) {
    let d = 0;
    for (let j = 0; j < dim; j++) d += away[j] * basis[i * dim + j];
    for (let j = 0; j < dim; j++) away[j] -= d * basis[i * dim + j];
  }
  const norm = Math.hypot(...away);
  for (let j = 0; j < dim; j++) away[j] /= norm;
  const outside = lowRank(rng, m, dim, basis, [3, 2, 1.5, 1], noise, mean, away);
  const src = memorySource({ n: 2 * m, dim, data: Float32Array.from([...inside, ...outside]) });
  const scores = await scorePca(model, src);
  const expected = (dim - r) * noise * noise;
  const inMean = scores.subarray(0, m).reduce((a, b) => a + b, 0) / m;
  assert.ok(Math.abs(inMean / expected - 1) < 0.15, `in-subspace mean error ${inMean} vs noise level ${expected}`);
  for (let i = 0; i < m; i++) assert.ok(scores[i] < 3 * expected, `in-subspace ${scores[i]}`);
  for (let i = m; i < 2 * m; i++) assert.ok(scores[i] > 0.9 && scores[i] < 1.1, `off-subspace ${scores[i]}`);
});

test('pca equals a direct covariance + Jacobi reference on dim 8, both through the subspace iteration and the direct solve', async () => {
  const rng = new Prng(5);
  const dim = 8;
  const rot = orthonormalRows(rng, dim, dim);
  const sds = [5, 4, 3, 2.5, 2, 1.5, 1, 0.5];
  const n = 1500;
  const data = lowRank(rng, n, dim, rot, sds, 0, Float64Array.from({ length: dim }, (_, j) => 10 + j));
  const queries = lowRank(rng, 100, dim, rot, sds.map((s) => 1.5 * s), 0, new Float64Array(dim).fill(10));
  const k = 3;
  const ref = reference(data, n, dim, k);
  const refScores = ref.errors(queries, 100);
  for (const oversample of [2, 16]) {
    const model = await fitPca(memorySource({ n, dim, data }), params({ components: k, oversample }));
    assert.equal(model.iterations > 0, oversample === 2, 'oversample 2 iterates (p=5 < 8); 16 solves directly');
    assert.ok(maxAbsDiff(model.mean, ref.mean) < 1e-9);
    assert.ok(maxRelDiff(model.eigenvalues, ref.values) < 1e-4, `eigenvalues ${model.eigenvalues} vs ${ref.values}`);
    assert.ok(maxAbsDiff(projector(model.basis, k, dim), projector(ref.rows, k, dim)) < 1e-4, 'same subspace');
    const scores = await scorePca(model, memorySource({ n: 100, dim, data: queries }));
    assert.ok(maxRelDiff(scores, refScores) < 1e-4, `scores differ by ${maxRelDiff(scores, refScores)}`);
    // The total variance is the covariance's trace.
    assert.ok(Math.abs(model.totalVariance / sds.reduce((a, s) => a + s * s, 0) - 1) < 0.1);
  }
});

test('pca gives identical model bytes and scores whatever the shard layout; other block sizes agree to rounding', async () => {
  const rng = new Prng(3);
  const dim = 12;
  const basis = orthonormalRows(rng, 5, dim);
  const n = 4001;
  const data = lowRank(rng, n, dim, basis, [4, 3, 2, 1, 0.5], 0.1, new Float64Array(dim).fill(2));
  const mem = memorySource({ n, dim, data, shape: [3, 4] });
  const odd = shardedSource(data, n, [3, 4], [7, 13, 1, 333, 64]);
  const p = params({ components: 2, oversample: 3 });

  // Through the detector (its own block size) and through fitPca with blocks that cut across shards.
  const a = await pca.fit(mem, p, 1, hooks());
  const b = await pca.fit(odd, p, 1, hooks());
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), 'same bytes from both sources');
  const sa = (await pca.score(a, mem, p, 1))[0];
  const sb = (await pca.score(b, odd, p, 1))[0];
  assert.equal(sa.name, 'pca');
  assert.deepEqual(sb.scores, sa.scores);

  const small = encodePcaModel(await fitPca(odd, p, {}, { blockRows: 300 }));
  assert.ok(Buffer.from(small).equals(Buffer.from(encodePcaModel(await fitPca(mem, p, {}, { blockRows: 300 })))));
  // A different block size only changes float32 rounding of the per-block products.
  const ma = decodePcaModel(a);
  const ms = decodePcaModel(small);
  assert.ok(maxAbsDiff(projector(ma.basis, 2, dim), projector(ms.basis, 2, dim)) < 1e-5);
  assert.ok(maxRelDiff(ms.eigenvalues, ma.eigenvalues) < 1e-5);
  const ss = await scorePca(ms, odd, {}, { blockRows: 77 });
  assert.ok(maxRelDiff(ss, sa.scores) < 1e-4);
});

test('pca is deterministic (the seed does not matter), leaks no tensors, and round-trips its bytes', async () => {
  const rng = new Prng(8);
  const dim = 40;
  const n = 500;
  const data = lowRank(rng, n, dim, orthonormalRows(rng, 6, dim), [3, 3, 2, 2, 1, 1], 0.05, new Float64Array(dim));
  const src = memorySource({ n, dim, data });
  const p = params({ components: 6 });
  const before = tf.memory().numTensors;
  const a = await pca.fit(src, p, 1, hooks());
  const b = await pca.fit(src, p, 999, hooks());
  await pca.score(a, src, p, 1);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  assert.equal(pca.stochastic, false);
  const m: PcaModel = decodePcaModel(a);
  assert.ok(Buffer.from(encodePcaModel(m)).equals(Buffer.from(a)));
  // Orthonormal basis.
  for (let i = 0; i < m.k; i++) {
    for (let j = 0; j <= i; j++) {
      let d = 0;
      for (let t = 0; t < dim; t++) d += m.basis[i * dim + t] * m.basis[j * dim + t];
      assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-12);
    }
  }
});

test('pca: variance chooses the count among the leading components', async () => {
  const rng = new Prng(21);
  const dim = 30;
  const n = 2000;
  // Variances 9, 4, 1 and 0.01 noise per feature: 9/14.3 ≈ 0.63, 13/14.3 ≈ 0.91.
  const data = lowRank(rng, n, dim, orthonormalRows(rng, 3, dim), [3, 2, 1], 0.1, new Float64Array(dim));
  const src = memorySource({ n, dim, data });
  assert.equal((await fitPca(src, params({ components: 10, variance: 0.6 }))).k, 1);
  assert.equal((await fitPca(src, params({ components: 10, variance: 0.9 }))).k, 2);
  assert.equal((await fitPca(src, params({ components: 10, variance: 0.95 }))).k, 3);
  // Capped at `components` when even all of them explain less.
  assert.equal((await fitPca(src, params({ components: 4, variance: 1 }))).k, 4);
});

test('pca copes with fewer samples than dimensions (rank-deficient covariance)', async () => {
  const rng = new Prng(4);
  const dim = 50;
  const n = 10;
  const data = rng.normals(n * dim);
  const m = await fitPca(memorySource({ n, dim, data }), params({ components: 5 }));
  assert.ok(m.converged, `residual ${m.residual}`);
  const ref = reference(data, n, dim, 5);
  assert.ok(maxRelDiff(m.eigenvalues, ref.values) < 1e-4);
  const scores = await scorePca(m, memorySource({ n, dim, data }));
  assert.ok(maxRelDiff(scores, ref.errors(data, n)) < 1e-3);
  // With n−1 = 9 components every training point is reconstructed exactly.
  const full = await fitPca(memorySource({ n, dim, data }), params({ components: 9 }));
  for (const s of await scorePca(full, memorySource({ n, dim, data }))) assert.ok(s < 1e-4, `${s}`);
});

test('pca errors: too few samples, too many components, wrong shape, NaN, zero variance; cancellation', async () => {
  const one = memorySource({ n: 1, dim: 4, data: new Float32Array(4) });
  await rejects(pca.fit(one, params({ components: 1 }), 0, hooks()), /at least 2 training samples/);
  await rejects(pca.fit(memorySource({ n: 0, dim: 4, data: new Float32Array(0) }), params({ components: 1 }), 0, hooks()), /at least 2/);
  const rng = new Prng(1);
  const src = memorySource({ n: 6, dim: 4, data: rng.normals(24) });
  await rejects(pca.fit(src, params({ components: 4 }), 0, hooks()), /components=4 must be below min\(n, dim\) = min\(6, 4\)/);
  await rejects(pca.fit(memorySource({ n: 3, dim: 10, data: rng.normals(30) }), params({ components: 3 }), 0, hooks()), /min\(3, 10\)/);
  await rejects(pca.fit(memorySource({ n: 3, dim: 2, data: new Float32Array(6).fill(1) }), params({ components: 1 }), 0, hooks()), /zero variance/);
  const nan = rng.normals(24);
  nan[5] = NaN;
  await rejects(pca.fit(memorySource({ n: 6, dim: 4, data: nan }), params({ components: 1 }), 0, hooks()), /NaN/);
  const model = await pca.fit(src, params({ components: 2 }), 0, hooks());
  await rejects(pca.score(model, memorySource({ n: 2, dim: 3, data: new Float32Array(6) }), params(), 0), /shape \[4\]/);
  await rejects(pca.score(model, memorySource({ n: 6, dim: 4, data: nan }), params(), 0), /NaN/);
  assert.throws(() => params({ components: 0 }));
  assert.throws(() => pcaParams.parse({ components: 2, kind: 'pca' }), 'strict: unknown keys are errors');

  const ac = new AbortController();
  ac.abort();
  await assert.rejects(pca.fit(src, params({ components: 2 }), 0, hooks({ signal: ac.signal })), CancelledError);
  await assert.rejects(pca.score(model, src, params(), 0, { progress: () => {}, signal: ac.signal }), CancelledError);
});
