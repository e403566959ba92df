/** load: read a dataset (synthetic or a MATLAB file) into a cube and a label map. */
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { syntheticHsiSpec, matHsiSpec } from '../experiments/spec.js';
import { syntheticHsi } from '../datasets/synthetic-hsi.js';
import { readMatFile, toRowMajorCube } from '../datasets/mat.js';
import { encodeNd, ndarray } from '../datasets/tensor-file.js';
import { defineStep } from './context.js';

const loadParams = z.discriminatedUnion('kind', [syntheticHsiSpec, matHsiSpec.omit({ path: true }).extend({ sha256: z.string() })]);

export const loadOutput = z.object({ rows: z.number().int(), cols: z.number().int(), bands: z.number().int(), anomalies: z.number().int() });

export const load = defineStep('load', { params: loadParams, output: loadOutput }, async (ctx, params) => {
  let rows: number, cols: number, bands: number, cube: Float32Array, mask: Uint8Array;
  if (params.kind === 'synthetic-hsi') {
    const s = syntheticHsi(params);
    ({ rows, cols, bands } = s);
    cube = s.data;
    mask = s.mask;
  } else {
    const path = ctx.locator.path;
    const vars = await readMatFile(path);
    const v = vars.get(params.variable);
    const names = [...vars.keys()].join(', ') || 'none';
    if (!v) throw new UserError(`${path}: no variable '${params.variable}' (found: ${names})`, { hint: 'set dataset.variable' });
    const m = vars.get(params.labels);
    if (!m) throw new UserError(`${path}: no label variable '${params.labels}' (found: ${names})`, { hint: 'set dataset.labels' });
    const c = toRowMajorCube(v);
    const l = toRowMajorCube(m);
    if (l.rows !== c.rows || l.cols !== c.cols || l.bands !== 1) {
      throw new UserError(`${path}: labels '${params.labels}' are ${l.rows}×${l.cols}×${l.bands}, expected ${c.rows}×${c.cols} to match '${params.variable}'`);
    }
    ({ rows, cols, bands } = c);
    cube = Float32Array.from(c.data);
    mask = Uint8Array.from(l.data, (x) => (x !== 0 ? 1 : 0));
  }
  await ctx.write('cube', encodeNd(ndarray(cube, [rows, cols, bands])));
  await ctx.write('labels', encodeNd(ndarray(mask, [rows, cols])));
  let anomalies = 0;
  for (const x of mask) anomalies += x;
  return { rows, cols, bands, anomalies };
});
