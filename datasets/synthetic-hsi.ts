/**
 * A seeded synthetic hyperspectral scene with implanted sub-pixel anomalies, for tests and quick
 * experiments without real imagery. The background is a linear mixture of a few smooth endmember
 * spectra with spatially smooth, soft-edged abundances and a smooth illumination field; anomalies
 * are small blobs whose pixels mix a distinct target spectrum into the background at 0.3–0.9,
 * less at blob edges, so some are easy to detect and some are hard. Same params → same scene.
 */
import { UserError } from '../core/errors.js';
import { Prng } from './prng.js';

export interface SyntheticHsiParams {
  rows: number;
  cols: number;
  bands: number;
  /** Background materials. */
  endmembers: number;
  /** Number of implanted targets. */
  anomalies: number;
  /** Max target side in pixels; each target is 1..anomalySize px across. */
  anomalySize: number;
  /** Std of the additive Gaussian noise (reflectance units; the signal is roughly in [0, 1]). */
  noise: number;
  seed: number;
}

export interface SyntheticHsi {
  rows: number;
  cols: number;
  bands: number;
  /** Row-major, pixel-interleaved: data[(r*cols + c)*bands + b]. */
  data: Float32Array;
  /** rows*cols; 1 = anomaly. */
  mask: Uint8Array;
}

export function syntheticHsi(p: SyntheticHsiParams): SyntheticHsi {
  validate(p);
  const { rows, cols, bands } = p;
  const root = new Prng(p.seed);
  // Independent streams per stage, so changing e.g. the noise level leaves the scene layout alone.
  const rSpec = root.fork('spectra');
  const rAbund = root.fork('abundance');
  const rTarget = root.fork('anomalies');
  const rNoise = root.fork('noise');

  const ends: Float64Array[] = [];
  for (let k = 0; k < p.endmembers; k++) ends.push(smoothSpectrum(rSpec, bands, 3 + rSpec.int(3)));

  // Soft Voronoi-like regions: softmax over per-endmember smooth fields.
  const scale = Math.max(4, Math.min(rows, cols) / 4);
  const fields = ends.map(() => smoothField(rAbund, rows, cols, scale));
  const illum = smoothField(rAbund, rows, cols, scale * 1.5);
  const sharp = 3;
  const npx = rows * cols;
  const bg = new Float64Array(npx * bands);
  const w = new Float64Array(p.endmembers);
  for (let i = 0; i < npx; i++) {
    let max = -Infinity;
    for (let k = 0; k < p.endmembers; k++) max = Math.max(max, fields[k][i]);
    let sum = 0;
    for (let k = 0; k < p.endmembers; k++) sum += w[k] = Math.exp(sharp * (fields[k][i] - max));
    const gain = 1 + 0.08 * illum[i];
    for (let b = 0; b < bands; b++) {
      let x = 0;
      for (let k = 0; k < p.endmembers; k++) x += w[k] * ends[k][b];
      bg[i * bands + b] = (gain * x) / sum;
    }
  }

  // Targets: a novel spectrum partly blended with a background material, so it is distinct but
  // not alien; each target gets its own small variation.
  const mask = new Uint8Array(npx);
  const data = new Float32Array(npx * bands);
  for (let i = 0; i < bg.length; i++) data[i] = bg[i];
  const novel = smoothSpectrum(rTarget, bands, 4 + rTarget.int(3), 0.06);
  for (let a = 0; a < p.anomalies; a++) {
    const base = ends[rTarget.int(ends.length)];
    const novelty = 0.35 + 0.45 * rTarget.uniform();
    const target = new Float64Array(bands);
    const tilt = 0.1 * rTarget.normal();
    for (let b = 0; b < bands; b++) {
      const t = novelty * novel[b] + (1 - novelty) * base[b];
      target[b] = Math.max(0.01, t * (1 + tilt * (b / Math.max(1, bands - 1) - 0.5)));
    }
    const side = 1 + rTarget.int(p.anomalySize);
    const frac = 0.3 + 0.6 * rTarget.uniform();
    const r0 = rTarget.int(Math.max(1, rows - side + 1));
    const c0 = rTarget.int(Math.max(1, cols - side + 1));
    const rad = side / 2;
    const cr = r0 + rad - 0.5;
    const cc = c0 + rad - 0.5;
    for (let r = r0; r < Math.min(rows, r0 + side); r++) {
      for (let c = c0; c < Math.min(cols, c0 + side); c++) {
        // Roughly round blobs; pixels on the rim hold less of the target (partial coverage).
        const d = Math.hypot(r - cr, c - cc) / Math.max(rad, 0.5);
        if (side > 2 && d > 1.15) continue;
        const f = side > 2 && d > 0.7 ? frac * 0.6 : frac;
        const i = r * cols + c;
        mask[i] = 1;
        for (let b = 0; b < bands; b++) data[i * bands + b] = (1 - f) * bg[i * bands + b] + f * target[b];
      }
    }
  }

  if (p.noise > 0) for (let i = 0; i < data.length; i++) data[i] += p.noise * rNoise.normal();
  return { rows, cols, bands, data, mask };
}

function validate(p: SyntheticHsiParams): void {
  const ints: Array<[keyof SyntheticHsiParams, number]> = [
    ['rows', 1],
    ['cols', 1],
    ['bands', 1],
    ['endmembers', 1],
    ['anomalies', 0],
    ['anomalySize', 1],
  ];
  for (const [k, min] of ints) {
    const v = p[k];
    if (!Number.isInteger(v) || v < min) throw new UserError(`syntheticHsi: ${k} must be an integer ≥ ${min}, got ${v}`);
  }
  if (!(p.noise >= 0) || !Number.isFinite(p.noise)) throw new UserError(`syntheticHsi: noise must be ≥ 0, got ${p.noise}`);
  if (!Number.isFinite(p.seed)) throw new UserError(`syntheticHsi: seed must be a number, got ${p.seed}`);
}

/** A smooth reflectance-like spectrum: a sloped baseline plus Gaussian absorption/reflection bumps. */
function smoothSpectrum(rng: Prng, bands: number, bumps: number, minWidth = 0.08): Float64Array {
  const s = new Float64Array(bands);
  const base = 0.15 + 0.25 * rng.uniform();
  const slope = 0.25 * (rng.uniform() - 0.4);
  const centers: number[] = [];
  const widths: number[] = [];
  const amps: number[] = [];
  for (let j = 0; j < bumps; j++) {
    centers.push(-0.1 + 1.2 * rng.uniform());
    widths.push(minWidth + 0.22 * rng.uniform());
    amps.push((rng.uniform() < 0.7 ? 1 : -0.6) * (0.08 + 0.3 * rng.uniform()));
  }
  for (let b = 0; b < bands; b++) {
    const x = bands === 1 ? 0.5 : b / (bands - 1);
    let v = base + slope * x;
    for (let j = 0; j < bumps; j++) v += amps[j] * Math.exp(-0.5 * ((x - centers[j]) / widths[j]) ** 2);
    s[b] = Math.min(0.95, Math.max(0.02, v));
  }
  return s;
}

/** A smooth zero-mean random field (two octaves of smoothly interpolated lattice noise), rows*cols. */
function smoothField(rng: Prng, rows: number, cols: number, scale: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (const [sc, amp] of [
    [scale, 1],
    [scale / 2.5, 0.35],
  ]) {
    const s = Math.max(1.5, sc);
    const gh = Math.ceil(rows / s) + 2;
    const gw = Math.ceil(cols / s) + 2;
    const g = new Float64Array(gh * gw);
    for (let i = 0; i < g.length; i++) g[i] = rng.normal();
    for (let r = 0; r < rows; r++) {
      const y = r / s;
      const y0 = Math.floor(y);
      const ty = smoothstep(y - y0);
      for (let c = 0; c < cols; c++) {
        const x = c / s;
        const x0 = Math.floor(x);
        const tx = smoothstep(x - x0);
        const v00 = g[y0 * gw + x0];
        const v01 = g[y0 * gw + x0 + 1];
        const v10 = g[(y0 + 1) * gw + x0];
        const v11 = g[(y0 + 1) * gw + x0 + 1];
        out[r * cols + c] += amp * ((1 - ty) * ((1 - tx) * v00 + tx * v01) + ty * ((1 - tx) * v10 + tx * v11));
      }
    }
  }
  return out;
}

function smoothstep(t: number): number {
  return t * t * (3 - 2 * t);
}
