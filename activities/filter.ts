/** filter: select bands, reject non-finite data, normalize. */
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { filterSpec } from '../experiments/spec.js';
import { decodeNd, encodeNd, ndarray } from '../datasets/tensor-file.js';
import { selectBands, takeBands, normalize, findNonFinite, noisyBands, sqrtTransform, standardizeBands } from '../datasets/filters.js';
import { defineStep } from './context.js';

export const filterOutput = z.object({ rows: z.number().int(), cols: z.number().int(), bands: z.number().int(), normalize: z.string(), noisyBands: z.array(z.number().int()).optional() });

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
  let sel = selectBands(cube.data as Float32Array, bands, params.bands);
  let noisy: number[] = [];
  if (params.minBandSnr !== undefined) {
    const flagged = noisyBands(sel.data, rows, cols, sel.bands, params.minBandSnr).flagged;
    if (flagged.length === sel.bands) throw new UserError(`every one of the ${sel.bands} bands has a signal-to-noise estimate below ${params.minBandSnr}`, { hint: 'lower filter.minBandSnr' });
    noisy = flagged.map((b) => sel.indices[b]);
    const drop = new Set(flagged);
    sel = takeBands(cube.data as Float32Array, bands, sel.indices.filter((_, b) => !drop.has(b)));
  }
  if (isConstant(sel.data)) {
    throw new UserError(`every value of the ${rows}×${cols}×${sel.bands} cube${sel.bands < bands ? ` (bands ${sel.indices[0]}…${sel.indices[sel.indices.length - 1]})` : ''} is ${sel.data[0]}: no pixel differs from another, so there is nothing to detect`, {
      hint: 'check the dataset (its variable or file) and filter.bands',
    });
  }
  let values = sel.data;
  if (params.transform === 'sqrt') values = sqrtTransform(values).data;
  const norm = params.normalize === 'band-zscore' ? { data: standardizeBands(values, sel.bands).data, stats: {} } : normalize(values, params.normalize);
  await ctx.write('cube', encodeNd(ndarray(norm.data, [rows, cols, sel.bands], { bands: sel.indices, ...norm.stats, ...(noisy.length ? { noisyBands: noisy } : {}) })));
  await ctx.write('labels', await data.read('labels'));
  return { rows, cols, bands: sel.bands, normalize: params.normalize, ...(params.minBandSnr !== undefined ? { noisyBands: noisy } : {}) };
});

function isConstant(data: Float32Array): boolean {
  for (let i = 1; i < data.length; i++) if (data[i] !== data[0]) return false;
  return true;
}
