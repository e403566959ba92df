/**
 * PCA reconstruction error as a gantry detector: fitting estimates the mean and the leading
 * principal directions of the normal samples (streamed, never materialised); the score of a
 * sample is its squared distance to that subspace. Deterministic. See README.md.
 */
import { selectBackend } from '../backend.js';
import type { Detector } from '../detector.js';
import { pcaParams, type PcaParams } from './params.js';
import { decodePcaModel, encodePcaModel, fitPca, scorePca } from './pca.js';

export { pcaParams, type PcaParams } from './params.js';
export { blockRows, decodePcaModel, encodePcaModel, fitPca, leadingEigen, scorePca, type PcaModel } from './pca.js';

export const pca: Detector<PcaParams> = {
  kind: 'pca',
  params: pcaParams,
  // The subspace iteration starts from a fixed Prng, so the seed cannot change the result.
  stochastic: false,
  usesTfjs: true,
  async fit(train, params, _seed, hooks) {
    // Idempotent: keeps a backend already chosen by the caller, else picks the default.
    await selectBackend();
    return encodePcaModel(await fitPca(train, params, hooks));
  },
  async score(model, samples, _params, _seed, hooks) {
    await selectBackend();
    return [{ name: 'pca', scores: await scorePca(decodePcaModel(model), samples, hooks) }];
  },
};
