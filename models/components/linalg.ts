/**
 * Small dense linear algebra in float64 for classical detectors (RX and kin): sample mean and
 * covariance, symmetric eigen-decomposition (cyclic Jacobi), and the Moore–Penrose pseudo-inverse
 * of a symmetric matrix. Matrices are row-major Float64Arrays of dim×dim.
 */
import { UserError } from '../../core/errors.js';

export interface SymmetricEigen {
  /** Eigenvalues, sorted descending. */
  values: Float64Array;
  /** Eigenvectors as columns of a row-major n×n matrix: vector k is vectors[i*n + k], i = 0..n-1. */
  vectors: Float64Array;
}

/**
 * Sample mean and covariance of n samples of dim features (row-major), normalised by n-1 like
 * numpy.cov. Non-finite values are a UserError (a NaN would silently poison every score).
 */
export function covariance(data: ArrayLike<number>, n: number, dim: number): { mean: Float64Array; cov: Float64Array } {
  if (!Number.isInteger(n) || !Number.isInteger(dim) || n < 2 || dim < 1) {
    throw new UserError(`covariance needs at least 2 samples of at least 1 feature (got n=${n}, dim=${dim})`);
  }
  if (data.length !== n * dim) throw new UserError(`covariance: data has ${data.length} values, expected n×dim = ${n}×${dim} = ${n * dim}`);
  let bad = 0;
  const mean = new Float64Array(dim);
  for (let s = 0, o = 0; s < n; s++, o += dim) {
    for (let j = 0; j < dim; j++) {
      const x = data[o + j];
      if (!Number.isFinite(x)) bad++;
      mean[j] += x;
    }
  }
  if (bad > 0) throw new UserError(`covariance: ${bad} of ${n * dim} values are NaN or infinite`, { hint: 'clean or mask the data first' });
  for (let j = 0; j < dim; j++) mean[j] /= n;

  // Two-pass (centre, then accumulate) for accuracy: raw moments of radiance-scale data cancel badly.
  const cov = new Float64Array(dim * dim);
  const c = new Float64Array(dim);
  for (let s = 0, o = 0; s < n; s++, o += dim) {
    for (let j = 0; j < dim; j++) c[j] = data[o + j] - mean[j];
    for (let i = 0; i < dim; i++) {
      const ci = c[i];
      if (ci === 0) continue;
      const row = i * dim;
      for (let j = i; j < dim; j++) cov[row + j] += ci * c[j];
    }
  }
  const scale = 1 / (n - 1);
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j] * scale;
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return { mean, cov };
}

/**
 * Eigen-decomposition of a symmetric n×n matrix by cyclic Jacobi rotations (after Numerical
 * Recipes' `jacobi`): slower than Householder+QL but simple and accurate to working precision,
 * including the small eigenvalues that a pseudo-inverse amplifies. Only the upper triangle is read.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  if (matrix.length !== n * n) throw new Error(`symmetricEigen: matrix has ${matrix.length} values, expected ${n}×${n}`);
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  const d = new Float64Array(n);
  const b = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    v[i * n + i] = 1;
    d[i] = b[i] = a[i * n + i];
    if (!Number.isFinite(d[i])) throw new UserError('symmetricEigen: matrix contains NaN or infinite values');
  }

  const MAX_SWEEPS = 100;
  let converged = n <= 1;
  for (let sweep = 1; sweep <= MAX_SWEEPS && !converged; sweep++) {
    let sm = 0;
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) sm += Math.abs(a[p * n + q]);
    if (!Number.isFinite(sm)) throw new UserError('symmetricEigen: matrix contains NaN or infinite values');
    if (sm === 0) {
      converged = true;
      break;
    }
    // Large rotations only in the first sweeps; afterwards every non-negligible element.
    const tresh = sweep < 4 ? (0.2 * sm) / (n * n) : 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        const g = 100 * Math.abs(apq);
        // Once an off-diagonal element is below rounding of both diagonal entries, zero it.
        if (sweep > 4 && Math.abs(d[p]) + g === Math.abs(d[p]) && Math.abs(d[q]) + g === Math.abs(d[q])) {
          a[p * n + q] = 0;
          continue;
        }
        if (Math.abs(apq) <= tresh) continue;
        let h = d[q] - d[p];
        let t: number;
        if (Math.abs(h) + g === Math.abs(h)) {
          t = apq / h;
        } else {
          const theta = (0.5 * h) / apq;
          t = 1 / (Math.abs(theta) + Math.sqrt(1 + theta * theta));
          if (theta < 0) t = -t;
        }
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        const tau = s / (1 + c);
        h = t * apq;
        z[p] -= h;
        z[q] += h;
        d[p] -= h;
        d[q] += h;
        a[p * n + q] = 0;
        // Rotate the rest of the upper triangle: rows/columns p and q.
        for (let j = 0; j < p; j++) {
          const x = a[j * n + p];
          const y = a[j * n + q];
          a[j * n + p] = x - s * (y + x * tau);
          a[j * n + q] = y + s * (x - y * tau);
        }
        for (let j = p + 1; j < q; j++) {
          const x = a[p * n + j];
          const y = a[j * n + q];
          a[p * n + j] = x - s * (y + x * tau);
          a[j * n + q] = y + s * (x - y * tau);
        }
        for (let j = q + 1; j < n; j++) {
          const x = a[p * n + j];
          const y = a[q * n + j];
          a[p * n + j] = x - s * (y + x * tau);
          a[q * n + j] = y + s * (x - y * tau);
        }
        for (let j = 0; j < n; j++) {
          const x = v[j * n + p];
          const y = v[j * n + q];
          v[j * n + p] = x - s * (y + x * tau);
          v[j * n + q] = y + s * (x - y * tau);
        }
      }
    }
    for (let i = 0; i < n; i++) {
      b[i] += z[i];
      d[i] = b[i];
      z[i] = 0;
    }
  }
  if (!converged) throw new Error(`symmetricEigen: Jacobi did not converge in ${MAX_SWEEPS} sweeps (n=${n})`);

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const src = order[k];
    values[k] = d[src];
    for (let i = 0; i < n; i++) vectors[i * n + k] = v[i * n + src];
  }
  return { values, vectors };
}

/**
 * Moore–Penrose pseudo-inverse of a symmetric n×n matrix, as numpy.linalg.pinv: eigen-directions
 * whose |eigenvalue| (= singular value) is not above rcond × the largest are dropped.
 */
export function pinvSymmetric(matrix: ArrayLike<number>, n: number, rcond = 1e-15): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  let smax = 0;
  for (const x of values) smax = Math.max(smax, Math.abs(x));
  const cutoff = rcond * smax;
  const out = new Float64Array(n * n);
  const col = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const lam = values[k];
    if (!(Math.abs(lam) > cutoff)) continue;
    const inv = 1 / lam;
    for (let i = 0; i < n; i++) col[i] = vectors[i * n + k];
    for (let i = 0; i < n; i++) {
      const f = col[i] * inv;
      if (f === 0) continue;
      const row = i * n;
      for (let j = i; j < n; j++) out[row + j] += f * col[j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[i * n + j] = out[j * n + i];
  return out;
}

/**
 * Cholesky factor L (lower, row-major) of a symmetric positive-definite n×n matrix, in place of a
 * copy; throws when the matrix is not positive definite (a pivot ≤ 0).
 */
export function cholesky(matrix: ArrayLike<number>, n: number): Float64Array {
  const l = Float64Array.from(matrix);
  for (let j = 0; j < n; j++) {
    let d = l[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0)) throw new Error(`cholesky: matrix is not positive definite (pivot ${j} = ${d})`);
    const s = Math.sqrt(d);
    l[j * n + j] = s;
    for (let i = j + 1; i < n; i++) {
      let v = l[i * n + j];
      for (let k = 0; k < j; k++) v -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = v / s;
    }
    for (let k = j + 1; k < n; k++) l[j * n + k] = 0;
  }
  return l;
}

/** ‖L⁻¹ b‖² for a Cholesky factor L: the quadratic form bᵀ A⁻¹ b, by forward substitution. */
export function choleskyQuadratic(l: Float64Array, n: number, b: ArrayLike<number>, work = new Float64Array(n)): number {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    let v = b[i];
    for (let k = 0; k < i; k++) v -= l[i * n + k] * work[k];
    work[i] = v / l[i * n + i];
    acc += work[i] * work[i];
  }
  return acc;
}
