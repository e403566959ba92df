import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cubeFromMat, readMatFile, toRowMajorCube, type CubeOrder, type MatVariable } from '../../datasets/mat.js';
import { isUserError } from '../../core/errors.js';
import { SANDIEGO } from '../helpers.js';
import { python, pythonMissing } from './reference.js';

function userError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    for (const p of parts) assert.ok((e as Error).message.includes(p), `${(e as Error).message} lacks ${p}`);
    return true;
  });
}

const R = 4;
const C = 6;
const B = 5;
/** The cube's value at (r, c, b), the same formula on both sides. */
const val = (r: number, c: number, b: number, frac: number) => 1000 * r + 37 * c + b + frac;

function expected(frac: number, rows = R, cols = C, bands = B): Float64Array {
  const out = new Float64Array(rows * cols * bands);
  let i = 0;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let b = 0; b < bands; b++) out[i++] = val(r, c, b, frac);
  return out;
}

test('cubeFromMat: each dimension order written by scipy.io.savemat (dtypes, compressed or not) gives the same HWC cube', async (t) => {
  const why = pythonMissing(['numpy', 'scipy.io']);
  if (why) return t.skip(why);
  const dir = await mkdtemp(join(tmpdir(), 'gantry-matorder-'));
  try {
    python(
      `
import numpy as np, scipy.io as sio
R, C, B = ${R}, ${C}, ${B}
r, c, b = np.meshgrid(np.arange(R), np.arange(C), np.arange(B), indexing='ij')
for dt, frac in (('float64', 0.25), ('float32', 0.5), ('uint16', 0.0), ('int32', 0.0)):
    cube = (1000 * r + 37 * c + b + frac).astype(dt)
    v = {
        'rcb': cube,
        'brc': cube.transpose(2, 0, 1),
        'pb_col': cube.transpose(1, 0, 2).reshape(R * C, B),   # MATLAB reshape(cube, R*C, B)
        'pb_row': cube.reshape(R * C, B),                       # NumPy reshape
        'bp_col': cube.transpose(1, 0, 2).reshape(R * C, B).T,
        'bp_row': cube.reshape(R * C, B).T,
    }
    for comp in (False, True):
        sio.savemat('cube_%s_%d.mat' % (dt, comp), v, do_compression=comp)
# a single band: scipy keeps the trailing 1 that MATLAB would drop
sio.savemat('oneband.mat', {'rcb1': (1000 * r + 37 * c)[:, :, :1].astype('float64'), 'brc1': (1000 * r + 37 * c)[:, :, :1].transpose(2, 0, 1)})
`,
      dir,
    );
    const cases: [string, CubeOrder, 'column-major' | 'row-major' | undefined][] = [
      ['rcb', 'rows-cols-bands', undefined],
      ['brc', 'bands-rows-cols', undefined],
      ['pb_col', 'pixels-bands', 'column-major'],
      ['pb_row', 'pixels-bands', 'row-major'],
      ['bp_col', 'bands-pixels', 'column-major'],
      ['bp_row', 'bands-pixels', 'row-major'],
    ];
    let checked = 0;
    for (const [dt, frac] of [['float64', 0.25], ['float32', 0.5], ['uint16', 0], ['int32', 0]] as const) {
      for (const comp of [0, 1]) {
        const vars = await readMatFile(join(dir, `cube_${dt}_${comp}.mat`));
        const exp = expected(frac);
        for (const [name, order, pixelOrder] of cases) {
          const v = vars.get(name)!;
          const shape = pixelOrder ? { rows: R, cols: C, pixelOrder } : undefined;
          const cube = cubeFromMat(v, order, shape);
          assert.deepEqual([cube.rows, cube.cols, cube.bands], [R, C, B], `${dt} ${name}`);
          assert.deepEqual(cube.data, exp, `${dt} compressed=${comp} ${name}`);
          checked++;
        }
        // The default pixel order is MATLAB's (column-major).
        assert.deepEqual(cubeFromMat(vars.get('pb_col')!, 'pixels-bands', { rows: R, cols: C }).data, exp);
        // Same as the existing reader for rows×cols×bands; and a given shape is checked.
        assert.deepEqual(cubeFromMat(vars.get('rcb')!, 'rows-cols-bands', { rows: R, cols: C }).data, toRowMajorCube(vars.get('rcb')!).data);
      }
    }
    assert.equal(checked, 4 * 2 * cases.length);
    const one = await readMatFile(join(dir, 'oneband.mat'));
    const e1 = new Float64Array(R * C).map((_, i) => 1000 * Math.floor(i / C) + 37 * (i % C));
    assert.deepEqual(cubeFromMat(one.get('rcb1')!, 'rows-cols-bands').data, e1);
    const b1 = cubeFromMat(one.get('brc1')!, 'bands-rows-cols');
    assert.deepEqual([b1.rows, b1.cols, b1.bands], [R, C, 1]);
    assert.deepEqual(b1.data, e1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const v = (dims: number[], extra: Partial<MatVariable> = {}): MatVariable => ({
  name: 'x',
  className: 'double',
  dims,
  data: new Float64Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => i),
  ...extra,
});

test('cubeFromMat: MATLAB-dropped trailing singleton (bands×rows saved for a bands×rows×1 cube)', () => {
  // A 3-band 2×1 image saved by MATLAB as 3×2 (column-major: b fastest, then r).
  const cube = cubeFromMat(v([3, 2]), 'bands-rows-cols');
  assert.deepEqual([cube.rows, cube.cols, cube.bands], [2, 1, 3]);
  assert.deepEqual(Array.from(cube.data), [0, 1, 2, 3, 4, 5]);
  // rows×cols only: one band.
  const g = cubeFromMat(v([2, 3]), 'rows-cols-bands');
  assert.deepEqual([g.rows, g.cols, g.bands], [2, 3, 1]);
  assert.deepEqual(Array.from(g.data), [0, 2, 4, 1, 3, 5]);
});

test('cubeFromMat: wrong shapes and orders are UserErrors that say what does not match', () => {
  userError(() => cubeFromMat(v([12, 5]), 'pixels-bands'), 'rows and cols are needed');
  userError(() => cubeFromMat(v([12, 5]), 'pixels-bands', { rows: 3, cols: 5 }), 'has 12 pixels', '3×5 = 15');
  userError(() => cubeFromMat(v([5, 12]), 'bands-pixels', { rows: 2, cols: 5 }), 'has 12 pixels', '2×5 = 10');
  userError(() => cubeFromMat(v([2, 3, 4]), 'pixels-bands', { rows: 2, cols: 3 }), 'expected pixels×bands');
  userError(() => cubeFromMat(v([2, 3, 4, 5]), 'rows-cols-bands'), 'expected rows×cols×bands');
  userError(() => cubeFromMat(v([2, 3, 4]), 'rows-cols-bands', { rows: 3, cols: 2 }), 'is 2×3', '3×2 was expected');
  userError(() => cubeFromMat(v([2, 3], { imag: new Float64Array(6) }), 'rows-cols-bands'), 'complex');
  userError(() => cubeFromMat(v([2, 3]), 'cols-rows-bands' as CubeOrder), 'unknown cube order');
});

test('cubeFromMat on the San Diego scene equals toRowMajorCube and scipy spot values', async (t) => {
  if (!existsSync(SANDIEGO)) return t.skip(`real scene not found at ${SANDIEGO}`);
  const data = (await readMatFile(SANDIEGO, { variables: ['data'] })).get('data')!;
  const cube = cubeFromMat(data, 'rows-cols-bands');
  assert.deepEqual([cube.rows, cube.cols, cube.bands], [100, 100, 189]);
  assert.deepEqual(cube.data, toRowMajorCube(data).data);
  // [row, col, band, value] from scipy.io.loadmat (see mat.test.ts).
  for (const [r, c, b, x] of [[0, 0, 0, 790], [99, 0, 5, 944], [3, 77, 188, 2349], [50, 42, 100, 2758], [99, 99, 188, 1521]]) {
    assert.equal(cube.data[(r * 100 + c) * 189 + b], x);
  }
});
