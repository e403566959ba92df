/**
 * Skip-GANomaly's hyperparameters and presets (README.md gives the source of each value). Pure.
 */
import { z } from 'zod';
import { GAN_COMMON_DEFAULTS, OZGUMUS_2019, presetSchema, presetResolver, type GanCommon } from '../components/gan-params.js';

export const SKIP_GANOMALY_PRESETS = ['akcay2019', 'mammadova-m4', 'mammadova-m5', 'ozgumus-a5'] as const;
export type SkipGanomalyPreset = (typeof SKIP_GANOMALY_PRESETS)[number];

const activation = z.enum(['lrelu', 'relu', 'tanh', 'sigmoid', 'linear']);

const own = {
  /** U-Net width (pix2pix's ngf) and kernel. */
  ngf: z.number().int().min(1).max(1024),
  kernel: z.number().int().min(2).max(7),
  bnFirst: z.boolean(),
  bnInnermost: z.boolean(),
  upActivation: activation,
  outputActivation: activation,
  outputBias: z.boolean(),
  /** Discriminator: the DCGAN encoder body ('dcgan'), or Özgümüş's Table A5 (k5, all BN, Dense 1). */
  discriminator: z.enum(['dcgan', 'ozgumus-a5']),
  /** Width of the discriminator's 1×1 latent layer before its classifier (Mammadova's 100); 0: the features before the last layer serve. */
  dLatent: z.number().int().min(0).max(4096),
  wAdv: z.number().min(0),
  wCon: z.number().min(0),
  wLat: z.number().min(0),
  /** Generator's adversarial term: BCE(D(x̂), real) as in the public code, or log(1 − D(x̂)) as Mammadova's eq. 3.7 writes. */
  adversarial: z.enum(['non-saturating', 'saturating']),
  /** Add the latent loss to the discriminator's (the public code and eq. 3.8). */
  dLatentLoss: z.boolean(),
  /** Masked inpainting (Mammadova's method 5): side of the square masked in training and inference; 0: off. */
  maskSize: z.number().int().min(0),
  /** Value written into masked pixels. */
  maskFill: z.number().min(-1).max(1),
  /** Primary score: λ·rec + (1 − λ)·lat (the public code, λ = scoreLambda), or either term alone. */
  score: z.enum(['combined', 'reconstruction', 'latent']),
  scoreLambda: z.number().min(0).max(1),
};

export const skipGanomalyParams = presetSchema(own, SKIP_GANOMALY_PRESETS, 'akcay2019');
export type SkipGanomalyParams = GanCommon & { [K in keyof typeof own]: z.output<(typeof own)[K]> } & { preset: SkipGanomalyPreset };

const DEFAULTS: Omit<SkipGanomalyParams, 'preset'> = {
  ...GAN_COMMON_DEFAULTS,
  ngf: 64,
  kernel: 4,
  bnFirst: false,
  bnInnermost: false,
  upActivation: 'relu',
  outputActivation: 'tanh',
  outputBias: true,
  discriminator: 'dcgan',
  dLatent: 0,
  wAdv: 1,
  wCon: 50,
  wLat: 1,
  adversarial: 'non-saturating',
  dLatentLoss: true,
  maskSize: 0,
  maskFill: 0,
  score: 'combined',
  scoreLambda: 0.9,
};

const METHOD_4: Partial<SkipGanomalyParams> = {
  batchSize: 16,
  epochs: 300,
  bnUnbiased: false,
  dLatent: 100,
  adversarial: 'saturating',
  // The pix2pix U-Net of TensorFlow's tutorial: BN on every down layer but the first and the innermost.
};

export const SKIP_GANOMALY_PRESET_VALUES: Record<SkipGanomalyPreset, Partial<SkipGanomalyParams> & { isize: number; nc: number }> = {
  /** Akçay et al. 2019, the public code's defaults (isize 32; D re-initialised when its loss < 1e-5). */
  akcay2019: { isize: 32, nc: 3, batchSize: 64, epochs: 15, onCollapse: 'reinit' },
  /** Method 4: Skip-GANomaly at 256×256, D latent 1×1×100 feeding the encoder loss. */
  'mammadova-m4': { isize: 256, nc: 3, ...METHOD_4 },
  /** Method 5: method 4 with 128×128 squares masked in training and inference, 200 epochs. */
  'mammadova-m5': { isize: 256, nc: 3, ...METHOD_4, maskSize: 128, epochs: 200 },
  /** Özgümüş 2019, Table A5 (32×32, one channel): k5 U-Net with BN everywhere, LeakyReLU, linear output. */
  'ozgumus-a5': {
    isize: 32,
    nc: 1,
    kernel: 5,
    bnFirst: true,
    bnInnermost: true,
    upActivation: 'lrelu',
    outputActivation: 'linear',
    outputBias: false,
    discriminator: 'ozgumus-a5',
    ...OZGUMUS_2019,
  },
};

/** Defaults ← preset ← the study's values. */
export const resolveSkipGanomaly: (given: z.output<typeof skipGanomalyParams>) => SkipGanomalyParams = presetResolver<SkipGanomalyParams>(DEFAULTS, SKIP_GANOMALY_PRESET_VALUES);

export const SKIP_GANOMALY_SCORE_ONLY = ['scoreBatch'] as const;
