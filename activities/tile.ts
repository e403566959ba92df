/** tile: samples for training and scoring, with labels and the training split. */
import { z } from 'zod';
import { splitSpec, tilingSpec } from '../experiments/spec.js';
import { decodeNd, encodeNd, ndarray } from '../datasets/tensor-file.js';
import { tileCube, trainingIndices } from '../datasets/tiling.js';
import { Prng } from '../datasets/prng.js';
import { LABEL } from '../datasets/sample-set.js';
import { UserError } from '../core/errors.js';
import { defineStep } from './context.js';

const tileParams = z.object({ tiling: tilingSpec, split: splitSpec, seed: z.number().int() }).strict();

export const tileOutput = z.object({ n: z.number().int(), dim: z.number().int(), train: z.number().int(), rows: z.number().int(), cols: z.number().int(), validation: z.number().int().optional() });

export const tile = defineStep('tile', { params: tileParams, output: tileOutput }, async (ctx, params) => {
  const data = await ctx.input('data');
  const cube = decodeNd(await data.read('cube'), 'cube');
  const labels = decodeNd(await data.read('labels'), 'labels').data as Uint8Array;
  const [rows, cols, bands] = cube.shape;
  const size = params.tiling.kind === 'pixel' ? 1 : params.tiling.size;
  const samples = tileCube(cube.data as Float32Array, rows, cols, bands, size);
  let train = trainingIndices(labels, params.split.train);
  if (params.split.maxTrain > 0 && train.length > params.split.maxTrain) {
    train = new Prng(params.seed).shuffle(train).subarray(0, params.split.maxTrain).sort();
  }
  if (train.length === 0) {
    // Only 'background' training can find none (the load step refuses an empty cube).
    let anomalous = 0;
    for (const l of labels) if (l === LABEL.anomalous) anomalous++;
    const ambiguous = labels.length - anomalous;
    throw new UserError(`no training samples: no pixel is labelled normal (${anomalous} of ${labels.length} anomalous${ambiguous ? `, ${ambiguous} ambiguous` : ''})`, { hint: "check the label map, or use split.train 'all'" });
  }
  let val: Int32Array | undefined;
  if (params.split.validation !== undefined) {
    // Held out of training, for model selection: a seeded shuffle, then the last fraction (Eide's np.array_split into 5, last part).
    const shuffled = new Prng(`validation/${params.seed}`).shuffle(Int32Array.from(train));
    const nVal = Math.floor(shuffled.length * params.split.validation);
    if (nVal === 0 || nVal === shuffled.length) throw new UserError(`split.validation ${params.split.validation} of ${shuffled.length} training pixels leaves ${nVal === 0 ? 'no validation pixel' : 'no training pixel'}`);
    val = shuffled.subarray(shuffled.length - nVal).sort();
    train = shuffled.subarray(0, shuffled.length - nVal).sort();
  }
  await ctx.write('samples', encodeNd(ndarray(samples.data, [samples.n, samples.dim], { rows, cols, window: size })));
  await ctx.write('labels', encodeNd(ndarray(labels, [labels.length])));
  await ctx.write('train-index', encodeNd(ndarray(train, [train.length])));
  if (val) await ctx.write('val-index', encodeNd(ndarray(val, [val.length])));
  return { n: samples.n, dim: samples.dim, train: train.length, rows, cols, ...(val ? { validation: val.length } : {}) };
});
