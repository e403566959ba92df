/**
 * The settings every image GAN detector shares — schedule, optimisers, stabilisation tricks,
 * divergence guard, model selection — and presets: a model's parameters are its defaults, then
 * the named preset's values, then what the study gives, in that order. Pure zod (no tfjs).
 */
import { z } from 'zod';

const range = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).refine(([lo, hi]) => lo <= hi, 'the range must be [lo, hi] with lo ≤ hi');

/** Fields shared by GANomaly, Skip-GANomaly and ALGAN (all optional: presets and defaults fill them). */
export const ganCommonShape = {
  /** Samples per step. */
  batchSize: z.number().int().min(1).max(4096),
  /** Passes over the training samples; `iterations`, when given, wins. */
  epochs: z.number().int().min(1),
  /** Generator updates in all (overrides epochs). */
  iterations: z.number().int().min(1),
  /** Adam learning rates of the generator and the discriminator (TTUR when they differ). */
  lrG: z.number().positive().max(1),
  lrD: z.number().positive().max(1),
  beta1: z.number().min(0).lt(1),
  beta2: z.number().min(0).lt(1),
  /** Discriminator updates per generator update. */
  nDis: z.number().int().min(1).max(20),
  /** σ of Gaussian noise added to every discriminator input in training (0: off). */
  dInputNoise: z.number().min(0),
  /** Iterations over which that σ decays linearly to 0 (0: constant). */
  dInputNoiseDecay: z.number().int().min(0),
  /** Discriminator targets drawn from U[lo, hi] (soft labels when lo < hi). */
  realLabel: range,
  fakeLabel: range,
  /** Fraction of discriminator targets flipped to the other class. */
  labelFlip: z.number().min(0).max(0.5),
  /** Spectral normalisation of the discriminator's kernels (one power iteration per step). */
  spectralNorm: z.boolean(),
  /** λ of a gradient penalty on D, λ·E[(‖∇D(x̃)‖ − 1)²] at random interpolates x̃ of real and fake samples (Gulrajani 2017); 0: off. */
  gradientPenalty: z.number().min(0),
  /** BatchNorm ε, momentum (Keras meaning: weight on the old average) and variance estimate. */
  bnEpsilon: z.number().positive(),
  bnMomentum: z.number().min(0).lt(1),
  bnUnbiased: z.boolean(),
  /** σ of the N(0, σ) initial kernels. */
  initStd: z.number().positive(),
  /** When the discriminator's loss falls below collapseThreshold: re-initialise it, stop the trial, or go on. */
  onCollapse: z.enum(['reinit', 'stop', 'continue']),
  collapseThreshold: z.number().min(0),
  /** Validate (score the validation split) every this many iterations, and at the end. */
  validateEvery: z.number().int().min(1),
  /** Or every this many epochs, when above 0 (ALGAN validates every 8). */
  validateEveryEpochs: z.number().int().min(0),
  /**
   * Which weights become the model: 'auto' = best validation AUROC where validation holds both
   * classes, else the lowest mean validation score of normal samples, else the last iteration.
   */
  select: z.enum(['auto', 'val-auc', 'val-loss', 'last']),
  logEvery: z.number().int().min(1),
  /** Samples scored together. */
  scoreBatch: z.number().int().min(1).max(65536),
};

export type GanCommon = { [K in keyof typeof ganCommonShape]: z.output<(typeof ganCommonShape)[K]> };

export const GAN_COMMON_DEFAULTS: GanCommon = {
  batchSize: 64,
  epochs: 15,
  iterations: 0 as unknown as number, // 0: from epochs (never a valid user value)
  lrG: 2e-4,
  lrD: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  nDis: 1,
  dInputNoise: 0,
  dInputNoiseDecay: 0,
  realLabel: [1, 1],
  fakeLabel: [0, 0],
  labelFlip: 0,
  spectralNorm: false,
  gradientPenalty: 0,
  bnEpsilon: 1e-5,
  bnMomentum: 0.9,
  bnUnbiased: true,
  initStd: 0.02,
  onCollapse: 'continue',
  collapseThreshold: 1e-5,
  validateEvery: 100,
  validateEveryEpochs: 0,
  select: 'auto',
  logEvery: 10,
  scoreBatch: 64,
};

/** Özgümüş 2019's settings shared by his Tables A4 and A5 (GANomaly, Skip-GANomaly): lr G 5e-5 / D 1e-6, and the common batch 64, 50 epochs, BN momentum 0.8 (Adam 0.5/0.999 is the default). */
export const OZGUMUS_2019: Partial<GanCommon> = { lrG: 5e-5, lrD: 1e-6, batchSize: 64, epochs: 50, bnMomentum: 0.8, bnUnbiased: false };

/** Score-only settings are listed per model; these never change training. */
export const GAN_SCORE_ONLY = ['scoreBatch'] as const;

/**
 * A model's parameter schema: `preset` plus every field optional, strict (a typo is an error).
 * `resolve` fills what is missing: defaults ← preset ← given.
 */
export function presetSchema(shape: z.ZodRawShape, presets: readonly [string, ...string[]], defaultPreset: string) {
  const optional = Object.fromEntries(Object.entries({ ...ganCommonShape, ...shape }).map(([k, v]) => [k, (v as z.ZodTypeAny).optional()]));
  return z.object({ preset: z.enum(presets as [string, ...string[]]).default(defaultPreset), ...optional }).strict();
}

/**
 * The resolver of a model's parameters: defaults ← the preset named in `given` ← `given`. The
 * preset table also holds each preset's published input (isize, nc), which is not a parameter.
 */
export function presetResolver<T extends { preset: string }>(defaults: Omit<T, 'preset'>, presets: Record<string, Partial<T> & { isize: number; nc: number }>) {
  return (given: { preset: string }): T => {
    const { isize: _i, nc: _n, ...preset } = presets[given.preset];
    return resolvePreset({ ...defaults, preset: given.preset } as T, preset as unknown as Partial<T>, given);
  };
}

function resolvePreset<T extends object>(defaults: T, preset: Partial<T>, given: object): T {
  const out: Record<string, unknown> = { ...defaults, ...preset };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
  // A validation interval the study gives in iterations wins over a preset's in epochs.
  const g = given as Record<string, unknown>;
  if (g.validateEvery !== undefined && g.validateEveryEpochs === undefined) out.validateEveryEpochs = 0;
  return out as T;
}

/** Generator iterations of a training: `iterations` if given, else epochs × whole batches per epoch. */
export function totalIterations(p: Pick<GanCommon, 'iterations' | 'epochs' | 'batchSize'>, n: number): number {
  if (p.iterations > 0) return p.iterations;
  return p.epochs * Math.max(1, Math.floor(n / p.batchSize));
}
