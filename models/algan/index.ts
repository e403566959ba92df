/**
 * ALGAN (Murase 2022, "Anomalous Latent GAN") as a gantry detector: ALGAN-image on images,
 * ALGAN-feature's dense networks on vector samples. See README.md.
 */
import { ganDetector } from '../components/gan-detector.js';
import { alganDefinition } from './model.js';
import { alganParams, resolveAlgan } from './params.js';

export { alganParams, resolveAlgan, ALGAN_PRESETS, ALGAN_PRESET_VALUES, ALGAN_SCORE_ONLY, type AlganParams } from './params.js';
export { alganNets } from './architecture.js';

export const algan = ganDetector(alganDefinition, alganParams.transform(resolveAlgan));
