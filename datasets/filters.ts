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
  if (indices.length === bands) return { data, bands, indices };
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
