/**
 * Reader for MATLAB Level 5 MAT-files (MathWorks, "MAT-File Format"), numeric arrays only.
 *
 * Handles both byte orders, full and small (packed) data-element tags, miCOMPRESSED elements,
 * complex and logical arrays, N-D dims, and storage types narrower than the array class (MATLAB
 * saves e.g. a double array of small integers as miUINT8). Cell, struct, char, sparse and object
 * variables are skipped; asking for one by name is a UserError. v7.3 (HDF5) files are rejected.
 */
import { readFile } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { UserError } from '../core/errors.js';

export type MatData =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface MatVariable {
  name: string;
  /** 'double', 'single', 'int8', ..., 'uint64', or 'logical'. */
  className: string;
  dims: number[];
  /** Column-major, as stored. */
  data: MatData;
  /** Imaginary part of a complex array, same type and order as data. */
  imag?: MatData;
  /**
   * How the real part was stored on disk ('uint8', 'uint16', ..., 'double'). MATLAB narrows
   * storage when values fit, so a 'double' array may be stored as 'uint16' (scipy.io.loadmat
   * reports that storage type as the array's dtype; MATLAB's class() reports className).
   */
  storedAs?: string;
}

export interface ReadMatOptions {
  /**
   * Only these variables are returned; each must exist and be numeric or logical (else UserError).
   * Other variables are not decoded (compressed ones are still inflated to learn their name).
   */
  variables?: string[];
}

// Data types (MAT-File Format, table 1-1).
const miINT8 = 1;
const miUINT8 = 2;
const miINT16 = 3;
const miUINT16 = 4;
const miINT32 = 5;
const miUINT32 = 6;
const miSINGLE = 7;
const miDOUBLE = 9;
const miINT64 = 12;
const miUINT64 = 13;
const miMATRIX = 14;
const miCOMPRESSED = 15;
const miUTF8 = 16;
const miUTF16 = 17;
const miUTF32 = 18;

type AnyCtor =
  | Float64ArrayConstructor
  | Float32ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

const STORAGE_NAME: Record<number, string> = {
  [miINT8]: 'int8',
  [miUINT8]: 'uint8',
  [miINT16]: 'int16',
  [miUINT16]: 'uint16',
  [miINT32]: 'int32',
  [miUINT32]: 'uint32',
  [miSINGLE]: 'single',
  [miDOUBLE]: 'double',
  [miINT64]: 'int64',
  [miUINT64]: 'uint64',
  [miUTF8]: 'uint8',
  [miUTF16]: 'uint16',
  [miUTF32]: 'uint32',
};

const STORAGE: Record<number, AnyCtor> = {
  [miINT8]: Int8Array,
  [miUINT8]: Uint8Array,
  [miINT16]: Int16Array,
  [miUINT16]: Uint16Array,
  [miINT32]: Int32Array,
  [miUINT32]: Uint32Array,
  [miSINGLE]: Float32Array,
  [miDOUBLE]: Float64Array,
  [miINT64]: BigInt64Array,
  [miUINT64]: BigUint64Array,
  [miUTF8]: Uint8Array,
  [miUTF16]: Uint16Array,
  [miUTF32]: Uint32Array,
};

// Array classes (table 1-3): numeric ones with the typed array they decode to.
const NUMERIC_CLASS: Record<number, [string, AnyCtor]> = {
  6: ['double', Float64Array],
  7: ['single', Float32Array],
  8: ['int8', Int8Array],
  9: ['uint8', Uint8Array],
  10: ['int16', Int16Array],
  11: ['uint16', Uint16Array],
  12: ['int32', Int32Array],
  13: ['uint32', Uint32Array],
  14: ['int64', BigInt64Array],
  15: ['uint64', BigUint64Array],
};
const OTHER_CLASS: Record<number, string> = {
  1: 'cell',
  2: 'struct',
  3: 'object',
  4: 'char',
  5: 'sparse',
  16: 'function',
  17: 'opaque',
};
const mxOPAQUE = 17;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Tag {
  type: number;
  nbytes: number;
  /** Offset of the element's data. */
  start: number;
  /** Offset of the next element (after padding). */
  next: number;
}

/** A variable that was seen but not decoded, kept so a request by name can say why. */
interface Skipped {
  name: string;
  className: string;
}

class Parser {
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly le: boolean,
    private readonly source: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(msg: string, hint?: string): never {
    throw new UserError(`${this.source}: ${msg}`, { hint: hint ?? 'the file is truncated or not a valid MAT-file; re-save it from MATLAB with save -v7' });
  }

  u32(pos: number): number {
    return this.view.getUint32(pos, this.le);
  }

  /** Reads the tag at pos; the element must end by `end`. */
  tag(pos: number, end: number, what: string): Tag {
    if (pos + 8 > end) this.fail(`truncated: ${what} at byte ${pos} needs an 8-byte tag, ${Math.max(0, end - pos)} bytes left`);
    const w = this.u32(pos);
    if (w >>> 16 !== 0) {
      // Small data element: size in the upper half-word, up to 4 bytes of data packed into the tag.
      const nbytes = w >>> 16;
      if (nbytes > 4) this.fail(`garbled ${what} at byte ${pos}: small data element claims ${nbytes} bytes (max 4)`);
      return { type: w & 0xffff, nbytes, start: pos + 4, next: pos + 8 };
    }
    const nbytes = this.u32(pos + 4);
    const start = pos + 8;
    if (start + nbytes > end) {
      this.fail(`truncated: ${what} at byte ${pos} declares ${nbytes} bytes but only ${end - start} remain`);
    }
    // Compressed elements are not padded; everything else is padded to 8 bytes (relative to the
    // element's own start, which matters after an unaligned compressed element).
    const next = w === miCOMPRESSED ? start + nbytes : Math.min(end, start + Math.ceil(nbytes / 8) * 8);
    return { type: w, nbytes, start, next };
  }

  /** The element's values in native byte order, typed by their storage type. */
  numeric(t: Tag, what: string): MatData {
    const Ctor = STORAGE[t.type];
    if (!Ctor) this.fail(`garbled ${what}: unexpected data type ${t.type}`);
    const size = Ctor.BYTES_PER_ELEMENT;
    if (t.nbytes % size !== 0) this.fail(`garbled ${what}: ${t.nbytes} bytes is not a whole number of ${size}-byte values`);
    // Copy into a fresh aligned buffer (not Buffer#slice, which shares memory): the source offset
    // need not be a multiple of the value size, and big-endian data is swapped in place.
    const bytes = new Uint8Array(t.nbytes);
    bytes.set(this.buf.subarray(t.start, t.start + t.nbytes));
    if (size > 1 && this.le !== HOST_LE) swapBytes(bytes, size);
    return new Ctor(bytes.buffer, 0, t.nbytes / size);
  }

  /** Parses a sequence of top-level elements in [pos, end). */
  elements(pos: number, end: number, want: (name: string) => boolean, out: Map<string, MatVariable>, skipped: Skipped[], subsys: number): void {
    while (pos < end) {
      if (end - pos < 8) {
        // Zero padding after the last element is harmless; anything else is a cut-off tag.
        if (this.buf.subarray(pos, end).every((b) => b === 0)) return;
        this.fail(`truncated: ${end - pos} stray bytes at byte ${pos} where a data element tag should start`);
      }
      const t = this.tag(pos, end, 'data element');
      if (t.type === miCOMPRESSED) {
        const inner = this.inflate(t, pos);
        const p = new Parser(inner, this.le, `${this.source} (compressed element at byte ${pos})`);
        p.elements(0, inner.length, want, out, skipped, -1);
      } else if (t.type === miMATRIX && t.nbytes > 0 && pos !== subsys) {
        this.matrix(t.start, t.start + t.nbytes, want, out, skipped);
      }
      // Other top-level element types carry no variable; skip them.
      pos = t.next;
    }
  }

  inflate(t: Tag, pos: number): Uint8Array {
    try {
      return inflateSync(this.buf.subarray(t.start, t.start + t.nbytes));
    } catch (e) {
      this.fail(`compressed element at byte ${pos} could not be inflated (${(e as Error).message})`);
    }
  }

  matrix(pos: number, end: number, want: (name: string) => boolean, out: Map<string, MatVariable>, skipped: Skipped[]): void {
    const ft = this.tag(pos, end, 'array flags');
    if (ft.type !== miUINT32 || ft.nbytes !== 8) this.fail(`garbled array flags at byte ${pos} (type ${ft.type}, ${ft.nbytes} bytes)`);
    const flags = this.u32(ft.start);
    const cls = flags & 0xff;
    const complex = (flags & 0x800) !== 0;
    const logical = (flags & 0x200) !== 0;

    if (cls === mxOPAQUE) {
      // Objects have no dims; the variable name, when present, comes right after the flags.
      let name = '';
      if (ft.next + 8 <= end) {
        const nt = this.tag(ft.next, end, 'array name');
        if (nt.type === miINT8) name = this.text(nt);
      }
      if (name) skipped.push({ name, className: 'object' });
      return;
    }

    const dt = this.tag(ft.next, end, 'dimensions');
    const dims = Array.from(this.numeric(dt, 'dimensions'), Number);
    if (dims.length < 1 || dims.some((d) => !Number.isInteger(d) || d < 0)) this.fail(`garbled dimensions [${dims}] at byte ${dt.start}`);
    const nt = this.tag(dt.next, end, 'array name');
    if (nt.type !== miINT8 && nt.type !== miUINT8 && nt.type !== miUTF8) this.fail(`garbled array name at byte ${nt.start} (type ${nt.type})`);
    const name = this.text(nt);
    if (!name) return; // unnamed arrays are subsystem/internal data, not variables

    const numeric = NUMERIC_CLASS[cls];
    if (!numeric) {
      skipped.push({ name, className: OTHER_CLASS[cls] ?? `class ${cls}` });
      return;
    }
    if (!want(name)) return;

    const numel = dims.reduce((a, b) => a * b, 1);
    const [className, Ctor] = logical ? ['logical', Uint8Array as AnyCtor] : numeric;
    const rt = this.tag(nt.next, end, `real part of '${name}'`);
    const data = convert(this.numeric(rt, `real part of '${name}'`), Ctor);
    if (data.length !== numel) this.fail(`garbled variable '${name}': dims [${dims.join('×')}] need ${numel} values, found ${data.length}`);
    const v: MatVariable = { name, className, dims, data, storedAs: STORAGE_NAME[rt.type] };
    if (complex) {
      const it = this.tag(rt.next, end, `imaginary part of '${name}'`);
      const imag = convert(this.numeric(it, `imaginary part of '${name}'`), Ctor);
      if (imag.length !== numel) this.fail(`garbled variable '${name}': imaginary part has ${imag.length} values, expected ${numel}`);
      v.imag = imag;
    }
    out.set(name, v);
  }

  text(t: Tag): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + t.start, t.nbytes).toString('utf8').replace(/\0+$/, '');
  }
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const x = b[lo];
      b[lo] = b[hi];
      b[hi] = x;
    }
  }
}

/** Converts stored values to the array class's type (MATLAB may store them narrower). */
function convert(src: MatData, Ctor: AnyCtor): MatData {
  if (src.constructor === Ctor) return src;
  const n = src.length;
  const bigDst = Ctor === BigInt64Array || Ctor === BigUint64Array;
  const bigSrc = src instanceof BigInt64Array || src instanceof BigUint64Array;
  if (bigDst === bigSrc) {
    const dst = new Ctor(n) as any;
    dst.set(src);
    return dst as MatData;
  }
  if (bigDst) {
    const dst = new (Ctor as BigInt64ArrayConstructor)(n);
    const s = src as Exclude<MatData, BigInt64Array | BigUint64Array>;
    for (let i = 0; i < n; i++) dst[i] = BigInt(Math.trunc(s[i]));
    return dst;
  }
  const dst = new (Ctor as Float64ArrayConstructor)(n);
  const s = src as BigInt64Array | BigUint64Array;
  for (let i = 0; i < n; i++) dst[i] = Number(s[i]);
  return dst;
}

/** Parses a MAT-file held in memory. `source` names it in error messages. */
export function readMat(buf: Uint8Array, source = 'MAT-file', opts: ReadMatOptions = {}): Map<string, MatVariable> {
  const out = new Map<string, MatVariable>();
  const skipped: Skipped[] = [];
  const requested = opts.variables ? new Set(opts.variables) : undefined;
  const want = (name: string) => !requested || requested.has(name);
  try {
    const header = parseHeader(buf, source);
    const p = new Parser(buf, header.le, source);
    p.elements(128, buf.length, want, out, skipped, header.subsys);
  } catch (e) {
    if (e instanceof UserError) throw e;
    // Safety net: a malformed file must never surface as a raw RangeError.
    throw new UserError(`${source}: malformed MAT-file (${(e as Error).message})`, { cause: e });
  }
  if (!requested) return out;
  const picked = new Map<string, MatVariable>();
  for (const name of requested) {
    const v = out.get(name);
    if (v) {
      picked.set(name, v);
      continue;
    }
    const s = skipped.find((x) => x.name === name);
    if (s) {
      throw new UserError(`${source}: variable '${name}' is a ${s.className} array; only numeric and logical arrays are supported`, {
        hint: 'save the data as a plain numeric array',
      });
    }
    const have = [...out.keys(), ...skipped.map((x) => x.name)];
    throw new UserError(`${source}: no variable '${name}'`, { hint: have.length ? `it has: ${have.join(', ')}` : 'it has no variables' });
  }
  return picked;
}

function parseHeader(buf: Uint8Array, source: string): { le: boolean; subsys: number } {
  const hint = 'expected a MATLAB Level 5 MAT-file (save -v7 or -v6)';
  if (buf.length < 128) throw new UserError(`${source}: too short for a MAT-file header (${buf.length} of 128 bytes)`, { hint });
  const text = Buffer.from(buf.buffer, buf.byteOffset, 116).toString('latin1');
  const ind = String.fromCharCode(buf[126], buf[127]);
  if (ind !== 'IM' && ind !== 'MI') {
    throw new UserError(`${source}: not a Level 5 MAT-file (no 'IM'/'MI' endian indicator at byte 126)`, { hint });
  }
  // 'IM' on disk means MATLAB wrote the uint16 'MI' little-endian.
  const le = ind === 'IM';
  const view = new DataView(buf.buffer, buf.byteOffset, 128);
  const version = view.getUint16(124, le);
  if (version === 0x0200 || text.startsWith('MATLAB 7.3')) {
    throw new UserError(`${source}: MATLAB v7.3 (HDF5) MAT-files are not supported`, { hint: "re-save with save(..., '-v7')" });
  }
  if (version !== 0x0100) throw new UserError(`${source}: unsupported MAT-file version 0x${version.toString(16).padStart(4, '0')}`, { hint });
  // Subsystem data offset: all zeros or all spaces when absent.
  const hi = view.getUint32(le ? 120 : 116, le);
  const lo = view.getUint32(le ? 116 : 120, le);
  const spaces = buf.subarray(116, 124).every((b) => b === 0x20);
  const off = hi * 2 ** 32 + lo;
  const subsys = spaces || off === 0 ? -1 : off;
  return { le, subsys };
}

/** Reads a MAT-file from disk; a missing or unreadable file is a UserError naming the path. */
export async function readMatFile(path: string, opts: ReadMatOptions = {}): Promise<Map<string, MatVariable>> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`MAT-file not found: ${path}`, { hint: 'check the path', cause: e });
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`cannot read MAT-file ${path}: permission denied`, { cause: e });
    if (code === 'EISDIR') throw new UserError(`MAT-file path is a directory: ${path}`, { cause: e });
    throw e;
  }
  return readMat(buf, path, opts);
}

/**
 * Converts a column-major rows×cols×bands (or rows×cols) MATLAB array to row-major,
 * pixel-interleaved float64: data[(r*cols + c)*bands + b].
 */
export function toRowMajorCube(v: MatVariable): { rows: number; cols: number; bands: number; data: Float64Array } {
  if (v.imag) throw new UserError(`variable '${v.name}' is complex; a cube must be real`);
  const dims = [...v.dims];
  while (dims.length > 3 && dims[dims.length - 1] === 1) dims.pop();
  if (dims.length < 2 || dims.length > 3) {
    throw new UserError(`variable '${v.name}' has dims [${v.dims.join('×')}]; expected rows×cols or rows×cols×bands`);
  }
  const [rows, cols] = dims;
  const bands = dims[2] ?? 1;
  const n = rows * cols * bands;
  if (v.data.length !== n) throw new UserError(`variable '${v.name}' has ${v.data.length} values for dims [${v.dims.join('×')}]`);
  const src: ArrayLike<number> =
    v.data instanceof BigInt64Array || v.data instanceof BigUint64Array ? Float64Array.from(v.data, Number) : v.data;
  const out = new Float64Array(n);
  let i = 0;
  // Walk the source in storage order (r fastest) for sequential reads.
  for (let b = 0; b < bands; b++) {
    for (let c = 0; c < cols; c++) {
      for (let r = 0; r < rows; r++) out[(r * cols + c) * bands + b] = src[i++];
    }
  }
  return { rows, cols, bands, data: out };
}

/** How a MAT variable's dimensions map to a cube (dims as MATLAB and scipy.io.loadmat report them). */
export type CubeOrder = 'rows-cols-bands' | 'bands-rows-cols' | 'pixels-bands' | 'bands-pixels';

export interface CubeShape {
  rows: number;
  cols: number;
  /**
   * How pixels are numbered along a pixels axis. 'column-major' (the default) is MATLAB's
   * reshape(cube, rows*cols, bands): pixel p = r + rows*c. 'row-major' is NumPy's
   * cube.reshape(rows*cols, bands): pixel p = r*cols + c.
   */
  pixelOrder?: 'column-major' | 'row-major';
}

/**
 * Converts a real MAT array laid out as `order` to a row-major, pixel-interleaved float64 cube
 * (data[(r*cols + c)*bands + b]). The pixels×bands orders need `shape` (the pixel count must be
 * rows×cols); for the others a given `shape` is checked against the dims. MATLAB drops trailing
 * singleton dimensions, so a single-band rows×cols array (or a bands×rows×1 one) is accepted.
 */
export function cubeFromMat(v: MatVariable, order: CubeOrder, shape?: CubeShape): { rows: number; cols: number; bands: number; data: Float64Array } {
  if (v.imag) throw new UserError(`variable '${v.name}' is complex; a cube must be real`);
  const dims = [...v.dims];
  while (dims.length > 2 && dims[dims.length - 1] === 1) dims.pop();
  const dimStr = `[${v.dims.join('×')}]`;
  const numel = dims.reduce((a, b) => a * b, 1);
  if (v.data.length !== numel) throw new UserError(`variable '${v.name}' has ${v.data.length} values for dims ${dimStr}`);
  const src: ArrayLike<number> =
    v.data instanceof BigInt64Array || v.data instanceof BigUint64Array ? Float64Array.from(v.data, Number) : v.data;

  let rows: number;
  let cols: number;
  let bands: number;
  // Column-major strides of the source for (r, c, b).
  let sr: number;
  let sc: number;
  let sb: number;
  switch (order) {
    case 'rows-cols-bands':
      if (dims.length > 3) throw new UserError(`variable '${v.name}' has dims ${dimStr}; expected rows×cols×bands`);
      [rows, cols] = dims;
      bands = dims[2] ?? 1;
      [sr, sc, sb] = [1, rows, rows * cols];
      break;
    case 'bands-rows-cols':
      if (dims.length > 3) throw new UserError(`variable '${v.name}' has dims ${dimStr}; expected bands×rows×cols`);
      [bands, rows] = dims;
      cols = dims[2] ?? 1;
      [sb, sr, sc] = [1, bands, bands * rows];
      break;
    case 'pixels-bands':
    case 'bands-pixels': {
      if (dims.length !== 2) throw new UserError(`variable '${v.name}' has dims ${dimStr}; expected ${order === 'pixels-bands' ? 'pixels×bands' : 'bands×pixels'}`);
      if (!shape) {
        throw new UserError(`variable '${v.name}' is ${order}: the image's rows and cols are needed to rebuild the cube`, {
          hint: 'give rows and cols (rows×cols must equal the pixel count)',
        });
      }
      const pixels = order === 'pixels-bands' ? dims[0] : dims[1];
      bands = order === 'pixels-bands' ? dims[1] : dims[0];
      ({ rows, cols } = shape);
      if (rows * cols !== pixels) {
        throw new UserError(`variable '${v.name}' has ${pixels} pixels (dims ${dimStr}) but rows×cols = ${rows}×${cols} = ${rows * cols}`, {
          hint: 'check rows and cols, and which axis holds the pixels',
        });
      }
      const sp = order === 'pixels-bands' ? 1 : bands;
      sb = order === 'pixels-bands' ? pixels : 1;
      if ((shape.pixelOrder ?? 'column-major') === 'column-major') [sr, sc] = [sp, sp * rows];
      else [sr, sc] = [sp * cols, sp];
      break;
    }
    default:
      throw new UserError(`unknown cube order '${order as string}'`, { hint: 'one of rows-cols-bands, bands-rows-cols, pixels-bands, bands-pixels' });
  }
  if (shape && (shape.rows !== rows || shape.cols !== cols)) {
    throw new UserError(`variable '${v.name}' is ${rows}×${cols} (dims ${dimStr} as ${order}) but ${shape.rows}×${shape.cols} was expected`);
  }
  const out = new Float64Array(rows * cols * bands);
  if (sb === 1) {
    // Bands contiguous in the source: walk the output in order, each pixel a contiguous read.
    let o = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const base = r * sr + c * sc;
        for (let b = 0; b < bands; b++) out[o++] = src[base + b];
      }
    }
  } else {
    // Band-major source: tiles of pixels so that, per band, reads run along the source's
    // contiguous spatial axis and the strided writes stay within a cache-sized region.
    const T = 32;
    const rFast = sr <= sc;
    const rowStep = cols * bands;
    for (let r0 = 0; r0 < rows; r0 += T) {
      const r1 = Math.min(rows, r0 + T);
      for (let c0 = 0; c0 < cols; c0 += T) {
        const c1 = Math.min(cols, c0 + T);
        for (let b = 0; b < bands; b++) {
          const sbb = b * sb;
          if (rFast) {
            for (let c = c0; c < c1; c++) {
              for (let r = r0, o = (r0 * cols + c) * bands + b, i = sbb + r0 * sr + c * sc; r < r1; r++, o += rowStep, i += sr) out[o] = src[i];
            }
          } else {
            for (let r = r0; r < r1; r++) {
              for (let c = c0, o = (r * cols + c0) * bands + b, i = sbb + r * sr + c0 * sc; c < c1; c++, o += bands, i += sc) out[o] = src[i];
            }
          }
        }
      }
    }
  }
  return { rows, cols, bands, data: out };
}
