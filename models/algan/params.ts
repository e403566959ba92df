/**
 * ALGAN's hyperparameters and presets (Murase 2022; README.md gives the source of each value). Pure.
 */
import { z } from 'zod';
import { GAN_COMMON_DEFAULTS, presetSchema, presetResolver, type GanCommon } from '../components/gan-params.js';

export const ALGAN_PRESETS = ['murase2022'] as const;
export type AlganPreset = (typeof ALGAN_PRESETS)[number];

const own = {
  /** Latent size. */
  nz: z.number().int().min(1).max(4096),
  /** Width of the DCGAN networks' first layer (images), or of the hidden dense layers (vectors). */
  ngf: z.number().int().min(1).max(4096),
  /** σ of the anomalous latents N(0, σ²I) (σ > 1). */
  sigma: z.number().gt(1),
  /** α: the fraction of fake-normal among the discriminator's fakes (and its loss weight). */
  alpha: z.number().min(0).max(1),
  /** ξ: the weight of freshly generated fakes against buffered ones. */
  xi: z.number().min(0).max(1),
  /** Resample the latents every n_z epochs (Algorithm 1). */
  nZ: z.number().int().min(1),
  /** Buffer of past fakes: this many batches' worth… */
  bufferBatches: z.number().int().min(1).max(64),
  /** …of which this fraction is replaced by the newest fakes after each discriminator update. */
  bufferReplace: z.number().gt(0).max(1),
  /**
   * Table 5.14's latent schemes: (a) 'gauss' N(0, 1) / N(0, σ²); (b) 'gauss-trunc', anomalous
   * values with |v| < truncation redrawn; (c) 'uniform-trunc' U(−1, 1) / U(−2, 2) without (−1, 1).
   */
  latentScheme: z.enum(['gauss', 'gauss-trunc', 'uniform-trunc']),
  truncation: z.number().positive(),
  /** Ablations of Table 5.8: without the buffer (ξ = 1), without fake-anomalous data (α = 1). */
  useBuffer: z.boolean(),
  useAnomalous: z.boolean(),
  /** Generator loss: −log D(G(z)) (non-saturating), or log(1 − D(G(z))) as eq. 4.2 writes it. */
  generatorLoss: z.enum(['non-saturating', 'saturating']),
  /** BatchNorm in the discriminator too (the thesis: spectral normalisation only). */
  dBatchNorm: z.boolean(),
};

export const alganParams = presetSchema(own, ALGAN_PRESETS, 'murase2022');
export type AlganParams = GanCommon & { [K in keyof typeof own]: z.output<(typeof own)[K]> } & { preset: AlganPreset };

const DEFAULTS: Omit<AlganParams, 'preset'> = {
  ...GAN_COMMON_DEFAULTS,
  nz: 100,
  ngf: 64,
  sigma: 4,
  alpha: 0.75,
  xi: 0.75,
  nZ: 2,
  bufferBatches: 2,
  bufferReplace: 0.5,
  latentScheme: 'gauss',
  truncation: 2,
  useBuffer: true,
  useAnomalous: true,
  generatorLoss: 'non-saturating',
  dBatchNorm: false,
};

export const ALGAN_PRESET_VALUES: Record<AlganPreset, Partial<AlganParams> & { isize: number; nc: number }> = {
  /** Murase 2022, §5.1.1: Adam (0, 0.9), lr G 2e-4 / D 1e-4, batch 16, 512 epochs, SN on D, validation every 8 epochs. */
  murase2022: {
    isize: 256,
    nc: 3,
    batchSize: 16,
    epochs: 512,
    lrG: 2e-4,
    lrD: 1e-4,
    beta1: 0,
    beta2: 0.9,
    nDis: 2,
    spectralNorm: true,
    validateEveryEpochs: 8,
  },
};

/** Defaults ← preset ← the study's values. */
export const resolveAlgan: (given: z.output<typeof alganParams>) => AlganParams = presetResolver<AlganParams>(DEFAULTS, ALGAN_PRESET_VALUES);

export const ALGAN_SCORE_ONLY = ['scoreBatch'] as const;
