/**
 * Global RX anomaly detector (Reed & Yu, 1990): the score of a pixel is its squared Mahalanobis
 * distance to the background mean under the background covariance. All arithmetic is float64;
 * the inverse is a pseudo-inverse so a rank-deficient covariance (more bands than samples,
 * duplicated bands) still gives finite scores, matching numpy.linalg.pinv.
 */
import { UserError } from '../../core/errors.js';
import { covariance, pinvSymmetric } from '../components/linalg.js';

export interface RxModel {
  mean: Float64Array;
  /** dim×dim row-major pseudo-inverse of the sample covariance (normalised by n-1). */
  precision: Float64Array;
}

/** Fits RX on n samples of dim features (row-major). */
export function fitRx(data: Float32Array | Float64Array, n: number, dim: number, rcond = 1e-15): RxModel {
  const { mean, cov } = covariance(data, n, dim);
  return { mean, precision: pinvSymmetric(cov, dim, rcond) };
}

/** Squared Mahalanobis distance of each of n samples to the model's mean. */
export function scoreRx(model: RxModel, data: Float32Array | Float64Array, n: number, dim: number): Float64Array {
  const { mean, precision: p } = model;
  if (mean.length !== dim || p.length !== dim * dim) {
    throw new UserError(`RX model is for ${mean.length} features, data has ${dim}`);
  }
  if (data.length !== n * dim) throw new UserError(`RX: data has ${data.length} values, expected n×dim = ${n}×${dim} = ${n * dim}`);
  const out = new Float64Array(n);
  const d = new Float64Array(dim);
  let bad = 0;
  for (let s = 0, o = 0; s < n; s++, o += dim) {
    for (let j = 0; j < dim; j++) d[j] = data[o + j] - mean[j];
    // dᵀPd over the upper triangle only (P is symmetric): half the multiply-adds.
    let acc = 0;
    for (let i = 0; i < dim; i++) {
      const row = i * dim;
      let off = 0;
      for (let j = i + 1; j < dim; j++) off += p[row + j] * d[j];
      acc += d[i] * (p[row + i] * d[i] + 2 * off);
    }
    if (!Number.isFinite(acc)) bad++;
    out[s] = acc;
  }
  if (bad > 0) throw new UserError(`RX: ${bad} of ${n} samples contain NaN or infinite values`, { hint: 'clean or mask the data first' });
  return out;
}
