/**
 * Named arrays packed into one gantry array file (datasets/tensor-file) of dtype uint8 whose meta
 * lists them at 8-byte-aligned offsets. Self-describing, and every value is stored exactly
 * (float32 as float32), which is what bit-identical resume needs. Model files and training
 * checkpoints of every tfjs detector use it.
 */
import { decodeNd, dtypeOf, encodeNd, type DType, type TypedArray } from '../../datasets/tensor-file.js';


export interface Packed {
  name: string;
  data: TypedArray;
  shape: number[];
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
}

export function pack(meta: Record<string, unknown>, arrays: Packed[]): Uint8Array {
  const entries: Entry[] = [];
  let size = 0;
  for (const a of arrays) {
    size = Math.ceil(size / 8) * 8;
    entries.push({ name: a.name, dtype: dtypeOf(a.data), shape: a.shape, offset: size });
    size += a.data.byteLength;
  }
  const body = new Uint8Array(size);
  arrays.forEach((a, i) => body.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), entries[i].offset));
  return encodeNd({ dtype: 'uint8', shape: [size], data: body, meta: { ...meta, arrays: entries } });
}

const CTOR = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array };

export function unpack(bytes: Uint8Array, what: string): { meta: Record<string, unknown>; arrays: Map<string, Packed> } {
  const nd = decodeNd(bytes, what);
  const meta = nd.meta ?? {};
  const entries = meta.arrays as Entry[] | undefined;
  if (nd.dtype !== 'uint8' || !Array.isArray(entries)) throw new Error(`${what}: not a packed array file`);
  const body = nd.data as Uint8Array;
  const arrays = new Map<string, Packed>();
  for (const e of entries) {
    const Ctor = CTOR[e.dtype];
    if (!Ctor) throw new Error(`${what}: array ${e.name} has unknown dtype ${e.dtype}`);
    const n = e.shape.reduce((x, y) => x * y, 1);
    const end = e.offset + n * Ctor.BYTES_PER_ELEMENT;
    if (end > body.length) throw new Error(`${what}: array ${e.name} is truncated`);
    // slice() copies into a fresh, aligned buffer.
    const data = new Ctor(body.slice(e.offset, end).buffer);
    arrays.set(e.name, { name: e.name, data, shape: e.shape });
  }
  return { meta, arrays };
}
