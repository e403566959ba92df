/**
 * The hyperparameter schemas of every detector, keyed by `model.kind`: the one list a study spec
 * validates against. Pure zod (no tfjs), so specs and workflows can import it.
 */
import { z } from 'zod';
import { wganGpParams } from './wgan-gp/params.js';
import { pcaParams } from './pca/params.js';
import { knnParams, KNN_SCORE_ONLY } from './knn/params.js';
import { ganomalyParams, GANOMALY_SCORE_ONLY } from './ganomaly/params.js';
import { skipGanomalyParams, SKIP_GANOMALY_SCORE_ONLY } from './skip-ganomaly/params.js';
import { alganParams, ALGAN_SCORE_ONLY } from './algan/params.js';

export const rxParams = z.object({ kind: z.literal('rx') }).strict();

export const modelSpec = z.discriminatedUnion('kind', [
  rxParams,
  wganGpParams.extend({ kind: z.literal('wgan-gp') }).strict(),
  pcaParams.extend({ kind: z.literal('pca') }).strict(),
  knnParams.extend({ kind: z.literal('knn') }).strict(),
  ganomalyParams.extend({ kind: z.literal('ganomaly') }).strict(),
  skipGanomalyParams.extend({ kind: z.literal('skip-ganomaly') }).strict(),
  alganParams.extend({ kind: z.literal('algan') }).strict(),
]);
export type ModelSpec = z.output<typeof modelSpec>;

/** Whether a model's result depends on the seed. */
const STOCHASTIC: Record<ModelSpec['kind'], boolean> = { rx: false, 'wgan-gp': true, pca: false, knn: true, ganomaly: true, 'skip-ganomaly': true, algan: true };

/** Parameters that only affect scoring: changing them re-scores a trained model instead of retraining it. */
const SCORE_ONLY: Record<ModelSpec['kind'], readonly string[]> = {
  rx: [],
  'wgan-gp': ['scoreRestarts', 'scoreIterations', 'scoreLr', 'scoreMomentum', 'noiseWeight', 'scoreBatch'],
  pca: [],
  knn: KNN_SCORE_ONLY,
  ganomaly: GANOMALY_SCORE_ONLY,
  'skip-ganomaly': SKIP_GANOMALY_SCORE_ONLY,
  algan: ALGAN_SCORE_ONLY,
};

export function modelIsStochastic(kind: string): boolean {
  return STOCHASTIC[kind as ModelSpec['kind']] ?? true;
}

/** Split a model's parameters into those that shape training and those that only shape scoring. */
export function splitModelParams(model: ModelSpec): { train: Record<string, unknown>; score: Record<string, unknown> } {
  const scoreOnly = new Set(SCORE_ONLY[model.kind]);
  const train: Record<string, unknown> = {};
  const score: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(model)) (scoreOnly.has(k) ? score : train)[k] = v;
  return { train, score };
}

/** Models whose networks halve images down to 4×4 (square, power-of-two sides). */
export const CONV_IMAGE_MODELS = ['ganomaly', 'skip-ganomaly', 'algan'] as const;
