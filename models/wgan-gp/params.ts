/**
 * WGAN-GP hyperparameters (Eide 2018 names in brackets). Pure: no tfjs, so specs and the CLI can
 * validate a study without loading a compute backend.
 */
import { z } from 'zod';

export const wganGpParams = z
  .object({
    /** Latent size [NOISE_DIM]; Eide found 4 best. */
    noiseDim: z.number().int().min(1).max(1024).default(4),
    /** Width of each hidden layer of both MLPs. */
    hidden: z.number().int().min(1).max(4096).default(64),
    /** Hidden layers per network. */
    depth: z.number().int().min(1).max(16).default(2),
    /** Generator output: 'tanh' for data scaled to [-1, 1] as Eide did; 'linear' for anything else. */
    outputActivation: z.enum(['linear', 'tanh']).default('linear'),

    /** Samples per critic / generator step. */
    batchSize: z.number().int().min(1).max(65536).default(64),
    /** Generator iterations [ITERS]. */
    iterations: z.number().int().min(1).default(2000),
    /** Critic steps per generator step [CRITIC_ITERS]. */
    criticIters: z.number().int().min(1).max(100).default(5),
    /** Gradient-penalty weight λ [LAMBDA]. */
    gpLambda: z.number().min(0).default(10),
    /** Adam, both networks. */
    lr: z.number().positive().max(1).default(1e-3),
    beta1: z.number().min(0).lt(1).default(0.5),
    beta2: z.number().min(0).lt(1).default(0.9),
    /** Training-curve points every this many iterations (and always at the last). */
    logEvery: z.number().int().min(1).default(10),

    /** Random restarts of the z search [MINIMIZE_RUNS]. */
    scoreRestarts: z.number().int().min(1).max(1000).default(4),
    /** Momentum steps per restart [MINIMIZE_ITERATIONS]. */
    scoreIterations: z.number().int().min(1).max(100000).default(50),
    scoreLr: z.number().positive().default(0.1),
    scoreMomentum: z.number().min(0).lt(1).default(0.9),
    /** z-penalty weight as an exponent: weight 10^-noiseWeight; 100 or more turns the term off [NOISE_WEIGHT]. */
    noiseWeight: z.number().min(0).default(100),
    /** Samples scored together (the cost is separable, so this only trades memory for speed). */
    scoreBatch: z.number().int().min(1).max(65536).default(256),
  })
  .strict();

export type WganGpParams = z.infer<typeof wganGpParams>;

/** The parameters that shape training; a checkpoint written under other values must not be resumed. */
export const TRAINING_KEYS = [
  'noiseDim',
  'hidden',
  'depth',
  'outputActivation',
  'batchSize',
  'criticIters',
  'gpLambda',
  'lr',
  'beta1',
  'beta2',
] as const satisfies readonly (keyof WganGpParams)[];

/** 10^-noiseWeight, or 0 when the term is off. */
export function zPenaltyWeight(p: Pick<WganGpParams, 'noiseWeight'>): number {
  return p.noiseWeight >= 100 ? 0 : Math.pow(10, -p.noiseWeight);
}
