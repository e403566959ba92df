/**
 * Reader for IDX files, the format of the MNIST distribution (LeCun et al.): a big-endian header
 * of two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
 * 0x0E float64), the number of dimensions, then one uint32 per dimension, then the values,
 * big-endian, row-major. Gzipped files (as MNIST is served, `*.gz`) are recognised by their magic
 * bytes, whatever the file is called, and inflated with node:zlib.
 */
import { gunzipSync } from 'node:zlib';
import { UserError } from '../core/errors.js';
import { readDatasetFile } from './read-file.js';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
  dims: number[];
  /** Row-major, native byte order. */
  data: IdxData;
}

export interface MnistSet {
  n: number;
  rows: number;
  cols: number;
  /** n×rows×cols, row-major, 0–255. */
  images: Uint8Array;
  /** n labels, when a labels file was given. */
  labels?: Uint8Array;
}

const TYPES: Record<number, { dtype: IdxArray['dtype']; size: number; read: (v: DataView, o: number) => number; ctor: new (n: number) => IdxData }> = {
  0x08: { dtype: 'uint8', size: 1, read: (v, o) => v.getUint8(o), ctor: Uint8Array },
  0x09: { dtype: 'int8', size: 1, read: (v, o) => v.getInt8(o), ctor: Int8Array },
  0x0b: { dtype: 'int16', size: 2, read: (v, o) => v.getInt16(o, false), ctor: Int16Array },
  0x0c: { dtype: 'int32', size: 4, read: (v, o) => v.getInt32(o, false), ctor: Int32Array },
  0x0d: { dtype: 'float32', size: 4, read: (v, o) => v.getFloat32(o, false), ctor: Float32Array },
  0x0e: { dtype: 'float64', size: 8, read: (v, o) => v.getFloat64(o, false), ctor: Float64Array },
};

const HINT = 'expected an IDX file such as train-images-idx3-ubyte (optionally .gz)';

/** Parses an IDX file held in memory (gzipped or not); `source` names it in errors. */
export function parseIdx(buf: Uint8Array, source = 'IDX file'): IdxArray {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new UserError(`${source}: gzip data could not be inflated (${(e as Error).message})`, { hint: 'the download is incomplete or corrupt', cause: e });
    }
  }
  if (buf.length < 4) throw new UserError(`${source}: too short for an IDX header (${buf.length} bytes)`, { hint: HINT });
  if (buf[0] !== 0 || buf[1] !== 0) {
    const magic = Buffer.from(buf.subarray(0, 4)).toString('hex');
    throw new UserError(`${source}: bad magic 0x${magic} (an IDX file starts with two zero bytes)`, { hint: HINT });
  }
  const t = TYPES[buf[2]];
  if (!t) throw new UserError(`${source}: unknown IDX type code 0x${buf[2].toString(16).padStart(2, '0')}`, { hint: HINT });
  const ndim = buf[3];
  if (ndim < 1) throw new UserError(`${source}: IDX header declares 0 dimensions`, { hint: HINT });
  const head = 4 + 4 * ndim;
  if (buf.length < head) throw new UserError(`${source}: truncated header: ${ndim} dimensions need ${head} bytes, the file has ${buf.length}`, { hint: HINT });
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const n = dims.reduce((a, b) => a * b, 1);
  const expected = head + n * t.size;
  if (buf.length !== expected) {
    const what = buf.length < expected ? 'truncated' : 'longer than its header says';
    throw new UserError(`${source}: ${what}: dims [${dims.join('×')}] ${t.dtype} need ${expected} bytes, found ${buf.length}`, {
      hint: 'the file is incomplete or corrupt; download it again',
    });
  }
  let data: IdxData;
  if (t.size === 1) {
    // Copy so the result does not pin (or alias) the file buffer.
    data = t.dtype === 'uint8' ? Uint8Array.from(buf.subarray(head)) : new Int8Array(Uint8Array.from(buf.subarray(head)).buffer);
  } else {
    data = new t.ctor(n);
    for (let i = 0, o = head; i < n; i++, o += t.size) data[i] = t.read(view, o);
  }
  return { dtype: t.dtype, dims, data };
}

const load = (path: string, what: string) => readDatasetFile(path, what);

/** Reads any IDX file (or its .gz). */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await load(path, 'IDX file'), path);
}

/**
 * Reads MNIST-style images (idx3-ubyte: n×rows×cols uint8) and, optionally, their labels
 * (idx1-ubyte: n uint8); the two must agree on n.
 */
export async function readMnist(imagesPath: string, labelsPath?: string): Promise<MnistSet> {
  const im = await readIdx(imagesPath);
  if (im.dtype !== 'uint8' || im.dims.length !== 3) {
    throw new UserError(`${imagesPath}: expected idx3-ubyte images (uint8, 3 dims), found ${im.dtype} with ${im.dims.length} dims [${im.dims.join('×')}]`, {
      hint: 'is this the labels file? images are *-images-idx3-ubyte',
    });
  }
  const [n, rows, cols] = im.dims;
  const set: MnistSet = { n, rows, cols, images: im.data as Uint8Array };
  if (labelsPath !== undefined) {
    const lb = await readIdx(labelsPath);
    if (lb.dtype !== 'uint8' || lb.dims.length !== 1) {
      throw new UserError(`${labelsPath}: expected idx1-ubyte labels (uint8, 1 dim), found ${lb.dtype} with ${lb.dims.length} dims [${lb.dims.join('×')}]`, {
        hint: 'is this the images file? labels are *-labels-idx1-ubyte',
      });
    }
    if (lb.dims[0] !== n) throw new UserError(`${labelsPath}: ${lb.dims[0]} labels for ${n} images in ${imagesPath}`, { hint: 'pair train images with train labels, test with test' });
    set.labels = lb.data as Uint8Array;
  }
  return set;
}
