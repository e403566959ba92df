/** filter: select bands, reject non-finite data, normalize. */
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { filterSpec } from '../experiments/spec.js';
import { decodeNd, encodeNd, ndarray } from '../datasets/tensor-file.js';
import { selectBands, normalize, findNonFinite } from '../datasets/filters.js';
import { defineStep } from './context.js';

export const filterOutput = z.object({ rows: z.number().int(), cols: z.number().int(), bands: z.number().int(), normalize: z.string() });

export const filter = defineStep('filter', { params: filterSpec, output: filterOutput }, async (ctx, params) => {
  const data = await ctx.input('data');
  const cube = decodeNd(await data.read('cube'), 'cube');
  const [rows, cols, bands] = cube.shape;
  const bad = findNonFinite(cube.data as Float32Array, bands);
  if (bad) {
    throw new UserError(`dataset has ${bad.count} non-finite value${bad.count === 1 ? '' : 's'} (first: ${bad.first.value} at pixel ${Math.floor(bad.first.pixel / cols)},${bad.first.pixel % cols}, band ${bad.first.band})`, {
      hint: 'clean the data or drop those bands',
    });
  }
  const sel = selectBands(cube.data as Float32Array, bands, params.bands);
  const norm = normalize(sel.data, params.normalize);
  await ctx.write('cube', encodeNd(ndarray(norm.data, [rows, cols, sel.bands], { bands: sel.indices, ...norm.stats })));
  await ctx.write('labels', await data.read('labels'));
  return { rows, cols, bands: sel.bands, normalize: params.normalize };
});
