/**
 * load: read a hyperspectral dataset — synthetic, a MATLAB file (in any of the usual dimension
 * orders), an ENVI raster or a multiband TIFF — or 2-D points (an n×1 cube of 2 bands) into a
 * rows×cols×bands cube and a label map:
 * 0 background, 1 anomalous, 2 ambiguous (inside Eide's outer mask but not the inner one).
 */
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { syntheticHsiSpec, syntheticPointsSpec, matHsiSpec, enviHsiSpec, tiffHsiSpec } from '../experiments/spec.js';
import { gaussianModes, POINT_PRESETS, syntheticPoints } from '../datasets/synthetic-points.js';
import { syntheticHsi } from '../datasets/synthetic-hsi.js';
import { readMatFile, toRowMajorCube, cubeFromMat, type MatVariable } from '../datasets/mat.js';
import { readEnvi } from '../datasets/envi.js';
import { readTiffCube } from '../datasets/tiff-cube.js';
import { labelMap, matCube, readMap, type Cube } from '../datasets/cube-file.js';
import { LABEL } from '../datasets/sample-set.js';
import { encodeNd, ndarray } from '../datasets/tensor-file.js';
import { defineStep } from './context.js';

const labelParams = z.object({ variable: z.string(), sha256: z.string(), outerSha256: z.string().optional() });
const loadParams = z.discriminatedUnion('kind', [
  syntheticHsiSpec,
  syntheticPointsSpec,
  matHsiSpec.omit({ path: true }).extend({ sha256: z.string() }),
  enviHsiSpec.omit({ path: true, labels: true }).extend({ sha256: z.string(), labels: labelParams }),
  tiffHsiSpec.omit({ path: true, labels: true }).extend({ sha256: z.string(), labels: labelParams }),
]);

export const loadOutput = z.object({ rows: z.number().int(), cols: z.number().int(), bands: z.number().int(), anomalies: z.number().int(), ambiguous: z.number().int().optional() });

export const load = defineStep('load', { params: loadParams, output: loadOutput }, async (ctx, params) => {
  let cube: Cube;
  let mask: Uint8Array;
  const path = ctx.locator.path;
  if (params.kind === 'synthetic-hsi') {
    const s = syntheticHsi(params);
    cube = { rows: s.rows, cols: s.cols, bands: s.bands, data: s.data };
    mask = s.mask;
  } else if (params.kind === 'synthetic-points') {
    const modes = typeof params.modes === 'string' ? POINT_PRESETS[params.modes]() : gaussianModes(params.modes.k, { radius: params.modes.radius, std: params.modes.std });
    const p = syntheticPoints({ n: params.n, modes, anomalyFraction: params.anomalyFraction, outliers: { kind: params.outliers }, seed: params.seed });
    cube = { rows: p.n, cols: 1, bands: 2, data: p.points };
    mask = p.labels;
  } else if (params.kind === 'mat') {
    const vars = await readMatFile(path);
    const names = [...vars.keys()].join(', ') || 'none';
    const get = (name: string, field: string) => {
      const v = vars.get(name);
      if (!v) throw new UserError(`${path}: no ${field === 'variable' ? 'variable' : 'label variable'} '${name}' (found: ${names})`, { hint: `set dataset.${field}` });
      return v;
    };
    cube = nonEmpty(matCube(get(params.variable, 'variable'), params), path);
    // A label map is rows×cols, or (beside a pixels×bands cube) a vector of pixels in the cube's pixel order.
    const asMap = (v: MatVariable): Cube => {
      const m = toRowMajorCube(v);
      if (m.rows === cube.rows && m.cols === cube.cols) return m;
      const vector = v.dims.filter((d) => d !== 1).length <= 1;
      return vector && params.shape ? cubeFromMat(v, 'pixels-bands', params.shape) : m;
    };
    mask = labelMap(cube, asMap(get(params.labels, 'labels')), params.outer ? asMap(get(params.outer, 'outer')) : undefined, { inner: `'${params.labels}'`, outer: params.outer && `'${params.outer}'` });
  } else {
    cube = nonEmpty(params.kind === 'envi' ? await readEnvi(path) : await readTiffCube(path), path);
    const inner = await readMap(ctx.locator.labels, params.labels.variable);
    const outer = ctx.locator.outer ? await readMap(ctx.locator.outer, params.labels.variable) : undefined;
    mask = labelMap(cube, inner, outer, { inner: ctx.locator.labels, outer: ctx.locator.outer });
  }
  const { rows, cols, bands } = nonEmpty(cube, path);
  await ctx.write('cube', encodeNd(ndarray(Float32Array.from(cube.data), [rows, cols, bands])));
  await ctx.write('labels', encodeNd(ndarray(mask, [rows, cols])));
  let anomalies = 0;
  let ambiguous = 0;
  for (const x of mask) {
    if (x === LABEL.anomalous) anomalies++;
    else if (x === LABEL.ambiguous) ambiguous++;
  }
  if (anomalies === 0) throw new UserError(`${path ?? 'dataset'}: no pixel is labelled anomalous, so no detection metric can be computed`, { hint: 'check the label map' });
  return { rows, cols, bands, anomalies, ...(ambiguous ? { ambiguous } : {}) };
});

/** An empty cube is said as such before its labels are looked at (they would be empty too, and blamed). */
function nonEmpty(cube: Cube, path: string | undefined): Cube {
  const { rows, cols, bands } = cube;
  if (rows * cols === 0 || bands === 0) throw new UserError(`${path ?? 'dataset'}: the cube is ${rows}×${cols}×${bands}: empty (no pixel or no band)`, { hint: 'check the variable and its dimensions' });
  return cube;
}
