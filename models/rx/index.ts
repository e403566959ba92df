/** RX as a gantry detector: fitting estimates the background statistics; there is nothing to train. */
import { decodeNd, encodeNd, ndarray } from '../../datasets/tensor-file.js';
import type { Detector } from '../detector.js';
import { materialize } from '../../core/samples.js';
import { z } from 'zod';
import { fitRx, scoreRx } from './rx.js';

export const rx: Detector<Record<string, never>> = {
  kind: 'rx',
  params: z.object({}).strict() as z.ZodType<Record<string, never>>,
  stochastic: false,
  usesTfjs: false,
  async fit(source, _params, _seed, hooks) {
    hooks.progress(0, 1);
    const train = await materialize(source);
    const m = fitRx(train.data, train.n, train.dim);
    hooks.progress(1, 1);
    // Stored as one (dim+1)×dim float64 array: the mean, then the precision matrix.
    const packed = new Float64Array((train.dim + 1) * train.dim);
    packed.set(m.mean, 0);
    packed.set(m.precision, train.dim);
    return encodeNd(ndarray(packed, [train.dim + 1, train.dim]));
  },
  async score(model, source) {
    const samples = await materialize(source);
    const a = decodeNd(model, 'rx model');
    const dim = a.shape[1];
    const packed = a.data as Float64Array;
    const scores = scoreRx({ mean: packed.subarray(0, dim), precision: packed.subarray(dim) }, samples.data, samples.n, samples.dim);
    return [{ name: 'rx', scores }];
  },
};
