/**
 * Fuzz cases for the dataset loaders: small valid files (written with the tests' MAT writer,
 * sharp, and minimal TIFF/BMP/ENVI writers here), then mutated — truncated, bytes flipped,
 * garbage inserted, ranges deleted or repeated, and header fields (dimensions, counts, offsets)
 * set to extreme values. Each case runs the loader as the load and screen steps do; it must
 * return data or throw a UserError. Run by loaders.test.ts in a worker (harness.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { Prng } from '../../datasets/prng.js';
import { readMat, toRowMajorCube, cubeFromMat, type CubeOrder } from '../../datasets/mat.js';
import { parseEnviHeader, readEnvi } from '../../datasets/envi.js';
import { decodeTiffCube } from '../../datasets/tiff-cube.js';
import { decodeImage, decodeMask, imageInfo } from '../../datasets/images/decode.js';
import { parseIdx } from '../../datasets/idx.js';
import { matFile } from '../helpers.js';
import { isUserError } from '../../core/errors.js';
import { FuzzCheckError } from './harness.js';

type Note = (what: string) => void;

/** Decoded outputs larger than this from inputs of a few KB mean a size field was believed. */
const MAX_VALUES = 1 << 22;

function checkSize(values: number, inputBytes: number, what: string): void {
  if (values > MAX_VALUES) throw new FuzzCheckError(`${what}: ${values} values decoded from ${inputBytes} input bytes`);
}

const pick = <T>(rng: Prng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Values that break size arithmetic: zero, one, sign bits, all ones, just past common limits. */
const EXTREME_U32 = [0, 1, 2, 7, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1_000_000, 65_535 * 65_535];
const EXTREME_U16 = [0, 1, 2, 0x7fff, 0x8000, 0xffff, 1000];

/** 1–4 random byte-level mutations of `src` (never growing it past 2× + 4 KiB). */
export function mutateBytes(rng: Prng, src: Uint8Array, note: Note, fields: number[] = []): Uint8Array {
  let b: Uint8Array = Uint8Array.from(src);
  // Half the cases of a format with known header fields change one field only: a lying size in
  // an otherwise valid file is what reaches the allocations.
  const fieldOnly = fields.length > 0 && rng.int(2) === 0;
  const ops = fieldOnly ? 1 : 1 + rng.int(4);
  for (let k = 0; k < ops; k++) {
    const at = () => (b.length ? rng.int(b.length) : 0);
    const op = fieldOnly ? 8 : rng.int(fields.length ? 9 : 8);
    switch (op) {
      case 0: {
        const n = rng.int(b.length + 1);
        note(`truncate to ${n}`);
        b = b.subarray(0, n);
        break;
      }
      case 1: {
        const i = at();
        const x = 1 + rng.int(255);
        note(`xor byte ${i} with ${x}`);
        if (b.length) b[i] ^= x;
        break;
      }
      case 2: {
        const i = at();
        const n = 1 + rng.int(64);
        note(`insert ${n} random bytes at ${i}`);
        const g = Uint8Array.from({ length: n }, () => rng.int(256));
        b = concat(b.subarray(0, i), g, b.subarray(i));
        break;
      }
      case 3: {
        const i = at();
        const n = 1 + rng.int(Math.max(1, Math.min(256, b.length - i)));
        note(`delete ${n} bytes at ${i}`);
        b = concat(b.subarray(0, i), b.subarray(i + n));
        break;
      }
      case 4: {
        const i = at();
        const n = 1 + rng.int(128);
        note(`repeat ${n} bytes at ${i}`);
        b = concat(b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n));
        break;
      }
      case 5:
      case 6: {
        // An aligned 32- or 16-bit word set to an extreme value, in either byte order.
        const wide = op === 5;
        const size = wide ? 4 : 2;
        if (b.length < size) break;
        const i = Math.floor(rng.int(b.length - size + 1) / size) * size;
        const v = pick(rng, wide ? EXTREME_U32 : EXTREME_U16);
        const le = rng.int(2) === 0;
        note(`u${size * 8} at ${i} = ${v} ${le ? 'LE' : 'BE'}`);
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (wide) view.setUint32(i, v >>> 0, le);
        else view.setUint16(i, v, le);
        break;
      }
      case 7: {
        const i = at();
        const v = pick(rng, [0, 0xff, 0x7f, 0x80]);
        note(`byte ${i} = ${v}`);
        if (b.length) b[i] = v;
        break;
      }
      case 8: {
        // A known header field (its offset in the file) set to an extreme 32- or 16-bit value.
        const i = pick(rng, fields);
        const wide = rng.int(2) === 0;
        if (i + (wide ? 4 : 2) > b.length) break;
        const v = pick(rng, wide ? EXTREME_U32 : EXTREME_U16);
        const le = rng.int(2) === 0;
        note(`u${wide ? 32 : 16} field at ${i} = ${v} ${le ? 'LE' : 'BE'}`);
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (wide) view.setUint32(i, v >>> 0, le);
        else view.setUint16(i, v, le);
        break;
      }
    }
  }
  return b.length > 2 * src.length + 4096 ? b.subarray(0, 2 * src.length + 4096) : b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------- MAT

/** A compressed copy of a MAT-file: each top-level element deflated into an miCOMPRESSED element. */
function compressMat(file: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [file.subarray(0, 128)];
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let p = 128; p + 8 <= file.length; ) {
    const n = view.getUint32(p + 4, true);
    const z = deflateSync(file.subarray(p, p + 8 + n));
    const tag = new Uint8Array(8);
    new DataView(tag.buffer).setUint32(0, 15, true);
    new DataView(tag.buffer).setUint32(4, z.length, true);
    parts.push(tag, z);
    p += 8 + n + ((8 - (n % 8)) % 8);
  }
  return concat(...parts);
}

/** Offsets of the dimension words of each variable (the fields a mutation should hit). */
function matFields(file: Uint8Array): number[] {
  const out: number[] = [];
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let p = 128; p + 8 <= file.length; ) {
    const n = view.getUint32(p + 4, true);
    // miMATRIX: tag(8) flags element(16) dims tag(8) then dims.
    out.push(p + 4, p + 8 + 16 + 4, p + 8 + 16 + 8, p + 8 + 16 + 12);
    p += 8 + n + ((8 - (n % 8)) % 8);
  }
  return out;
}

const MAT_BASES: Uint8Array[] = (() => {
  const cube = (r: number, c: number, b: number) => ({ name: 'data', dims: [r, c, b], data: Array.from({ length: r * c * b }, (_, i) => (i * 37) % 101) });
  const map = (r: number, c: number) => ({ name: 'map', dims: [r, c], data: Array.from({ length: r * c }, (_, i) => (i % 5 === 0 ? 1 : 0)) });
  const plain = [
    matFile([cube(4, 3, 2), map(4, 3)]),
    matFile([cube(6, 5, 3), map(6, 5), { name: 'extra', dims: [1, 1], data: [7] }]),
    matFile([{ name: 'data', dims: [12, 3], data: Array.from({ length: 36 }, (_, i) => i) }, { name: 'map', dims: [12, 1], data: Array.from({ length: 12 }, (_, i) => i % 2) }]),
  ].map((b) => new Uint8Array(b));
  return [...plain, ...plain.map(compressMat)];
})();

const ORDERS: CubeOrder[] = ['rows-cols-bands', 'bands-rows-cols', 'pixels-bands', 'bands-pixels'];

/** Hand-made cases first: dims that ask for 10^12 values, a data element that claims 4 GiB. */
const MAT_CRAFTED: ((b: Uint8Array) => Uint8Array)[] = [
  (b) => setU32(b, [[matFields(b)[2], 1_000_000], [matFields(b)[3], 1_000_000]]),
  (b) => setU32(b, [[matFields(b)[0], 0xffffffff]]),
];

function setU32(src: Uint8Array, edits: [number, number][], le = true): Uint8Array {
  const b = Uint8Array.from(src);
  for (const [at, v] of edits) new DataView(b.buffer).setUint32(at, v >>> 0, le);
  return b;
}

export async function mat(rng: Prng, note: Note, index: number): Promise<void> {
  const k = index < MAT_CRAFTED.length ? 0 : rng.int(MAT_BASES.length);
  const base = MAT_BASES[k];
  note(index < MAT_CRAFTED.length ? `crafted ${index}` : `base ${k}`);
  const buf = index < MAT_CRAFTED.length ? MAT_CRAFTED[index](base) : mutateBytes(rng, base, note, k < 3 ? matFields(base) : []);
  const vars = readMat(buf, 'fuzz.mat', rng.int(3) === 0 ? { variables: ['data', 'map'] } : {});
  // What the load step does with them: a cube in some order, a label map.
  for (const v of vars.values()) {
    checkSize(v.data.length, buf.length, `variable '${v.name}'`);
    const order = pick(rng, ORDERS);
    const shape = rng.int(2) ? { rows: 1 + rng.int(12), cols: 1 + rng.int(12) } : undefined;
    for (const f of [() => toRowMajorCube(v), () => cubeFromMat(v, order, shape)]) {
      try {
        const c = f();
        checkSize(c.data.length, buf.length, `cube of '${v.name}'`);
      } catch (e) {
        if (!isUserError(e)) throw e;
      }
    }
  }
}

// ---------------------------------------------------------------- ENVI

let enviDir: string | undefined;
const ENVI_TYPES: [number, number][] = [[1, 1], [2, 2], [3, 4], [4, 4], [5, 8], [12, 2], [13, 4], [14, 8], [15, 8]];

/** Header lines to mutate; `{` values left unclosed and long filler test the parser's cost too. */
function mutateHeader(rng: Prng, lines: string[], note: Note): string[] {
  const out = [...lines];
  const ops = 1 + rng.int(3);
  for (let k = 0; k < ops; k++) {
    const i = rng.int(out.length);
    switch (rng.int(8)) {
      case 0: {
        const v = pick(rng, ['0', '-1', '99999999999999999999', '4294967296', '1e9', 'NaN', '', ' 3 4', '0x10', '2147483648']);
        note(`line ${i} value = ${JSON.stringify(v)}`);
        out[i] = out[i].includes('=') ? `${out[i].slice(0, out[i].indexOf('='))}= ${v}` : v;
        break;
      }
      case 1:
        note(`delete line ${i}`);
        out.splice(i, 1);
        break;
      case 2:
        note(`repeat line ${i}`);
        out.splice(i, 0, out[i]);
        break;
      case 3:
        note(`unclosed { on line ${i}`);
        out[i] = out[i].replace(/=\s*/, '= { ');
        break;
      case 4: {
        const n = 1000 + rng.int(30000);
        note(`${n} filler lines after an unclosed {`);
        out.push('description = {', ...Array.from({ length: n }, (_, j) => `  filler ${j},`));
        break;
      }
      case 5: {
        const key = pick(rng, ['interleave', 'byte order', 'data type', 'header offset', 'wavelength', 'band names']);
        const v = pick(rng, ['bsq', 'BIL', 'xyz', '2', '{1,2}', '{a, b, c}', '{', '7', '-3']);
        note(`${key} = ${v}`);
        out.push(`${key} = ${v}`);
        break;
      }
      case 6:
        note(`line ${i} garbled`);
        out[i] = out[i].split('').map((ch) => (rng.int(6) === 0 ? String.fromCharCode(rng.int(128)) : ch)).join('');
        break;
      default:
        note(`line ${i} without =`);
        out[i] = out[i].replace('=', ' ');
    }
  }
  return out;
}

export async function envi(rng: Prng, note: Note, index: number): Promise<void> {
  // loaders.test.ts gives a folder it removes afterwards.
  enviDir ??= process.env.GANTRY_FUZZ_DIR ?? mkdtempSync(join(tmpdir(), 'gantry-fuzz-envi-'));
  if (index === 0) {
    // Hand-made: an unclosed brace with 30,000 lines after it (quadratic parsing hung here).
    note('crafted: unclosed { and 30000 lines');
    parseEnviHeader(['ENVI', 'samples = 2', 'lines = 2', 'bands = 1', 'data type = 1', 'description = {', ...Array.from({ length: 30000 }, (_, j) => `line ${j}`)].join('\n'), 'fuzz.hdr');
    return;
  }
  const [dt, size] = pick(rng, ENVI_TYPES);
  const [cols, rows, bands] = [1 + rng.int(6), 1 + rng.int(6), 1 + rng.int(5)];
  const interleave = pick(rng, ['bsq', 'bil', 'bip']);
  const offset = rng.int(3) === 0 ? 16 : 0;
  note(`${cols}×${rows}×${bands} type ${dt} ${interleave} offset ${offset}`);
  let lines = ['ENVI', `samples = ${cols}`, `lines = ${rows}`, `bands = ${bands}`, `data type = ${dt}`, `interleave = ${interleave}`, `byte order = ${rng.int(2)}`, `header offset = ${offset}`, `wavelength = { ${Array.from({ length: bands }, (_, b) => 400 + b * 10).join(', ')} }`];
  let data: Uint8Array = Uint8Array.from({ length: offset + rows * cols * bands * size }, () => rng.int(256));
  const what = index === 1 ? 1 : rng.int(3);
  if (index === 1) {
    note('crafted: 10^15 values declared');
    lines = lines.map((l) => l.replace(/^(samples|lines|bands) = \d+/, '$1 = 100000'));
  }
  if (what !== 1) lines = mutateHeader(rng, lines, note);
  if (what !== 0) data = mutateBytes(rng, data, note);
  const text = lines.join(rng.int(4) === 0 ? '\r\n' : '\n');
  // The header parser alone (no file), then the full reader with a small read buffer.
  try {
    parseEnviHeader(text, 'fuzz.hdr');
  } catch (e) {
    if (!isUserError(e)) throw e;
  }
  const stem = join(enviDir, 'cube');
  writeFileSync(`${stem}.hdr`, text, 'latin1');
  writeFileSync(`${stem}.img`, data);
  const cube = await readEnvi(`${stem}.hdr`, { chunkBytes: 1 + rng.int(64) });
  checkSize(cube.data.length, data.length + text.length, 'ENVI cube');
}

// ---------------------------------------------------------------- TIFF

/** A minimal classic TIFF: one or more pages, uncompressed strips, chunky or planar. */
function writeTiff(o: { width: number; height: number; spp: number; bits: 8 | 16 | 32; format: 1 | 3; pages: number; rowsPerStrip: number; planar: 1 | 2 }): { buf: Uint8Array; fields: number[] } {
  const bytes = o.bits / 8;
  const strips = Math.ceil(o.height / o.rowsPerStrip) * (o.planar === 2 ? o.spp : 1);
  const stripSpp = o.planar === 2 ? 1 : o.spp;
  const parts: Uint8Array[] = [];
  const fields: number[] = [];
  let size = 8;
  const header = new Uint8Array(8);
  const hv = new DataView(header.buffer);
  header.set([0x49, 0x49]);
  hv.setUint16(2, 42, true);
  parts.push(header);
  let prevNext = 4; // where the previous IFD's "next" offset lives
  const patches: [number, number][] = [];
  for (let page = 0; page < o.pages; page++) {
    // Pixel data of the page.
    const offsets: number[] = [];
    const counts: number[] = [];
    for (let s = 0; s < strips; s++) {
      const stripIndex = s % Math.ceil(o.height / o.rowsPerStrip);
      const rowsIn = Math.min(o.rowsPerStrip, o.height - stripIndex * o.rowsPerStrip);
      const n = rowsIn * o.width * stripSpp * bytes;
      const d = Uint8Array.from({ length: n }, (_, i) => (i * 31 + page * 7 + s) & 0xff);
      offsets.push(size);
      counts.push(n);
      parts.push(d);
      size += n;
    }
    if (size % 2) {
      parts.push(new Uint8Array(1));
      size++;
    }
    // Arrays that do not fit an entry.
    const arr = (vals: number[]) => {
      const a = new Uint8Array(vals.length * 4);
      vals.forEach((v, i) => new DataView(a.buffer).setUint32(i * 4, v, true));
      const at = size;
      parts.push(a);
      size += a.length;
      return at;
    };
    const offAt = strips > 1 ? arr(offsets) : -1;
    const cntAt = strips > 1 ? arr(counts) : -1;
    const bitsAt = o.spp > 2 ? (() => {
      const a = new Uint8Array(o.spp * 2);
      for (let i = 0; i < o.spp; i++) new DataView(a.buffer).setUint16(i * 2, o.bits, true);
      const at = size;
      parts.push(a);
      size += a.length;
      return at;
    })() : -1;
    const entries: [number, number, number, number][] = [
      [256, 4, 1, o.width],
      [257, 4, 1, o.height],
      [258, 3, o.spp, o.spp > 2 ? bitsAt : o.spp === 2 ? o.bits | (o.bits << 16) : o.bits],
      [259, 3, 1, 1],
      [262, 3, 1, 1],
      [273, 4, strips, strips > 1 ? offAt : offsets[0]],
      [277, 3, 1, o.spp],
      [278, 4, 1, o.rowsPerStrip],
      [279, 4, strips, strips > 1 ? cntAt : counts[0]],
      [284, 3, 1, o.planar],
      [339, 3, 1, o.format],
    ];
    const ifd = new Uint8Array(2 + entries.length * 12 + 4);
    const iv = new DataView(ifd.buffer);
    iv.setUint16(0, entries.length, true);
    entries.forEach(([tag, type, count, value], i) => {
      const e = 2 + i * 12;
      iv.setUint16(e, tag, true);
      iv.setUint16(e + 2, type, true);
      iv.setUint32(e + 4, count, true);
      if (type === 3 && count === 1) iv.setUint16(e + 8, value, true);
      else iv.setUint32(e + 8, value, true);
      fields.push(size + e + 4, size + e + 8);
    });
    patches.push([prevNext, size]);
    prevNext = size + 2 + entries.length * 12;
    parts.push(ifd);
    size += ifd.length;
  }
  const buf = concat(...parts);
  for (const [at, v] of patches) new DataView(buf.buffer).setUint32(at, v, true);
  return { buf, fields: [4, ...fields] };
}

let tiffBases: Promise<{ buf: Uint8Array; fields: number[] }[]> | undefined;

async function makeTiffBases(): Promise<{ buf: Uint8Array; fields: number[] }[]> {
  const own = [
    writeTiff({ width: 5, height: 4, spp: 3, bits: 16, format: 1, pages: 1, rowsPerStrip: 2, planar: 1 }),
    writeTiff({ width: 3, height: 3, spp: 1, bits: 32, format: 3, pages: 3, rowsPerStrip: 3, planar: 1 }),
    writeTiff({ width: 4, height: 5, spp: 4, bits: 8, format: 1, pages: 1, rowsPerStrip: 1, planar: 2 }),
  ];
  // libtiff (through sharp) for the compressions, tiles and predictors.
  const raw = Buffer.from(Uint8Array.from({ length: 24 * 20 * 3 }, (_, i) => (i * 13) & 0xff));
  const img = () => sharp(raw, { raw: { width: 24, height: 20, channels: 3 } });
  const viaSharp = await Promise.all([
    img().tiff({ compression: 'lzw', predictor: 'horizontal' }).toBuffer(),
    img().tiff({ compression: 'deflate' }).toBuffer(),
    img().tiff({ compression: 'packbits' }).toBuffer(),
    img().tiff({ compression: 'none', tile: true, tileWidth: 16, tileHeight: 16 }).toBuffer(),
    img().toColourspace('b-w').tiff({ compression: 'lzw', tile: true, tileWidth: 16, tileHeight: 16 }).toBuffer(),
  ]);
  return [...own, ...viaSharp.map((b) => ({ buf: new Uint8Array(b), fields: tiffEntryFields(new Uint8Array(b)) }))];
}

/** Count and value words of every entry of the first IFD of a little-endian classic TIFF. */
function tiffEntryFields(b: Uint8Array): number[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[0] !== 0x49) return [];
  const ifd = v.getUint32(4, true);
  const n = v.getUint16(ifd, true);
  const out = [4];
  for (let i = 0; i < n; i++) out.push(ifd + 2 + i * 12 + 4, ifd + 2 + i * 12 + 8);
  return out;
}

/** A copy of a little-endian classic TIFF with tags of its first IFD set (SHORT or LONG, as stored). */
function setTiffTags(src: Uint8Array, tags: Record<number, number>): Uint8Array {
  const b = Uint8Array.from(src);
  const v = new DataView(b.buffer);
  const ifd = v.getUint32(4, true);
  for (let i = 0, n = v.getUint16(ifd, true); i < n; i++) {
    const e = ifd + 2 + i * 12;
    const value = tags[v.getUint16(e, true)];
    if (value === undefined) continue;
    if (v.getUint16(e + 2, true) === 3) v.setUint16(e + 8, Math.min(value, 0xffff), true);
    else v.setUint32(e + 8, value, true);
  }
  return b;
}

/** Hand-made cases first (base index, tags): sizes that ask for 10^9–10^12 values from a small file. */
const TIFF_CRAFTED: [number, Record<number, number>][] = [
  [0, { 256: 0x7fffffff }],
  [0, { 256: 1_000_000, 257: 1_000_000 }],
  [3, { 256: 65535, 257: 65535 }],
  [6, { 322: 65520, 323: 65520 }],
  [1, { 277: 65535 }],
  [2, { 278: 0x7fffffff, 257: 0x7fffffff }],
];

export async function tiff(rng: Prng, note: Note, index: number): Promise<void> {
  const bases = await (tiffBases ??= makeTiffBases());
  const crafted = TIFF_CRAFTED[index];
  const k = crafted ? crafted[0] : rng.int(bases.length);
  note(crafted ? `crafted: base ${k} with ${JSON.stringify(crafted[1])}` : `base ${k}`);
  const buf = crafted ? setTiffTags(bases[k].buf, crafted[1]) : mutateBytes(rng, bases[k].buf, note, bases[k].fields);
  const cube = decodeTiffCube(buf, 'fuzz.tif');
  checkSize(cube.data.length, buf.length, 'TIFF cube');
}

// ---------------------------------------------------------------- images

/** An uncompressed BMP (8-bit grey palette or 24-bit). */
function bmp(width: number, height: number, bits: 8 | 24): Uint8Array {
  const stride = Math.floor((bits * width + 31) / 32) * 4;
  const off = 14 + 40 + (bits === 8 ? 1024 : 0);
  const buf = new Uint8Array(off + stride * height);
  const v = new DataView(buf.buffer);
  buf.set([0x42, 0x4d]);
  v.setUint32(2, buf.length, true);
  v.setUint32(10, off, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, width, true);
  v.setInt32(22, height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, bits, true);
  if (bits === 8) for (let i = 0; i < 256; i++) buf.set([i, i, i, 0], 54 + i * 4);
  for (let i = off; i < buf.length; i++) buf[i] = (i * 7) & 0xff;
  return buf;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** PNG chunks' CRCs recomputed, so that a mutated field reaches the decoder instead of failing the CRC. */
function fixPngCrcs(b: Uint8Array): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let p = 8; p + 12 <= b.length; ) {
    const n = v.getUint32(p);
    if (p + 12 + n > b.length) break;
    let c = 0xffffffff;
    for (let i = p + 4; i < p + 8 + n; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
    v.setUint32(p + 8 + n, (c ^ 0xffffffff) >>> 0);
    p += 12 + n;
  }
  return b;
}

/** Where a JPEG's frame header (SOF0/SOF2) keeps its height and width. */
function jpegFields(b: Uint8Array): number[] {
  for (let i = 2; i + 9 < b.length; i++) if (b[i] === 0xff && (b[i + 1] === 0xc0 || b[i + 1] === 0xc2)) return [i + 5, i + 7];
  return [];
}

let imageBases: Promise<{ buf: Uint8Array; png: boolean; fields: number[] }[]> | undefined;

async function makeImageBases(): Promise<{ buf: Uint8Array; png: boolean; fields: number[] }[]> {
  const px = (n: number) => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 29) & 0xff));
  const rgb = () => sharp(px(20 * 16 * 3), { raw: { width: 20, height: 16, channels: 3 } });
  const gray = () => sharp(px(20 * 16), { raw: { width: 20, height: 16, channels: 1 } }).toColourspace('b-w');
  const out = await Promise.all([
    gray().png().toBuffer(),
    rgb().png().toBuffer(),
    sharp(px(20 * 16 * 4), { raw: { width: 20, height: 16, channels: 4 } }).png().toBuffer(),
    gray().toColourspace('grey16').png().toBuffer(),
    rgb().jpeg({ quality: 80 }).toBuffer(),
    gray().tiff({ compression: 'lzw' }).toBuffer(),
  ]);
  // The fields a crafted file lies about: PNG's IHDR width and height, JPEG's frame size, TIFF's entries, BMP's size.
  const fields = (b: Uint8Array, i: number) => (i < 4 ? [16, 20] : i === 4 ? jpegFields(b) : tiffEntryFields(b));
  const own = [bmp(9, 7, 8), bmp(6, 5, 24)].map((buf) => ({ buf, png: false, fields: [18, 22] }));
  return [...out.map((b, i) => ({ buf: new Uint8Array(b), png: i < 4, fields: fields(new Uint8Array(b), i) })), ...own];
}

export async function image(rng: Prng, note: Note, index: number): Promise<void> {
  const bases = await (imageBases ??= makeImageBases());
  // Hand-made cases first: a JPEG of 60000×255 pixels in 500 bytes (libjpeg pads the missing rows with grey),
  // a PNG whose IHDR claims 16383×16383 (sharp's pixel limit) with valid CRCs, a BMP 2^30 wide.
  const crafted: [number, (b: Uint8Array) => Uint8Array][] = [
    [4, (b) => setU32(b, [[jpegFields(b)[0], (60000 << 16) | 255]], false)],
    [0, (b) => fixPngCrcs(setU32(b, [[16, 16383], [20, 16383]], false))],
    [6, (b) => setU32(b, [[18, 2 ** 30]])],
  ];
  const k = index < crafted.length ? crafted[index][0] : rng.int(bases.length);
  note(index < crafted.length ? `crafted ${index}` : `base ${k}`);
  let buf = index < crafted.length ? crafted[index][1](bases[k].buf) : mutateBytes(rng, bases[k].buf, note, bases[k].fields);
  if (index >= crafted.length && bases[k].png && rng.int(2)) {
    note('CRCs fixed');
    buf = fixPngCrcs(buf);
  }
  const what = index < crafted.length ? 1 : rng.int(3);
  if (what === 0) {
    const info = await imageInfo(buf, 'fuzz image');
    if (!(info.width > 0 && info.height > 0)) throw new FuzzCheckError(`imageInfo gave ${info.width}×${info.height}`);
  } else if (what === 1) {
    const img = await decodeImage(buf, { channels: pick(rng, ['keep', 'gray', 'rgb'] as const) }, 'fuzz image');
    checkSize(img.data.length, buf.length, 'image');
  } else {
    const m = await decodeMask(buf, undefined, 'fuzz mask', rng.int(2) ? 0.5 : 0);
    checkSize(m.data.length, buf.length, 'mask');
  }
}

// ---------------------------------------------------------------- IDX (MNIST)

export async function idx(rng: Prng, note: Note): Promise<void> {
  const dims = [1 + rng.int(4), 1 + rng.int(5), 1 + rng.int(5)];
  const type = pick(rng, [0x08, 0x0b, 0x0d]);
  const size = type === 0x08 ? 1 : type === 0x0b ? 2 : 4;
  const n = dims.reduce((a, b) => a * b, 1);
  const head = new Uint8Array(4 + 4 * dims.length);
  head.set([0, 0, type, dims.length]);
  dims.forEach((d, i) => new DataView(head.buffer).setUint32(4 + 4 * i, d, false));
  const base = concat(head, Uint8Array.from({ length: n * size }, (_, i) => i & 0xff));
  note(`dims ${dims.join('×')} type ${type}`);
  const a = parseIdx(mutateBytes(rng, base, note, [4, 8, 12]), 'fuzz.idx');
  checkSize(a.data.length, base.length, 'IDX array');
}
