/**
 * WGAN-GP anomaly detector after Eide (2018): a Wasserstein GAN with gradient penalty trained on
 * normal spectra; scored by the generator's reconstruction cost (primary) and the critic.
 * See README.md for the paper, what is implemented and how it differs.
 */
import { selectBackend } from '../backend.js';
import type { Detector } from '../detector.js';
import { materialize } from '../../core/samples.js';
import { wganGpParams, type WganGpParams } from './params.js';
import { scoreWganGp } from './score.js';
import { trainWganGp } from './train.js';

export { wganGpParams, type WganGpParams } from './params.js';
export { trainWganGp } from './train.js';
export { scoreWganGp } from './score.js';

export const wganGp: Detector<WganGpParams> = {
  kind: 'wgan-gp',
  params: wganGpParams,
  stochastic: true,
  usesTfjs: true,
  async fit(train, params, seed, hooks) {
    // Idempotent: keeps a backend already chosen by the caller, else picks the default.
    await selectBackend();
    return trainWganGp(await materialize(train), params, seed, hooks);
  },
  async score(model, samples, params, seed, hooks) {
    await selectBackend();
    return scoreWganGp(model, await materialize(samples), params, seed, hooks);
  },
};
