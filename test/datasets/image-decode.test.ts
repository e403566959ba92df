import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage, decodeMask, imageInfo, ImageDecodeError, type DecodeOptions } from '../../datasets/images/decode.js';
import { isUserError, oneLine } from '../../core/errors.js';
import { PY, pythonMissing } from './reference.js';

/**
 * Fixtures come from an independent writer: Debian's Python with numpy and PIL (not the pyenv
 * python3 on PATH). Each is an image file plus the exact pixels it must decode to, written by
 * numpy; BMP variants PIL cannot write (top-down, bit fields, 16-bit, 4-bit, OS/2 header) are
 * packed by hand with struct. JPEG's expectation is PIL's own decode, compared with a tolerance.
 */

const FIXTURES_PY = String.raw`
import json, os, struct, sys, zlib
import numpy as np
from PIL import Image

out = sys.argv[1]
rng = np.random.default_rng(20240611)
manifest = []

def expect(name, file, arr, bit_depth, fmt, tol=0, channels='keep'):
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 2:
        (h, w), ch = arr.shape, 1
    else:
        h, w, ch = arr.shape
    raw = 'expected-%d.raw' % len(manifest)
    arr.astype('<u2' if bit_depth == 16 else 'u1').tofile(os.path.join(out, raw))
    manifest.append(dict(name=name, file=file, expected=raw, width=w, height=h, channels=ch,
                         bitDepth=bit_depth, format=fmt, tol=tol, option=channels))

def save(img, file, **kw):
    img.save(os.path.join(out, file), **kw)
    return file

def write(file, data):
    with open(os.path.join(out, file), 'wb') as f:
        f.write(data)
    return file

g8 = rng.integers(0, 256, (13, 17), dtype=np.uint8)        # odd width: BMP rows get padding
rgb8 = rng.integers(0, 256, (11, 19, 3), dtype=np.uint8)
g16 = rng.integers(0, 65536, (9, 14), dtype=np.uint16)
rgb16 = rng.integers(0, 65536, (7, 5, 3), dtype=np.uint16)
alpha = rng.integers(0, 256, (11, 19), dtype=np.uint8)
pal = rng.integers(0, 256, (256, 3), dtype=np.uint8)
idx = rng.integers(0, 256, (11, 19), dtype=np.uint8)

def png_rgb16(arr):
    h, w, _ = arr.shape
    raw = b''.join(b'\x00' + arr[y].astype('>u2').tobytes() for y in range(h))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))

def palette_image(ix, p):
    im = Image.fromarray(ix, 'P')
    im.putpalette(p.reshape(-1).tolist())
    return im

# PNG
expect('png gray 8-bit', save(Image.fromarray(g8, 'L'), 'gray8.png'), g8, 8, 'png')
expect('png rgb 8-bit', save(Image.fromarray(rgb8, 'RGB'), 'rgb8.png'), rgb8, 8, 'png')
im16 = Image.fromarray(g16)
assert im16.mode == 'I;16', im16.mode
expect('png gray 16-bit', save(im16, 'gray16.png'), g16, 16, 'png')
expect('png rgb 16-bit', write('rgb16.png', png_rgb16(rgb16)), rgb16, 16, 'png')
expect('png rgba (alpha dropped)', save(Image.fromarray(np.dstack([rgb8, alpha]), 'RGBA'), 'rgba.png'), rgb8, 8, 'png')
expect('png gray+alpha (alpha dropped)', save(Image.fromarray(np.dstack([g8, g8[::-1]]), 'LA'), 'la.png'), g8, 8, 'png')
expect('png palette', save(palette_image(idx, pal), 'palette.png'), pal[idx], 8, 'png')
bw = Image.fromarray(g8, 'L').point(lambda v: 255 if v > 127 else 0).convert('1')
expect('png 1-bit', save(bw, 'bw1.png'), np.array(bw.convert('L')), 8, 'png')
expect('png rgb as gray (PIL convert L)', 'rgb8.png', np.array(Image.open(os.path.join(out, 'rgb8.png')).convert('L')), 8, 'png', channels='gray')
expect('png gray as rgb', 'gray8.png', np.dstack([g8, g8, g8]), 8, 'png', channels='rgb')
r, g, b = (rgb16[:, :, k].astype(np.uint64) for k in range(3))
expect('png rgb 16-bit as gray', 'rgb16.png', (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16, 16, 'png', channels='gray')

# TIFF
expect('tiff rgb 8-bit', save(Image.fromarray(rgb8, 'RGB'), 'rgb8.tif'), rgb8, 8, 'tiff')
expect('tiff rgb 8-bit lzw', save(Image.fromarray(rgb8, 'RGB'), 'rgb8-lzw.tif', compression='tiff_lzw'), rgb8, 8, 'tiff')
expect('tiff gray 16-bit', save(Image.fromarray(g16), 'gray16.tif'), g16, 16, 'tiff')

# BMP written by PIL (bottom-up, BI_RGB)
expect('bmp 24-bit', save(Image.fromarray(rgb8, 'RGB'), 'rgb24.bmp'), rgb8, 8, 'bmp')
expect('bmp 8-bit gray palette', save(Image.fromarray(g8, 'L'), 'gray8.bmp'), g8, 8, 'bmp')
expect('bmp 8-bit colour palette', save(palette_image(idx, pal), 'pal8.bmp'), pal[idx], 8, 'bmp')
expect('bmp 1-bit', save(bw, 'bw1.bmp'), np.array(bw.convert('L')), 8, 'bmp')
expect('bmp 32-bit BI_RGB (alpha dropped)', save(Image.fromarray(np.dstack([rgb8, alpha]), 'RGBA'), 'rgba32.bmp'), rgb8, 8, 'bmp')

# BMP packed by hand
def bmp(w, h, bits, rows, compression=0, palette=None, masks=None, alpha_mask=0, header=40, top_down=False):
    stride = ((bits * w + 31) // 32) * 4
    rows = [r_ + b'\0' * (stride - len(r_)) for r_ in rows]
    data = b''.join(rows if top_down else rows[::-1])
    extra = b''
    if header == 12:
        dib = struct.pack('<IHHHH', 12, w, h, 1, bits)
        pl = b''.join(bytes([c[2], c[1], c[0]]) for c in palette) if palette is not None else b''
    else:
        dib = struct.pack('<IiiHHIIiiII', header, w, -h if top_down else h, 1, bits, compression, len(data),
                          2835, 2835, len(palette) if palette is not None else 0, 0)
        if header > 40:
            dib += struct.pack('<IIII', *(list(masks or (0, 0, 0)) + [alpha_mask]))
            dib += b'\0' * (header - len(dib))
        elif masks is not None:
            extra = struct.pack('<III', *masks)
        pl = b''.join(bytes([c[2], c[1], c[0], 0]) for c in palette) if palette is not None else b''
    off = 14 + len(dib) + len(extra) + len(pl)
    return b'BM' + struct.pack('<IHHI', off + len(data), 0, 0, off) + dib + extra + pl + data

H, W = rgb8.shape[:2]
R, G, B = (rgb8[:, :, k].astype(np.uint32) for k in range(3))
A = alpha.astype(np.uint32)
expect('bmp 24-bit top-down', write('topdown24.bmp', bmp(W, H, 24, [rgb8[y][:, ::-1].tobytes() for y in range(H)], top_down=True)), rgb8, 8, 'bmp')
px = (R << 8) | (G << 16) | (B << 24)
expect('bmp 32-bit BI_BITFIELDS (odd masks)', write('fields32.bmp', bmp(W, H, 32, [px[y].astype('<u4').tobytes() for y in range(H)],
       compression=3, masks=(0x0000FF00, 0x00FF0000, 0xFF000000))), rgb8, 8, 'bmp')
px = (R << 16) | (G << 8) | B | (A << 24)
expect('bmp 32-bit V5 header, alpha mask, top-down', write('v5alpha32.bmp', bmp(W, H, 32, [px[y].astype('<u4').tobytes() for y in range(H)],
       compression=3, masks=(0xFF0000, 0xFF00, 0xFF), alpha_mask=0xFF000000, header=124, top_down=True)), rgb8, 8, 'bmp')
def scale(q, bits):
    return np.floor(q * 255.0 / ((1 << bits) - 1) + 0.5).astype(np.uint8)
r5, g6, b5 = R >> 3, G >> 2, B >> 3
px = (r5 << 11) | (g6 << 5) | b5
expect('bmp 16-bit 5-6-5 bit fields', write('rgb565.bmp', bmp(W, H, 16, [px[y].astype('<u2').tobytes() for y in range(H)],
       compression=3, masks=(0xF800, 0x07E0, 0x001F))), np.dstack([scale(r5, 5), scale(g6, 6), scale(b5, 5)]), 8, 'bmp')
g5 = G >> 3
px = (r5 << 10) | (g5 << 5) | b5
expect('bmp 16-bit BI_RGB 5-5-5', write('rgb555.bmp', bmp(W, H, 16, [px[y].astype('<u2').tobytes() for y in range(H)])),
       np.dstack([scale(r5, 5), scale(g5, 5), scale(b5, 5)]), 8, 'bmp')
idx4 = rng.integers(0, 16, (H, W), dtype=np.uint8)
pal16 = rng.integers(0, 256, (16, 3), dtype=np.uint8)
def pack4(row):
    row = list(row) + [0] * (len(row) % 2)
    return bytes((row[k] << 4) | row[k + 1] for k in range(0, len(row), 2))
expect('bmp 4-bit palette', write('pal4.bmp', bmp(W, H, 4, [pack4(idx4[y]) for y in range(H)], palette=pal16)), pal16[idx4], 8, 'bmp')
expect('bmp 8-bit OS/2 core header', write('core8.bmp', bmp(W, H, 8, [idx[y].tobytes() for y in range(H)], palette=pal, header=12)), pal[idx], 8, 'bmp')

# JPEG: lossy, so the expectation is PIL's decode of the same file
yy, xx = np.mgrid[0:48, 0:64]
smooth = np.dstack([xx * 4, yy * 5, (xx + yy) * 2]).astype(np.float64) + rng.normal(0, 6, (48, 64, 3))
smooth = np.clip(smooth, 0, 255).astype(np.uint8)
f = save(Image.fromarray(smooth, 'RGB'), 'rgb.jpg', quality=90)
expect('jpeg rgb', f, np.array(Image.open(os.path.join(out, f))), 8, 'jpeg', tol=2)
f = save(Image.fromarray(smooth[:, :, 0], 'L'), 'gray.jpg', quality=90)
expect('jpeg gray', f, np.array(Image.open(os.path.join(out, f))), 8, 'jpeg', tol=2)

with open(os.path.join(out, 'manifest.json'), 'w') as fh:
    json.dump(manifest, fh)
`;

interface Fixture {
  name: string;
  file: string;
  expected: string;
  width: number;
  height: number;
  channels: 1 | 3;
  bitDepth: 8 | 16;
  format: string;
  tol: number;
  option: NonNullable<DecodeOptions['channels']>;
}

let dir = '';
let fixtures: Fixture[] | null = null;
let noPython = '';

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gantry-image-decode-'));
  noPython = pythonMissing(['numpy', 'PIL']) ?? '';
  if (noPython) return;
  execFileSync(PY, ['-c', FIXTURES_PY, dir], { stdio: 'pipe' });
  fixtures = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Fixture[];
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function readExpected(f: Fixture): Uint8Array | Uint16Array {
  const bytes = readFileSync(path.join(dir, f.expected));
  if (f.bitDepth === 8) return new Uint8Array(bytes);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = v.getUint16(i * 2, true);
  return out;
}

function assertSamePixels(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: sample count`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${label}: first difference at sample ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'sample count');
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('decodeImage returns the pixels an independent writer stored (PNG, TIFF, BMP exact; JPEG within tolerance)', async (t) => {
  if (!fixtures) return t.skip(noPython);
  assert.ok(fixtures.length >= 25, `only ${fixtures.length} fixtures were written`);
  for (const f of fixtures) {
    await t.test(f.name, async () => {
      const file = path.join(dir, f.file);
      const img = await decodeImage(file, { channels: f.option });
      assert.deepEqual(
        { width: img.width, height: img.height, channels: img.channels, bitDepth: img.bitDepth },
        { width: f.width, height: f.height, channels: f.channels, bitDepth: f.bitDepth },
      );
      assert.ok(f.bitDepth === 16 ? img.data instanceof Uint16Array : img.data instanceof Uint8Array, 'sample type follows the bit depth');
      const want = readExpected(f);
      if (f.tol > 0) {
        const d = meanAbsDiff(img.data, want);
        assert.ok(d < f.tol, `mean abs difference to PIL's decode is ${d.toFixed(3)}`);
        t.diagnostic(`${f.name}: mean abs difference to PIL: ${d.toFixed(4)}`);
      } else assertSamePixels(img.data, want, f.name);
      if (f.option === 'keep') {
        const info = await imageInfo(file);
        assert.deepEqual(info, { width: f.width, height: f.height, channels: f.channels, bitDepth: f.bitDepth, format: f.format });
      }
    });
  }
});

test('a TIFF cut in half with its directory first (as PIL writes it) is truncated, not padded', async (t) => {
  if (!fixtures) return t.skip(noPython);
  // sharp's failOn 'truncated' returns this one with made-up rows; decode.ts uses 'error'.
  const bytes = await readFile(path.join(dir, 'rgb8.tif'));
  const file = path.join(dir, 'half-rgb8.tif');
  await writeFile(file, bytes.subarray(0, bytes.length >> 1));
  await assert.rejects(decodeImage(file), (e: unknown) => e instanceof ImageDecodeError && (e as Error).message === `${file}: cannot decode (truncated)`);
});

test('pixels come back as stored, without the embedded ICC profile applied (as PIL reads them)', async (t) => {
  if (!fixtures) return t.skip(noPython);
  const file = path.join(dir, 'p3.png');
  const srgb = noise(8 * 6 * 3, 9);
  // sharp converts the pixels to Display P3 and embeds that profile.
  await sharp(Buffer.from(srgb), { raw: { width: 8, height: 6, channels: 3 } }).withIccProfile('p3').png().toFile(file);
  const stored = execFileSync(PY, ['-c', 'import sys, numpy as np; from PIL import Image; im = Image.open(sys.argv[1]); assert im.info.get("icc_profile"); sys.stdout.buffer.write(np.array(im.convert("RGB")).tobytes())', file]);
  const img = await decodeImage(file);
  assert.ok(stored.some((v, i) => v !== srgb[i]), 'the stored pixels differ from the sRGB ones (else this test shows nothing)');
  assertSamePixels(img.data, stored, 'p3.png');
});

test('a buffer decodes like its file, and imageInfo reads a buffer too', async (t) => {
  if (!fixtures) return t.skip(noPython);
  for (const name of ['gray16.png', 'pal8.bmp', 'rgb8.tif']) {
    const file = path.join(dir, name);
    const bytes = new Uint8Array(await readFile(file));
    const a = await decodeImage(file);
    const b = await decodeImage(bytes);
    assert.deepEqual([b.width, b.height, b.channels, b.bitDepth], [a.width, a.height, a.channels, a.bitDepth]);
    assertSamePixels(b.data, a.data, name);
    assert.deepEqual(await imageInfo(bytes), await imageInfo(file));
  }
});

// ---- without Python: sharp writes, the reader must give back exactly what was written ----

function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** An uncompressed BMP, 8-bit grey palette or 24-bit, for the cases PIL-free tests need. */
function bmpBytes(o: { width: number; height: number; bits: 8 | 24; pixels: Uint8Array; compression?: number; topDown?: boolean; cut?: number }): Uint8Array {
  const { width: w, height: h, bits } = o;
  const stride = Math.floor((bits * w + 31) / 32) * 4;
  const palette = bits === 8 ? 256 * 4 : 0;
  const off = 14 + 40 + palette;
  const buf = new Uint8Array(off + stride * h);
  const v = new DataView(buf.buffer);
  buf[0] = 0x42;
  buf[1] = 0x4d;
  v.setUint32(2, buf.length, true);
  v.setUint32(10, off, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, w, true);
  v.setInt32(22, o.topDown ? -h : h, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, bits, true);
  v.setUint32(30, o.compression ?? 0, true);
  if (bits === 8) for (let i = 0; i < 256; i++) buf.set([i, i, i, 0], 54 + i * 4);
  const ch = bits / 8;
  for (let y = 0; y < h; y++) {
    const row = off + (o.topDown ? y : h - 1 - y) * stride;
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < ch; c++) buf[row + x * ch + c] = o.pixels[(y * w + x) * ch + (ch - 1 - c)]; // RGB -> BGR
    }
  }
  return o.cut ? buf.subarray(0, o.cut) : buf;
}

test('sharp-written PNG and a hand-made BMP round-trip exactly (no Python needed)', async () => {
  const gray = noise(23 * 9, 1);
  // Without toColourspace sharp would store the grey raw input as RGB.
  const png = await sharp(Buffer.from(gray), { raw: { width: 23, height: 9, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const a = await decodeImage(new Uint8Array(png));
  assert.deepEqual([a.width, a.height, a.channels, a.bitDepth], [23, 9, 1, 8]);
  assertSamePixels(a.data, gray, 'png');

  const rgb = noise(5 * 3 * 3, 2);
  for (const topDown of [false, true]) {
    const b = await decodeImage(bmpBytes({ width: 5, height: 3, bits: 24, pixels: rgb, topDown }));
    assert.deepEqual([b.width, b.height, b.channels, b.bitDepth], [5, 3, 3, 8]);
    assertSamePixels(b.data, rgb, `bmp 24 topDown=${topDown}`);
  }
  const g = await decodeImage(bmpBytes({ width: 7, height: 2, bits: 8, pixels: gray.subarray(0, 14) }));
  assert.equal(g.channels, 1, 'an all-grey palette decodes to one channel');
  assertSamePixels(g.data, gray.subarray(0, 14), 'bmp 8');
  const asRgb = await decodeImage(bmpBytes({ width: 7, height: 2, bits: 8, pixels: gray.subarray(0, 14) }), { channels: 'rgb' });
  assert.equal(asRgb.channels, 3);
  assert.deepEqual(Array.from(asRgb.data.subarray(0, 6)), [gray[0], gray[0], gray[0], gray[1], gray[1], gray[1]]);
});

test('decodeMask: any nonzero colour channel is 1, alpha ignored; size checked against the image', async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'gantry-mask-'));
  try {
    // 4x1 RGBA: black opaque, blue only, grey 1, transparent white.
    const px = Buffer.from([0, 0, 0, 255, 0, 0, 9, 255, 1, 1, 1, 0, 255, 255, 255, 0]);
    const file = path.join(d, 'm.png');
    await sharp(px, { raw: { width: 4, height: 1, channels: 4 } }).png().toFile(file);
    const m = await decodeMask(file, { width: 4, height: 1 });
    assert.deepEqual([m.width, m.height, Array.from(m.data)], [4, 1, [0, 1, 1, 1]]);
    const gray = path.join(d, 'g.png');
    await sharp(Buffer.from([0, 255, 0, 1, 0, 0]), { raw: { width: 3, height: 2, channels: 1 } }).png().toFile(gray);
    assert.deepEqual(Array.from((await decodeMask(gray)).data), [0, 1, 0, 1, 0, 0]);
    await assert.rejects(decodeMask(file, { width: 5, height: 1 }), (e: unknown) => {
      assert.ok(isUserError(e));
      assert.match((e as Error).message, /m\.png: mask is 4x1 but its image is 5x1/);
      return true;
    });
  } finally {
    await rm(d, { recursive: true, force: true });
  }
});

// ---- damaged and wrong files ----

test('damaged or wrong files are one-line ImageDecodeErrors that name the file', async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'gantry-badimg-'));
  try {
    const raw = Buffer.from(noise(96 * 96 * 3, 3));
    const img = () => sharp(raw, { raw: { width: 96, height: 96, channels: 3 } });
    const png = await img().png().toBuffer();
    const jpg = await img().jpeg({ quality: 90 }).toBuffer();
    const tif = await img().tiff({ compression: 'none' }).toBuffer();
    const good = bmpBytes({ width: 10, height: 10, bits: 24, pixels: noise(300, 4) });
    const cases: [string, Uint8Array | string, RegExp][] = [
      ['half.png', png.subarray(0, png.length >> 1), /cannot decode \(truncated\)/],
      ['half.jpg', jpg.subarray(0, jpg.length >> 1), /cannot decode \(truncated\)/],
      // libtiff writes the directory last, so half a file is not recognised as TIFF at all.
      ['half.tif', tif.subarray(0, tif.length >> 1), /cannot decode \(truncated or damaged TIFF\)/],
      ['empty.png', new Uint8Array(0), /cannot decode \(empty file\)/],
      ['notes.png', 'these are my notes, not a picture\n', /cannot decode \(not an image\)/],
      ['rle.bmp', bmpBytes({ width: 4, height: 4, bits: 8, pixels: new Uint8Array(16), compression: 1 }), /cannot decode \(unsupported BMP compression 1 \(RLE8\)\)/],
      ['short.bmp', good.subarray(0, good.length - 40), /cannot decode \(truncated\)/],
      ['header.bmp', good.subarray(0, 30), /cannot decode \(truncated\)/],
      ['icon.svg.png', '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>', /cannot decode \(unsupported format svg\)/],
    ];
    for (const [name, bytes, re] of cases) {
      const file = path.join(d, name);
      await writeFile(file, bytes);
      await assert.rejects(decodeImage(file), (e: unknown) => {
        assert.ok(e instanceof ImageDecodeError, `${name}: ${String(e)}`);
        assert.ok(isUserError(e), `${name}: a UserError`);
        assert.ok((e as Error).message.startsWith(`${file}: cannot decode (`), `${name}: names the file: ${(e as Error).message}`);
        assert.match((e as Error).message, re, name);
        assert.ok(!oneLine(e).includes('\n'), `${name}: one line`);
        return true;
      });
      // A mask goes through the same decoder.
      await assert.rejects(decodeMask(file, undefined, `masks/${name}`), (e: unknown) => e instanceof ImageDecodeError && (e as Error).message.startsWith(`masks/${name}: cannot decode`));
    }
    // Header-only reads still refuse what is not an image.
    await assert.rejects(imageInfo(path.join(d, 'notes.png')), /notes\.png: cannot decode \(not an image\)/);
    await assert.rejects(imageInfo(path.join(d, 'empty.png')), /empty\.png: cannot decode \(empty file\)/);
    await assert.rejects(imageInfo(path.join(d, 'rle.bmp')), /unsupported BMP compression 1/);
    // A missing file, and a buffer named by `what`.
    await assert.rejects(decodeImage(path.join(d, 'gone.png')), (e: unknown) => isUserError(e) && /gone\.png: file not found/.test((e as Error).message));
    await assert.rejects(decodeImage(png.subarray(0, 100), {}, 'train/000.png'), /train\/000\.png: cannot decode \(truncated\)/);
    await assert.rejects(decodeImage(new Uint8Array([1, 2, 3])), /: image: cannot decode \(not an image\)/);
  } finally {
    await rm(d, { recursive: true, force: true });
  }
});

test('decodeMask thresholds resampled masks: any nonzero by default, above a fraction of white on request', async () => {
  const png = await sharp(Buffer.from([0, 1, 100, 128, 200, 255]), { raw: { width: 6, height: 1, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  assert.deepEqual([...(await decodeMask(png, undefined, 'm.png')).data], [0, 1, 1, 1, 1, 1]);
  assert.deepEqual([...(await decodeMask(png, undefined, 'm.png', 0.5)).data], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual([...(await decodeMask(png, undefined, 'm.png', 0.9)).data], [0, 0, 0, 0, 0, 1]);
});
