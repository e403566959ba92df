/**
 * GANomaly's hyperparameters and presets (see README.md for the sources of each value). Pure:
 * no tfjs, so specs, `gantry models summary` and the tests use it without a compute backend.
 */
import { z } from 'zod';
import { GAN_COMMON_DEFAULTS, OZGUMUS_2019, presetSchema, presetResolver, type GanCommon } from '../components/gan-params.js';

export const GANOMALY_PRESETS = ['akcay2018', 'mammadova-m1', 'mammadova-m2', 'mammadova-m3', 'ozgumus-a4'] as const;
export type GanomalyPreset = (typeof GANOMALY_PRESETS)[number];

const own = {
  /** 'dcgan': the public code's encoder/decoder rule; 'ozgumus-a4': Özgümüş's Table A4 (dense latent). */
  architecture: z.enum(['dcgan', 'ozgumus-a4']),
  /** Latent size. */
  nz: z.number().int().min(1).max(4096),
  /** Width of the first layer (ngf = ndf). */
  ngf: z.number().int().min(1).max(1024),
  maxChannels: z.number().int().min(0).max(8192),
  /** Kernel of the stride-2 layers, and of the decoder's last layer. */
  kernel: z.number().int().min(2).max(7),
  finalKernel: z.number().int().min(2).max(7),
  extraLayers: z.number().int().min(0).max(4),
  /** Loss weights (eq. 3.1). */
  wAdv: z.number().min(0),
  wCon: z.number().min(0),
  wEnc: z.number().min(0),
  /** Contextual loss: L1 (eq. 3.3) or L2 (what Mammadova's §4.2 says was used). */
  contextual: z.enum(['l1', 'l2']),
  /** Adversarial loss: feature matching (eq. 3.2), or plus log(1 − D(G(x))) (Mammadova's eq. 3.6). */
  adversarial: z.enum(['feature-matching', 'feature-matching+gan']),
  /** The primary score: ‖z − ẑ‖² mean (the public code), its L1 form (Özgümüş's eq. 2.95), or ‖x − x̂‖₁. */
  score: z.enum(['latent', 'latent-l1', 'reconstruction']),
};

export const ganomalyParams = presetSchema(own, GANOMALY_PRESETS, 'akcay2018');
export type GanomalyParams = GanCommon & { [K in keyof typeof own]: z.output<(typeof own)[K]> } & { preset: GanomalyPreset };

const DEFAULTS: Omit<GanomalyParams, 'preset'> = {
  ...GAN_COMMON_DEFAULTS,
  architecture: 'dcgan',
  nz: 100,
  ngf: 64,
  maxChannels: 0,
  kernel: 4,
  finalKernel: 4,
  extraLayers: 0,
  wAdv: 1,
  wCon: 50,
  wEnc: 1,
  contextual: 'l1',
  adversarial: 'feature-matching',
  score: 'latent',
};

/** Mammadova's Keras settings shared by methods 1–3 (BatchNorm ε 1e-5, momentum 0.1 read as PyTorch's: Keras 0.9). */
const MAMMADOVA: Partial<GanomalyParams> = { batchSize: 16, epochs: 300, bnUnbiased: false, onCollapse: 'continue' };
const METHOD_2: Partial<GanomalyParams> = {
  ...MAMMADOVA,
  nz: 512,
  maxChannels: 512,
  kernel: 5,
  finalKernel: 4,
  realLabel: [0.9, 1],
  fakeLabel: [0, 0.1],
  labelFlip: 0.05,
  dInputNoise: 0.1,
  lrD: 0.0008,
  lrG: 0.0002,
  adversarial: 'feature-matching+gan',
};

export const GANOMALY_PRESET_VALUES: Record<GanomalyPreset, Partial<GanomalyParams> & { isize: number; nc: number }> = {
  /** Akçay et al. 2018, the public code's defaults (isize 32; D re-initialised when its loss < 1e-5). */
  akcay2018: { isize: 32, nc: 3, batchSize: 64, epochs: 15, onCollapse: 'reinit' },
  /** Method 1: the original GANomaly at 256×256 (7 blocks, kernel 4, latent 100). */
  'mammadova-m1': { isize: 256, nc: 3, ...MAMMADOVA },
  /** Method 2: kernel 5, latent 512, 4×4×512 body, soft and flipped labels, D input noise, TTUR, eq. 3.6. */
  'mammadova-m2': { isize: 256, nc: 3, ...METHOD_2 },
  /** Method 3: method 2 plus spectral normalisation of D's kernels. */
  'mammadova-m3': { isize: 256, nc: 3, ...METHOD_2, spectralNorm: true },
  /** Özgümüş 2019, Table A4 (32×32 SEM patches, one channel; LeakyReLU throughout, BN momentum 0.8). */
  'ozgumus-a4': {
    isize: 32,
    nc: 1,
    architecture: 'ozgumus-a4',
    nz: 256,
    ...OZGUMUS_2019,
    score: 'latent-l1',
  },
};

/** Defaults ← preset ← the study's values. */
export const resolveGanomaly: (given: z.output<typeof ganomalyParams>) => GanomalyParams = presetResolver<GanomalyParams>(DEFAULTS, GANOMALY_PRESET_VALUES);

/** Keys that only affect scoring. `score` is not one: validation selects on the primary score. */
export const GANOMALY_SCORE_ONLY = ['scoreBatch'] as const;
