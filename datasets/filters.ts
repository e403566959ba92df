/** Pixel-wise filters on rows×cols×bands cubes (row-major, band-interleaved by pixel). */
import { UserError } from '../core/errors.js';

export function findNonFinite(data: Float32Array | Float64Array, bands: number): { count: number; first: { pixel: number; band: number; value: number } } | undefined {
  let count = 0;
  let first: { pixel: number; band: number; value: number } | undefined;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      count++;
      first ??= { pixel: Math.floor(i / bands), band: i % bands, value: data[i] };
    }
  }
  return first ? { count, first } : undefined;
}

export function selectBands(data: Float32Array, bands: number, sel: { start: number; end?: number; step: number }): { data: Float32Array; bands: number; indices: number[] } {
  const end = sel.end ?? bands;
  if (sel.start >= bands || end > bands || sel.start >= end) {
    throw new UserError(`band selection [${sel.start}, ${end}) does not fit a cube of ${bands} bands`, { hint: 'adjust filter.bands' });
  }
  const indices: number[] = [];
  for (let b = sel.start; b < end; b += sel.step) indices.push(b);
  return takeBands(data, bands, indices);
}

/** The given bands of a pixel-interleaved cube, in that order. */
export function takeBands(data: Float32Array, bands: number, indices: number[]): { data: Float32Array; bands: number; indices: number[] } {
  if (indices.length === bands && indices.every((b, i) => b === i)) return { data, bands, indices };
  const n = data.length / bands;
  const out = new Float32Array(n * indices.length);
  for (let p = 0; p < n; p++) for (let j = 0; j < indices.length; j++) out[p * indices.length + j] = data[p * bands + indices[j]];
  return { data: out, bands: indices.length, indices };
}

/** Global scaling: 'minmax' maps all values to [-1, 1]; 'zscore' to zero mean and unit variance. */
export function normalize(data: Float32Array, how: 'none' | 'minmax' | 'zscore'): { data: Float32Array; stats: Record<string, number> } {
  if (how === 'none') return { data, stats: {} };
  let a = 0;
  let b = 0;
  if (how === 'minmax') {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of data) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const scale = hi > lo ? 2 / (hi - lo) : 1;
    a = scale;
    b = -1 - lo * scale;
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i] * a + b;
    return { data: out, stats: { min: lo, max: hi } };
  }
  let mean = 0;
  for (const x of data) mean += x;
  mean /= data.length || 1;
  let v = 0;
  for (const x of data) v += (x - mean) * (x - mean);
  const sd = Math.sqrt(v / Math.max(1, data.length - 1)) || 1;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] - mean) / sd;
  return { data: out, stats: { mean, sd } };
}

/** Relative std below which a band counts as constant (float32 carries ~7 significant digits). */
const NEAR_ZERO_REL_STD = 1e-6;

function checkCube(data: Float32Array, rows: number, cols: number, bands: number): void {
  if (![rows, cols, bands].every((n) => Number.isInteger(n) && n >= 1) || data.length !== rows * cols * bands) {
    throw new UserError(`cube of ${data.length} values does not match ${rows}×${cols}×${bands}`);
  }
}

/**
 * Noisy bands (water absorption, sensor edges). Per band, on float64:
 *   signal = mean over pixels of |x|
 *   noise  = std of horizontal neighbour differences x[r, c+1] − x[r, c], divided by √2
 * (for white noise of std σ on a locally smooth scene a difference has std σ√2, and the scene's
 * own gradient mostly cancels; subtracting the differences' mean removes a constant ramp).
 * SNR = signal / noise (Infinity for a noise-free band with signal, 0 when both are 0). A band is
 * flagged when its SNR is below `minSnr` (or NaN: non-finite values), or when its own std is
 * near zero (below 1e-6 of its mean |x|: a dead or saturated band). Returns flagged band indices
 * in ascending order and every band's SNR. Needs at least 2 columns.
 */
export function noisyBands(data: Float32Array, rows: number, cols: number, bands: number, minSnr: number): { flagged: number[]; snr: Float64Array } {
  checkCube(data, rows, cols, bands);
  if (cols < 2) throw new UserError(`noisy-band estimate needs at least 2 columns, the cube has ${cols}`);
  const n = rows * cols;
  const nd = rows * (cols - 1);
  const sumAbs = new Float64Array(bands);
  const sum = new Float64Array(bands);
  const dSum = new Float64Array(bands);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = (r * cols + c) * bands;
      for (let b = 0; b < bands; b++) {
        const x = data[i + b];
        sumAbs[b] += Math.abs(x);
        sum[b] += x;
        if (c + 1 < cols) dSum[b] += data[i + bands + b] - x;
      }
    }
  }
  // Second pass around the means: the one-pass variance cancels badly on radiance-sized values.
  const mean = sum.map((s) => s / n);
  const dMean = dSum.map((s) => s / nd);
  const ss = new Float64Array(bands);
  const dss = new Float64Array(bands);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = (r * cols + c) * bands;
      for (let b = 0; b < bands; b++) {
        const x = data[i + b];
        ss[b] += (x - mean[b]) * (x - mean[b]);
        if (c + 1 < cols) {
          const d = data[i + bands + b] - x - dMean[b];
          dss[b] += d * d;
        }
      }
    }
  }
  const snr = new Float64Array(bands);
  const flagged: number[] = [];
  for (let b = 0; b < bands; b++) {
    const signal = sumAbs[b] / n;
    const noise = Math.sqrt(dss[b] / nd) / Math.SQRT2;
    snr[b] = noise > 0 ? signal / noise : signal > 0 ? Infinity : Number.isNaN(signal) ? NaN : 0;
    const std = Math.sqrt(ss[b] / n);
    const constant = !(std > NEAR_ZERO_REL_STD * signal) || std === 0;
    if (!(snr[b] >= minSnr) || constant) flagged.push(b);
  }
  return { flagged, snr };
}

/**
 * Square root of every value (Eide 2018's data had it applied to equalise noise across bands).
 * Negative values (dark-current offsets) are clipped to 0 and counted; NaN stays NaN.
 */
export function sqrtTransform(data: Float32Array): { data: Float32Array; negatives: number } {
  const out = new Float32Array(data.length);
  let negatives = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (x < 0) {
      negatives++;
      out[i] = 0;
    } else {
      out[i] = x > 0 ? Math.sqrt(x) : x === 0 ? 0 : x; // x === 0 also maps -0 to 0; NaN falls through
    }
  }
  return { data: out, negatives };
}

/**
 * Per-band standardisation: (x − mean_b) / std_b with float64 sums and the population std (÷N,
 * as scikit-learn's StandardScaler), so each output band has mean 0 and std 1 exactly up to
 * float32 rounding. A band with (near-)zero variance becomes all 0, its std is reported as 0 and
 * its index listed in `constantBands`. Apply the returned mean/std to other splits yourself
 * (fit on training data only).
 */
export function standardizeBands(data: Float32Array, bands: number): { data: Float32Array; mean: Float64Array; std: Float64Array; constantBands: number[] } {
  if (!Number.isInteger(bands) || bands < 1 || data.length % bands !== 0) {
    throw new UserError(`cube of ${data.length} values is not a whole number of ${bands}-band pixels`);
  }
  const n = data.length / bands;
  const mean = new Float64Array(bands);
  const std = new Float64Array(bands);
  if (n === 0) return { data: new Float32Array(0), mean, std, constantBands: [] };
  for (let i = 0; i < data.length; i += bands) for (let b = 0; b < bands; b++) mean[b] += data[i + b];
  for (let b = 0; b < bands; b++) mean[b] /= n;
  for (let i = 0; i < data.length; i += bands) {
    for (let b = 0; b < bands; b++) {
      const d = data[i + b] - mean[b];
      std[b] += d * d;
    }
  }
  const constantBands: number[] = [];
  const inv = new Float64Array(bands);
  for (let b = 0; b < bands; b++) {
    std[b] = Math.sqrt(std[b] / n);
    if (!(std[b] > NEAR_ZERO_REL_STD * Math.abs(mean[b])) || std[b] === 0) {
      std[b] = 0;
      constantBands.push(b);
    } else inv[b] = 1 / std[b];
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += bands) for (let b = 0; b < bands; b++) out[i + b] = inv[b] === 0 ? 0 : (data[i + b] - mean[b]) * inv[b];
  return { data: out, mean, std, constantBands };
}

/**
 * Linear map of [lo, hi] onto [-1, 1] (the generator's tanh range; Eide 2018's only scaling).
 * lo/hi default to the data's finite min/max; pass the training split's to scale other splits the
 * same way, in which case values outside [lo, hi] land outside [-1, 1] (not clipped: an anomaly's
 * extreme value is signal). Constant data (lo = hi from the data) maps to 0. Returns the lo/hi used.
 */
export function rescaleToUnit(data: Float32Array, lo?: number, hi?: number): { data: Float32Array; min: number; max: number } {
  if ((lo !== undefined && !Number.isFinite(lo)) || (hi !== undefined && !Number.isFinite(hi))) {
    throw new UserError(`rescale bounds must be finite numbers, got [${lo}, ${hi}]`);
  }
  let min = lo ?? Infinity;
  let max = hi ?? -Infinity;
  if (lo === undefined || hi === undefined) {
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (!Number.isFinite(x)) continue;
      if (lo === undefined && x < min) min = x;
      if (hi === undefined && x > max) max = x;
    }
  }
  const out = new Float32Array(data.length);
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { data: out.fill(NaN), min: NaN, max: NaN }; // no finite value
  if (min > max || (min === max && lo !== undefined && hi !== undefined)) {
    throw new UserError(`rescale range [${min}, ${max}] is empty`, { hint: 'lo must be below hi' });
  }
  if (min === max) return { data: out, min, max };
  const scale = 2 / (max - min);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] - min) * scale - 1;
  return { data: out, min, max };
}
