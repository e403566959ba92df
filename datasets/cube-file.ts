/**
 * Hyperspectral cubes and label maps from files, as the load step and `gantry baseline rx` read
 * them: a .mat variable (in any of the usual dimension orders), an ENVI raster, a multiband TIFF,
 * or a mask image for a label map. Labels: 0 background, 1 anomalous, 2 ambiguous.
 */
import { extname } from 'node:path';
import { UserError } from '../core/errors.js';
import { cubeFromMat, readMatFile, toRowMajorCube, type CubeOrder, type MatVariable } from './mat.js';
import { readEnvi } from './envi.js';
import { readTiffCube } from './tiff-cube.js';
import { decodeMask } from './images/decode.js';
import { LABEL } from './sample-set.js';

export interface Cube {
  rows: number;
  cols: number;
  bands: number;
  data: ArrayLike<number>;
}

/** A one-band map from its own file: a .mat variable, an ENVI or TIFF raster, or a mask image. */
export async function readMap(path: string, variable: string): Promise<Cube> {
  const ext = extname(path).toLowerCase();
  if (ext === '.mat') {
    const vars = await readMatFile(path);
    const v = vars.get(variable);
    if (!v) throw new UserError(`${path}: no variable '${variable}' (found: ${[...vars.keys()].join(', ') || 'none'})`, { hint: 'set dataset.labels.variable' });
    return toRowMajorCube(v);
  }
  if (ext === '.tif' || ext === '.tiff') return readTiffCube(path);
  if (ext === '.hdr' || ext === '.img' || ext === '.raw' || ext === '.dat') return readEnvi(path);
  const m = await decodeMask(path, undefined, path);
  return { rows: m.height, cols: m.width, bands: 1, data: m.data };
}

/** Labels from an inner map and an optional outer one, checked against the cube's size. */
export function labelMap(cube: Cube, inner: Cube, outer: Cube | undefined, what: { inner: string; outer?: string }): Uint8Array {
  for (const [m, name] of [[inner, what.inner], [outer, what.outer]] as const) {
    if (m && (m.rows !== cube.rows || m.cols !== cube.cols || m.bands !== 1)) {
      throw new UserError(`labels ${name} are ${m.rows}×${m.cols}×${m.bands}, expected ${cube.rows}×${cube.cols}×1 to match the cube`);
    }
  }
  return Uint8Array.from({ length: cube.rows * cube.cols }, (_, i) => (inner.data[i] !== 0 ? LABEL.anomalous : outer && outer.data[i] !== 0 ? LABEL.ambiguous : LABEL.normal));
}

export function matCube(v: MatVariable, params: { order?: CubeOrder; shape?: { rows: number; cols: number } }): Cube {
  return params.order ? cubeFromMat(v, params.order, params.shape) : toRowMajorCube(v);
}


/** A cube from a file, by extension: .mat (`variable`, `order`), ENVI (.hdr or its data file), or TIFF. */
export async function readCubeFile(path: string, opts: { variable?: string; order?: CubeOrder; shape?: { rows: number; cols: number } } = {}): Promise<Cube> {
  const ext = extname(path).toLowerCase();
  if (ext === '.mat') {
    const vars = await readMatFile(path);
    const name = opts.variable ?? 'data';
    const v = vars.get(name);
    if (!v) throw new UserError(`${path}: no variable '${name}' (found: ${[...vars.keys()].join(', ') || 'none'})`);
    return matCube(v, opts);
  }
  if (ext === '.tif' || ext === '.tiff') return readTiffCube(path);
  return readEnvi(path);
}
