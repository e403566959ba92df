import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { readMat, readMatFile, toRowMajorCube, type MatData, type MatVariable } from '../../datasets/mat.js';
import { isUserError } from '../../core/errors.js';
import { SANDIEGO } from '../helpers.js';

/** Sum of all values of `data`, from scipy.io.loadmat (independent reader). */
const SANDIEGO_DATA_SUM = 5081751260;
/** [row, col, band, value] (0-based), also from scipy.io.loadmat. */
const SANDIEGO_SPOTS = [[0, 0, 0, 790], [99, 0, 5, 944], [3, 77, 188, 2349], [50, 42, 100, 2758], [99, 99, 188, 1521]];

// ---- a tiny Level 5 MAT-file encoder, enough to exercise the reader ----

const mi = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16 };
const mx = { CELL: 1, STRUCT: 2, CHAR: 4, SPARSE: 5, DOUBLE: 6, SINGLE: 7, INT8: 8, UINT8: 9, INT16: 10, UINT16: 11, INT32: 12, UINT32: 13, INT64: 14, UINT64: 15 };
const SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1 };

type Endian = 'le' | 'be';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function values(type: number, vals: ArrayLike<number | bigint>, e: Endian): Uint8Array {
  const size = SIZE[type];
  const b = new Uint8Array(vals.length * size);
  const v = new DataView(b.buffer);
  const le = e === 'le';
  for (let i = 0; i < vals.length; i++) {
    const x = vals[i];
    const o = i * size;
    switch (type) {
      case mi.INT8: v.setInt8(o, Number(x)); break;
      case mi.UINT8: case mi.UTF8: v.setUint8(o, Number(x)); break;
      case mi.INT16: v.setInt16(o, Number(x), le); break;
      case mi.UINT16: v.setUint16(o, Number(x), le); break;
      case mi.INT32: v.setInt32(o, Number(x), le); break;
      case mi.UINT32: v.setUint32(o, Number(x), le); break;
      case mi.SINGLE: v.setFloat32(o, Number(x), le); break;
      case mi.DOUBLE: v.setFloat64(o, Number(x), le); break;
      case mi.INT64: v.setBigInt64(o, BigInt(x), le); break;
      case mi.UINT64: v.setBigUint64(o, BigInt(x), le); break;
      default: throw new Error(`type ${type}`);
    }
  }
  return b;
}

/** A data element; payloads of ≤4 bytes use the small (packed) form unless full is asked for. */
function element(type: number, payload: Uint8Array, e: Endian, full = false): Uint8Array {
  const le = e === 'le';
  if (!full && payload.length <= 4) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(0, (payload.length << 16) | type, le);
    b.set(payload, 4);
    return b;
  }
  const b = new Uint8Array(8 + Math.ceil(payload.length / 8) * 8);
  const v = new DataView(b.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, payload.length, le);
  b.set(payload, 8);
  return b;
}

interface Var {
  name: string;
  cls: number;
  dims: number[];
  type: number;
  real: ArrayLike<number | bigint>;
  imag?: ArrayLike<number | bigint>;
  logical?: boolean;
}

function matrix(x: Var, e: Endian): Uint8Array {
  const flags = x.cls | (x.imag ? 0x800 : 0) | (x.logical ? 0x200 : 0);
  const parts = [
    element(mi.UINT32, values(mi.UINT32, [flags, 0], e), e),
    element(mi.INT32, values(mi.INT32, x.dims, e), e, true),
    element(mi.INT8, Buffer.from(x.name, 'latin1'), e),
    element(x.type, values(x.type, x.real, e), e),
  ];
  if (x.imag) parts.push(element(x.type, values(x.type, x.imag, e), e));
  return element(mi.MATRIX, concat(parts), e, true);
}

function compressed(el: Uint8Array, e: Endian): Uint8Array {
  const z = deflateSync(el);
  // miCOMPRESSED is not padded: the next element follows the zlib stream directly.
  const b = new Uint8Array(8 + z.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, mi.COMPRESSED, e === 'le');
  v.setUint32(4, z.length, e === 'le');
  b.set(z, 8);
  return b;
}

function matFile(elements: Uint8Array[], e: Endian): Uint8Array {
  const h = new Uint8Array(128).fill(0x20);
  h.set(Buffer.from('MATLAB 5.0 MAT-file, Platform: test, Created on: today', 'latin1'));
  h.fill(0, 116, 124);
  new DataView(h.buffer).setUint16(124, 0x0100, e === 'le');
  h.set(Buffer.from(e === 'le' ? 'IM' : 'MI', 'latin1'), 126);
  return concat([h, ...elements]);
}

function nums(a: MatData): Array<number | bigint> {
  return Array.from(a as ArrayLike<number | bigint>);
}

function get(m: Map<string, MatVariable>, name: string): MatVariable {
  const v = m.get(name);
  assert.ok(v, `variable ${name} missing; have ${[...m.keys()]}`);
  return v;
}

function assertUserError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isUserError(e), `expected UserError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

const A23 = { name: 'A', cls: mx.DOUBLE, dims: [2, 3], type: mi.DOUBLE, real: [1.5, -2, 3, 4, 5, 6.25] };

// ---- tests ----

test('uncompressed double matrix, column-major as stored', () => {
  const m = readMat(matFile([matrix(A23, 'le')], 'le'));
  const a = get(m, 'A');
  assert.equal(a.className, 'double');
  assert.deepEqual(a.dims, [2, 3]);
  assert.ok(a.data instanceof Float64Array);
  assert.deepEqual(nums(a.data), A23.real);
  assert.equal(a.imag, undefined);
});

test('compressed elements, unaligned boundaries, mixed with uncompressed', () => {
  const b = { name: 'bee', cls: mx.SINGLE, dims: [1, 3], type: mi.SINGLE, real: [0.5, 0.25, -8] };
  const c = { name: 'c', cls: mx.INT32, dims: [3, 1], type: mi.INT32, real: [-7, 0, 2147483647] };
  const file = matFile([compressed(matrix(A23, 'le'), 'le'), compressed(matrix(b, 'le'), 'le'), matrix(c, 'le')], 'le');
  const m = readMat(file);
  assert.deepEqual([...m.keys()].sort(), ['A', 'bee', 'c']);
  assert.deepEqual(nums(get(m, 'A').data), A23.real);
  const bv = get(m, 'bee');
  assert.equal(bv.className, 'single');
  assert.ok(bv.data instanceof Float32Array);
  assert.deepEqual(nums(bv.data), b.real);
  assert.ok(get(m, 'c').data instanceof Int32Array);
  assert.deepEqual(nums(get(m, 'c').data), c.real);
});

test('double stored as miUINT8 / int16 stored as miINT8 are converted to the class type', () => {
  const d = { name: 'd', cls: mx.DOUBLE, dims: [2, 2], type: mi.UINT8, real: [0, 1, 200, 255] };
  const s = { name: 's', cls: mx.INT16, dims: [1, 3], type: mi.INT8, real: [-128, 5, 127] };
  const u = { name: 'u', cls: mx.UINT16, dims: [1, 2], type: mi.UINT8, real: [7, 250] };
  const m = readMat(matFile([compressed(matrix(d, 'le'), 'le'), matrix(s, 'le'), matrix(u, 'le')], 'le'));
  const dv = get(m, 'd');
  assert.equal(dv.className, 'double');
  assert.ok(dv.data instanceof Float64Array);
  assert.deepEqual(nums(dv.data), [0, 1, 200, 255]);
  assert.ok(get(m, 's').data instanceof Int16Array);
  assert.deepEqual(nums(get(m, 's').data), [-128, 5, 127]);
  assert.ok(get(m, 'u').data instanceof Uint16Array);
});

test('small data elements: scalar stored packed in its tag', () => {
  // 1×1 double 7 stored as one miUINT8 byte, name 'x' also packed.
  const x = { name: 'x', cls: mx.DOUBLE, dims: [1, 1], type: mi.UINT8, real: [7] };
  const y = { name: 'yy', cls: mx.INT16, dims: [1, 2], type: mi.INT16, real: [-3, 300] };
  const m = readMat(matFile([matrix(x, 'le'), matrix(y, 'le')], 'le'));
  assert.deepEqual(nums(get(m, 'x').data), [7]);
  assert.ok(get(m, 'x').data instanceof Float64Array);
  assert.deepEqual(nums(get(m, 'yy').data), [-3, 300]);
});

test('3-D array dims and toRowMajorCube', () => {
  const [R, C, B] = [2, 3, 4];
  const colMajor: number[] = [];
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let r = 0; r < R; r++) colMajor.push(100 * r + 10 * c + b);
  const cube = { name: 'cube', cls: mx.UINT16, dims: [R, C, B], type: mi.UINT16, real: colMajor };
  const v = get(readMat(matFile([compressed(matrix(cube, 'le'), 'le')], 'le')), 'cube');
  assert.deepEqual(v.dims, [2, 3, 4]);
  assert.equal(v.className, 'uint16');
  const rm = toRowMajorCube(v);
  assert.deepEqual([rm.rows, rm.cols, rm.bands], [2, 3, 4]);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) for (let b = 0; b < B; b++) {
    assert.equal(rm.data[(r * C + c) * B + b], 100 * r + 10 * c + b);
  }
  const flat = toRowMajorCube({ name: 'm', className: 'double', dims: [2, 3], data: new Float64Array([1, 2, 3, 4, 5, 6]) });
  assert.equal(flat.bands, 1);
  assert.deepEqual(nums(flat.data), [1, 3, 5, 2, 4, 6]);
  // N-D with trailing singleton dims is still a cube; 4-D proper is not.
  assert.equal(toRowMajorCube({ ...v, dims: [2, 3, 4, 1] }).bands, 4);
  assertUserError(() => toRowMajorCube({ ...v, dims: [2, 3, 2, 2] }), /dims/);
});

test('big-endian files (uncompressed and compressed)', () => {
  const cube = { name: 'be3', cls: mx.DOUBLE, dims: [2, 2, 2], type: mi.DOUBLE, real: [1, 2, 3, 4, 5, 6, 7, -8.5] };
  const w = { name: 'w', cls: mx.UINT16, dims: [1, 3], type: mi.UINT16, real: [1, 256, 65535] };
  const small = { name: 'k', cls: mx.INT32, dims: [1, 1], type: mi.INT16, real: [-2] };
  const m = readMat(matFile([matrix(cube, 'be'), compressed(matrix(w, 'be'), 'be'), matrix(small, 'be')], 'be'));
  assert.deepEqual(get(m, 'be3').dims, [2, 2, 2]);
  assert.deepEqual(nums(get(m, 'be3').data), cube.real);
  assert.deepEqual(nums(get(m, 'w').data), [1, 256, 65535]);
  assert.ok(get(m, 'k').data instanceof Int32Array);
  assert.deepEqual(nums(get(m, 'k').data), [-2]);
});

test('logical, complex and 64-bit integer arrays', () => {
  const l = { name: 'mask', cls: mx.UINT8, dims: [2, 2], type: mi.UINT8, real: [1, 0, 0, 1], logical: true };
  const z = { name: 'z', cls: mx.DOUBLE, dims: [1, 2], type: mi.DOUBLE, real: [1, 2], imag: [-1, 0.5] };
  const i64 = { name: 'i64', cls: mx.INT64, dims: [1, 2], type: mi.INT64, real: [-(2n ** 62n), 5n] };
  const u64 = { name: 'u64', cls: mx.UINT64, dims: [1, 2], type: mi.UINT8, real: [3, 255] };
  const m = readMat(matFile([matrix(l, 'le'), compressed(matrix(z, 'le'), 'le'), matrix(i64, 'le'), matrix(u64, 'le')], 'le'));
  const lv = get(m, 'mask');
  assert.equal(lv.className, 'logical');
  assert.ok(lv.data instanceof Uint8Array);
  const zv = get(m, 'z');
  assert.deepEqual(nums(zv.data), [1, 2]);
  assert.ok(zv.imag instanceof Float64Array);
  assert.deepEqual(nums(zv.imag!), [-1, 0.5]);
  assertUserError(() => toRowMajorCube(zv), /complex/);
  assert.deepEqual(nums(get(m, 'i64').data), [-(2n ** 62n), 5n]);
  assert.ok(get(m, 'u64').data instanceof BigUint64Array);
  assert.deepEqual(nums(get(m, 'u64').data), [3n, 255n]);
});

test('char/cell/sparse variables are skipped, and a clear UserError when requested by name', () => {
  const ch = { name: 'label', cls: mx.CHAR, dims: [1, 2], type: mi.UTF8, real: [104, 105] };
  const sp = { name: 'sp', cls: mx.SPARSE, dims: [2, 2], type: mi.INT32, real: [0] };
  const cellEl = element(mi.MATRIX, concat([
    element(mi.UINT32, values(mi.UINT32, [mx.CELL, 0], 'le'), 'le'),
    element(mi.INT32, values(mi.INT32, [1, 0], 'le'), 'le', true),
    element(mi.INT8, Buffer.from('cc'), 'le'),
  ]), 'le', true);
  const file = matFile([matrix(ch, 'le'), compressed(cellEl, 'le'), matrix(sp, 'le'), matrix(A23, 'le')], 'le');
  const m = readMat(file, 'mixed.mat');
  assert.deepEqual([...m.keys()], ['A']);
  assertUserError(() => readMat(file, 'mixed.mat', { variables: ['label'] }), /mixed\.mat.*'label' is a char array/);
  assertUserError(() => readMat(file, 'mixed.mat', { variables: ['cc'] }), /'cc' is a cell array/);
  assertUserError(() => readMat(file, 'mixed.mat', { variables: ['sp'] }), /'sp' is a sparse array/);
  assertUserError(() => readMat(file, 'mixed.mat', { variables: ['nope'] }), /no variable 'nope'/);
  const only = readMat(file, 'mixed.mat', { variables: ['A'] });
  assert.deepEqual([...only.keys()], ['A']);
});

test('errors: wrong header, v7.3, truncated, garbled compressed data', () => {
  const good = matFile([matrix(A23, 'le'), compressed(matrix({ ...A23, name: 'B' }, 'le'), 'le')], 'le');
  assertUserError(() => readMat(good.subarray(0, 50), 'x.mat'), /x\.mat: too short/);
  const bad = good.slice();
  bad[126] = 0x58;
  assertUserError(() => readMat(bad, 'x.mat'), /x\.mat: not a Level 5 MAT-file/);
  const v73 = good.slice();
  new DataView(v73.buffer).setUint16(124, 0x0200, true);
  assertUserError(() => readMat(v73, 'x.mat'), /v7\.3/);
  assertUserError(() => readMat(good.subarray(0, 128 + 40), 'x.mat'), /x\.mat: truncated/);
  const garbled = good.slice();
  const zStart = 128 + matrix(A23, 'le').length + 8;
  garbled.fill(0xab, zStart + 2, zStart + 12);
  assertUserError(() => readMat(garbled, 'x.mat'), /x\.mat.*(inflate|garbled|truncated)/);
  // Every truncation point is a UserError (or, at element boundaries, a shorter valid file).
  for (let n = 0; n < good.length; n++) {
    try {
      readMat(good.subarray(0, n), 'cut.mat');
    } catch (e) {
      assert.ok(isUserError(e), `cut at ${n}: ${(e as Error).name}: ${(e as Error).message}`);
      assert.match((e as Error).message, /cut\.mat/);
    }
  }
  // Random corruption never escapes as a raw RangeError/TypeError.
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let k = 0; k < 500; k++) {
    const f = good.slice();
    for (let j = 0; j < 3; j++) f[128 + Math.floor(rnd() * (f.length - 128))] = Math.floor(rnd() * 256);
    try {
      readMat(f, 'fuzz.mat');
    } catch (e) {
      assert.ok(isUserError(e), `${(e as Error).name}: ${(e as Error).message}`);
    }
  }
});

test('readMatFile: missing file and round trip through disk', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-mat-'));
  try {
    const missing = path.join(dir, 'nope.mat');
    await assert.rejects(readMatFile(missing), (e: unknown) => isUserError(e) && (e as Error).message.includes(missing));
    await assert.rejects(readMatFile(dir), (e: unknown) => isUserError(e) && (e as Error).message.includes(dir));
    const p = path.join(dir, 'a.mat');
    await writeFile(p, matFile([compressed(matrix(A23, 'le'), 'le')], 'le'));
    assert.deepEqual(nums(get(await readMatFile(p), 'A').data), A23.real);
    await writeFile(p, matFile([matrix(A23, 'le')], 'le').subarray(0, 150));
    await assert.rejects(readMatFile(p), (e: unknown) => isUserError(e) && /a\.mat: truncated/.test((e as Error).message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sandiego_plane.mat (shared data)', async (t) => {
  if (!existsSync(SANDIEGO)) {
    t.skip('sandiego_plane.mat not present');
    return;
  }
  const m = await readMatFile(SANDIEGO);
  // MATLAB classes: `data` is a double array stored as uint16 (what scipy.io.loadmat reports as
  // its dtype), `map` is a logical array stored as uint8.
  const data = get(m, 'data');
  assert.equal(data.className, 'double');
  assert.equal(data.storedAs, 'uint16');
  assert.deepEqual(data.dims, [100, 100, 189]);
  assert.ok(data.data instanceof Float64Array);
  let sum = 0;
  for (const x of data.data as Float64Array) {
    assert.ok(Number.isInteger(x) && x >= 0 && x <= 65535);
    sum += x;
  }
  assert.equal(sum, SANDIEGO_DATA_SUM);
  const map = get(m, 'map');
  assert.equal(map.className, 'logical');
  assert.equal(map.storedAs, 'uint8');
  assert.deepEqual(map.dims, [100, 100]);
  assert.ok(map.data instanceof Uint8Array);
  let ones = 0;
  for (const x of map.data as Uint8Array) {
    assert.ok(x === 0 || x === 1);
    ones += x;
  }
  assert.equal(ones, 134);
  const cube = toRowMajorCube(data);
  assert.deepEqual([cube.rows, cube.cols, cube.bands], [100, 100, 189]);
  // Spot-check the reorder against column-major indexing.
  const colMajor = data.data as Float64Array;
  for (const [r, c, b] of [[0, 0, 0], [99, 0, 5], [3, 77, 188], [99, 99, 100]]) {
    assert.equal(cube.data[(r * 100 + c) * 189 + b], colMajor[r + 100 * c + 10000 * b]);
  }
  for (const [r, c, b, want] of SANDIEGO_SPOTS) {
    assert.equal(cube.data[(r * 100 + c) * 189 + b], want, `data(${r},${c},${b})`);
  }
});
