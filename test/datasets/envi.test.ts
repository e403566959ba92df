import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnviHeader, readEnvi } from '../../datasets/envi.js';
import { isUserError } from '../../core/errors.js';
import { python, pythonMissing, rejectsUser, withDir as withTempDir } from './reference.js';

/** A file of little-endian float64 values (copied out: a read Buffer may share a larger pool). */
const f64 = async (p: string) => new Float64Array(Uint8Array.from(await readFile(p)).buffer);

const withDir = <T>(fn: (dir: string) => Promise<T>) => withTempDir('envi', fn);

const R = 5;
const C = 7;
const B = 3;
const TYPES: [number, string][] = [
  [1, 'u1'],
  [2, 'i2'],
  [3, 'i4'],
  [4, 'f4'],
  [5, 'f8'],
  [12, 'u2'],
  [13, 'u4'],
  [14, 'i8'],
  [15, 'u8'],
];

function header(dt: number, il: string, order: number, extra = ''): string {
  return `ENVI\ndescription = {\n  written by gantry tests,\n  numpy tofile}\nsamples = ${C}\nlines   = ${R}\nbands   = ${B}\nheader offset = 0\nfile type = ENVI Standard\ndata type = ${dt}\ninterleave = ${il}\nbyte order = ${order}\nwavelength = { 400.5, 500,\n 600.25 }\nband names = {red, green,\n  blue}\n${extra}`;
}

test('ENVI round trip: every data type × interleave × byte order, written by numpy tofile', async (t) => {
  const why = pythonMissing(['numpy']);
  if (why) return t.skip(why);
  await withDir(async (dir) => {
    // Values span each type's range (negatives, maxima, fractions); int64/uint64 include 2^60+1,
    // which a double cannot hold: both sides round it to the same nearest double.
    python(
      `
import numpy as np
R, C, B = ${R}, ${C}, ${B}
base = np.arange(R * C * B, dtype=np.int64).reshape(R, C, B)
for code in ${JSON.stringify(TYPES.map((x) => x[1]))}:
    kind, size = code[0], int(code[1])
    if kind == 'f':
        cube = (base * 0.37 - 10.125).astype('f%d' % size)
        cube.flat[0] = -0.0; cube.flat[1] = 1e30 if size == 4 else 1e300
    else:
        info = np.iinfo(np.dtype(code))
        span = int(info.max) - int(info.min)
        vals = [int(info.min) + (int(v) * 2654435761) % (span + 1) for v in base.flat]
        vals[0], vals[1] = int(info.min), int(info.max)
        if size == 8: vals[2] = 2**60 + 1
        cube = np.array(vals, dtype=np.dtype(code)).reshape(R, C, B)
    cube.astype('<f8').tofile('expected_%s.f64' % code)
    for il, arr in (('bsq', cube.transpose(2, 0, 1)), ('bil', cube.transpose(0, 2, 1)), ('bip', cube)):
        for order, e in ((0, '<'), (1, '>')):
            np.ascontiguousarray(arr).astype(e + code).tofile('cube_%s_%s_%d.img' % (code, il, order))
`,
      dir,
    );
    let checked = 0;
    for (const [dt, code] of TYPES) {
      const exp = await f64(join(dir, `expected_${code}.f64`));
      assert.equal(exp.length, R * C * B);
      for (const il of ['bsq', 'bil', 'bip']) {
        for (const order of [0, 1]) {
          const stem = join(dir, `cube_${code}_${il}_${order}`);
          await writeFile(`${stem}.hdr`, header(dt, il, order));
          const cube = await readEnvi(`${stem}.hdr`);
          assert.deepEqual([cube.rows, cube.cols, cube.bands], [R, C, B]);
          assert.deepEqual(cube.data, exp, `data type ${dt} ${il} byte order ${order}`);
          assert.deepEqual(cube.header.wavelength, [400.5, 500, 600.25]);
          assert.deepEqual(cube.header.bandNames, ['red', 'green', 'blue']);
          assert.equal(cube.header.interleave, il);
          // A tiny read buffer: pieces end mid-line and mid-band plane.
          assert.deepEqual((await readEnvi(`${stem}.img`, { chunkBytes: 52 })).data, exp, `data type ${dt} ${il} byte order ${order}, 52-byte reads`);
          checked++;
        }
      }
    }
    assert.equal(checked, TYPES.length * 6);
  });
});

test('ENVI: data file found from the header and header from the data file, with and without extensions; header offset', async (t) => {
  const why = pythonMissing(['numpy']);
  if (why) return t.skip(why);
  await withDir(async (dir) => {
    python(
      `
import numpy as np
cube = (np.arange(${R * C * B}).reshape(${R}, ${C}, ${B}) * 3 - 50).astype('<i2')
cube.astype('<f8').tofile('expected.f64')
for name in ('noext', 'a.raw', 'b.dat', 'c.bsq', 'd.img'):
    cube.transpose(2, 0, 1).tofile(name)
big = (np.arange(100 * 90 * 3).reshape(100, 90, 3) % 65521).astype('<u2')   # 9000 pixels: > one 8192-pixel block
big.astype('<f8').tofile('big.f64')
big.transpose(2, 0, 1).tofile('big.bsq')
with open('off.bil', 'wb') as f:
    f.write(b'HEADERJUNK-17byte')
    cube.transpose(0, 2, 1).astype('>i2').tofile(f)
`,
      dir,
    );
    const exp = await f64(join(dir, 'expected.f64'));
    await writeFile(join(dir, 'noext.hdr'), header(2, 'bsq', 0));
    await writeFile(join(dir, 'a.hdr'), header(2, 'bsq', 0)); // extension replaced
    await writeFile(join(dir, 'b.dat.hdr'), header(2, 'bsq', 0)); // extension kept
    await writeFile(join(dir, 'c.hdr'), header(2, 'BSQ', 0)); // case-insensitive value
    await writeFile(join(dir, 'd.hdr'), header(2, 'bsq', 0));
    await writeFile(join(dir, 'off.hdr'), header(2, 'bil', 1).replace('header offset = 0', 'header offset = 17'));
    for (const p of ['noext.hdr', 'noext', 'a.hdr', 'a.raw', 'b.dat.hdr', 'b.dat', 'c.hdr', 'c.bsq', 'd.hdr', 'd.img', 'off.hdr', 'off.bil']) {
      const cube = await readEnvi(join(dir, p));
      assert.deepEqual(cube.data, exp, p);
    }
    assert.equal((await readEnvi(join(dir, 'off.hdr'))).header.headerOffset, 17);
    assert.deepEqual((await readEnvi(join(dir, 'off.hdr'), { chunkBytes: 30 })).data, exp);
    await writeFile(join(dir, 'big.hdr'), 'ENVI\nsamples = 90\nlines = 100\nbands = 3\ndata type = 12\ninterleave = bsq\nbyte order = 0\n');
    const bigExp = await f64(join(dir, 'big.f64'));
    for (const chunkBytes of [undefined, 20000, 54000, 1 << 20]) {
      assert.deepEqual((await readEnvi(join(dir, 'big.bsq'), { chunkBytes })).data, bigExp, `chunkBytes ${chunkBytes}`);
    }
  });
});

test('parseEnviHeader: braces over lines, keys normalised, defaults, other fields kept', () => {
  const h = parseEnviHeader(
    'ENVI\r\n; a comment\r\nSamples = 4\r\nLINES=2\r\nbands = 2\r\ndata type = 4\r\nmap info = {UTM, 1, 1,\r\n 500000, 4000000, 30, 30}\r\nsensor  type = AVIRIS\r\n',
    'x.hdr',
  );
  assert.equal(h.samples, 4);
  assert.equal(h.lines, 2);
  assert.equal(h.bands, 2);
  assert.equal(h.dataType, 4);
  assert.equal(h.interleave, 'bsq');
  assert.equal(h.byteOrder, 0);
  assert.equal(h.headerOffset, 0);
  assert.deepEqual(h['map info'], ['UTM', '1', '1', '500000', '4000000', '30', '30']);
  assert.equal(h['sensor type'], 'AVIRIS');
  assert.equal(h.wavelength, undefined);
});

test('parseEnviHeader: bad headers are one-line UserErrors naming the header and the cause', () => {
  const ok = 'ENVI\nsamples = 2\nlines = 2\nbands = 2\ndata type = 4\ninterleave = bsq\nbyte order = 0\n';
  const cases: [string, string | RegExp][] = [
    ['not a header\nsamples = 2', 'not an ENVI header'],
    [ok.replace('bands = 2\n', ''), "missing required field 'bands'"],
    [ok.replace('samples = 2\n', ''), "missing required field 'samples'"],
    [ok.replace('data type = 4\n', ''), "missing required field 'data type'"],
    [ok.replace('data type = 4', 'data type = 7'), 'unknown data type 7'],
    [ok.replace('data type = 4', 'data type = 6'), /complex.*not supported/],
    [ok.replace('data type = 4', 'data type = 9'), /complex128.*not supported/],
    [ok.replace('interleave = bsq', 'interleave = bis'), 'interleave must be bsq, bil or bip'],
    [ok.replace('byte order = 0', 'byte order = 2'), 'byte order must be 0 or 1'],
    [ok.replace('lines = 2', 'lines = two'), "'lines' must be a non-negative integer"],
    [ok.replace('lines = 2', 'lines = 0'), 'must be ≥ 1'],
    [ok + 'wavelength = { 1, 2, 3 }\n', "'wavelength' lists 3 values for 2 bands"],
    [ok + 'wavelength = { 1, x }\n', 'non-numeric'],
    [ok + 'band names = { a,\n b', "never closed"],
    [ok + 'garbage line\n', 'is not "key = value"'],
  ];
  for (const [text, part] of cases) {
    assert.throws(
      () => parseEnviHeader(text, '/data/cube.hdr'),
      (e: unknown) => {
        assert.ok(isUserError(e), String(e));
        const msg = (e as Error).message;
        assert.ok(msg.startsWith('/data/cube.hdr: '), msg);
        if (typeof part === 'string') assert.ok(msg.includes(part), `${msg} lacks ${part}`);
        else assert.match(msg, part);
        return true;
      },
      JSON.stringify(text),
    );
  }
});

test('readEnvi: truncated, oversized and missing files are UserErrors naming the file, with expected vs actual bytes', async () => {
  await withDir(async (dir) => {
    const hdr = 'ENVI\nsamples = 3\nlines = 2\nbands = 4\ndata type = 12\ninterleave = bil\nbyte order = 0\nheader offset = 10\n';
    await writeFile(join(dir, 'cut.hdr'), hdr);
    await writeFile(join(dir, 'cut.img'), Buffer.alloc(10 + 3 * 2 * 4 * 2 - 3));
    await rejectsUser(readEnvi(join(dir, 'cut.hdr')), join(dir, 'cut.img'), 'truncated', 'expected 58 bytes', 'found 55');
    await writeFile(join(dir, 'big.hdr'), hdr);
    await writeFile(join(dir, 'big.img'), Buffer.alloc(58 + 8));
    await rejectsUser(readEnvi(join(dir, 'big.img')), join(dir, 'big.img'), 'larger than the header describes', 'expected 58 bytes', 'found 66');
    await writeFile(join(dir, 'lonely.hdr'), hdr);
    await rejectsUser(readEnvi(join(dir, 'lonely.hdr')), join(dir, 'lonely.hdr'), 'no ENVI data file');
    await writeFile(join(dir, 'nohdr.img'), Buffer.alloc(58));
    await rejectsUser(readEnvi(join(dir, 'nohdr.img')), join(dir, 'nohdr.img'), 'no ENVI header');
    await rejectsUser(readEnvi(join(dir, 'absent.hdr')), 'not found', join(dir, 'absent.hdr'));
    await writeFile(join(dir, 'nob.hdr'), hdr.replace('bands = 4\n', ''));
    await writeFile(join(dir, 'nob.img'), Buffer.alloc(58));
    await rejectsUser(readEnvi(join(dir, 'nob.img')), join(dir, 'nob.hdr'), "missing required field 'bands'");
    await writeFile(join(dir, 'cplx.hdr'), hdr.replace('data type = 12', 'data type = 6'));
    await writeFile(join(dir, 'cplx.img'), Buffer.alloc(10 + 24 * 8));
    await rejectsUser(readEnvi(join(dir, 'cplx.img')), join(dir, 'cplx.hdr'), 'complex');
  });
});

test('readEnvi: a hand-made big-endian BIL uint16 file decodes (no python needed)', async () => {
  await withDir(async (dir) => {
    // 2 lines × 3 samples × 2 bands, BIL: line r holds band 0's three samples then band 1's.
    const v = (r: number, c: number, b: number) => 1000 * r + 100 * c + b + 60000 * (b & 1);
    const buf = Buffer.alloc(2 * 3 * 2 * 2);
    let o = 0;
    for (let r = 0; r < 2; r++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++, o += 2) buf.writeUInt16BE(v(r, c, b) % 65536, o);
    await writeFile(join(dir, 'h.bil'), buf);
    await writeFile(join(dir, 'h.hdr'), 'ENVI\nsamples = 3\nlines = 2\nbands = 2\ndata type = 12\ninterleave = bil\nbyte order = 1\n');
    const cube = await readEnvi(join(dir, 'h.bil'));
    const exp: number[] = [];
    for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) for (let b = 0; b < 2; b++) exp.push(v(r, c, b) % 65536);
    assert.deepEqual(Array.from(cube.data), exp);
  });
});
