/**
 * Samples as steps and detectors see them: n items, each a float32 tensor of one shape —
 * `[h, w, c]` images and patches, `[bands]` spectra, `[k, k, bands]` windows, `[2]` points —
 * read in batches, so a sample set never has to fit in memory. Shared by datasets/ (which
 * writes and reads sample sets), models/ (which trains on them) and activities/.
 */

/** A batch held in memory: `n` items of `shape`, row-major, item after item. */
export interface Samples {
  n: number;
  /** Values per item: the product of `shape`. */
  dim: number;
  data: Float32Array;
  /** Per-item shape; `[dim]` when absent. */
  shape?: readonly number[];
}

/** A sample set read on demand (from a step's shards, or from memory). */
export interface SampleSource {
  readonly n: number;
  /** Per-item shape. */
  readonly shape: readonly number[];
  /** Values per item. */
  readonly dim: number;
  /** Items [start, start + count), in order. */
  read(start: number, count: number): Promise<Float32Array>;
  /** Items at the given indices, in that order. */
  gather(indices: ArrayLike<number>): Promise<Float32Array>;
}

export const itemSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A source over an array already in memory. */
export function memorySource(s: Samples): SampleSource {
  const shape = s.shape ?? [s.dim];
  if (itemSize(shape) !== s.dim) throw new Error(`shape [${shape}] does not hold ${s.dim} values`);
  return {
    n: s.n,
    shape,
    dim: s.dim,
    read: async (start, count) => s.data.subarray(start * s.dim, (start + count) * s.dim),
    gather: async (idx) => {
      const out = new Float32Array(idx.length * s.dim);
      for (let i = 0; i < idx.length; i++) out.set(s.data.subarray(idx[i] * s.dim, (idx[i] + 1) * s.dim), i * s.dim);
      return out;
    },
  };
}

/** Every item of a source in memory: for detectors that need all of it at once (RX over spectra). */
export async function materialize(src: SampleSource): Promise<Samples> {
  return { n: src.n, dim: src.dim, shape: src.shape, data: await src.read(0, src.n) };
}

/** The items of a source, `size` at a time, in order. */
export async function* batchesOf(src: SampleSource, size: number): AsyncGenerator<{ start: number; count: number; data: Float32Array }> {
  for (let start = 0; start < src.n; start += size) {
    const count = Math.min(size, src.n - start);
    yield { start, count, data: await src.read(start, count) };
  }
}

/** A view of some items of a source (a split), by index into it. */
export function subsetSource(src: SampleSource, indices: Int32Array): SampleSource {
  return {
    n: indices.length,
    shape: src.shape,
    dim: src.dim,
    read: (start, count) => src.gather(indices.subarray(start, start + count)),
    gather: (idx) => src.gather(Int32Array.from(idx as ArrayLike<number>, (i) => indices[i])),
  };
}
