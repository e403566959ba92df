/** score: anomaly scores for every sample from a trained detector (one set per score kind). */
import { z } from 'zod';
import { encodeNd, ndarray } from '../datasets/tensor-file.js';
import { tiledSamples } from './samples.js';
import { detectorFor } from '../models/registry.js';
import { defineStep } from './context.js';
import { trainOutput } from './train.js';

const scoreParams = z.object({ model: z.record(z.string(), z.unknown()), seed: z.number().int() });

export const scoreOutput = z.object({ sets: z.array(z.string()).min(1) });

export const score = defineStep('score', { params: scoreParams, output: scoreOutput }, async (ctx, { model: scoreOnly, seed }) => {
  const trained = await ctx.input('model');
  const t = trainOutput.parse(trained.output);
  const detector = detectorFor(t.kind);
  // Training parameters come from the model's own step; scoring-only ones from this step.
  const { kind: _kind, ...trainParams } = t.params;
  const params = detector.params.parse({ ...trainParams, ...scoreOnly });
  const { source } = await tiledSamples(ctx);
  const n = source.n;
  const sets = await detector.score(await trained.read('model'), source, params, seed, {
    progress: (d, t) => ctx.progress(d, t),
    signal: ctx.signal,
  });
  for (const s of sets) await ctx.write(`scores-${s.name}`, encodeNd(ndarray(s.scores, [n])));
  return { sets: sets.map((s) => s.name) };
});
