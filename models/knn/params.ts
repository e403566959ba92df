/**
 * k-nearest-neighbour distance hyperparameters. Pure zod (no tfjs). `maxReference` shapes the
 * fitted model; `k` and `reduce` only shape scoring.
 */
import { z } from 'zod';

export const knnParams = z
  .object({
    /** Neighbours per query. */
    k: z.number().int().min(1).max(1000).default(5),
    /** Score = distance to the k-th nearest ('kth') or mean distance to the k nearest ('mean'). */
    reduce: z.enum(['kth', 'mean']).default('mean'),
    /** Reference-set cap: a larger training set is subsampled (without replacement) with the trial seed. */
    maxReference: z.number().int().min(1).max(10_000_000).default(20_000),
  })
  .strict();

export type KnnParams = z.infer<typeof knnParams>;

/** Parameters that only affect scoring: changing them re-scores a fitted model. */
export const KNN_SCORE_ONLY = ['k', 'reduce'] as const satisfies readonly (keyof KnnParams)[];
