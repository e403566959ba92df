/** An image GAN definition as a gantry Detector: the shared training loop and scoring of ./gan.ts. */
import type { z } from 'zod';
import { ensureConvTraining, selectBackend } from '../backend.js';
import type { Detector, FitResult } from '../detector.js';
import { reconstructGan, scoreGan, trainGan, type GanDefinition } from './gan.js';
import type { GanCommon } from './gan-params.js';

export function ganDetector<P extends GanCommon>(def: GanDefinition<P>, params: z.ZodType<P>): Detector<P, FitResult> {
  return {
    kind: def.kind,
    params,
    stochastic: true,
    usesTfjs: true,
    async fit(train, p, seed, hooks, data) {
      // Convolutional networks need a backend that can train them (not wasm); dense ones run anywhere.
      if (train.shape.length > 1) await ensureConvTraining();
      else await selectBackend();
      return trainGan(def, train, p, seed, hooks, data?.validation);
    },
    async score(model, samples, p, _seed, hooks) {
      await selectBackend();
      return scoreGan(def, model, samples, p, hooks);
    },
    async reconstruct(model, data, count) {
      await selectBackend();
      return reconstructGan(def, model, data, count);
    },
  };
}
