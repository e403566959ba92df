/**
 * The binary format gantry uses for arrays passed between steps (cubes, samples, labels,
 * scores, weights): a small JSON header followed by the raw little-endian values.
 *
 *   bytes 0..3  "GTNS"
 *   bytes 4..7  header length H (uint32 LE)
 *   bytes 8..8+H  JSON {dtype, shape, meta?}
 *   padding to an 8-byte boundary, then the values
 */
export type DType = 'float32' | 'float64' | 'int32' | 'uint8' | 'uint16';
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array;

export interface NdArray<T extends TypedArray = TypedArray> {
  dtype: DType;
  shape: number[];
  data: T;
  meta?: Record<string, unknown>;
}

const MAGIC = 'GTNS';
const CTOR = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array };

export function dtypeOf(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint16Array) return 'uint16';
  return 'uint8';
}

export function ndarray<T extends TypedArray>(data: T, shape: number[], meta?: Record<string, unknown>): NdArray<T> {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`shape [${shape}] holds ${n} values, data has ${data.length}`);
  return { dtype: dtypeOf(data), shape, data, meta };
}

export function encodeNd(a: NdArray): Buffer {
  const header = Buffer.from(JSON.stringify({ dtype: a.dtype, shape: a.shape, meta: a.meta ?? {} }), 'utf8');
  const start = Math.ceil((8 + header.length) / 8) * 8;
  const body = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = Buffer.alloc(start + body.length);
  out.write(MAGIC, 0, 'ascii');
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  body.copy(out, start);
  return out;
}

export function decodeNd(buf: Uint8Array, what = 'array'): NdArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8 || b.toString('ascii', 0, 4) !== MAGIC) throw new Error(`${what}: not a gantry array file`);
  const hlen = b.readUInt32LE(4);
  const header = JSON.parse(b.toString('utf8', 8, 8 + hlen)) as { dtype: DType; shape: number[]; meta: Record<string, unknown> };
  const start = Math.ceil((8 + hlen) / 8) * 8;
  const Ctor = CTOR[header.dtype];
  if (!Ctor) throw new Error(`${what}: unknown dtype ${header.dtype}`);
  const n = header.shape.reduce((x, y) => x * y, 1);
  if (b.length - start !== n * Ctor.BYTES_PER_ELEMENT) throw new Error(`${what}: truncated (expected ${n} values)`);
  // Copy into a fresh, aligned buffer: the source may be a slice of a pooled Buffer.
  const data = new Ctor(n);
  new Uint8Array(data.buffer).set(b.subarray(start, start + n * Ctor.BYTES_PER_ELEMENT));
  return { dtype: header.dtype, shape: header.shape, data, meta: header.meta };
}
