/** train: fit a detector on the training samples, checkpointing so that a restart resumes. */
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { trainingSamples } from './samples.js';
import { detectorFor } from '../models/registry.js';
import { backendName } from '../models/backend.js';
import type { MetricPoint } from '../models/detector.js';
import { CheckpointStore } from './checkpoints.js';
import { defineStep } from './context.js';

const trainParams = z.object({ model: z.record(z.string(), z.unknown()).and(z.object({ kind: z.string() })), seed: z.number().int() });

/** Points keyed by (name, step): a resumed run re-logging a point replaces it instead of doubling it. */
export class MetricBuffer {
  private readonly points = new Map<string, MetricPoint>();
  add(points: MetricPoint[]): void {
    for (const p of points) this.points.set(`${p.name}\0${p.step}`, p);
  }
  /** Keep only points up to `step` (what a checkpoint at that step had seen). */
  truncate(step: number): void {
    for (const [k, p] of this.points) if (p.step > step) this.points.delete(k);
  }
  all(): MetricPoint[] {
    return [...this.points.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.step - b.step));
  }
}

const selectionSchema = z.object({
  criterion: z.enum(['val-auc', 'val-loss', 'last']),
  iteration: z.number().int(),
  value: z.number().nullable(),
  validations: z.number().int(),
  reason: z.string(),
});

export const trainOutput = z.object({
  kind: z.string(),
  params: z.record(z.string(), z.unknown()),
  trainSamples: z.number().int(),
  /** Validation samples training could select on (never test ones). */
  validationSamples: z.number().int().optional(),
  dim: z.number().int(),
  metricPoints: z.number().int(),
  backend: z.string(),
  /** Which weights became the model, and why (detectors that select). */
  selection: selectionSchema.optional(),
});

export const train = defineStep('train', { params: trainParams, output: trainOutput }, async (ctx, { model, seed }) => {
  const detector = detectorFor(model.kind);
  const { kind: _kind, ...hyper } = model;
  const params = detector.params.parse(hyper);
  const { source: trainSet, index, validation } = await trainingSamples(ctx);
  if (index.length === 0) throw new UserError('no training samples: the split leaves no normal item to train on');
  const dim = trainSet.dim;

  const ckpts = new CheckpointStore(ctx.store, ctx.key, ctx.checkpointPolicy.keep);
  const metrics = new MetricBuffer();
  const policy = ctx.checkpointPolicy;
  let lastSaveAt = Date.now();
  let lastSavedIteration = 0;
  // Points go to the trackers only once a checkpoint holds them: after a crash the resumed run
  // logs the later ones again, with its own timestamps, and those are what the store keeps, so
  // MLflow and the catalog end with the same points. The tail after the last checkpoint reaches
  // the trackers when the trial ends, from the store.
  let unsaved: MetricPoint[] = [];
  const fitted = await detector.fit(trainSet, params, seed, {
    restore: async () => {
      const c = await ckpts.latest();
      if (!c) return undefined;
      metrics.add(c.metrics);
      metrics.truncate(c.iteration);
      lastSavedIteration = c.iteration;
      ctx.onResume(c.iteration);
      return c.state;
    },
    checkpointDue: (it) =>
      it - lastSavedIteration >= policy.everyIterations || (it > lastSavedIteration && Date.now() - lastSaveAt >= policy.everyMinutes * 60_000),
    checkpoint: async (it, state) => {
      await ckpts.save(it, state, metrics.all());
      lastSaveAt = Date.now();
      lastSavedIteration = it;
      const saved = unsaved.filter((p) => p.step <= it);
      unsaved = unsaved.filter((p) => p.step > it);
      if (saved.length) ctx.log(saved);
    },
    log: (points) => {
      const now = Date.now();
      for (const p of points) p.time ??= now; // stamped when logged, not when forwarded
      metrics.add(points);
      unsaved.push(...points);
    },
    progress: (done, total) => ctx.progress(done, total),
    signal: ctx.signal,
  }, { validation });
  const { model: bytes, selection } = fitted instanceof Uint8Array ? { model: fitted, selection: undefined } : fitted;
  await ctx.write('model', bytes);
  const all = metrics.all();
  await ctx.write('metrics.json', JSON.stringify(all));
  return {
    kind: model.kind,
    params: model,
    trainSamples: index.length,
    ...(validation ? { validationSamples: validation.source.n } : {}),
    dim,
    metricPoints: all.length,
    // The backend that actually trained: a convolutional model may have moved from wasm to cpu.
    backend: detector.usesTfjs ? (backendName() === 'none' ? (ctx.backend ?? 'unknown') : backendName()) : 'js',
    ...(selection ? { selection } : {}),
  };
});
