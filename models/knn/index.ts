/**
 * k-nearest-neighbour distance as a gantry detector: the fitted model is the reference set itself
 * (the training set, capped at `maxReference` items drawn with the trial seed); the score is the
 * exact distance to the k nearest reference samples. See README.md.
 */
import { selectBackend } from '../backend.js';
import type { Detector } from '../detector.js';
import { knnParams, type KnnParams } from './params.js';
import { decodeKnnModel, encodeKnnModel, fitKnn, scoreKnn } from './knn.js';

export { knnParams, KNN_SCORE_ONLY, type KnnParams } from './params.js';
export { CANDIDATE_SLACK, decodeKnnModel, encodeKnnModel, fitKnn, sampleIndices, scoreKnn, type KnnModel } from './knn.js';

export const knn: Detector<KnnParams> = {
  kind: 'knn',
  params: knnParams,
  // The seed picks the reference subsample, so it matters only when the training set exceeds
  // maxReference; below the cap every seed gives the same model.
  stochastic: true,
  usesTfjs: true,
  async fit(train, params, seed, hooks) {
    // Idempotent: keeps a backend already chosen by the caller, else picks the default.
    await selectBackend();
    return encodeKnnModel(await fitKnn(train, params, seed, hooks));
  },
  async score(model, samples, params, _seed, hooks) {
    await selectBackend();
    return [{ name: 'knn', scores: await scoreKnn(decodeKnnModel(model), samples, params, hooks) }];
  },
};
