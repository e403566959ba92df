/**
 * Decoding one image file (or buffer) to pixels: PNG, JPEG and TIFF through sharp (libvips),
 * BMP through bmp.ts. Pixels come back as stored: no EXIF rotation (masks are drawn on the stored
 * pixel grid) and no ICC colour conversion (PIL and OpenCV do none either, and research code
 * compares against them). 16-bit PNG/TIFF stay 16-bit. Alpha is always dropped.
 *
 * Damaged files are errors, never silently padded pixels: sharp runs with failOn 'error', which
 * also catches truncated TIFF strips that the 'truncated' level lets through.
 */
import { open, readFile } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { UserError } from '../../core/errors.js';
import { BmpFormatError, decodeBmp, isBmp, readBmpInfo } from './bmp.js';

export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  bitDepth: 8 | 16;
  /** Row-major HWC, channels interleaved. */
  data: Uint8Array | Uint16Array;
}

export interface DecodeOptions {
  /**
   * 'keep' (default): 1 channel for grey files (grey+alpha too), 3 for colour (palette, RGB,
   * RGBA, CMYK converted to RGB). 'gray' converts colour with ITU-R 601 luma in PIL's integer
   * form (L = (19595 R + 38470 G + 7471 B + 2^15) >> 16, so it equals PIL's convert('L')).
   * 'rgb' repeats a grey channel three times.
   */
  channels?: 'keep' | 'gray' | 'rgb';
}

export interface ImageInfo {
  width: number;
  height: number;
  /** What decodeImage returns with channels 'keep': 1 or 3 (alpha not counted). */
  channels: number;
  bitDepth: 8 | 16;
  /** 'png', 'jpeg', 'tiff' or 'bmp'. */
  format: string;
}

/**
 * A file that cannot be decoded, as one line: `<what>: cannot decode (<reason>)`. Its name stays
 * 'UserError' (inherited) so that it is classified as bad input after crossing a process or
 * Temporal boundary, where only the name survives.
 */
export class ImageDecodeError extends UserError {
  readonly what: string;
  readonly reason: string;
  constructor(what: string, reason: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(`${what}: cannot decode (${reason})`, opts);
    this.what = what;
    this.reason = reason;
  }
}

const SHARP_FORMATS = new Set(['png', 'jpeg', 'tiff']);

function whatOf(input: string | Uint8Array, what?: string): string {
  return what ?? (typeof input === 'string' ? input : 'image');
}

function readFailure(what: string, e: unknown): UserError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UserError(`${what}: file not found`, { cause: e });
  if (code === 'EISDIR') return new UserError(`${what}: is a folder, not an image file`, { cause: e });
  return new UserError(`${what}: cannot read (${code ?? String(e)})`, { cause: e });
}

async function load(input: string | Uint8Array, what: string): Promise<Uint8Array> {
  if (typeof input !== 'string') return input;
  try {
    return await readFile(input);
  } catch (e) {
    throw readFailure(what, e);
  }
}

/** The first bytes of a file, enough for a BMP header and palette. */
async function head(path: string, what: string, n = 4096): Promise<{ bytes: Uint8Array; size: number }> {
  let fh;
  try {
    fh = await open(path, 'r');
    const size = (await fh.stat()).size;
    const bytes = new Uint8Array(Math.min(n, size));
    await fh.read(bytes, 0, bytes.length, 0);
    return { bytes, size };
  } catch (e) {
    throw readFailure(what, e);
  } finally {
    await fh?.close();
  }
}

/** The format a file's signature claims, whatever libvips makes of the rest. */
function sniff(b: Uint8Array): string | undefined {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'PNG';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return 'TIFF';
  return undefined;
}

/** libvips messages, said as a short reason. `first`: the file's first bytes. */
function sharpFailure(what: string, e: unknown, first: Uint8Array): ImageDecodeError {
  const msg = e instanceof Error ? e.message : String(e);
  let reason: string;
  let hint: string | undefined;
  if (/unsupported image format/i.test(msg)) {
    // A TIFF cut before its directory (libtiff writes it last) is not recognised at all.
    const claimed = sniff(first);
    reason = claimed ? `truncated or damaged ${claimed}` : 'not an image';
    hint = claimed ? 'the file is incomplete or damaged; copy or download it again' : 'expected a PNG, JPEG, TIFF or BMP file';
  } else if (/premature end|truncat|read error|unexpected end|end of (file|data|stream)|short read|not enough (data|image data)/i.test(msg)) {
    reason = 'truncated';
    hint = 'the file is incomplete or damaged; copy or download it again';
  } else {
    reason = msg.split('\n')[0].trim().slice(0, 200) || 'unknown error';
  }
  return new ImageDecodeError(what, reason, { hint, cause: e });
}

function bmpFailure(what: string, e: unknown): unknown {
  if (!(e instanceof BmpFormatError)) return e;
  const hint = e.reason.startsWith('unsupported BMP compression')
    ? 'only uncompressed BMP is read; convert the file to PNG'
    : e.reason === 'truncated'
      ? 'the file is incomplete or damaged; copy or download it again'
      : undefined;
  return new ImageDecodeError(what, e.reason, { hint, cause: e });
}

interface SourceShape {
  gray: boolean;
  bitDepth: 8 | 16;
  cmyk: boolean;
}

function shapeOf(meta: Metadata, what: string): SourceShape {
  if (!SHARP_FORMATS.has(meta.format)) {
    throw new ImageDecodeError(what, `unsupported format ${meta.format}`, { hint: 'expected a PNG, JPEG, TIFF or BMP file' });
  }
  let bitDepth: 8 | 16;
  if (meta.depth === 'uchar') bitDepth = 8;
  else if (meta.depth === 'ushort') bitDepth = 16;
  else throw new ImageDecodeError(what, `unsupported sample format ${meta.depth}`, { hint: 'only 8 and 16-bit unsigned integer images are read' });
  const colour = meta.channels - (meta.hasAlpha ? 1 : 0);
  const cmyk = meta.space === 'cmyk';
  if (colour !== 1 && colour !== 3 && !cmyk) {
    throw new ImageDecodeError(what, `unsupported ${meta.channels}-channel ${meta.space} image`);
  }
  return { gray: colour === 1, bitDepth, cmyk };
}

/**
 * The most pixel bytes a file of n bytes can hold: LZW's 2731:1 (TIFF) is the loosest of the
 * formats (Deflate 1032:1, JPEG about 500:1), plus room for headers. libjpeg pads a damaged
 * file with grey without an error, so a size field set to 65535 decoded 50 million values from
 * 527 bytes.
 */
const maxPixelBytes = (n: number) => 2731 * n + 65536;

async function decodeWithSharp(buf: Uint8Array, what: string): Promise<DecodedImage> {
  let shape: SourceShape;
  let meta: Metadata;
  try {
    meta = await sharp(buf, { failOn: 'error' }).metadata();
    shape = shapeOf(meta, what);
  } catch (e) {
    throw e instanceof ImageDecodeError ? e : sharpFailure(what, e, buf);
  }
  const pixelBytes = meta.width * meta.height * meta.channels * (shape.bitDepth / 8);
  if (pixelBytes > maxPixelBytes(buf.length)) {
    throw new ImageDecodeError(what, `truncated or damaged: a ${meta.width}×${meta.height} ${meta.format.toUpperCase()} cannot be held in ${buf.length} bytes`, { hint: 'the file is incomplete or damaged; copy or download it again' });
  }
  const { gray, bitDepth, cmyk } = shape;
  // Without an explicit target colourspace sharp turns grey into sRGB and 16 bits into 8.
  const space = gray ? (bitDepth === 16 ? 'grey16' : 'b-w') : bitDepth === 16 ? 'rgb16' : 'srgb';
  let out: { data: Buffer; info: OutputInfo };
  try {
    // CMYK needs a profile to become RGB, so only there is the embedded one used.
    out = await sharp(buf, { failOn: 'error', ignoreIcc: !cmyk })
      .removeAlpha()
      .toColourspace(space)
      .raw({ depth: bitDepth === 16 ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw sharpFailure(what, e, buf);
  }
  const channels: 1 | 3 = gray ? 1 : 3;
  const { width, height } = out.info;
  const n = width * height * channels;
  if (out.info.channels !== channels || out.data.length !== n * (bitDepth / 8)) {
    throw new Error(`${what}: sharp returned ${out.info.channels} channels, ${out.data.length} bytes for ${width}x${height}x${channels}@${bitDepth}`);
  }
  let data: Uint8Array | Uint16Array;
  if (bitDepth === 8) data = new Uint8Array(out.data.buffer, out.data.byteOffset, n);
  else if (out.data.byteOffset % 2 === 0) data = new Uint16Array(out.data.buffer, out.data.byteOffset, n);
  else data = new Uint16Array(new Uint8Array(out.data).buffer); // copy to align; raw is host-endian either way
  return { width, height, channels, bitDepth, data };
}

/** Gray (PIL's integer luma) or RGB (a gray channel repeated) from decoded pixels. */
export function convertChannels(img: DecodedImage, want: 'keep' | 'gray' | 'rgb'): DecodedImage {
  if (want === 'keep' || (want === 'gray' && img.channels === 1) || (want === 'rgb' && img.channels === 3)) return img;
  const n = img.width * img.height;
  const src = img.data;
  const dst = img.bitDepth === 16 ? new Uint16Array(n * (want === 'rgb' ? 3 : 1)) : new Uint8Array(n * (want === 'rgb' ? 3 : 1));
  if (want === 'rgb') {
    for (let i = 0, o = 0; i < n; i++) {
      const g = src[i];
      dst[o++] = g;
      dst[o++] = g;
      dst[o++] = g;
    }
    return { ...img, channels: 3, data: dst };
  }
  // Division instead of >>> keeps 16-bit sums (up to 2^32) exact.
  for (let i = 0, s = 0; i < n; i++, s += 3) dst[i] = Math.floor((src[s] * 19595 + src[s + 1] * 38470 + src[s + 2] * 7471 + 32768) / 65536);
  return { ...img, channels: 1, data: dst };
}

export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}, what?: string): Promise<DecodedImage> {
  const name = whatOf(input, what);
  const want = opts.channels ?? 'keep';
  if (want !== 'keep' && want !== 'gray' && want !== 'rgb') throw new UserError(`${name}: unknown channels option '${String(want)}' (keep, gray or rgb)`);
  const buf = await load(input, name);
  if (buf.length === 0) throw new ImageDecodeError(name, 'empty file');
  let img: DecodedImage;
  if (isBmp(buf)) {
    try {
      img = decodeBmp(buf);
    } catch (e) {
      throw bmpFailure(name, e);
    }
  } else {
    img = await decodeWithSharp(buf, name);
  }
  return convertChannels(img, want);
}

/** Header facts only: cheap, but a file whose pixel data is truncated still passes. */
export async function imageInfo(input: string | Uint8Array, what?: string): Promise<ImageInfo> {
  const name = whatOf(input, what);
  let first: Uint8Array;
  let size: number;
  if (typeof input === 'string') ({ bytes: first, size } = await head(input, name));
  else [first, size] = [input, input.length];
  if (size === 0) throw new ImageDecodeError(name, 'empty file');
  if (isBmp(first)) {
    try {
      const i = readBmpInfo(first);
      return { width: i.width, height: i.height, channels: i.channels, bitDepth: 8, format: 'bmp' };
    } catch (e) {
      throw bmpFailure(name, e);
    }
  }
  try {
    // A path lets libvips read just the header (TIFF keeps its directory anywhere in the file).
    const meta = await sharp(input, { failOn: 'error' }).metadata();
    const s = shapeOf(meta, name);
    return { width: meta.width, height: meta.height, channels: s.gray ? 1 : 3, bitDepth: s.bitDepth, format: meta.format };
  } catch (e) {
    throw e instanceof ImageDecodeError ? e : sharpFailure(name, e, first);
  }
}

/**
 * A mask: a pixel is 1 where any colour channel is above `threshold` × the format's maximum (0:
 * any nonzero value; alpha is ignored, so an opaque black background stays 0). Resampled masks
 * (MTD's hold every grey level along defect borders) want 0.5. `expect` is the image's size; a
 * mask of another size is a UserError.
 */
export async function decodeMask(
  input: string | Uint8Array,
  expect?: { width: number; height: number },
  what?: string,
  threshold = 0,
): Promise<{ width: number; height: number; data: Uint8Array }> {
  const name = whatOf(input, what);
  const img = await decodeImage(input, { channels: 'keep' }, name);
  if (expect && (img.width !== expect.width || img.height !== expect.height)) {
    throw new UserError(`${name}: mask is ${img.width}x${img.height} but its image is ${expect.width}x${expect.height}`, {
      hint: 'a mask must have its image’s size',
    });
  }
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const src = img.data;
  const ch = img.channels;
  const cut = threshold * (img.bitDepth === 16 ? 65535 : 255);
  for (let i = 0, s = 0; i < n; i++, s += ch) {
    let on = 0;
    for (let c = 0; c < ch; c++) if (src[s + c] > cut) on = 1;
    out[i] = on;
  }
  return { width: img.width, height: img.height, data: out };
}
