/**
 * Reader for hyperspectral cubes stored as TIFF (TIFF 6.0, Adobe; BigTIFF), written here because
 * no TIFF library is installed and sharp (libvips) returns at most a few colour-interpreted bands:
 * it turns a 1-band uint16 page into 3 rescaled sRGB channels, so it cannot give exact values.
 *
 * A cube is either many samples per pixel in one image (one band per sample, chunky or planar),
 * or many pages (IFDs), each contributing its samples as the next bands; all pages must share
 * width, height and sample type. Reduced-resolution pages and transparency masks (NewSubfileType
 * bits 0 and 2) are skipped. Values are returned raw: no photometric interpretation (a palette
 * image gives its indices, RGB gives three bands, alpha is a band like any other).
 *
 * Supported: little- and big-endian, classic TIFF and BigTIFF; strips or tiles; uint8/int8,
 * uint16/int16, uint32/int32, uint64/int64 (as doubles: exact up to 2^53), float16/32/64;
 * compression none, LZW (new style), Deflate (8 and 32946) and PackBits; Predictor 2 (horizontal
 * differencing) and 3 (floating point). Anything else (JPEG, CCITT, LZMA, ZSTD, WebP, LERC,
 * old-style LZW, bit depths that are not whole bytes, YCbCr subsampling, FillOrder 2) is a
 * UserError saying which.
 */
import { open } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { UserError } from '../core/errors.js';

export interface TiffCube {
  rows: number;
  cols: number;
  bands: number;
  /** Row-major, pixel-interleaved: data[(r*cols + c)*bands + b]. */
  data: Float64Array;
  /** The stored sample type, e.g. 'uint16', 'float32'. */
  dtype: string;
}

// Tags (TIFF 6.0 and the Adobe supplements).
const T = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  FillOrder: 266,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  PlanarConfiguration: 284,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  SampleFormat: 339,
  YCbCrSubSampling: 530,
} as const;

const COMPRESSION_NAMES: Record<number, string> = {
  2: 'CCITT RLE',
  3: 'CCITT Group 3',
  4: 'CCITT Group 4',
  6: 'old-style JPEG',
  7: 'JPEG',
  34712: 'JPEG 2000',
  34887: 'LERC',
  34925: 'LZMA',
  50000: 'ZSTD',
  50001: 'WebP',
  50002: 'JPEG XL',
};

// Field types: byte size of one value.
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Entry {
  type: number;
  count: number;
  /** Where the values are: inside the entry or at the offset it holds. */
  pos: number;
}

interface Page {
  index: number;
  width: number;
  height: number;
  spp: number;
  bits: number;
  format: number; // 1 uint, 2 int, 3 float
  compression: number;
  predictor: number;
  planar: number;
  tiled: boolean;
  chunkW: number;
  chunkH: number;
  offsets: number[];
  counts: number[];
}

class Tiff {
  readonly view: DataView;
  readonly le: boolean;
  readonly big: boolean;

  constructor(
    readonly buf: Uint8Array,
    readonly path: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.length < 8) this.fail(`too short for a TIFF header (${buf.length} bytes)`);
    const bo = String.fromCharCode(buf[0], buf[1]);
    if (bo !== 'II' && bo !== 'MM') this.fail(`not a TIFF file (no II/MM byte-order mark)`, 'expected a .tif/.tiff file');
    this.le = bo === 'II';
    const magic = this.view.getUint16(2, this.le);
    if (magic === 42) this.big = false;
    else if (magic === 43) {
      this.big = true;
      if (buf.length < 16) this.fail('truncated BigTIFF header');
      if (this.view.getUint16(4, this.le) !== 8) this.fail('BigTIFF with an offset size other than 8 bytes');
    } else this.fail(`not a TIFF file (magic ${magic}, expected 42 or 43)`, 'expected a .tif/.tiff file');
  }

  fail(msg: string, hint = 'the file is truncated or not a valid TIFF'): never {
    throw new UserError(`${this.path}: ${msg}`, { hint });
  }

  need(pos: number, n: number, what: string): void {
    if (pos < 0 || pos + n > this.buf.length) this.fail(`truncated: ${what} at byte ${pos} needs ${n} bytes, the file has ${this.buf.length}`);
  }

  u16(p: number): number {
    return this.view.getUint16(p, this.le);
  }
  u32(p: number): number {
    return this.view.getUint32(p, this.le);
  }
  u64(p: number): number {
    const v = this.view.getBigUint64(p, this.le);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`offset ${v} at byte ${p} is beyond 2^53`);
    return Number(v);
  }
  off(p: number): number {
    return this.big ? this.u64(p) : this.u32(p);
  }

  firstIfd(): number {
    return this.big ? this.u64(8) : this.u32(4);
  }

  /** Reads the IFD at pos: its entries and the next IFD's offset. */
  ifd(pos: number): { entries: Map<number, Entry>; next: number } {
    const cntSize = this.big ? 8 : 2;
    const entSize = this.big ? 20 : 12;
    const inline = this.big ? 8 : 4;
    this.need(pos, cntSize, 'IFD entry count');
    const n = this.big ? this.u64(pos) : this.u16(pos);
    const start = pos + cntSize;
    this.need(start, n * entSize + (this.big ? 8 : 4), `IFD of ${n} entries`);
    const entries = new Map<number, Entry>();
    for (let i = 0; i < n; i++) {
      const e = start + i * entSize;
      const tag = this.u16(e);
      const type = this.u16(e + 2);
      const count = this.big ? this.u64(e + 4) : this.u32(e + 4);
      const size = TYPE_SIZE[type];
      if (!size) continue; // unknown field types are skipped, as the spec asks
      const valueAt = e + (this.big ? 12 : 8);
      const pos2 = size * count <= inline ? valueAt : this.off(valueAt);
      entries.set(tag, { type, count, pos: pos2 });
    }
    return { entries, next: this.off(start + n * entSize) };
  }

  /** Numeric values of a tag (integer types and floats; rationals as num/den). */
  values(e: Entry, tag: number): number[] {
    const size = TYPE_SIZE[e.type];
    this.need(e.pos, size * e.count, `values of tag ${tag}`);
    const out: number[] = [];
    for (let i = 0; i < e.count; i++) {
      const p = e.pos + i * size;
      switch (e.type) {
        case 1: case 2: case 7: out.push(this.buf[p]); break;
        case 6: out.push(this.view.getInt8(p)); break;
        case 3: out.push(this.u16(p)); break;
        case 8: out.push(this.view.getInt16(p, this.le)); break;
        case 4: case 13: out.push(this.u32(p)); break;
        case 9: out.push(this.view.getInt32(p, this.le)); break;
        case 5: out.push(this.u32(p) / this.u32(p + 4)); break;
        case 10: out.push(this.view.getInt32(p, this.le) / this.view.getInt32(p + 4, this.le)); break;
        case 11: out.push(this.view.getFloat32(p, this.le)); break;
        case 12: out.push(this.view.getFloat64(p, this.le)); break;
        case 16: case 18: out.push(this.u64(p)); break;
        case 17: out.push(Number(this.view.getBigInt64(p, this.le))); break;
      }
    }
    return out;
  }
}

function dtypeName(format: number, bits: number): string | undefined {
  const f = ({ 1: 'uint', 2: 'int', 3: 'float' } as Record<number, string>)[format];
  if (!f) return undefined;
  if (format === 3 ? ![16, 32, 64].includes(bits) : ![8, 16, 32, 64].includes(bits)) return undefined;
  return `${f}${bits}`;
}

function parsePage(t: Tiff, entries: Map<number, Entry>, index: number): Page | null {
  const where = `page ${index}`;
  const one = (tag: number, dflt?: number): number => {
    const e = entries.get(tag);
    if (!e) {
      if (dflt === undefined) t.fail(`${where}: missing required tag ${tag}`);
      return dflt;
    }
    const v = t.values(e, tag);
    if (v.length < 1) t.fail(`${where}: tag ${tag} has no value`);
    return v[0];
  };
  const list = (tag: number): number[] | undefined => {
    const e = entries.get(tag);
    return e ? t.values(e, tag) : undefined;
  };

  const subfile = one(T.NewSubfileType, 0);
  if (subfile & 0b101) return null; // overview or mask: not a band of the cube

  const width = one(T.ImageWidth);
  const height = one(T.ImageLength);
  const spp = one(T.SamplesPerPixel, 1);
  if (width < 1 || height < 1 || spp < 1) t.fail(`${where}: empty image (${width}×${height}, ${spp} samples per pixel)`);
  const bitsList = list(T.BitsPerSample) ?? [1];
  const fmtList = list(T.SampleFormat) ?? [1];
  const bits = bitsList[0];
  const format = fmtList[0];
  if (bitsList.some((b) => b !== bits)) t.fail(`${where}: samples of different bit depths (${bitsList.join(',')}) are not supported`);
  if (fmtList.some((f) => f !== format)) t.fail(`${where}: samples of different formats (${fmtList.join(',')}) are not supported`);
  if (!dtypeName(format, bits)) {
    const kinds: Record<number, string> = { 1: 'unsigned', 2: 'signed', 3: 'float', 4: 'undefined', 5: 'complex int', 6: 'complex float' };
    const kind = kinds[format] ?? `format ${format}`;
    t.fail(`${where}: ${bits}-bit ${kind} samples are not supported`, 'supported: 8/16/32/64-bit integers, 16/32/64-bit floats');
  }

  const compression = one(T.Compression, 1);
  if (![1, 5, 8, 32946, 32773].includes(compression)) {
    const name = COMPRESSION_NAMES[compression] ?? `code ${compression}`;
    t.fail(`${where}: ${name} compression is not supported`, 'supported: none, LZW, Deflate, PackBits; re-save with one of them');
  }
  const predictor = one(T.Predictor, 1);
  if (![1, 2, 3].includes(predictor)) t.fail(`${where}: unknown predictor ${predictor}`);
  if (predictor === 3 && format !== 3) t.fail(`${where}: floating-point predictor on integer samples`);
  const planar = one(T.PlanarConfiguration, 1);
  if (planar !== 1 && planar !== 2) t.fail(`${where}: unknown PlanarConfiguration ${planar}`);
  if (one(T.FillOrder, 1) !== 1) t.fail(`${where}: FillOrder 2 (reversed bits) is not supported`);
  if (one(T.Photometric, 1) === 6) {
    // YCbCr defaults to 2×2 chroma subsampling, which changes the data layout.
    const sub = list(T.YCbCrSubSampling) ?? [2, 2];
    if (sub[0] !== 1 || sub[1] !== 1) t.fail(`${where}: YCbCr with ${sub.join('×')} chroma subsampling is not supported`);
  }

  const tiled = entries.has(T.TileOffsets);
  let chunkW: number;
  let chunkH: number;
  let offsets: number[] | undefined;
  let counts: number[] | undefined;
  if (tiled) {
    chunkW = one(T.TileWidth);
    chunkH = one(T.TileLength);
    offsets = list(T.TileOffsets);
    counts = list(T.TileByteCounts);
    if (chunkW < 1 || chunkH < 1) t.fail(`${where}: tile size ${chunkW}×${chunkH}`);
  } else {
    chunkW = width;
    chunkH = Math.min(one(T.RowsPerStrip, height), height);
    if (chunkH < 1) chunkH = height;
    offsets = list(T.StripOffsets);
    counts = list(T.StripByteCounts);
  }
  const what = tiled ? 'tile' : 'strip';
  if (!offsets) t.fail(`${where}: no ${what} offsets`);
  const across = Math.ceil(width / chunkW);
  const down = Math.ceil(height / chunkH);
  const expected = across * down * (planar === 2 ? spp : 1);
  if (offsets.length < expected) t.fail(`${where}: ${offsets.length} ${what} offsets, expected ${expected}`);
  if (!counts) {
    // Allowed for a single uncompressed chunk; otherwise we cannot know where the data ends.
    if (compression !== 1) t.fail(`${where}: no ${what} byte counts`);
    const h = chunkH;
    counts = offsets.map((_, k) => {
      const rowsIn = tiled ? h : Math.min(h, height - (k % down) * h); // the last strip may be short
      return chunkBytes(chunkW, rowsIn, planar === 2 ? 1 : spp, bits);
    });
  }
  if (counts.length < expected) t.fail(`${where}: ${counts.length} ${what} byte counts, expected ${expected}`);
  // Sizes are checked against the bytes that hold them before anything is allocated: a damaged
  // width or tile size would otherwise ask for gigabytes (up to 10^11 values) from a small file.
  const ratio = MAX_RATIO[compression];
  const rowBytes = chunkW * (planar === 2 ? 1 : spp) * (bits / 8);
  for (let k = 0; k < expected; k++) {
    const rowsIn = tiled ? chunkH : Math.min(chunkH, height - (k % down) * chunkH);
    const need = rowsIn * rowBytes;
    if (offsets[k] + counts[k] > t.buf.length) t.fail(`truncated: ${where} ${what} ${k} at byte ${offsets[k]} has ${counts[k]} bytes but the file ends at ${t.buf.length}`);
    if (compression === 1 && need > counts[k]) t.fail(`truncated: ${where} ${what} ${k} decodes to ${counts[k]} bytes, expected ${need}`);
    if (need > counts[k] * ratio) {
      t.fail(`${where}: ${what} ${k} holds ${counts[k]} bytes of ${COMPRESSION_LABEL[compression]} data, too few for the ${need} bytes of its ${chunkW}×${rowsIn} pixels: the file is truncated or its sizes are damaged`);
    }
  }
  return { index, width, height, spp, bits, format, compression, predictor, planar, tiled, chunkW, chunkH, offsets, counts };
}

/** The most a compressed chunk can expand: PackBits 128 bytes from 2, Deflate 1032:1, LZW one ≤4096-byte string per 12-bit code. */
const MAX_RATIO: Record<number, number> = { 1: 1, 32773: 64, 8: 1032, 32946: 1032, 5: 2731 };
const COMPRESSION_LABEL: Record<number, string> = { 32773: 'PackBits', 8: 'Deflate', 32946: 'Deflate', 5: 'LZW' };

function chunkBytes(w: number, h: number, spp: number, bits: number): number {
  return w * h * spp * (bits / 8);
}

/** Reads a TIFF file as a cube. See the module comment for what is supported. */
export async function readTiffCube(path: string): Promise<TiffCube> {
  let buf: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      buf = new Uint8Array(size);
      let got = 0;
      while (got < size) {
        const { bytesRead } = await fh.read(buf, got, Math.min(size - got, 1 << 30), got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      buf = buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`TIFF file not found: ${path}`, { hint: 'check the path', cause: e });
    if (code === 'EISDIR') throw new UserError(`TIFF path is a directory: ${path}`, { cause: e });
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`cannot read TIFF file ${path}: permission denied`, { cause: e });
    throw e;
  }
  try {
    return decodeTiffCube(buf, path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    // A malformed file must never surface as a raw RangeError.
    throw new UserError(`${path}: malformed TIFF (${(e as Error).message})`, { cause: e });
  }
}

/** Decodes a TIFF held in memory; `source` names it in errors. */
export function decodeTiffCube(buf: Uint8Array, source = 'TIFF'): TiffCube {
  const t = new Tiff(buf, source);
  const pages: Page[] = [];
  const seen = new Set<number>();
  let pos = t.firstIfd();
  let index = 0;
  while (pos !== 0) {
    if (seen.has(pos)) t.fail(`IFD chain loops back to byte ${pos}`);
    seen.add(pos);
    const { entries, next } = t.ifd(pos);
    const page = parsePage(t, entries, index);
    if (page) pages.push(page);
    index++;
    pos = next;
  }
  if (pages.length === 0) t.fail('no full-resolution image in the file');

  const p0 = pages[0];
  const dtype = dtypeName(p0.format, p0.bits)!;
  for (const p of pages) {
    if (p.width !== p0.width || p.height !== p0.height) {
      t.fail(`page ${p.index} is ${p.width}×${p.height} but page ${p0.index} is ${p0.width}×${p0.height}; pages of a cube must match`);
    }
    const d = dtypeName(p.format, p.bits);
    if (d !== dtype) t.fail(`page ${p.index} holds ${d} but page ${p0.index} holds ${dtype}; pages of a cube must match`);
  }
  const rows = p0.height;
  const cols = p0.width;
  const bands = pages.reduce((a, p) => a + p.spp, 0);
  let data: Float64Array | undefined;
  try {
    data = new Float64Array(rows * cols * bands);
  } catch {
    // Sizes the chunks can hold, and still more than this process can allocate.
    t.fail(`a ${rows}×${cols}×${bands} cube (${((rows * cols * bands * 8) / 2 ** 30).toFixed(1)} GiB as float64) is too large to load`, 'crop the cube or select fewer pages');
  }
  if (!data) throw new Error('unreachable');
  let base = 0;
  for (const p of pages) {
    decodePage(t, p, data, bands, base);
    base += p.spp;
  }
  return { rows, cols, bands, data, dtype };
}

function decodePage(t: Tiff, p: Page, out: Float64Array, bands: number, base: number): void {
  const across = Math.ceil(p.width / p.chunkW);
  const down = Math.ceil(p.height / p.chunkH);
  const planes = p.planar === 2 ? p.spp : 1;
  const sppChunk = p.planar === 2 ? 1 : p.spp;
  const bytes = p.bits / 8;
  const rowBytes = p.chunkW * sppChunk * bytes;
  const what = p.tiled ? 'tile' : 'strip';
  for (let plane = 0; plane < planes; plane++) {
    for (let ty = 0; ty < down; ty++) {
      for (let tx = 0; tx < across; tx++) {
        const k = plane * across * down + ty * across + tx;
        const r0 = ty * p.chunkH;
        const c0 = tx * p.chunkW;
        // A strip at the bottom may hold fewer rows; a tile is always whole (padded).
        const h = p.tiled ? p.chunkH : Math.min(p.chunkH, p.height - r0);
        const need = h * rowBytes;
        const where = `page ${p.index} ${what} ${k}`;
        const off = p.offsets[k];
        const cnt = p.counts[k];
        if (off + cnt > t.buf.length) {
          t.fail(`truncated: ${where} at byte ${off} has ${cnt} bytes but the file ends at ${t.buf.length}`);
        }
        const raw = t.buf.subarray(off, off + cnt);
        const dec = decompress(t, p.compression, raw, need, where);
        if (dec.length < need) t.fail(`truncated: ${where} decodes to ${dec.length} bytes, expected ${need}`);
        const values = toValues(dec.subarray(0, need), p, h, rowBytes, sppChunk, t.le);
        // Scatter the chunk's visible part into the cube.
        const vis = Math.min(p.chunkW, p.width - c0);
        const visH = Math.min(h, p.height - r0);
        for (let y = 0; y < visH; y++) {
          const srcRow = y * p.chunkW * sppChunk;
          const dstRow = ((r0 + y) * p.width + c0) * bands + base + plane;
          if (sppChunk === 1) {
            for (let x = 0; x < vis; x++) out[dstRow + x * bands] = values[srcRow + x];
          } else {
            for (let x = 0; x < vis; x++) {
              const s = srcRow + x * sppChunk;
              const d = dstRow + x * bands;
              for (let c = 0; c < sppChunk; c++) out[d + c] = values[s + c];
            }
          }
        }
      }
    }
  }
}

function decompress(t: Tiff, compression: number, raw: Uint8Array, need: number, where: string): Uint8Array {
  switch (compression) {
    case 1:
      return raw;
    case 8:
    case 32946:
      try {
        return inflateSync(raw);
      } catch (e) {
        t.fail(`${where}: Deflate data could not be inflated (${(e as Error).message})`);
      }
    // falls through (unreachable: fail throws)
    case 5:
      return lzwDecode(t, raw, need, where);
    case 32773:
      return packBitsDecode(raw, need);
    default:
      t.fail(`${where}: compression ${compression} is not supported`);
  }
}

/** TIFF LZW (TIFF 6.0 §13): MSB-first codes of 9–12 bits, Clear 256, EOI 257, early change. */
function lzwDecode(t: Tiff, src: Uint8Array, need: number, where: string): Uint8Array {
  const fail = (m: string): never => t.fail(`${where}: ${m}`);
  if (src.length >= 2 && src[0] === 0 && (src[1] & 1) === 1) {
    fail('old-style (pre-TIFF 6.0) LZW is not supported');
  }
  const out = new Uint8Array(need);
  const prefix = new Int32Array(4096);
  const suffix = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const len = new Int32Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    first[i] = i;
    len[i] = 1;
  }
  let next = 258;
  let width = 9;
  let prev = -1;
  let o = 0;
  let bitBuf = 0;
  let bitCnt = 0;
  let ip = 0;
  // Writes the string of `code` at o (clipped to the output), returns its length.
  const emit = (code: number): void => {
    const l = len[code];
    let c = code;
    for (let i = o + l - 1; i >= o; i--) {
      if (i < need) out[i] = suffix[c];
      c = prefix[c];
    }
    o += l;
  };
  while (o < need) {
    while (bitCnt < width) {
      if (ip >= src.length) return out.subarray(0, Math.min(o, need)); // ran out without EOI: caller checks the size
      bitBuf = ((bitBuf << 8) | src[ip++]) >>> 0;
      bitCnt += 8;
    }
    const code = (bitBuf >>> (bitCnt - width)) & ((1 << width) - 1);
    bitCnt -= width;
    bitBuf &= (1 << bitCnt) - 1;
    if (code === 257) break;
    if (code === 256) {
      next = 258;
      width = 9;
      prev = -1;
      continue;
    }
    if (prev === -1) {
      if (code > 255) fail(`corrupt LZW data (code ${code} after a clear)`);
      emit(code);
      prev = code;
      continue;
    }
    if (code < next) {
      emit(code);
      if (next < 4096) {
        prefix[next] = prev;
        suffix[next] = first[code];
        first[next] = first[prev];
        len[next] = len[prev] + 1;
        next++;
      }
    } else if (code === next && next < 4096) {
      // The KwKwK case: the string is prev's plus prev's first byte.
      prefix[next] = prev;
      suffix[next] = first[prev];
      first[next] = first[prev];
      len[next] = len[prev] + 1;
      next++;
      emit(code);
    } else {
      fail(`corrupt LZW data (code ${code}, table has ${next})`);
    }
    prev = code;
    // The decoder runs one entry behind the encoder, hence one earlier than 2^width.
    if (next >= (1 << width) - 1 && width < 12) width++;
  }
  return out.subarray(0, Math.min(o, need));
}

function packBitsDecode(src: Uint8Array, need: number): Uint8Array {
  const out = new Uint8Array(need);
  let o = 0;
  let i = 0;
  while (i < src.length && o < need) {
    const n = (src[i++] << 24) >> 24;
    if (n >= 0) {
      const l = Math.min(n + 1, need - o, src.length - i);
      out.set(src.subarray(i, i + l), o);
      i += n + 1;
      o += l;
    } else if (n !== -128) {
      const l = Math.min(1 - n, need - o);
      if (i >= src.length) break;
      out.fill(src[i++], o, o + l);
      o += l;
    }
  }
  return out.subarray(0, o);
}

/** Decoded chunk bytes → sample values, undoing byte order and predictor. */
function toValues(dec: Uint8Array, p: Page, h: number, rowBytes: number, spp: number, le: boolean): ArrayLike<number> {
  const bytes = p.bits / 8;
  // Own, aligned copy: we swap and accumulate in place.
  const b = new Uint8Array(dec.length);
  b.set(dec);
  let fileLE = le;
  if (p.predictor === 3) {
    // Floating-point predictor (Adobe Photoshop TIFF Technical Note 3): per row, bytes were
    // differenced with a stride of spp, after splitting each value into byte planes, most
    // significant first. Undo both; the result is big-endian whatever the file's byte order.
    const tmp = new Uint8Array(rowBytes);
    const wc = rowBytes / bytes;
    for (let y = 0; y < h; y++) {
      const row = b.subarray(y * rowBytes, (y + 1) * rowBytes);
      for (let i = spp; i < rowBytes; i++) row[i] = (row[i] + row[i - spp]) & 0xff;
      tmp.set(row);
      for (let i = 0; i < wc; i++) for (let k = 0; k < bytes; k++) row[i * bytes + k] = tmp[k * wc + i];
    }
    fileLE = false;
  }
  if (bytes > 1 && fileLE !== HOST_LE) swap(b, bytes);
  const n = b.length / bytes;
  const w = rowBytes / bytes / spp;
  if (p.predictor === 2) {
    // Horizontal differencing on the unsigned words of each sample; typed arrays wrap for us.
    const u = bytes === 1 ? b : bytes === 2 ? new Uint16Array(b.buffer) : bytes === 4 ? new Uint32Array(b.buffer) : new BigUint64Array(b.buffer);
    const rowN = w * spp;
    for (let y = 0; y < h; y++) {
      const r = y * rowN;
      if (u instanceof BigUint64Array) {
        for (let i = spp; i < rowN; i++) u[r + i] = u[r + i] + u[r + i - spp];
      } else {
        for (let i = spp; i < rowN; i++) u[r + i] = u[r + i] + u[r + i - spp];
      }
    }
  }
  const ab = b.buffer;
  switch (dtypeName(p.format, p.bits)) {
    case 'uint8': return b;
    case 'int8': return new Int8Array(ab);
    case 'uint16': return new Uint16Array(ab);
    case 'int16': return new Int16Array(ab);
    case 'uint32': return new Uint32Array(ab);
    case 'int32': return new Int32Array(ab);
    case 'float32': return new Float32Array(ab);
    case 'float64': return new Float64Array(ab);
    case 'uint64': return Float64Array.from(new BigUint64Array(ab), Number);
    case 'int64': return Float64Array.from(new BigInt64Array(ab), Number);
    case 'float16': return halfToFloat(new Uint16Array(ab), n);
  }
  throw new Error('unreachable dtype');
}

function halfToFloat(h: Uint16Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = h[i];
    const s = x & 0x8000 ? -1 : 1;
    const e = (x >> 10) & 0x1f;
    const m = x & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

function swap(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const x = b[lo];
      b[lo] = b[hi];
      b[hi] = x;
    }
  }
}
