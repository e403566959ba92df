/**
 * Local (dual-window) RX: each pixel against the background of its own neighbourhood — the
 * pixels of an outer window around it minus an inner guard window, so a target does not leak
 * into its own background. The background covariance of a window is ridge-regularised,
 * Σ + εI with ε = `ridge` · trace(Σ)/bands: an outer window holds fewer pixels than a cube has
 * bands (9×9 − 3×3 = 72 against 189), so Σ alone is singular. When the window has fewer pixels
 * than bands, the Woodbury identity turns the bands×bands solve into a pixels×pixels one.
 * Windows are clipped at the image border. All arithmetic is float64.
 */
import { UserError } from '../../core/errors.js';
import { cholesky, choleskyQuadratic } from '../components/linalg.js';

export interface LocalRxOptions {
  /** Guard window side (odd): pixels inside it are not background. */
  inner: number;
  /** Background window side (odd, > inner). */
  outer: number;
  /** Ridge, relative to the mean eigenvalue of the window's covariance. */
  ridge?: number;
  progress?: (done: number, total: number) => void;
}

/** Scores of every pixel of a row-major rows×cols×bands cube. */
export function localRx(cube: ArrayLike<number>, rows: number, cols: number, bands: number, opts: LocalRxOptions): Float64Array {
  const { inner, outer } = opts;
  const ridge = opts.ridge ?? 1e-3;
  if (inner % 2 !== 1 || outer % 2 !== 1 || inner < 1 || outer <= inner) throw new UserError(`local RX windows must be odd with inner < outer (got ${inner}, ${outer})`);
  const ri = (inner - 1) / 2;
  const ro = (outer - 1) / 2;
  const out = new Float64Array(rows * cols);
  const maxN = outer * outer;
  const x = new Float64Array(maxN * bands); // centred background pixels, one per row
  const mean = new Float64Array(bands);
  const y = new Float64Array(bands);
  const work = new Float64Array(Math.max(bands, maxN));
  const gram = new Float64Array(maxN * maxN);
  const proj = new Float64Array(maxN);
  const cov = new Float64Array(bands * bands);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // The background pixels of this pixel's windows.
      let n = 0;
      mean.fill(0);
      for (let rr = Math.max(0, r - ro); rr <= Math.min(rows - 1, r + ro); rr++) {
        for (let cc = Math.max(0, c - ro); cc <= Math.min(cols - 1, c + ro); cc++) {
          if (Math.abs(rr - r) <= ri && Math.abs(cc - c) <= ri) continue;
          const src = (rr * cols + cc) * bands;
          for (let b = 0; b < bands; b++) {
            const v = cube[src + b];
            x[n * bands + b] = v;
            mean[b] += v;
          }
          n++;
        }
      }
      if (n < 2) throw new UserError(`local RX: a ${outer}×${outer} window holds fewer than 2 background pixels in a ${rows}×${cols} image`);
      for (let b = 0; b < bands; b++) mean[b] /= n;
      let trace = 0;
      for (let k = 0; k < n; k++) {
        for (let b = 0; b < bands; b++) {
          const v = (x[k * bands + b] -= mean[b]);
          trace += v * v;
        }
      }
      trace /= n - 1;
      const src = (r * cols + c) * bands;
      for (let b = 0; b < bands; b++) y[b] = cube[src + b] - mean[b];
      const eps = Math.max(ridge * (trace / bands), 1e-12);
      if (n <= bands) {
        // (XᵀX/(n−1) + εI)⁻¹ = (I − Xᵀ((n−1)εI + XXᵀ)⁻¹X)/ε, so yᵀ(…)⁻¹y = (‖y‖² − pᵀ G⁻¹ p)/ε with p = Xy.
        const s = (n - 1) * eps;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j <= i; j++) {
            let v = 0;
            for (let b = 0; b < bands; b++) v += x[i * bands + b] * x[j * bands + b];
            gram[i * n + j] = v + (i === j ? s : 0);
            gram[j * n + i] = gram[i * n + j];
          }
          let p = 0;
          for (let b = 0; b < bands; b++) p += x[i * bands + b] * y[b];
          proj[i] = p;
        }
        let yy = 0;
        for (let b = 0; b < bands; b++) yy += y[b] * y[b];
        const l = cholesky(gram.subarray(0, n * n), n);
        out[r * cols + c] = (yy - choleskyQuadratic(l, n, proj, work)) / eps;
      } else {
        for (let i = 0; i < bands; i++) {
          for (let j = 0; j <= i; j++) {
            let v = 0;
            for (let k = 0; k < n; k++) v += x[k * bands + i] * x[k * bands + j];
            cov[i * bands + j] = v / (n - 1) + (i === j ? eps : 0);
            cov[j * bands + i] = cov[i * bands + j];
          }
        }
        out[r * cols + c] = choleskyQuadratic(cholesky(cov, bands), bands, y, work);
      }
    }
    opts.progress?.(r + 1, rows);
  }
  return out;
}
