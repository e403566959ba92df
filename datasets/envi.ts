/**
 * Reader for ENVI raster files: a text header (`.hdr`) beside a flat binary data file.
 *
 * Header: the first line is `ENVI`; then `key = value` lines, where a value in braces may span
 * several lines (`wavelength = { 400.1, 410.3,\n 420.0 }`). Keys are case-insensitive and kept in
 * lower case with single spaces. `samples`, `lines`, `bands` and `data type` are required;
 * `interleave` defaults to bsq, `byte order` to 0 (little-endian) and `header offset` to 0, as
 * GDAL and spectral-python do when a writer leaves them out.
 *
 * Data types: 1 uint8, 2 int16, 3 int32, 4 float32, 5 float64, 12 uint16, 13 uint32, 14 int64,
 * 15 uint64; complex types 6 and 9 are rejected (a cube of magnitudes would silently drop the
 * phase). All three interleaves, both byte orders. The result is row-major, pixel-interleaved
 * float64 (rows×cols×bands), the layout every other loader in datasets/ returns.
 */
import { readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { UserError } from '../core/errors.js';

export interface EnviHeader {
  samples: number;
  lines: number;
  bands: number;
  dataType: number;
  interleave: 'bsq' | 'bil' | 'bip';
  byteOrder: 0 | 1;
  headerOffset: number;
  wavelength?: number[];
  bandNames?: string[];
  /** Every other field as written: braced lists as string arrays, the rest as strings. */
  [k: string]: unknown;
}

export interface EnviCube {
  header: EnviHeader;
  rows: number;
  cols: number;
  bands: number;
  /** Row-major, pixel-interleaved: data[(r*cols + c)*bands + b]. */
  data: Float64Array;
}

type Ctor =
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** ENVI data type codes (ENVI header documentation). */
const DATA_TYPES: Record<number, { name: string; ctor: Ctor }> = {
  1: { name: 'uint8', ctor: Uint8Array },
  2: { name: 'int16', ctor: Int16Array },
  3: { name: 'int32', ctor: Int32Array },
  4: { name: 'float32', ctor: Float32Array },
  5: { name: 'float64', ctor: Float64Array },
  12: { name: 'uint16', ctor: Uint16Array },
  13: { name: 'uint32', ctor: Uint32Array },
  // 64-bit integers become doubles: exact up to 2^53, rounded to the nearest double above.
  14: { name: 'int64', ctor: BigInt64Array },
  15: { name: 'uint64', ctor: BigUint64Array },
};
const COMPLEX_TYPES: Record<number, string> = { 6: 'complex64', 9: 'complex128' };

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const DATA_EXTS = ['', '.img', '.raw', '.dat', '.bsq', '.bil', '.bip', '.bin', '.IMG', '.RAW', '.DAT', '.BSQ', '.BIL', '.BIP', '.BIN'];

/** Parses the text of an ENVI header. `what` names it in errors (usually its path). */
export function parseEnviHeader(text: string, what = 'ENVI header'): EnviHeader {
  const hint = 'an ENVI header starts with a line "ENVI" and has samples, lines, bands and data type';
  const body = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const lines = body.split('\n');
  if (lines[0].trim() !== 'ENVI') throw new UserError(`${what}: not an ENVI header (first line is not "ENVI")`, { hint });

  const fields = new Map<string, string | string[]>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim() || line.trim().startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new UserError(`${what}: line ${i + 1} is not "key = value": ${JSON.stringify(line.trim().slice(0, 60))}`, { hint });
    const key = line.slice(0, eq).trim().toLowerCase().replace(/\s+/g, ' ');
    let value = line.slice(eq + 1).trim();
    if (value.startsWith('{')) {
      // A braced value runs to the first closing brace, possibly lines later. Only each new line
      // is searched: re-searching the growing value made an unclosed brace quadratic (a hang).
      const start = i;
      const parts = [value];
      while (!parts[parts.length - 1].includes('}')) {
        i++;
        if (i >= lines.length) throw new UserError(`${what}: the '{' of '${key}' on line ${start + 1} is never closed`, { hint });
        parts.push(lines[i]);
      }
      value = parts.join('\n');
      const inner = value.slice(1, value.indexOf('}'));
      // 'description' is free text that may contain commas; the rest are lists.
      fields.set(key, key === 'description' ? inner.trim() : splitList(inner));
    } else {
      fields.set(key, value);
    }
  }

  const int = (key: string, required: boolean, dflt = 0): number => {
    const v = fields.get(key);
    if (v === undefined) {
      if (required) throw new UserError(`${what}: missing required field '${key}'`, { hint });
      return dflt;
    }
    const s = Array.isArray(v) ? v.join(',') : v;
    if (!/^\s*\d+\s*$/.test(s)) throw new UserError(`${what}: '${key}' must be a non-negative integer, got ${JSON.stringify(s)}`, { hint });
    return Number(s);
  };

  const samples = int('samples', true);
  const nlines = int('lines', true);
  const bands = int('bands', true);
  const dataType = int('data type', true);
  if (samples < 1 || nlines < 1 || bands < 1) {
    throw new UserError(`${what}: samples, lines and bands must be ≥ 1 (got ${samples}, ${nlines}, ${bands})`, { hint });
  }
  if (COMPLEX_TYPES[dataType]) {
    throw new UserError(`${what}: data type ${dataType} (${COMPLEX_TYPES[dataType]}) is complex; complex ENVI data is not supported`, {
      hint: 'convert to a real type (e.g. magnitude, float32) first',
    });
  }
  if (!DATA_TYPES[dataType]) {
    throw new UserError(`${what}: unknown data type ${dataType}`, {
      hint: 'supported: 1 uint8, 2 int16, 3 int32, 4 float32, 5 float64, 12 uint16, 13 uint32, 14 int64, 15 uint64',
    });
  }
  const il = fields.get('interleave');
  const interleave = (typeof il === 'string' ? il.trim().toLowerCase() : 'bsq') as EnviHeader['interleave'];
  if (interleave !== 'bsq' && interleave !== 'bil' && interleave !== 'bip') {
    throw new UserError(`${what}: interleave must be bsq, bil or bip, got ${JSON.stringify(il)}`, { hint });
  }
  const byteOrder = int('byte order', false, 0);
  if (byteOrder !== 0 && byteOrder !== 1) throw new UserError(`${what}: byte order must be 0 or 1, got ${byteOrder}`, { hint });
  const headerOffset = int('header offset', false, 0);

  const header: EnviHeader = { samples, lines: nlines, bands, dataType, interleave, byteOrder, headerOffset };
  for (const [k, v] of fields) {
    if (!['samples', 'lines', 'bands', 'data type', 'interleave', 'byte order', 'header offset'].includes(k)) header[k] = v;
  }
  const wl = fields.get('wavelength');
  if (wl !== undefined) {
    const list = Array.isArray(wl) ? wl : splitList(wl);
    const nums = list.map(Number);
    if (nums.some((x) => !Number.isFinite(x))) throw new UserError(`${what}: 'wavelength' has a non-numeric entry`, { hint });
    if (nums.length !== bands) throw new UserError(`${what}: 'wavelength' lists ${nums.length} values for ${bands} bands`, { hint });
    header.wavelength = nums;
  }
  const bn = fields.get('band names');
  if (bn !== undefined) {
    const list = Array.isArray(bn) ? bn : splitList(bn);
    if (list.length !== bands) throw new UserError(`${what}: 'band names' lists ${list.length} names for ${bands} bands`, { hint });
    header.bandNames = list;
  }
  return header;
}

function splitList(s: string): string[] {
  const parts = s.split(',').map((x) => x.trim());
  return parts.length === 1 && parts[0] === '' ? [] : parts;
}

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Finds the header and data file of an ENVI raster from either path. */
export async function locateEnvi(path: string): Promise<{ hdr: string; data: string }> {
  if (/\.hdr$/i.test(path)) {
    if (!(await exists(path))) throw new UserError(`ENVI header not found: ${path}`, { hint: 'check the path' });
    const base = path.slice(0, -4);
    for (const ext of DATA_EXTS) if (await exists(base + ext)) return { hdr: path, data: base + ext };
    throw new UserError(`${path}: no ENVI data file beside the header`, {
      hint: `expected ${basename(base)} with no extension or one of ${DATA_EXTS.filter((e) => e && e === e.toLowerCase()).join(' ')}`,
    });
  }
  if (!(await exists(path))) throw new UserError(`ENVI data file not found: ${path}`, { hint: 'check the path' });
  const ext = extname(path);
  const stem = ext ? join(dirname(path), basename(path, ext)) : path;
  // 'cube.img.hdr' first (the whole name plus .hdr), then 'cube.hdr' (extension replaced).
  for (const hdr of [path + '.hdr', path + '.HDR', stem + '.hdr', stem + '.HDR']) if (await exists(hdr)) return { hdr, data: path };
  throw new UserError(`${path}: no ENVI header beside the data file`, { hint: `expected ${basename(path)}.hdr or ${basename(stem)}.hdr` });
}

async function readText(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    return (await fh.readFile()).toString('latin1');
  } finally {
    await fh.close();
  }
}

export interface ReadEnviOptions {
  /** Size of the read buffer in bytes (default 8 MiB); the output is the only full-size allocation. */
  chunkBytes?: number;
}

/**
 * Reads an ENVI raster given its `.hdr` or its data file. The data file's size must be exactly
 * header offset + samples×lines×bands×bytes per value.
 */
export async function readEnvi(hdrOrDataPath: string, opts: ReadEnviOptions = {}): Promise<EnviCube> {
  const { hdr, data: dataPath } = await locateEnvi(hdrOrDataPath);
  const header = parseEnviHeader(await readText(hdr), hdr);
  const { samples: cols, lines: rows, bands, headerOffset } = header;
  const { ctor, name } = DATA_TYPES[header.dataType];
  const size = ctor.BYTES_PER_ELEMENT;
  const n = rows * cols * bands;
  const expected = headerOffset + n * size;

  const fh = await open(dataPath, 'r');
  try {
    const actual = (await fh.stat()).size;
    if (actual !== expected) {
      const what = actual < expected ? 'truncated' : 'larger than the header describes';
      throw new UserError(
        `${dataPath}: ${what}: expected ${expected} bytes (${headerOffset} offset + ${cols}×${rows}×${bands} ${name}), found ${actual}`,
        { hint: `check samples/lines/bands/data type/header offset in ${hdr}` },
      );
    }
    const out = new Float64Array(n);
    await decodeInto(fh.fd, dataPath, header, ctor, out, Math.max(1, Math.floor(opts.chunkBytes ?? CHUNK)));
    return { header, rows, cols, bands, data: out };
  } finally {
    await fh.close();
  }
}

/** Bytes per read: large enough that syscalls are few, small enough to stay in cache. */
const CHUNK = 1 << 23;

/**
 * Reads the data in pieces into one reused scratch buffer and scatters each piece into `out`,
 * so only the output is ever freshly allocated (first-touch page faults cost as much as the
 * copying here). Sync reads: one per piece, many per BSQ block, where an async read's
 * thread-pool round trip would cost more than the read; the event loop gets a turn between pieces.
 */
async function decodeInto(fd: number, path: string, h: EnviHeader, ctor: Ctor, out: Float64Array, chunk: number): Promise<void> {
  const { samples: cols, lines: rows, bands, headerOffset, interleave } = h;
  const size = ctor.BYTES_PER_ELEMENT;
  const swap = size > 1 && (h.byteOrder === 0) !== HOST_LE;
  const npx = rows * cols;
  const big = ctor === BigInt64Array || ctor === BigUint64Array;
  let scratch = new Uint8Array(0);
  const read = (elems: number, at: number, into = 0): void => {
    const len = elems * size;
    let got = 0;
    while (got < len) {
      const k = readSync(fd, scratch, into + got, len - got, headerOffset + at * size + got);
      if (k === 0) throw new UserError(`${path}: truncated while reading (the file shrank to ${headerOffset + at * size + got} bytes?)`);
      got += k;
    }
  };
  const values = (elems: number): ArrayLike<number> => {
    const bytes = scratch.subarray(0, elems * size);
    if (swap) swapBytes(bytes, size);
    const typed = new ctor(scratch.buffer, 0, elems);
    // 64-bit integers: exact up to 2^53, then the nearest double.
    return big ? Float64Array.from(typed as BigInt64Array | BigUint64Array, Number) : (typed as Exclude<typeof typed, BigInt64Array | BigUint64Array>);
  };
  const turn = () => new Promise<void>((r) => setImmediate(r));

  if (interleave === 'bip') {
    const per = Math.max(1, Math.floor(chunk / size));
    scratch = new Uint8Array(Math.min(per, npx * bands) * size);
    for (let i0 = 0; i0 < npx * bands; i0 += per) {
      const k = Math.min(per, npx * bands - i0);
      read(k, i0);
      out.set(values(k) as Float64Array, i0); // native element-type conversion
      await turn();
    }
  } else if (interleave === 'bil') {
    // A line holds all bands of one image row: line r, band b, sample c at (r*bands + b)*cols + c.
    const line = bands * cols;
    const per = Math.max(1, Math.floor(chunk / (line * size)));
    scratch = new Uint8Array(Math.min(per, rows) * line * size);
    for (let r0 = 0; r0 < rows; r0 += per) {
      const k = Math.min(per, rows - r0);
      read(k * line, r0 * line);
      const v = values(k * line);
      for (let y = 0; y < k; y++) {
        const o = (r0 + y) * line;
        for (let b = 0; b < bands; b++) {
          const s = (y * bands + b) * cols;
          for (let c = 0; c < cols; c++) out[o + c * bands + b] = v[s + c];
        }
      }
      await turn();
    }
  } else {
    // BSQ: a group of pixels from every band plane (one read per band; one read in all when the
    // data fit the buffer), scattered in sub-blocks small enough that the output lines they
    // touch stay in cache across bands.
    const sub = Math.max(1, Math.min(8192, Math.floor(chunk / (bands * size))));
    const group = npx * bands * size <= chunk ? npx : Math.min(npx, sub);
    scratch = new Uint8Array(group * bands * size);
    for (let p0 = 0; p0 < npx; p0 += group) {
      const k = Math.min(group, npx - p0);
      if (k === npx) read(npx * bands, 0);
      else for (let b = 0; b < bands; b++) read(k, b * npx + p0, b * k * size);
      const v = values(k * bands);
      for (let q0 = 0; q0 < k; q0 += sub) {
        const q1 = Math.min(k, q0 + sub);
        for (let b = 0; b < bands; b++) {
          const s = b * k;
          for (let p = q0; p < q1; p++) out[(p0 + p) * bands + b] = v[s + p];
        }
      }
      await turn();
    }
  }
}

function swapBytes(b: Uint8Array, size: number): void {
  if (size === 2) {
    for (let i = 0; i < b.length; i += 2) {
      const x = b[i];
      b[i] = b[i + 1];
      b[i + 1] = x;
    }
    return;
  }
  for (let i = 0; i < b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const x = b[lo];
      b[lo] = b[hi];
      b[hi] = x;
    }
  }
}
