/**
 * embed: the extracted samples through a user-supplied feature network (features.model, a tfjs
 * graph model), one vector per sample, written as a sample set with the same labels, source
 * items and positions — what ALGAN-feature trains on. Pixels are converted from the samples'
 * [-1, 1] to the range the network expects (features.input).
 */
import { z } from 'zod';
import { openSampleSet, SampleSetWriter } from '../datasets/sample-set.js';
import { UserError } from '../core/errors.js';
import { selectBackend } from '../models/backend.js';
import { loadFeatureNetwork, toNetworkInput } from '../models/components/feature-network.js';
import { defineStep } from './context.js';

const embedParams = z
  .object({
    modelSha256: z.string(),
    output: z.string().optional(),
    input: z.enum(['-1..1', '0..1', 'imagenet']),
    pool: z.enum(['mean', 'none']),
    batch: z.number().int().min(1),
  })
  .strict();

export const embedOutput = z.object({ n: z.number().int(), dim: z.number().int(), shape: z.array(z.number().int()), shards: z.number().int(), from: z.array(z.number().int()) });

export const embed = defineStep('embed', { params: embedParams, output: embedOutput }, async (ctx, p) => {
  await selectBackend();
  const tiles = await ctx.input('tiles');
  const set = await openSampleSet(tiles);
  const shape = set.source.shape;
  if (shape.length !== 3) throw new UserError(`features need image samples [h, w, c]; these are [${shape.join(', ')}]`);
  if (p.input === 'imagenet' && shape[2] !== 3) throw new UserError(`features.input 'imagenet' standardises 3 RGB channels; the samples have ${shape[2]}`, { hint: "set dataset.channels: 'rgb', or features.input: '0..1'" });
  const net = await loadFeatureNetwork(ctx.locator.model, { output: p.output, pool: p.pool });
  try {
    let writer: SampleSetWriter | undefined;
    const n = set.source.n;
    for (let start = 0; start < n; start += p.batch) {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('aborted');
      const count = Math.min(p.batch, n - start);
      const data = Float32Array.from(await set.source.read(start, count));
      toNetworkInput(data, shape[2], '-1..1', p.input);
      let features: Float32Array;
      try {
        features = net.embed(data, count, shape);
      } catch (e) {
        throw new UserError(`feature model ${ctx.locator.model} failed on samples of shape [${shape.join(', ')}]: ${(e as Error).message.split('\n')[0]}`);
      }
      const dim = features.length / count;
      writer ??= new SampleSetWriter(ctx.write, [dim]);
      const idx = Array.from({ length: count }, (_, i) => start + i);
      const coords = set.coords ? { ys: idx.map((i) => set.coords![2 * i]), xs: idx.map((i) => set.coords![2 * i + 1]) } : undefined;
      await writer.append(features, count, idx.map((i) => set.labels[i]), set.groups ? idx.map((i) => set.groups![i]) : start, coords);
      ctx.progress(start + count, n);
    }
    const m = await writer!.finish();
    // The per-item labels travel on, for image-level metrics.
    await ctx.write('item-labels', await tiles.read('item-labels'));
    return { n: m.n, dim: m.shape[0], shape: m.shape, shards: m.shards.length, from: [...shape] };
  } finally {
    net.dispose();
  }
});
