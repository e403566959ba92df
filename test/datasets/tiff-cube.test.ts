import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { readTiffCube } from '../../datasets/tiff-cube.js';
import { python, pythonMissing, rejectsUser, withDir as withTempDir } from './reference.js';

// Debian's python with PIL 9.4 (which writes TIFF through libtiff: LZW, Deflate, PackBits,
// predictors 2 and 3) is the independent writer for single-sample pages and 3/4-sample uint8.
// PIL cannot put more than 4 samples, or non-8-bit samples, in one IFD, nor write tiles,
// planar images or BigTIFF, and tifffile is not installed: those variants use the small writer

const withDir = <T>(fn: (dir: string) => Promise<T>) => withTempDir('tiff', fn);

/** A file of little-endian float64 values (copied out: a read Buffer may share a larger pool). */
const f64 = async (p: string) => new Float64Array(Uint8Array.from(await readFile(p)).buffer);

test('TIFF written by PIL/libtiff: pages as bands, every compression and predictor PIL offers, both byte orders', async (t) => {
  const why = pythonMissing(['numpy', 'PIL']);
  if (why) return t.skip(why);
  await withDir(async (dir) => {
    python(
      `
import numpy as np
from PIL import Image
rng = np.random.default_rng(11)
H, W, P = 29, 37, 3
def save(name, pages, mode, **kw):
    ims = [Image.fromarray(p, mode=mode) for p in pages]
    ims[0].save(name + '.tif', save_all=True, append_images=ims[1:], **kw)
    np.stack([p.astype(np.float64) for p in pages], axis=-1).astype('<f8').tofile(name + '.f64')
f = [(rng.normal(size=(H, W)) * 100).astype(np.float32) for _ in range(P)]
f[0][0, 0] = -0.0; f[1][1, 1] = np.float32(3.4e38); f[2][2, 2] = np.float32(1e-40)
save('f32_raw', f, 'F')
save('f32_lzw', f, 'F', compression='tiff_lzw')
save('f32_deflate', f, 'F', compression='tiff_adobe_deflate')
save('f32_lzw_p3', f, 'F', compression='tiff_lzw', tiffinfo={317: 3})
save('f32_deflate_p3', f, 'F', compression='tiff_adobe_deflate', tiffinfo={317: 3})
u = [rng.integers(0, 65536, size=(H, W)).astype(np.uint16) for _ in range(P)]
save('u16_raw', u, 'I;16')
save('u16_lzw_p2', u, 'I;16', compression='tiff_lzw', tiffinfo={317: 2})
save('u16_deflate_p2', u, 'I;16', compression='tiff_adobe_deflate', tiffinfo={317: 2})
save('u16_packbits', u, 'I;16', compression='packbits')
ub = [x.astype('>u2') for x in u]
save('u16_bigendian', ub, 'I;16B')
i = [rng.integers(-2**31, 2**31, size=(H, W)).astype(np.int32) for _ in range(P)]
save('i32_lzw', i, 'I', compression='tiff_lzw')
b = [rng.integers(0, 256, size=(H, W)).astype(np.uint8) for _ in range(P)]
save('u8_deflate', b, 'L', compression='tiff_adobe_deflate')
# Several samples in one IFD (chunky), as far as PIL goes: RGB, RGBA, CMYK uint8.
for mode, k, kw in (('RGB', 3, {'compression': 'tiff_lzw', 'tiffinfo': {317: 2}}), ('RGBA', 4, {}), ('CMYK', 4, {'compression': 'tiff_adobe_deflate'})):
    a = rng.integers(0, 256, size=(H, W, k)).astype(np.uint8)
    Image.fromarray(a, mode=mode).save(mode.lower() + '.tif', **kw)
    a.astype('<f8').tofile(mode.lower() + '.f64')
# LZW past 512/1024/2048/4096 codes (table resets) on noise, and long strings on a smooth ramp.
n = rng.integers(0, 65536, size=(300, 300)).astype(np.uint16)
save('noise_lzw', [n], 'I;16', compression='tiff_lzw')
ramp = (np.add.outer(np.arange(256), np.arange(256)) // 64 % 256).astype(np.uint8)
save('ramp_lzw', [ramp], 'L', compression='tiff_lzw')
`,
      dir,
    );
    const cases: [string, number, string][] = [
      ['f32_raw', 3, 'float32'],
      ['f32_lzw', 3, 'float32'],
      ['f32_deflate', 3, 'float32'],
      ['f32_lzw_p3', 3, 'float32'],
      ['f32_deflate_p3', 3, 'float32'],
      ['u16_raw', 3, 'uint16'],
      ['u16_lzw_p2', 3, 'uint16'],
      ['u16_deflate_p2', 3, 'uint16'],
      ['u16_packbits', 3, 'uint16'],
      ['u16_bigendian', 3, 'uint16'],
      ['i32_lzw', 3, 'int32'],
      ['u8_deflate', 3, 'uint8'],
      ['rgb', 3, 'uint8'],
      ['rgba', 4, 'uint8'],
      ['cmyk', 4, 'uint8'],
    ];
    for (const [name, bands, dtype] of cases) {
      const cube = await readTiffCube(join(dir, `${name}.tif`));
      assert.deepEqual([cube.rows, cube.cols, cube.bands, cube.dtype], [29, 37, bands, dtype], name);
      assert.deepEqual(cube.data, await f64(join(dir, `${name}.f64`)), name);
    }
    assert.equal((await readFile(join(dir, 'u16_bigendian.tif'))).subarray(0, 2).toString('latin1'), 'MM', 'PIL wrote a big-endian file');
    for (const [name, side] of [['noise_lzw', 300], ['ramp_lzw', 256]] as const) {
      const cube = await readTiffCube(join(dir, `${name}.tif`));
      assert.deepEqual([cube.rows, cube.cols, cube.bands], [side, side, 1]);
      assert.deepEqual(cube.data, await f64(join(dir, `${name}.f64`)), name);
    }
  });
});

// ---- a small TIFF writer (TIFF 6.0 baseline + tiles, BigTIFF), for what PIL cannot write ----

type Dtype = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float16' | 'float32' | 'float64' | 'uint64' | 'int64';
const DT: Record<Dtype, { bits: number; format: number }> = {
  uint8: { bits: 8, format: 1 },
  int8: { bits: 8, format: 2 },
  uint16: { bits: 16, format: 1 },
  int16: { bits: 16, format: 2 },
  uint32: { bits: 32, format: 1 },
  int32: { bits: 32, format: 2 },
  uint64: { bits: 64, format: 1 },
  int64: { bits: 64, format: 2 },
  float16: { bits: 16, format: 3 },
  float32: { bits: 32, format: 3 },
  float64: { bits: 64, format: 3 },
};

interface PageSpec {
  rows: number;
  cols: number;
  bands: number;
  /** HWC values; for float16, the raw half-precision bit patterns. */
  data: ArrayLike<number>;
  /** Extra, replaced (or, with null, removed) tags on this page only. */
  tags?: Record<number, [number, number[]] | null>;
}

interface WriterOpts {
  dtype: Dtype;
  le?: boolean;
  big?: boolean;
  planar?: 1 | 2;
  tile?: [number, number];
  rowsPerStrip?: number;
  deflate?: boolean;
  predictor2?: boolean;
  /** Extra, replaced (or, with null, removed) tags on every page: tag → [type, values]. */
  tags?: Record<number, [number, number[]] | null>;
}

function put(v: DataView, o: number, dtype: Dtype, x: number, le: boolean): void {
  switch (dtype) {
    case 'uint8': v.setUint8(o, x); break;
    case 'int8': v.setInt8(o, x); break;
    case 'uint16': case 'float16': v.setUint16(o, x, le); break;
    case 'int16': v.setInt16(o, x, le); break;
    case 'uint32': v.setUint32(o, x, le); break;
    case 'int32': v.setInt32(o, x, le); break;
    case 'uint64': v.setBigUint64(o, BigInt(x), le); break;
    case 'int64': v.setBigInt64(o, BigInt(x), le); break;
    case 'float32': v.setFloat32(o, x, le); break;
    case 'float64': v.setFloat64(o, x, le); break;
  }
}

function writeTiff(pages: PageSpec[], o: WriterOpts): Uint8Array {
  const le = o.le ?? true;
  const big = o.big ?? false;
  const { bits, format } = DT[o.dtype];
  const bps = bits / 8;
  const parts: Uint8Array[] = [];
  let size = 0;
  const append = (b: Uint8Array): number => {
    const at = size;
    parts.push(b);
    size += b.length;
    if (size % 2) {
      parts.push(new Uint8Array(1)); // word-align the next item
      size++;
    }
    return at;
  };
  const header = new Uint8Array(big ? 16 : 8);
  const hv = new DataView(header.buffer);
  header[0] = header[1] = le ? 0x49 : 0x4d;
  hv.setUint16(2, big ? 43 : 42, le);
  if (big) hv.setUint16(4, 8, le);
  append(header);
  const ifdPointers: { at: number; inPart: Uint8Array; off: number }[] = [{ at: 0, inPart: header, off: big ? 8 : 4 }];

  for (const pg of pages) {
    const spp = pg.bands;
    const planar = o.planar ?? 1;
    const [cw, ch] = o.tile ?? [pg.cols, Math.min(o.rowsPerStrip ?? pg.rows, pg.rows)];
    const across = Math.ceil(pg.cols / cw);
    const down = Math.ceil(pg.rows / ch);
    const planes = planar === 2 ? spp : 1;
    const sppc = planar === 2 ? 1 : spp;
    const offsets: number[] = [];
    const counts: number[] = [];
    for (let pl = 0; pl < planes; pl++) {
      for (let ty = 0; ty < down; ty++) {
        for (let tx = 0; tx < across; tx++) {
          const h = o.tile ? ch : Math.min(ch, pg.rows - ty * ch); // strips may be short, tiles are padded
          const vals: number[] = [];
          for (let y = 0; y < h; y++) {
            const row: number[] = [];
            for (let x = 0; x < cw; x++) {
              for (let s = 0; s < sppc; s++) {
                const r = ty * ch + y;
                const c = tx * cw + x;
                row.push(r < pg.rows && c < pg.cols ? pg.data[(r * pg.cols + c) * spp + pl + s] : 0);
              }
            }
            if (o.predictor2) {
              // Horizontal differencing of unsigned words, stride = samples per chunk pixel.
              const mod = 2 ** bits;
              for (let i = row.length - 1; i >= sppc; i--) row[i] = (((row[i] - row[i - sppc]) % mod) + mod) % mod;
            }
            vals.push(...row);
          }
          let bytes = new Uint8Array(vals.length * bps);
          const dv = new DataView(bytes.buffer);
          const dt: Dtype = o.predictor2 ? (({ 8: 'uint8', 16: 'uint16', 32: 'uint32', 64: 'uint64' } as const)[bits as 8 | 16 | 32 | 64]) : o.dtype;
          vals.forEach((x, i) => put(dv, i * bps, dt, x, le));
          if (o.deflate) bytes = deflateSync(bytes);
          offsets.push(append(bytes));
          counts.push(bytes.length);
        }
      }
    }
    const offType = big ? 16 : 4;
    const tags = new Map<number, [number, number[]]>([
      [256, [4, [pg.cols]]],
      [257, [4, [pg.rows]]],
      [258, [3, Array(spp).fill(bits)]],
      [259, [3, [o.deflate ? 8 : 1]]],
      [262, [3, [1]]],
      [277, [3, [spp]]],
      [284, [3, [planar]]],
      [339, [3, Array(spp).fill(format)]],
    ]);
    if (o.predictor2) tags.set(317, [3, [2]]);
    if (o.tile) {
      tags.set(322, [4, [cw]]);
      tags.set(323, [4, [ch]]);
      tags.set(324, [offType, offsets]);
      tags.set(325, [4, counts]);
    } else {
      tags.set(273, [offType, offsets]);
      tags.set(278, [4, [ch]]);
      tags.set(279, [4, counts]);
    }
    for (const [k, v] of Object.entries({ ...o.tags, ...pg.tags })) {
      if (v) tags.set(Number(k), v);
      else tags.delete(Number(k));
    }
    const sorted = [...tags.entries()].sort((a, b) => a[0] - b[0]);
    const tsize: Record<number, number> = { 3: 2, 4: 4, 16: 8 };
    const inline = big ? 8 : 4;
    // Values that do not fit in an entry go out of line first.
    const where = new Map<number, number>();
    for (const [tag, [type, vals]] of sorted) {
      if (vals.length * tsize[type] <= inline) continue;
      const b = new Uint8Array(vals.length * tsize[type]);
      const dv = new DataView(b.buffer);
      vals.forEach((x, i) => (type === 3 ? dv.setUint16(i * 2, x, le) : type === 4 ? dv.setUint32(i * 4, x, le) : dv.setBigUint64(i * 8, BigInt(x), le)));
      where.set(tag, append(b));
    }
    const entSize = big ? 20 : 12;
    const ifd = new Uint8Array((big ? 8 : 2) + sorted.length * entSize + (big ? 8 : 4));
    const iv = new DataView(ifd.buffer);
    if (big) iv.setBigUint64(0, BigInt(sorted.length), le);
    else iv.setUint16(0, sorted.length, le);
    sorted.forEach(([tag, [type, vals]], i) => {
      const e = (big ? 8 : 2) + i * entSize;
      iv.setUint16(e, tag, le);
      iv.setUint16(e + 2, type, le);
      if (big) iv.setBigUint64(e + 4, BigInt(vals.length), le);
      else iv.setUint32(e + 4, vals.length, le);
      const vo = e + (big ? 12 : 8);
      const out = where.get(tag);
      if (out !== undefined) {
        if (big) iv.setBigUint64(vo, BigInt(out), le);
        else iv.setUint32(vo, out, le);
      } else {
        vals.forEach((x, j) => (type === 3 ? iv.setUint16(vo + j * 2, x, le) : type === 4 ? iv.setUint32(vo + j * 4, x, le) : iv.setBigUint64(vo + j * 8, BigInt(x), le)));
      }
    });
    const at = append(ifd);
    const prev = ifdPointers[ifdPointers.length - 1];
    const pv = new DataView(prev.inPart.buffer, prev.inPart.byteOffset);
    if (big) pv.setBigUint64(prev.off, BigInt(at), le);
    else pv.setUint32(prev.off, at, le);
    ifdPointers.push({ at, inPart: ifd, off: ifd.length - (big ? 8 : 4) });
  }
  const out = new Uint8Array(size);
  let k = 0;
  for (const p of parts) {
    out.set(p, k);
    k += p.length;
  }
  return out;
}

/** A deterministic cube whose values span the type's range (negative, maximal, fractional). */
function cubeFor(dtype: Dtype, rows: number, cols: number, bands: number): number[] {
  const n = rows * cols * bands;
  const out: number[] = [];
  const { bits, format } = DT[dtype];
  for (let i = 0; i < n; i++) {
    const h = (i * 2654435761) % 2 ** 32;
    if (format === 3) out.push(dtype === 'float32' ? Math.fround((h / 2 ** 32 - 0.5) * 1e6) : (h / 2 ** 32 - 0.5) * 1e12 + 1 / 3);
    else if (format === 1) out.push(bits === 64 ? h * 2 ** 20 : h % 2 ** bits);
    else out.push(bits === 64 ? (h - 2 ** 31) * 2 ** 20 : (h % 2 ** bits) - 2 ** (bits - 1));
  }
  if (format !== 3) {
    out[0] = format === 1 ? 0 : -(2 ** (bits - 1));
    if (bits < 64) out[1] = format === 1 ? 2 ** bits - 1 : 2 ** (bits - 1) - 1;
  }
  return out;
}

test('TIFF, many samples in one IFD (own writer): every type × byte order × strips/tiles × chunky/planar × Deflate × predictor 2, BigTIFF', async () => {
  const rows = 21;
  const cols = 35;
  const bands = 6;
  let checked = 0;
  await withDir(async (dir) => {
    for (const dtype of ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'uint64', 'int64', 'float32', 'float64'] as Dtype[]) {
      const data = cubeFor(dtype, rows, cols, bands);
      const variants: WriterOpts[] = [
        { dtype, le: true },
        { dtype, le: false, rowsPerStrip: 4 }, // 6 strips, the last one short
        { dtype, le: true, tile: [16, 16], deflate: true }, // padded edge tiles
        { dtype, le: false, tile: [16, 32], planar: 2 },
        { dtype, le: true, planar: 2, rowsPerStrip: 5, deflate: true },
        { dtype, le: false, big: true, tile: [32, 16], deflate: true },
        { dtype, le: true, big: true, rowsPerStrip: 3, planar: 2 },
      ];
      if (DT[dtype].format !== 3) {
        variants.push({ dtype, le: false, deflate: true, predictor2: true, rowsPerStrip: 7 });
        variants.push({ dtype, le: true, tile: [16, 16], planar: 2, deflate: true, predictor2: true });
      }
      for (const [vi, o] of variants.entries()) {
        const path = join(dir, `${dtype}-${vi}.tif`);
        await writeFile(path, writeTiff([{ rows, cols, bands, data }], o));
        const cube = await readTiffCube(path);
        assert.deepEqual([cube.rows, cube.cols, cube.bands, cube.dtype], [rows, cols, bands, dtype], `${dtype} ${JSON.stringify(o)}`);
        assert.deepEqual(Array.from(cube.data), data, `${dtype} ${JSON.stringify(o)}`);
        checked++;
      }
    }
  });
  assert.equal(checked, 10 * 7 + 8 * 2);
});

test('TIFF (own writer): pages with several samples each stack as bands; float16; overview pages are skipped', async () => {
  await withDir(async (dir) => {
    const a = { rows: 3, cols: 4, bands: 2, data: Array.from({ length: 24 }, (_, i) => i) };
    const b = { rows: 3, cols: 4, bands: 3, data: Array.from({ length: 36 }, (_, i) => 1000 + i) };
    await writeFile(join(dir, 'stack.tif'), writeTiff([a, b], { dtype: 'uint16', tile: [16, 16] }));
    const cube = await readTiffCube(join(dir, 'stack.tif'));
    assert.equal(cube.bands, 5);
    for (let p = 0; p < 12; p++) {
      assert.deepEqual(Array.from(cube.data.subarray(p * 5, p * 5 + 5)), [a.data[2 * p], a.data[2 * p + 1], b.data[3 * p], b.data[3 * p + 1], b.data[3 * p + 2]]);
    }
    // Half floats: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, +Inf.
    const halves = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00];
    await writeFile(join(dir, 'half.tif'), writeTiff([{ rows: 1, cols: 7, bands: 1, data: halves }], { dtype: 'float16', le: false }));
    const h = await readTiffCube(join(dir, 'half.tif'));
    assert.equal(h.dtype, 'float16');
    assert.deepEqual(Array.from(h.data), [1, -2, 0.5, 65504, 2 ** -24, -0, Infinity]);
    // A reduced-resolution page (NewSubfileType 1) between two full pages is not a band.
    const full = { rows: 2, cols: 2, bands: 1, data: [1, 2, 3, 4] };
    const overview = { rows: 1, cols: 1, bands: 1, data: [9], tags: { 254: [4, [1]] as [number, number[]] } };
    await writeFile(join(dir, 'ovr.tif'), writeTiff([full, overview, full], { dtype: 'uint8' }));
    const o = await readTiffCube(join(dir, 'ovr.tif'));
    assert.deepEqual([o.rows, o.cols, o.bands], [2, 2, 2]);
    assert.deepEqual(Array.from(o.data), [1, 1, 2, 2, 3, 3, 4, 4]);
    // No StripByteCounts (allowed for uncompressed data): sizes follow from the image and
    // RowsPerStrip, the last strip short.
    const nb = { rows: 5, cols: 3, bands: 2, data: Array.from({ length: 30 }, (_, i) => 7 * i) };
    await writeFile(join(dir, 'nocounts.tif'), writeTiff([nb], { dtype: 'uint16', rowsPerStrip: 2, tags: { 279: null } }));
    assert.deepEqual(Array.from((await readTiffCube(join(dir, 'nocounts.tif'))).data), nb.data);
  });
});

test('TIFF: corrupt and unsupported files are one-line UserErrors naming the file and the cause', async () => {
  await withDir(async (dir) => {
    const p = (n: string) => join(dir, n);
    const cube = { rows: 4, cols: 5, bands: 2, data: Array.from({ length: 40 }, (_, i) => i) };
    const good = writeTiff([cube], { dtype: 'uint16' });
    await writeFile(p('magic.tif'), Buffer.concat([Buffer.from('XX'), good.subarray(2)]));
    await rejectsUser(readTiffCube(p('magic.tif')), p('magic.tif'), 'not a TIFF file');
    const bad42 = Uint8Array.from(good);
    bad42[2] = 41;
    await writeFile(p('42.tif'), bad42);
    await rejectsUser(readTiffCube(p('42.tif')), p('42.tif'), 'magic 41');
    // Strip data first, IFD last: cutting the file loses the IFD; cut just the data instead.
    await writeFile(p('short.tif'), writeTiff([cube], { dtype: 'uint16', tags: { 279: [4, [1000]] } }));
    await rejectsUser(readTiffCube(p('short.tif')), p('short.tif'), 'truncated', 'strip 0', '1000 bytes');
    await writeFile(p('cut.tif'), good.subarray(0, good.length - 10));
    await rejectsUser(readTiffCube(p('cut.tif')), p('cut.tif'), 'truncated');
    await writeFile(p('smallstrip.tif'), writeTiff([cube], { dtype: 'uint16', tags: { 279: [4, [30]] } }));
    await rejectsUser(readTiffCube(p('smallstrip.tif')), p('smallstrip.tif'), 'truncated', 'decodes to 30 bytes, expected 80');
    await writeFile(p('jpeg.tif'), writeTiff([cube], { dtype: 'uint8', tags: { 259: [3, [7]] } }));
    await rejectsUser(readTiffCube(p('jpeg.tif')), p('jpeg.tif'), 'JPEG compression is not supported');
    await writeFile(p('bits12.tif'), writeTiff([cube], { dtype: 'uint16', tags: { 258: [3, [12, 12]] } }));
    await rejectsUser(readTiffCube(p('bits12.tif')), p('bits12.tif'), '12-bit unsigned samples are not supported');
    await writeFile(p('mixed.tif'), writeTiff([cube], { dtype: 'uint16', tags: { 258: [3, [16, 8]] } }));
    await rejectsUser(readTiffCube(p('mixed.tif')), p('mixed.tif'), 'different bit depths');
    await writeFile(p('nowidth.tif'), writeTiff([cube], { dtype: 'uint16', tags: { 256: [3, []] } }));
    await rejectsUser(readTiffCube(p('nowidth.tif')), p('nowidth.tif'), 'tag 256 has no value');
    const small = { rows: 2, cols: 5, bands: 2, data: Array.from({ length: 20 }, (_, i) => i) };
    await writeFile(p('sizes.tif'), writeTiff([cube, small], { dtype: 'uint16' }));
    await rejectsUser(readTiffCube(p('sizes.tif')), p('sizes.tif'), 'page 1 is 5×2 but page 0 is 5×4');
    await writeFile(p('badz.tif'), writeTiff([cube], { dtype: 'uint16', tags: { 259: [3, [8]] } }));
    await rejectsUser(readTiffCube(p('badz.tif')), p('badz.tif'), 'Deflate data could not be inflated');
    // Old-style LZW starts 0x00 0x01 (LSB-first clear code).
    const lzwOld = writeTiff([{ rows: 1, cols: 4, bands: 1, data: [0, 1, 0, 1] }], { dtype: 'uint8', tags: { 259: [3, [5]] } });
    await writeFile(p('oldlzw.tif'), lzwOld);
    await rejectsUser(readTiffCube(p('oldlzw.tif')), p('oldlzw.tif'), 'old-style');
    await writeFile(p('ycbcr.tif'), writeTiff([{ rows: 2, cols: 2, bands: 3, data: Array(12).fill(1) }], { dtype: 'uint8', tags: { 262: [3, [6]] } }));
    await rejectsUser(readTiffCube(p('ycbcr.tif')), p('ycbcr.tif'), 'YCbCr with 2×2 chroma subsampling is not supported');
    await writeFile(p('zcounts.tif'), writeTiff([cube], { dtype: 'uint16', deflate: true, tags: { 279: null } }));
    await rejectsUser(readTiffCube(p('zcounts.tif')), p('zcounts.tif'), 'no strip byte counts');
    await writeFile(p('notag.tif'), writeTiff([cube], { dtype: 'uint16', tags: { 257: null } }));
    await rejectsUser(readTiffCube(p('notag.tif')), p('notag.tif'), 'missing required tag 257');
    await rejectsUser(readTiffCube(p('absent.tif')), 'not found', p('absent.tif'));
  });
});
