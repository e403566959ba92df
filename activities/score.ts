/** score: anomaly scores for every sample from a trained detector (one set per score kind). */
import { z } from 'zod';
import { decodeNd, encodeNd, ndarray } from '../datasets/tensor-file.js';
import { detectorFor } from '../models/registry.js';
import type { StepFn } from './context.js';

const scoreParams = z.object({ model: z.record(z.string(), z.unknown()), seed: z.number().int() });

export const score: StepFn = async (ctx, raw) => {
  const { model: scoreOnly, seed } = scoreParams.parse(raw);
  const trained = await ctx.input('model');
  const kind = String(trained.output.kind);
  const detector = detectorFor(kind);
  // Training parameters come from the model's own step; scoring-only ones from this step.
  const { kind: _kind, ...trainParams } = trained.output.params as Record<string, unknown>;
  const params = detector.params.parse({ ...trainParams, ...scoreOnly });
  const tiles = await ctx.input('tiles');
  const samples = decodeNd(await tiles.read('samples'), 'samples');
  const [n, dim] = samples.shape;
  const sets = await detector.score(await trained.read('model'), { n, dim, data: samples.data as Float32Array }, params, seed, {
    progress: (d, t) => ctx.progress(d, t),
    signal: ctx.signal,
  });
  for (const s of sets) await ctx.write(`scores-${s.name}`, encodeNd(ndarray(s.scores, [n])));
  return { output: { sets: sets.map((s) => s.name) } };
};
