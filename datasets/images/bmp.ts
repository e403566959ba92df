/**
 * A small Windows BMP decoder (libvips, and so sharp, cannot read BMP).
 *
 * Reads uncompressed files: 1, 4 and 8-bit palette images, 16-bit (5-5-5 by default, or any
 * masks with BI_BITFIELDS), 24-bit and 32-bit (B,G,R,x by default, or BI_BITFIELDS /
 * BI_ALPHABITFIELDS masks); bottom-up and top-down rows; BITMAPCOREHEADER (OS/2 1.x),
 * BITMAPINFOHEADER and its V2–V5 extensions. RLE, JPEG and PNG compressed files are rejected
 * with their compression code. Alpha is dropped. Palette images whose palette is all grey
 * decode to one channel, everything else to three.
 *
 * Errors are `BmpFormatError`s carrying a short reason; decode.ts turns them into
 * ImageDecodeErrors that name the file (this module knows no file names).
 */

export class BmpFormatError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BmpFormatError';
  }
}

export interface BmpImage {
  width: number;
  height: number;
  channels: 1 | 3;
  bitDepth: 8;
  data: Uint8Array;
}

export interface BmpInfo {
  width: number;
  height: number;
  channels: 1 | 3;
  bitDepth: 8;
  /** Bits per pixel as stored (1, 4, 8, 16, 24, 32). */
  bitsPerPixel: number;
}

const COMPRESSION_NAMES: Record<number, string> = { 1: 'RLE8', 2: 'RLE4', 4: 'JPEG', 5: 'PNG', 11: 'CMYK', 12: 'CMYK RLE8', 13: 'CMYK RLE4' };
const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** True when the buffer starts with the 'BM' signature. */
export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d;
}

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bits: number;
  compression: number;
  dataOffset: number;
  /** RGB entries of the palette (bits ≤ 8), 3 bytes each. */
  palette?: Uint8Array;
  paletteGray: boolean;
  masks?: [number, number, number];
}

function parseHeader(buf: Uint8Array): Header {
  if (!isBmp(buf)) throw new BmpFormatError('not a BMP file');
  if (buf.length < 18) throw new BmpFormatError('truncated');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = v.getUint32(10, true);
  const hsize = v.getUint32(14, true);
  if (![12, 16, 40, 52, 56, 64, 108, 124].includes(hsize)) throw new BmpFormatError(`unsupported BMP header size ${hsize}`);
  if (buf.length < 14 + hsize) throw new BmpFormatError('truncated');

  let width: number, rawHeight: number, planes: number, bits: number;
  let compression = BI_RGB;
  let colorsUsed = 0;
  if (hsize === 12) {
    width = v.getUint16(18, true);
    rawHeight = v.getInt16(20, true);
    planes = v.getUint16(22, true);
    bits = v.getUint16(24, true);
  } else {
    width = v.getInt32(18, true);
    rawHeight = v.getInt32(22, true);
    planes = v.getUint16(26, true);
    bits = v.getUint16(28, true);
    if (hsize >= 20) compression = v.getUint32(30, true);
    if (hsize >= 36) colorsUsed = v.getUint32(46, true);
    // OS/2 2.x headers (16, 64 bytes) reuse codes 3 and 4 for Huffman and RLE24.
    if ((hsize === 16 || hsize === 64) && compression !== BI_RGB) {
      throw new BmpFormatError(`unsupported BMP compression ${compression} (OS/2)`);
    }
  }
  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    const name = COMPRESSION_NAMES[compression];
    throw new BmpFormatError(`unsupported BMP compression ${compression}${name ? ` (${name})` : ''}`);
  }
  if (planes !== 1) throw new BmpFormatError(`bad BMP header (${planes} planes)`);
  if (width <= 0 || rawHeight === 0 || rawHeight === -2147483648) throw new BmpFormatError(`bad BMP size ${width}x${rawHeight}`);
  if (![1, 4, 8, 16, 24, 32].includes(bits)) throw new BmpFormatError(`unsupported BMP bit depth ${bits}`);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);

  let masks: [number, number, number] | undefined;
  let paletteStart = 14 + hsize;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    if (bits !== 16 && bits !== 32) throw new BmpFormatError(`bad BMP header (bit fields with ${bits} bits per pixel)`);
    // A 40-byte header is followed by the masks; V2 and later hold them at the same offset inside.
    const at = 54;
    if (hsize === 40) paletteStart += compression === BI_ALPHABITFIELDS ? 16 : 12;
    if (buf.length < at + 12) throw new BmpFormatError('truncated');
    masks = [v.getUint32(at, true), v.getUint32(at + 4, true), v.getUint32(at + 8, true)];
    if (masks.every((m) => m === 0)) throw new BmpFormatError('bad BMP bit fields (all masks zero)');
  } else if (bits === 16) {
    masks = [0x7c00, 0x03e0, 0x001f];
  } else if (bits === 32) {
    masks = [0x00ff0000, 0x0000ff00, 0x000000ff];
  }

  if (dataOffset < paletteStart) throw new BmpFormatError(`bad BMP header (pixel data offset ${dataOffset})`);
  let palette: Uint8Array | undefined;
  let paletteGray = false;
  if (bits <= 8) {
    const max = 1 << bits;
    const count = colorsUsed > 0 && colorsUsed < max ? colorsUsed : max;
    const entry = hsize === 12 ? 3 : 4;
    // Some writers store fewer entries than 2^bits without saying so: take what fits before the pixels.
    const room = Math.floor((dataOffset - paletteStart) / entry);
    const n = Math.min(count, room);
    if (n <= 0) throw new BmpFormatError('bad BMP header (no palette)');
    if (buf.length < paletteStart + n * entry) throw new BmpFormatError('truncated');
    palette = new Uint8Array(n * 3);
    paletteGray = true;
    for (let i = 0; i < n; i++) {
      const o = paletteStart + i * entry;
      const b = buf[o], g = buf[o + 1], r = buf[o + 2];
      palette[i * 3] = r;
      palette[i * 3 + 1] = g;
      palette[i * 3 + 2] = b;
      if (r !== g || g !== b) paletteGray = false;
    }
  }
  return { width, height, topDown, bits, compression, dataOffset, palette, paletteGray, masks };
}

/** Header facts without decoding the pixels (no truncation check of the pixel data). */
export function readBmpInfo(buf: Uint8Array): BmpInfo {
  const h = parseHeader(buf);
  return { width: h.width, height: h.height, channels: h.palette && h.paletteGray ? 1 : 3, bitDepth: 8, bitsPerPixel: h.bits };
}

interface Field {
  mask: number;
  shift: number;
  max: number;
}

function field(mask: number): Field {
  if (mask === 0) return { mask: 0, shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  if ((max & (max + 1)) !== 0) throw new BmpFormatError('bad BMP bit fields (mask not contiguous)');
  return { mask, shift, max };
}

function scaleTable(f: Field): Uint8Array | undefined {
  // Masks up to 16 bits wide get a lookup table; wider ones are shifted down at use.
  if (f.max === 0 || f.max > 0xffff) return undefined;
  const t = new Uint8Array(f.max + 1);
  for (let i = 0; i <= f.max; i++) t[i] = Math.round((i * 255) / f.max);
  return t;
}

export function decodeBmp(buf: Uint8Array): BmpImage {
  const h = parseHeader(buf);
  const { width: w, height: ht, bits } = h;
  const stride = Math.floor((bits * w + 31) / 32) * 4;
  // The last row's padding is sometimes left off; its pixels must be there.
  const need = h.dataOffset + stride * (ht - 1) + Math.ceil((bits * w) / 8);
  if (buf.length < need) throw new BmpFormatError('truncated');

  const gray = !!h.palette && h.paletteGray;
  const ch: 1 | 3 = gray ? 1 : 3;
  const out = new Uint8Array(w * ht * ch);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

  if (h.palette) {
    const pal = h.palette;
    const n = pal.length / 3;
    const perByte = 8 / bits;
    const valueMask = (1 << bits) - 1;
    for (let y = 0; y < ht; y++) {
      const src = h.dataOffset + (h.topDown ? y : ht - 1 - y) * stride;
      let o = y * w * ch;
      for (let x = 0; x < w; x++) {
        const byte = buf[src + Math.floor(x / perByte)];
        const shift = 8 - bits * ((x % perByte) + 1);
        const idx = (byte >> shift) & valueMask;
        if (idx >= n) throw new BmpFormatError(`bad BMP pixel (palette index ${idx} of ${n})`);
        if (gray) out[o++] = pal[idx * 3];
        else {
          out[o++] = pal[idx * 3];
          out[o++] = pal[idx * 3 + 1];
          out[o++] = pal[idx * 3 + 2];
        }
      }
    }
  } else if (bits === 24) {
    for (let y = 0; y < ht; y++) {
      let s = h.dataOffset + (h.topDown ? y : ht - 1 - y) * stride;
      let o = y * w * 3;
      for (let x = 0; x < w; x++, s += 3) {
        out[o++] = buf[s + 2];
        out[o++] = buf[s + 1];
        out[o++] = buf[s];
      }
    }
  } else {
    const fields = h.masks!.map(field);
    const tables = fields.map(scaleTable);
    const bytes = bits / 8;
    for (let y = 0; y < ht; y++) {
      let s = h.dataOffset + (h.topDown ? y : ht - 1 - y) * stride;
      let o = y * w * 3;
      for (let x = 0; x < w; x++, s += bytes) {
        const px = bytes === 2 ? v.getUint16(s, true) : v.getUint32(s, true);
        for (let c = 0; c < 3; c++) {
          const f = fields[c];
          const val = (px & f.mask) >>> f.shift;
          const t = tables[c];
          out[o++] = f.max === 0 ? 0 : t ? t[val] : Math.round((val * 255) / f.max);
        }
      }
    }
  }
  return { width: w, height: ht, channels: ch, bitDepth: 8, data: out };
}
