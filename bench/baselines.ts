/**
 * `npx tsx bench/baselines.ts`: the classical baselines' throughput and memory (figures only, no
 * assertions; timings on a shared machine vary run to run).
 *
 *  1. PCA fit + score on 300,000 synthetic 32×32×1 patches (1.2 GB as float32) from a source that
 *     generates each batch on demand, so the data is never in memory: items/s, peak RSS against
 *     the bound the fit's buffers imply. Reference in the same process: the raw tf.matMul rate of
 *     the covariance product, and a generation-only pass over the source.
 *  2. kNN score of 10,000 queries against 20,000 references (drawn by maxReference from a
 *     300,000-item source), dim 1024: queries/s and effective GFLOP/s against raw tf.matMul.
 *
 * Options (env): BENCH_PCA_N (default 300000), BENCH_KNN_QUERIES (10000), BENCH_KNN_REFS (20000).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { batchesOf, type SampleSource } from '../core/samples.js';
import { Prng } from '../datasets/prng.js';
import { backendName, selectBackend } from '../models/backend.js';
import { blockRows, fitPca, pcaParams, scorePca } from '../models/pca/index.js';
import { fitKnn, knnParams, scoreKnn } from '../models/knn/index.js';
import { int, rate } from './format.js';

const SIDE = 32;
const DIM = SIDE * SIDE;
/** Low-frequency 2-D cosines: the structure the patches share (the rest is noise). */
const RANK = 24;
const BANK = 2048;

/** peak RSS so far, MB. */
const peakMb = () => process.resourceUsage().maxRSS / 1024;

/**
 * n patches of 32×32×1, each generated from its index alone (so every pass and every gather sees
 * the same item): background 0.5 + a random mix of low-frequency cosines + noise from a bank.
 */
function patchSource(n: number, seed: number): SampleSource {
  const basis = new Float32Array(RANK * DIM);
  let r = 0;
  for (let s = 0; r < RANK; s++) {
    for (let u = 0; u <= s && r < RANK; u++, r++) {
      const v = s - u;
      const amp = 0.3 / (1 + s);
      for (let y = 0; y < SIDE; y++) for (let x = 0; x < SIDE; x++) basis[r * DIM + y * SIDE + x] = amp * Math.cos((Math.PI * (x + 0.5) * u) / SIDE) * Math.cos((Math.PI * (y + 0.5) * v) / SIDE);
    }
  }
  const basisT = tf.tensor2d(basis, [RANK, DIM]);
  const bank = new Prng(seed ^ 0x5eed).normals(BANK * DIM, 0.02);
  const make = (idx: ArrayLike<number>): Float32Array => {
    const count = idx.length;
    const coeff = new Float32Array(count * RANK);
    for (let i = 0; i < count; i++) {
      const rng = new Prng((seed * 1_000_003 + idx[i]) >>> 0);
      for (let c = 0; c < RANK; c++) coeff[i * RANK + c] = rng.normal();
    }
    const c = tf.tensor2d(coeff, [count, RANK]);
    const prod = tf.matMul(c, basisT);
    // Read outside tf.tidy: tidy would walk a returned TypedArray element by element.
    const out = prod.dataSync() as Float32Array;
    c.dispose();
    prod.dispose();
    for (let i = 0; i < count; i++) {
      const noise = bank.subarray(((idx[i] * 2654435761) >>> 0) % BANK * DIM);
      const o = i * DIM;
      for (let j = 0; j < DIM; j++) out[o + j] += 0.5 + noise[j];
    }
    return out;
  };
  return {
    n,
    shape: [SIDE, SIDE, 1],
    dim: DIM,
    read: async (start, count) => make(Int32Array.from({ length: count }, (_, i) => start + i)),
    gather: async (idx) => make(idx),
  };
}

/** GFLOP/s of tf.matMul for [m,k]·[k,n] (with the given transposes), best of a few. */
function gemmRate(m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): number {
  const a = tf.randomNormal(transposeA ? [k, m] : [m, k]) as tf.Tensor2D;
  const b = tf.randomNormal(transposeB ? [n, k] : [k, n]) as tf.Tensor2D;
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b, transposeA, transposeB);
    c.dataSync();
    c.dispose();
    best = Math.min(best, performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  return (2 * m * k * n) / (best / 1000) / 1e9;
}

const secs = (t0: number) => (performance.now() - t0) / 1000;

export async function benchBaselines(): Promise<void> {
  const choice = await selectBackend();
  console.log(`backend ${backendName()}${choice.note ? ` (${choice.note})` : ''}`);
  const nPca = Number(process.env.BENCH_PCA_N ?? 300_000);
  const nq = Number(process.env.BENCH_KNN_QUERIES ?? 10_000);
  const nRef = Number(process.env.BENCH_KNN_REFS ?? 20_000);

  // — PCA
  const train = patchSource(nPca, 1);
  const rows = blockRows(DIM);
  let t0 = performance.now();
  for await (const _ of batchesOf(train, rows)) void _;
  const genS = secs(t0);
  console.log(`pca: source generates ${int(nPca)} patches (${((nPca * DIM * 4) / 1e9).toFixed(2)} GB as float32) in ${genS.toFixed(2)} s = ${rate(nPca / genS)} items/s (generation only)`);
  const covGflops = gemmRate(DIM, rows, DIM, true, false);
  const baseMb = peakMb();
  const params = pcaParams.parse({ components: 32 });
  t0 = performance.now();
  const model = await fitPca(train, params);
  const fitS = secs(t0);
  const fitMb = peakMb();
  const gemmS = (2 * nPca * DIM * DIM) / (covGflops * 1e9);
  console.log(
    `pca fit: ${int(nPca)} patches, ${params.components} components in ${fitS.toFixed(2)} s = ${rate(nPca / fitS)} items/s ` +
      `(two passes; ${rate(nPca / Math.max(1e-9, fitS - 2 * genS))} items/s net of generation); ` +
      `${model.iterations} subspace iterations, residual ${model.residual.toExponential(2)}, converged ${model.converged}; ` +
      `explained variance ${((model.eigenvalues.reduce((a, b) => a + b, 0) / model.totalVariance) * 100).toFixed(1)}%`,
  );
  console.log(`pca fit: covariance GEMM alone would take ${gemmS.toFixed(2)} s at the ${covGflops.toFixed(0)} GFLOP/s tf.matMul measures for one block (${rows}×${DIM})ᵀ·(${rows}×${DIM})`);
  t0 = performance.now();
  const scores = await scorePca(model, patchSource(nPca, 2));
  const scoreS = secs(t0);
  const scoreMb = peakMb();
  let mean = 0;
  for (const s of scores) mean += s / scores.length;
  console.log(`pca score: ${int(nPca)} patches in ${scoreS.toFixed(2)} s = ${rate(nPca / scoreS)} items/s (${rate(nPca / Math.max(1e-9, scoreS - genS))} net of generation); mean error ${mean.toExponential(3)}`);
  // Live buffers of fit and score, whatever n is: the float64 covariance, its float32 tensor and
  // one block product (dim² each), and at most 8 block-sized float32 arrays (source block, the
  // prefetched next one, the centred block and its tensor, the generator's product, scoring's
  // intermediate tensors).
  const boundMb = (8 * DIM * DIM + 2 * 4 * DIM * DIM + 8 * 4 * rows * DIM) / 2 ** 20;
  const worst = Math.max(fitMb, scoreMb);
  console.log(
    `pca memory: peak RSS ${baseMb.toFixed(0)} MB before fit, ${fitMb.toFixed(0)} MB after fit, ${scoreMb.toFixed(0)} MB after score; ` +
      `bound ${baseMb.toFixed(0)} + ${boundMb.toFixed(0)} MB of buffers = ${(baseMb + boundMb).toFixed(0)} MB: ${worst <= baseMb + boundMb ? 'under' : 'OVER'}; ` +
      `the data set is ${((nPca * DIM * 4) / 2 ** 20).toFixed(0)} MB as float32`,
  );

  // — kNN
  const kp = knnParams.parse({ maxReference: nRef });
  t0 = performance.now();
  const knnModel = await fitKnn(patchSource(300_000, 3), kp, 7);
  const knnFitS = secs(t0);
  const queries = patchSource(nq, 4);
  // Warm the query generator's path so the timing below is the search, not first-use setup.
  await queries.read(0, 16);
  const knnGflops = gemmRate(1024, DIM, 4096, false, true);
  const genQ = performance.now();
  for await (const _ of batchesOf(queries, 1024)) void _;
  const genQS = secs(genQ);
  t0 = performance.now();
  const d = await scoreKnn(knnModel, queries, kp);
  const knnS = secs(t0);
  const flops = 2 * nq * knnModel.m * DIM;
  let dm = 0;
  for (const v of d) dm += v / d.length;
  console.log(`knn fit: ${int(knnModel.m)} references drawn from ${int(knnModel.n)} in ${knnFitS.toFixed(2)} s; model ${((knnModel.m * DIM * 4) / 2 ** 20).toFixed(0)} MB`);
  console.log(
    `knn score: ${int(nq)} queries × ${int(knnModel.m)} references, dim ${DIM}, k=${kp.k} ${kp.reduce}: ${knnS.toFixed(2)} s = ${rate(nq / knnS)} queries/s, ` +
      `${(flops / knnS / 1e9).toFixed(0)} GFLOP/s effective (tf.matMul alone: ${knnGflops.toFixed(0)} GFLOP/s, ratio ${(flops / knnS / 1e9 / knnGflops).toFixed(2)}); ` +
      `query generation ${genQS.toFixed(2)} s of it; mean distance ${dm.toFixed(3)}`,
  );
  console.log(`knn memory: peak RSS ${peakMb().toFixed(0)} MB`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchBaselines().catch((e) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
  });
}
