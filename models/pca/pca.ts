/**
 * PCA reconstruction error: fit the mean μ and the top principal directions U (dim×k, orthonormal
 * columns) of the training samples; score a sample by ‖(x−μ) − UUᵀ(x−μ)‖², the squared distance
 * to the fitted affine subspace. Samples of any shape are flattened to `dim` values.
 *
 * The fit streams the training set twice (mean, then covariance accumulated per block with
 * tfjs matMul in float32 and summed in float64), so the data never has to fit in memory: the
 * memory is the dim×dim float64 covariance plus one block. The leading eigenvectors come from
 * subspace iteration on C with tfjs matMul (float32) and a Rayleigh–Ritz step on the small
 * projected matrix (linalg.ts's Jacobi), finished by one Rayleigh–Ritz step in float64.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, UserError } from '../../core/errors.js';
import type { SampleSource } from '../../core/samples.js';
import { decodeNd, encodeNd, ndarray } from '../../datasets/tensor-file.js';
import { hashString, Prng } from '../../datasets/prng.js';
import { symmetricEigen } from '../components/linalg.js';
import type { TrainHooks } from '../detector.js';
import type { PcaParams } from './params.js';

export interface PcaModel {
  /** Item shape the model was fitted on. */
  shape: number[];
  dim: number;
  /** Kept directions. */
  k: number;
  mean: Float64Array;
  /** k×dim row-major: row i is principal direction i (unit length), by decreasing eigenvalue. */
  basis: Float64Array;
  /** Eigenvalues of the kept directions (covariance normalised by n−1). */
  eigenvalues: Float64Array;
  /** Trace of the covariance: the total variance. */
  totalVariance: number;
  /** Training samples. */
  n: number;
  /** Subspace iterations run (0 when dim was small enough for a direct Jacobi solve). */
  iterations: number;
  /** Final max over kept pairs of ‖C·u − θ·u‖ / θ₁, in float64. */
  residual: number;
  converged: boolean;
}

export type PcaHooks = Partial<Pick<TrainHooks, 'progress' | 'signal' | 'log'>>;

export interface PcaFitOptions {
  /** Rows per streamed block; default blockRows(dim). Exposed for tests: it changes float32 rounding only. */
  blockRows?: number;
}

/**
 * Rows per block: ~16 MB of float32 input (2²² values), a power of two between 256 and 8192.
 * A function of dim alone, so the fit does not depend on how the source is sharded.
 */
export function blockRows(dim: number): number {
  let rows = 8192;
  while (rows > 256 && rows * dim > 1 << 22) rows >>= 1;
  return rows;
}

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

/** Blocks of `rows` items in order, the next read started while the caller works on this one. */
async function* blocks(src: SampleSource, rows: number, signal?: AbortSignal): AsyncGenerator<{ start: number; count: number; data: Float32Array }> {
  const readAt = (start: number) => {
    const p = src.read(start, Math.min(rows, src.n - start));
    // A prefetch the consumer never awaits (it threw first) must not become an unhandled rejection.
    p.catch(() => undefined);
    return p;
  };
  let pending = src.n > 0 ? readAt(0) : undefined;
  for (let start = 0; start < src.n; start += rows) {
    const data = await pending!;
    const count = Math.min(rows, src.n - start);
    if (data.length !== count * src.dim) throw new Error(`sample source returned ${data.length} values for ${count} items of ${src.dim}`);
    pending = start + rows < src.n ? readAt(start + rows) : undefined;
    // Let timers and I/O run (an abort, a heartbeat) between blocks.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw new CancelledError('pca cancelled');
    yield { start, count, data };
  }
}

/** Fits PCA on a streamed training set. */
export async function fitPca(src: SampleSource, params: PcaParams, hooks: PcaHooks = {}, opts: PcaFitOptions = {}): Promise<PcaModel> {
  const { n, dim } = src;
  if (n < 2) throw new UserError(`PCA needs at least 2 training samples (got ${n})`);
  if (params.components >= Math.min(n, dim)) {
    throw new UserError(`PCA: components=${params.components} must be below min(n, dim) = min(${n}, ${dim})`, {
      hint: `use at most ${Math.min(n, dim) - 1} components`,
    });
  }
  const rows = opts.blockRows ?? blockRows(dim);
  const total = 2 * n + 1;
  hooks.progress?.(0, total);

  // Pass 1: the mean, in float64.
  const mean = new Float64Array(dim);
  let bad = 0;
  for await (const b of blocks(src, rows, hooks.signal)) {
    const x = b.data;
    for (let s = 0, o = 0; s < b.count; s++, o += dim) {
      for (let j = 0; j < dim; j++) mean[j] += x[o + j];
    }
    hooks.progress?.(b.start + b.count, total);
  }
  for (let j = 0; j < dim; j++) {
    if (!Number.isFinite(mean[j])) bad++;
    mean[j] /= n;
  }
  if (bad > 0) throw new UserError(`PCA: the training samples contain NaN or infinite values (in ${bad} of ${dim} features)`, { hint: 'clean or mask the data first' });

  // Pass 2: C = Σ (x−μ)(x−μ)ᵀ. Centring in float64 before the float32 product avoids the
  // cancellation of raw moments; each block's product is added to a float64 sum.
  const cov = new Float64Array(dim * dim);
  const centred = new Float32Array(rows * dim);
  for await (const b of blocks(src, rows, hooks.signal)) {
    const x = b.data;
    const len = b.count * dim;
    for (let s = 0, o = 0; s < b.count; s++, o += dim) {
      for (let j = 0; j < dim; j++) centred[o + j] = x[o + j] - mean[j];
    }
    const gv = take(
      tf.tidy(() => {
        const t = tf.tensor2d(centred.slice(0, len), [b.count, dim]);
        return tf.matMul(t, t, true, false);
      }),
    );
    for (let i = 0; i < dim * dim; i++) cov[i] += gv[i];
    hooks.progress?.(n + b.start + b.count, total);
  }
  const scale = 1 / (n - 1);
  let trace = 0;
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      // Symmetrise: float32 products of the two triangles can differ in the last bit.
      const v = 0.5 * (cov[i * dim + j] + cov[j * dim + i]) * scale;
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
    trace += cov[i * dim + i];
  }
  if (!(trace > 0)) throw new UserError(`PCA: the ${n} training samples are all identical (zero variance)`);

  const eig = leadingEigen(cov, dim, params, hooks);
  let k = params.components;
  if (params.variance !== null) {
    let acc = 0;
    for (k = 0; k < params.components; ) {
      acc += Math.max(0, eig.values[k]);
      k++;
      if (acc >= params.variance * trace) break;
    }
  }
  hooks.progress?.(total, total);
  return {
    shape: [...src.shape],
    dim,
    k,
    mean,
    basis: eig.vectors.slice(0, k * dim),
    eigenvalues: eig.values.slice(0, k),
    totalVariance: trace,
    n,
    iterations: eig.iterations,
    residual: eig.residual,
    converged: eig.converged,
  };
}

interface Leading {
  /** Descending. */
  values: Float64Array;
  /** Vectors as rows, components×dim. */
  vectors: Float64Array;
  iterations: number;
  residual: number;
  converged: boolean;
}

/** Fixed start for the subspace iteration: the fit must not depend on the trial seed. */
const START_SEED = hashString('gantry/pca/subspace-start');

/**
 * The `components` leading eigenpairs of the symmetric dim×dim matrix `c` (float64, row-major).
 * Subspace iteration with p = components + oversample vectors: Z = C·Q (tfjs matMul, float32),
 * Rayleigh–Ritz on QᵀZ (p×p Jacobi), Q ← orth(Z·W), until every kept Ritz pair's residual
 * ‖C·u − θ·u‖ is ≤ tolerance·θ₁. A final Rayleigh–Ritz step in float64 polishes the result.
 */
export function leadingEigen(c: Float64Array, dim: number, params: Pick<PcaParams, 'components' | 'oversample' | 'tolerance' | 'maxIterations'>, hooks: PcaHooks = {}): Leading {
  const k = params.components;
  const p = Math.min(dim, k + params.oversample);
  if (p === dim) {
    // Small dim: the subspace would be the whole space; solve directly.
    const e = symmetricEigen(c, dim);
    const vectors = new Float64Array(k * dim);
    for (let i = 0; i < k; i++) for (let j = 0; j < dim; j++) vectors[i * dim + j] = e.vectors[j * dim + i];
    canonicalSigns(vectors, k, dim);
    return { values: e.values.slice(0, k), vectors, iterations: 0, residual: residuals(c, dim, vectors, e.values, k), converged: true };
  }

  const rng = new Prng(START_SEED);
  let q: Float64Array = Float64Array.from(rng.normals(p * dim));
  orthonormalise(q, p, dim, rng);
  const cT = tf.tensor2d(Float32Array.from(c), [dim, dim]);
  let iterations = 0;
  let residual = Infinity;
  let best = Infinity;
  let sinceBest = 0;
  try {
    for (let it = 1; it <= params.maxIterations; it++) {
      if (hooks.signal?.aborted) throw new CancelledError('pca cancelled');
      iterations = it;
      // Vectors are rows, so Qᵀ·C = (C·Q)ᵀ (C is symmetric): Z's rows are C·q_i.
      const z = take(tf.tidy(() => tf.matMul(tf.tensor2d(Float32Array.from(q), [p, dim]), cT)));
      const zz = Float64Array.from(z);
      const rr = rayleighRitz(q, zz, p, dim);
      residual = maxResidual(rr.u, rr.cu, rr.values, k, dim);
      hooks.log?.([{ name: 'pca/residual', step: it, value: residual }]);
      if (residual <= params.tolerance) break;
      // Stop when float32 rounding, not the iteration, limits the residual.
      if (residual < 0.99 * best) {
        best = residual;
        sinceBest = 0;
      } else if (++sinceBest >= 25) {
        break;
      }
      q = rr.cu;
      orthonormalise(q, p, dim, rng);
    }
  } finally {
    cT.dispose();
  }

  // Polish in float64 on the final subspace: Z = C·Q in JS (dim²·p multiply-adds, once).
  const zz = new Float64Array(p * dim);
  for (let v = 0; v < p; v++) {
    const qv = q.subarray(v * dim, (v + 1) * dim);
    const out = zz.subarray(v * dim, (v + 1) * dim);
    for (let i = 0; i < dim; i++) {
      const row = c.subarray(i * dim, (i + 1) * dim);
      let acc = 0;
      for (let j = 0; j < dim; j++) acc += row[j] * qv[j];
      out[i] = acc;
    }
  }
  const rr = rayleighRitz(q, zz, p, dim);
  const final = maxResidual(rr.u, rr.cu, rr.values, k, dim);
  const vectors = rr.u.slice(0, k * dim);
  canonicalSigns(vectors, k, dim);
  return { values: rr.values.slice(0, k), vectors, iterations, residual: final, converged: final <= params.tolerance };
}

/**
 * Rayleigh–Ritz on span(Q) given Z = C·Q (both p×dim, vectors as rows): H = QᵀCQ, H = WΘWᵀ,
 * U = Q·W and C·U = Z·W, by decreasing θ.
 */
function rayleighRitz(q: Float64Array, z: Float64Array, p: number, dim: number): { values: Float64Array; u: Float64Array; cu: Float64Array } {
  const h = new Float64Array(p * p);
  for (let a = 0; a < p; a++) {
    const qa = q.subarray(a * dim, (a + 1) * dim);
    for (let b = a; b < p; b++) {
      const qb = q.subarray(b * dim, (b + 1) * dim);
      const za = z.subarray(a * dim, (a + 1) * dim);
      const zb = z.subarray(b * dim, (b + 1) * dim);
      let s = 0;
      // Symmetrised: ½(qₐ·z_b + q_b·zₐ) cancels the float32 asymmetry of Z.
      for (let j = 0; j < dim; j++) s += qa[j] * zb[j] + qb[j] * za[j];
      h[a * p + b] = h[b * p + a] = 0.5 * s;
    }
  }
  const e = symmetricEigen(h, p);
  const u = new Float64Array(p * dim);
  const cu = new Float64Array(p * dim);
  for (let i = 0; i < p; i++) {
    const ui = u.subarray(i * dim, (i + 1) * dim);
    const ci = cu.subarray(i * dim, (i + 1) * dim);
    for (let a = 0; a < p; a++) {
      const w = e.vectors[a * p + i];
      if (w === 0) continue;
      const qa = q.subarray(a * dim, (a + 1) * dim);
      const za = z.subarray(a * dim, (a + 1) * dim);
      for (let j = 0; j < dim; j++) {
        ui[j] += w * qa[j];
        ci[j] += w * za[j];
      }
    }
  }
  return { values: e.values, u, cu };
}

/** max over the first k pairs of ‖C·uᵢ − θᵢ·uᵢ‖ / |θ₁|. */
function maxResidual(u: Float64Array, cu: Float64Array, values: Float64Array, k: number, dim: number): number {
  const top = Math.abs(values[0]) || 1;
  let worst = 0;
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const r = cu[i * dim + j] - values[i] * u[i * dim + j];
      s += r * r;
    }
    worst = Math.max(worst, Math.sqrt(s) / top);
  }
  return worst;
}

/** The same residual, from C itself (for the direct solve). */
function residuals(c: Float64Array, dim: number, vectors: Float64Array, values: Float64Array, k: number): number {
  const cu = new Float64Array(k * dim);
  for (let i = 0; i < k; i++) {
    for (let r = 0; r < dim; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += c[r * dim + j] * vectors[i * dim + j];
      cu[i * dim + r] = s;
    }
  }
  return maxResidual(vectors, cu, values, k, dim);
}

/**
 * Modified Gram–Schmidt, twice ("twice is enough"), on p row vectors of length dim, in place.
 * A vector that vanishes (C of rank below p) is replaced by a fresh random one from `rng`.
 */
function orthonormalise(q: Float64Array, p: number, dim: number, rng: Prng): void {
  for (let i = 0; i < p; i++) {
    const qi = q.subarray(i * dim, (i + 1) * dim);
    for (let attempt = 0; ; attempt++) {
      const before = Math.sqrt(dot(qi, qi, dim));
      for (let pass = 0; pass < 2; pass++) {
        for (let j = 0; j < i; j++) {
          const qj = q.subarray(j * dim, (j + 1) * dim);
          const d = dot(qi, qj, dim);
          for (let t = 0; t < dim; t++) qi[t] -= d * qj[t];
        }
      }
      const after = Math.sqrt(dot(qi, qi, dim));
      if (after > 1e-10 * before && after > 0) {
        for (let t = 0; t < dim; t++) qi[t] /= after;
        break;
      }
      if (attempt > 10) throw new Error(`pca: cannot orthonormalise vector ${i} of ${p} in ${dim} dimensions`);
      for (let t = 0; t < dim; t++) qi[t] = rng.normal();
    }
  }
}

function dot(a: Float64Array, b: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/** Each vector's largest-magnitude entry made positive, so stored bases read the same everywhere. */
function canonicalSigns(v: Float64Array, k: number, dim: number): void {
  for (let i = 0; i < k; i++) {
    const row = v.subarray(i * dim, (i + 1) * dim);
    let at = 0;
    for (let j = 1; j < dim; j++) if (Math.abs(row[j]) > Math.abs(row[at])) at = j;
    if (row[at] < 0) for (let j = 0; j < dim; j++) row[j] = -row[j];
  }
}

/** Squared reconstruction error of every sample of `src`, in blocks. */
export async function scorePca(model: PcaModel, src: SampleSource, hooks: Pick<PcaHooks, 'progress' | 'signal'> = {}, opts: PcaFitOptions = {}): Promise<Float64Array> {
  const { dim, k, mean } = model;
  if (src.dim !== dim) {
    throw new UserError(`PCA model is for items of shape [${model.shape}] (${dim} values), the samples have shape [${src.shape}] (${src.dim} values)`);
  }
  const rows = opts.blockRows ?? blockRows(dim);
  const out = new Float64Array(src.n);
  hooks.progress?.(0, src.n);
  const basis = tf.tensor2d(Float32Array.from(model.basis), [k, dim]);
  const centred = new Float32Array(rows * dim);
  let bad = 0;
  try {
    for await (const b of blocks(src, rows, hooks.signal)) {
      const x = b.data;
      const len = b.count * dim;
      for (let s = 0, o = 0; s < b.count; s++, o += dim) {
        for (let j = 0; j < dim; j++) {
          const v = x[o + j];
          if (!Number.isFinite(v)) bad++;
          centred[o + j] = v - mean[j];
        }
      }
      // r = d − (d·Uᵀ)·U, then Σ r²: forming the residual first keeps the precision of small errors
      // (‖d‖² − ‖dU‖² would cancel in float32 for samples near the subspace).
      const e = take(
        tf.tidy(() => {
          const d = tf.tensor2d(centred.slice(0, len), [b.count, dim]);
          const r = tf.sub(d, tf.matMul(tf.matMul(d, basis, false, true), basis));
          return tf.sum(tf.square(r), 1);
        }),
      );
      out.set(e, b.start);
      hooks.progress?.(b.start + b.count, src.n);
    }
  } finally {
    basis.dispose();
  }
  if (bad > 0) throw new UserError(`PCA: ${bad} of ${src.n * dim} sample values are NaN or infinite`, { hint: 'clean or mask the data first' });
  return out;
}

/** Model bytes: one float64 (k+1)×dim gantry array, μ then the k directions, the rest in its meta. */
export function encodePcaModel(m: PcaModel): Uint8Array {
  const packed = new Float64Array((m.k + 1) * m.dim);
  packed.set(m.mean, 0);
  packed.set(m.basis, m.dim);
  return encodeNd(
    ndarray(packed, [m.k + 1, m.dim], {
      model: 'pca',
      shape: m.shape,
      n: m.n,
      eigenvalues: Array.from(m.eigenvalues),
      totalVariance: m.totalVariance,
      iterations: m.iterations,
      residual: m.residual,
      converged: m.converged,
    }),
  );
}

export function decodePcaModel(bytes: Uint8Array): PcaModel {
  const a = decodeNd(bytes, 'pca model');
  const meta = a.meta ?? {};
  if (meta.model !== 'pca' || a.dtype !== 'float64' || a.shape.length !== 2 || a.shape[0] < 2) throw new Error('pca model: not a PCA model file');
  const [rows, dim] = a.shape;
  const data = a.data as Float64Array;
  return {
    shape: meta.shape as number[],
    dim,
    k: rows - 1,
    mean: data.slice(0, dim),
    basis: data.slice(dim),
    eigenvalues: Float64Array.from(meta.eigenvalues as number[]),
    totalVariance: meta.totalVariance as number,
    n: meta.n as number,
    iterations: meta.iterations as number,
    residual: meta.residual as number,
    converged: meta.converged as boolean,
  };
}
