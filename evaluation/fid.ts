/**
 * Fréchet distance between two sets of feature vectors (FID, Heusel et al. 2017, "GANs Trained by
 * a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"): fit a Gaussian to each set
 * (sample mean μ, sample covariance Σ with n − 1) and take the squared 2-Wasserstein distance
 * between the two Gaussians,
 *
 *   FID = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}).
 *
 * Everything is float64. The trace of the matrix square root is computed in symmetric form:
 * (Σ1 Σ2)^{1/2} has the same eigenvalues as (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}, a symmetric PSD matrix,
 * so Tr (Σ1 Σ2)^{1/2} = Σ_i √λ_i(Σ1^{1/2} Σ2 Σ1^{1/2}). Both eigendecompositions are symmetric
 * (ml-matrix's EigenvalueDecomposition, assumeSymmetric), which stays real and stable where the
 * general `scipy.linalg.sqrtm(Σ1 @ Σ2)` of pytorch-fid can return complex parts or fail on a
 * singular product. Σ1 and Σ2 are PSD by construction, so eigenvalues at the rounding level
 * (|λ| ≤ dim · ε · λ_max, ε = 2^−52, numpy's matrix_rank tolerance; rounding can make them
 * slightly negative) are taken as 0 before the square root, whose slope near 0 would otherwise
 * blow rounding noise up to √ε. A final value that rounding leaves below 0 is reported as 0.
 *
 * The features are whatever network the caller used. The published FID is this distance over
 * Inception-v3's 2,048-d pool3 features (TF-slim weights, images resized to 299×299, pixels to
 * [−1, 1]); with another network, another layer or other preprocessing the number is a different
 * quantity: FIDs are comparable only under the same feature network, layer and image
 * preprocessing (and similar set sizes: the estimate is biased upwards for small n).
 *
 * Cost: O(n·d²) for the statistics and O(d³) for the two eigendecompositions, in plain JS: about
 * 30 s at d = 1,024 and 4–5 minutes at Inception's 2,048 on one core here (measured 2026-12-01).
 *
 * This module is a leaf: it knows nothing about images or networks.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { UserError } from '../core/errors.js';

/** A Gaussian fitted to n feature vectors of length dim: the sample mean and covariance (n − 1). */
export interface FittedGaussian {
  n: number;
  dim: number;
  mean: Float64Array;
  /** dim × dim, row-major. */
  cov: Float64Array;
}

/**
 * Mean and covariance over feature batches, merged batch by batch (Chan, Golub & LeVeque's
 * pairwise update: each batch is centred on its own mean), so a large set never needs all its
 * features in memory and the co-moments do not lose precision to a large mean.
 */
export class MomentAccumulator {
  n = 0;
  private readonly mean: Float64Array;
  /** Σ (x − mean)(x − mean)ᵀ, upper triangle filled, row-major. */
  private readonly m2: Float64Array;
  constructor(readonly dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new UserError(`feature dimension must be a positive integer, got ${dim}`);
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim * dim);
  }

  /** `count` feature vectors, row-major [count, dim]. */
  add(features: ArrayLike<number>, count: number, what = 'features'): void {
    const d = this.dim;
    if (features.length !== count * d) throw new UserError(`${what}: ${features.length} values are not ${count} vectors of ${d}`);
    if (count === 0) return;
    const bm = new Float64Array(d);
    for (let r = 0; r < count; r++) {
      for (let j = 0; j < d; j++) {
        const v = features[r * d + j];
        if (!Number.isFinite(v)) throw new UserError(`${what}: feature ${j} of vector ${this.n + r} is ${v}`, { hint: 'the feature network gave a non-finite value; check its input range' });
        bm[j] += v;
      }
    }
    for (let j = 0; j < d; j++) bm[j] /= count;
    const c = new Float64Array(d);
    const m2 = this.m2;
    for (let r = 0; r < count; r++) {
      for (let j = 0; j < d; j++) c[j] = features[r * d + j] - bm[j];
      for (let i = 0; i < d; i++) {
        const ci = c[i];
        if (ci === 0) continue;
        const row = i * d;
        for (let j = i; j < d; j++) m2[row + j] += ci * c[j];
      }
    }
    const n0 = this.n;
    const n = n0 + count;
    if (n0 > 0) {
      const delta = new Float64Array(d);
      for (let j = 0; j < d; j++) delta[j] = bm[j] - this.mean[j];
      const w = (n0 * count) / n;
      for (let i = 0; i < d; i++) for (let j = i; j < d; j++) m2[i * d + j] += w * delta[i] * delta[j];
      for (let j = 0; j < d; j++) this.mean[j] += (delta[j] * count) / n;
    } else this.mean.set(bm);
    this.n = n;
  }

  /** The fitted Gaussian; needs at least 2 vectors (the covariance divides by n − 1). */
  gaussian(what = 'the set'): FittedGaussian {
    if (this.n < 2) throw new UserError(`${what} has ${this.n} feature vector${this.n === 1 ? '' : 's'}: FID needs at least 2 per set (a covariance)`);
    const d = this.dim;
    const cov = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = this.m2[i * d + j] / (this.n - 1);
        cov[i * d + j] = v;
        cov[j * d + i] = v;
      }
    }
    return { n: this.n, dim: d, mean: Float64Array.from(this.mean), cov };
  }
}

/** A Gaussian fitted to n vectors, row-major [n, dim]. */
export function fitGaussian(features: ArrayLike<number>, n: number, dim: number, what?: string): FittedGaussian {
  const acc = new MomentAccumulator(dim);
  acc.add(features, n, what);
  return acc.gaussian(what);
}

export interface FrechetResult {
  /** ‖μ1 − μ2‖² + Tr Σ1 + Tr Σ2 − 2 Tr (Σ1 Σ2)^{1/2}, and 0 where rounding takes it below. */
  fid: number;
  /** ‖μ1 − μ2‖². */
  meanTerm: number;
  /** Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}). */
  covTerm: number;
  /** Tr (Σ1 Σ2)^{1/2}. */
  traceSqrt: number;
  /** Eigenvalues of Σ1 and of Σ1^{1/2} Σ2 Σ1^{1/2} below 0 (by rounding) that were set to 0. */
  clampedEigenvalues: number;
}

function symmetricEigen(a: Matrix): { values: number[]; vectors: Matrix; tol: number } {
  const e = new EigenvalueDecomposition(a, { assumeSymmetric: true });
  const values = e.realEigenvalues;
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  return { values, vectors: e.eigenvectorMatrix, tol: max * values.length * Number.EPSILON };
}

/** The Fréchet distance between two Gaussians N(μ1, Σ1) and N(μ2, Σ2). */
export function frechetDistance(a: { mean: ArrayLike<number>; cov: ArrayLike<number> }, b: { mean: ArrayLike<number>; cov: ArrayLike<number> }): FrechetResult {
  const d = a.mean.length;
  if (b.mean.length !== d) throw new UserError(`the two sets' features differ in dimension: ${d} and ${b.mean.length}`, { hint: 'use the same feature network for both sets' });
  if (a.cov.length !== d * d || b.cov.length !== d * d) throw new UserError(`a covariance is not ${d}×${d}`);
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  const toMatrix = (c: ArrayLike<number>) => {
    const m = new Matrix(d, d);
    // Symmetrised: the decomposition assumes it, and Σ is symmetric up to rounding at most.
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m.set(i, j, (c[i * d + j] + c[j * d + i]) / 2);
    return m;
  };
  const s1 = toMatrix(a.cov);
  const s2 = toMatrix(b.cov);
  let clamped = 0;
  // Σ1 = V Λ Vᵀ; with B = V Λ^{1/2}, Bᵀ Σ2 B = Vᵀ (Σ1^{1/2} Σ2 Σ1^{1/2}) V has the same eigenvalues.
  // Directions where Σ1 has no variance (λ = 0, e.g. n ≤ dim) contribute nothing and are dropped.
  const e1 = symmetricEigen(s1);
  const keep: number[] = [];
  for (let k = 0; k < d; k++) {
    if (e1.values[k] > e1.tol) keep.push(k);
    else if (e1.values[k] < 0) clamped++;
  }
  let traceSqrt = 0;
  if (keep.length) {
    const bm = new Matrix(d, keep.length);
    keep.forEach((k, c) => {
      const s = Math.sqrt(e1.values[k]);
      for (let i = 0; i < d; i++) bm.set(i, c, e1.vectors.get(i, k) * s);
    });
    const m = bm.transpose().mmul(s2).mmul(bm);
    const r = keep.length;
    for (let i = 0; i < r; i++) {
      for (let j = i + 1; j < r; j++) {
        const v = (m.get(i, j) + m.get(j, i)) / 2;
        m.set(i, j, v);
        m.set(j, i, v);
      }
    }
    const e = symmetricEigen(m);
    for (const l of e.values) {
      if (l > e.tol) traceSqrt += Math.sqrt(l);
      else if (l < 0) clamped++;
    }
  }
  let tr1 = 0;
  let tr2 = 0;
  for (let i = 0; i < d; i++) {
    tr1 += a.cov[i * d + i];
    tr2 += b.cov[i * d + i];
  }
  const covTerm = tr1 + tr2 - 2 * traceSqrt;
  return { fid: Math.max(0, meanTerm + covTerm), meanTerm, covTerm, traceSqrt, clampedEigenvalues: clamped };
}

export interface FidResult extends FrechetResult {
  n: [number, number];
  dim: number;
  /** Said to the user: e.g. a singular covariance (n ≤ dim). */
  warnings: string[];
}

/** Warnings about what makes a FID unreliable, for sets of n1 and n2 vectors of dim features. */
export function fidWarnings(n1: number, n2: number, dim: number, names: [string, string] = ['set A', 'set B']): string[] {
  const out: string[] = [];
  for (const [n, name] of [[n1, names[0]], [n2, names[1]]] as const) {
    // A sample covariance of n vectors has rank ≤ n − 1: singular unless n > dim.
    if (n <= dim) out.push(`${name} has ${n} images for ${dim} features: its covariance is singular (rank ≤ ${n - 1}), so the FID is unstable and biased; use more than ${dim} images per set (FID is usually reported on 10,000–50,000)`);
  }
  return out;
}

/** FID between two feature matrices, row-major [n1, dim] and [n2, dim]. */
export function fid(a: ArrayLike<number>, n1: number, b: ArrayLike<number>, n2: number, dim: number, names: [string, string] = ['set A', 'set B']): FidResult {
  const ga = fitGaussian(a, n1, dim, names[0]);
  const gb = fitGaussian(b, n2, dim, names[1]);
  return fidOfGaussians(ga, gb, names);
}

export function fidOfGaussians(a: FittedGaussian, b: FittedGaussian, names: [string, string] = ['set A', 'set B']): FidResult {
  const r = frechetDistance(a, b);
  return { ...r, n: [a.n, b.n], dim: a.dim, warnings: fidWarnings(a.n, b.n, a.dim, names) };
}
