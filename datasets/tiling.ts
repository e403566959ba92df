/** Turn a cube into samples: one per pixel (its spectrum) or one size×size window per pixel. */

/** Samples centred on every pixel: n = rows*cols, dim = size*size*bands (size 1 = the spectrum). */
export function tileCube(cube: Float32Array, rows: number, cols: number, bands: number, size: number): { n: number; dim: number; data: Float32Array } {
  if (size === 1) return { n: rows * cols, dim: bands, data: cube };
  const r = (size - 1) / 2;
  const dim = size * size * bands;
  const out = new Float32Array(rows * cols * dim);
  let o = 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      for (let dy = -r; dy <= r; dy++) {
        const yy = reflect(y + dy, rows);
        for (let dx = -r; dx <= r; dx++) {
          const src = (yy * cols + reflect(x + dx, cols)) * bands;
          out.set(cube.subarray(src, src + bands), o);
          o += bands;
        }
      }
    }
  }
  return { n: rows * cols, dim, data: out };
}

/** Mirror an index into [0, n) without repeating the edge (…2 1 | 0 1 2 … n-1 | n-2 …). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/** Indices of the training samples: all, or those labelled normal. */
export function trainingIndices(labels: Uint8Array, which: 'background' | 'all'): Int32Array {
  if (which === 'all') return Int32Array.from({ length: labels.length }, (_, i) => i);
  const idx: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === 0) idx.push(i);
  return Int32Array.from(idx);
}

export function gather(data: Float32Array, dim: number, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length * dim);
  for (let i = 0; i < indices.length; i++) out.set(data.subarray(indices[i] * dim, indices[i] * dim + dim), i * dim);
  return out;
}
