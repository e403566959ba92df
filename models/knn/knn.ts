/**
 * k-nearest-neighbour distance: the model is a reference set of normal samples (the training set,
 * subsampled with the trial seed when above `maxReference`); the score of a query is the Euclidean
 * distance to its k-th nearest reference sample, or the mean distance to its k nearest.
 *
 * Exact search in blocks: squared distances ‖a‖² + ‖b‖² − 2a·b with the products from tfjs matMul
 * (query block × reference block, float32, on data centred by the reference mean to keep the
 * norms small), the best k + CANDIDATE_SLACK kept per query across reference blocks; those
 * candidates' distances are then recomputed in float64 from the raw values and the best k taken,
 * so the reported distances carry no float32 cancellation error.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, UserError } from '../../core/errors.js';
import type { SampleSource } from '../../core/samples.js';
import { decodeNd, encodeNd, ndarray } from '../../datasets/tensor-file.js';
import { Prng } from '../../datasets/prng.js';
import type { TrainHooks } from '../detector.js';
import type { KnnParams } from './params.js';

export interface KnnModel {
  shape: number[];
  dim: number;
  /** Reference items. */
  m: number;
  /** m×dim, row-major. */
  reference: Float32Array;
  /** Training samples the reference set was drawn from (m when not subsampled). */
  n: number;
}

export type KnnHooks = Partial<Pick<TrainHooks, 'progress' | 'signal'>>;

export interface KnnBlocks {
  /** Queries per matMul block (default 1024). */
  queryBlock?: number;
  /** Reference items per matMul block (default 4096). */
  referenceBlock?: number;
}

/**
 * Candidates kept beyond k in the float32 screening, re-ranked in float64: a true neighbour is
 * missed only if float32 rounding moves it past CANDIDATE_SLACK others.
 */
export const CANDIDATE_SLACK = 8;

const READ_ROWS = 4096;

/**
 * A tensor's values, then the tensor disposed. (Never return a TypedArray from tf.tidy: tidy walks
 * its result looking for tensors, element by element — seconds and ~30 bytes of heap per value.)
 */
function take(t: tf.Tensor): Float32Array {
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

async function pause(signal: AbortSignal | undefined, what: string): Promise<void> {
  // Let timers and I/O run (an abort, a heartbeat) between blocks.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw new CancelledError(`knn ${what} cancelled`);
}

/**
 * `m` distinct indices of [0, n), drawn uniformly without replacement by a partial Fisher–Yates
 * shuffle over a virtual array (a Map of displaced entries: O(m) memory), returned sorted.
 */
export function sampleIndices(n: number, m: number, rng: Prng): Int32Array {
  const displaced = new Map<number, number>();
  const out = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const atJ = displaced.get(j) ?? j;
    out[i] = atJ;
    displaced.set(j, displaced.get(i) ?? i);
  }
  return out.sort();
}

/** The reference set: all of `src`, or `maxReference` items of it drawn with `seed`. */
export async function fitKnn(src: SampleSource, params: KnnParams, seed: number, hooks: KnnHooks = {}): Promise<KnnModel> {
  const { n, dim } = src;
  if (n < 1) throw new UserError('kNN needs at least 1 training sample (got 0)');
  const m = Math.min(n, params.maxReference);
  if (params.k > m) {
    throw new UserError(`kNN: k=${params.k} needs at least ${params.k} reference samples, the reference set holds ${m}${m < n ? ` (maxReference=${m} of ${n} training samples)` : ''}`, {
      hint: `lower k to ${m} or less${m < n ? ', or raise maxReference' : ''}`,
    });
  }
  const indices = m < n ? sampleIndices(n, m, new Prng(seed).fork('knn/reference')) : undefined;
  const reference = new Float32Array(m * dim);
  hooks.progress?.(0, m);
  for (let start = 0; start < m; start += READ_ROWS) {
    const count = Math.min(READ_ROWS, m - start);
    const x = indices ? await src.gather(indices.subarray(start, start + count)) : await src.read(start, count);
    if (x.length !== count * dim) throw new Error(`sample source returned ${x.length} values for ${count} items of ${dim}`);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i])) throw new UserError('kNN: the training samples contain NaN or infinite values', { hint: 'clean or mask the data first' });
    }
    reference.set(x, start * dim);
    hooks.progress?.(start + count, m);
    await pause(hooks.signal, 'fit');
  }
  return { shape: [...src.shape], dim, m, reference, n };
}

/** kNN distance of every sample of `src` to the model's reference set. */
export async function scoreKnn(
  model: KnnModel,
  src: SampleSource,
  params: Pick<KnnParams, 'k' | 'reduce'>,
  hooks: KnnHooks = {},
  blocks: KnnBlocks = {},
): Promise<Float64Array> {
  const { dim, m, reference } = model;
  const { k } = params;
  if (src.dim !== dim) {
    throw new UserError(`kNN model is for items of shape [${model.shape}] (${dim} values), the samples have shape [${src.shape}] (${src.dim} values)`);
  }
  if (k > m) throw new UserError(`kNN: k=${k} is more than the ${m} reference samples in the model`, { hint: `lower k to ${m} or less` });
  const qRows = blocks.queryBlock ?? 1024;
  const rRows = blocks.referenceBlock ?? 4096;
  const c = Math.min(m, k + CANDIDATE_SLACK);

  // Centre both sides on the reference mean: distances are unchanged, the norms (and the float32
  // cancellation in ‖a‖² + ‖b‖² − 2a·b) shrink.
  const mu = new Float64Array(dim);
  for (let r = 0; r < m; r++) for (let j = 0; j < dim; j++) mu[j] += reference[r * dim + j];
  for (let j = 0; j < dim; j++) mu[j] /= m;
  const refNorm = new Float64Array(m);
  const refBlocks: tf.Tensor2D[] = [];
  const out = new Float64Array(src.n);
  let qTensor: tf.Tensor2D | undefined;
  try {
    for (let start = 0; start < m; start += rRows) {
      const count = Math.min(rRows, m - start);
      const buf = new Float32Array(count * dim);
      for (let r = 0; r < count; r++) {
        let s = 0;
        for (let j = 0; j < dim; j++) {
          const v = (buf[r * dim + j] = reference[(start + r) * dim + j] - mu[j]);
          s += v * v;
        }
        refNorm[start + r] = s;
      }
      refBlocks.push(tf.tensor2d(buf, [count, dim]));
    }

    hooks.progress?.(0, src.n);
    const candD = new Float64Array(qRows * c);
    const candI = new Int32Array(qRows * c);
    const qNorm = new Float64Array(qRows);
    const exact = new Float64Array(c);
    const order = new Int32Array(c);
    let bad = 0;
    for (let qStart = 0; qStart < src.n; qStart += qRows) {
      const qCount = Math.min(qRows, src.n - qStart);
      const x = await src.read(qStart, qCount);
      if (x.length !== qCount * dim) throw new Error(`sample source returned ${x.length} values for ${qCount} items of ${dim}`);
      const qBuf = new Float32Array(qCount * dim);
      for (let q = 0; q < qCount; q++) {
        let s = 0;
        for (let j = 0; j < dim; j++) {
          const raw = x[q * dim + j];
          if (!Number.isFinite(raw)) bad++;
          const v = (qBuf[q * dim + j] = raw - mu[j]);
          s += v * v;
        }
        qNorm[q] = s;
      }
      if (bad > 0) throw new UserError(`kNN: ${bad} sample values are NaN or infinite`, { hint: 'clean or mask the data first' });
      candD.fill(Infinity, 0, qCount * c);
      candI.fill(-1, 0, qCount * c);
      qTensor = tf.tensor2d(qBuf, [qCount, dim]);

      // Screening: the best c per query over all reference blocks, by float32 products.
      for (let b = 0, rStart = 0; b < refBlocks.length; b++, rStart += rRows) {
        const rb = refBlocks[b];
        const rCount = rb.shape[0];
        const g = take(tf.matMul(qTensor, rb, false, true));
        for (let q = 0; q < qCount; q++) {
          const base = q * c;
          const qn = qNorm[q];
          let worst = candD[base + c - 1];
          const row = q * rCount;
          for (let r = 0; r < rCount; r++) {
            const d2 = qn + refNorm[rStart + r] - 2 * g[row + r];
            if (d2 >= worst) continue;
            // Insertion into the sorted candidate list.
            let at = c - 1;
            while (at > 0 && candD[base + at - 1] > d2) {
              candD[base + at] = candD[base + at - 1];
              candI[base + at] = candI[base + at - 1];
              at--;
            }
            candD[base + at] = d2;
            candI[base + at] = rStart + r;
            worst = candD[base + c - 1];
          }
        }
        await pause(hooks.signal, 'scoring');
      }
      qTensor.dispose();
      qTensor = undefined;

      // Re-rank the candidates by exact float64 distances from the raw values.
      for (let q = 0; q < qCount; q++) {
        const qo = q * dim;
        for (let t = 0; t < c; t++) {
          const ro = candI[q * c + t] * dim;
          let s = 0;
          for (let j = 0; j < dim; j++) {
            const d = x[qo + j] - reference[ro + j];
            s += d * d;
          }
          exact[t] = s;
          order[t] = t;
        }
        order.sort((a, b) => exact[a] - exact[b]);
        if (params.reduce === 'kth') {
          out[qStart + q] = Math.sqrt(exact[order[k - 1]]);
        } else {
          let s = 0;
          for (let t = 0; t < k; t++) s += Math.sqrt(exact[order[t]]);
          out[qStart + q] = s / k;
        }
      }
      hooks.progress?.(qStart + qCount, src.n);
    }
  } finally {
    qTensor?.dispose();
    for (const t of refBlocks) t.dispose();
  }
  return out;
}

/** Model bytes: the reference set as one float32 m×dim gantry array. */
export function encodeKnnModel(m: KnnModel): Uint8Array {
  return encodeNd(ndarray(m.reference, [m.m, m.dim], { model: 'knn', shape: m.shape, n: m.n }));
}

export function decodeKnnModel(bytes: Uint8Array): KnnModel {
  const a = decodeNd(bytes, 'knn model');
  const meta = a.meta ?? {};
  if (meta.model !== 'knn' || a.dtype !== 'float32' || a.shape.length !== 2) throw new Error('knn model: not a kNN model file');
  return { shape: meta.shape as number[], dim: a.shape[1], m: a.shape[0], reference: a.data as Float32Array, n: meta.n as number };
}
