/**
 * The quickstart study: a few minutes on 2 CPU cores, no network. A synthetic hyperspectral scene
 * with implanted anomalies → band filter → pixel spectra → the global RX baseline and a small
 * WGAN-GP detector (Eide 2018's method, MLP networks) over noise dim × hidden width × 2 seeds →
 * ROC AUC and logAUC. Profile `real` runs it on the San Diego airport scene (AVIRIS, 189 bands).
 */
import { defineStudy } from './spec.js';

export default defineStudy({
  name: 'quickstart',
  description: 'Global RX vs a small WGAN-GP (Eide 2018) on hyperspectral pixels, over latent size x width x 2 seeds',
  base: {
    dataset: { kind: 'synthetic-hsi', rows: 48, cols: 48, bands: 24, endmembers: 4, anomalies: 10, anomalySize: 3, noise: 0.01, seed: 7 },
    filter: { bands: { start: 0, step: 1 }, normalize: 'minmax' },
    tiling: { kind: 'pixel' },
    split: { train: 'background', maxTrain: 0 },
    model: { kind: 'wgan-gp', outputActivation: 'tanh', iterations: 1000, batchSize: 64, criticIters: 3, scoreRestarts: 4, scoreIterations: 50, logEvery: 10 },
  },
  grid: [
    // Global RX: the scene's own mean and covariance, over every pixel (the classic baseline).
    { name: 'baseline', set: { model: { kind: 'rx' }, 'split.train': 'all' } },
    { name: 'gan', cartesian: { 'model.noiseDim': [2, 4], 'model.hidden': [32, 64] } },
  ],
  seeds: [0, 1],
  report: {
    protocol: [
      "A synthetic 48×48×24 scene with ten implanted anomalies, not one of Eide's (2018) AVIRIS scenes (profile real runs the San Diego airport scene); Eide's networks are residual, these are MLPs.",
      'RX is fitted on every pixel, while the GAN trains on background pixels chosen with the ground truth: the two see different label information.',
      "Metrics count every labelled pixel (there is no split), as Eide's protocol has it; logAUC is his semi-log area with a floor of half a false positive.",
    ],
  },
  defaultProfile: 'smoke',
  profiles: {
    smoke: { description: 'the quickstart: minutes on a laptop' },
    full: {
      description: "closer to Eide's settings: 5 critic steps, longer training, 16 restarts x 100 iterations (his 0.98-AUC setting)",
      set: { 'model.iterations': 5000, 'model.criticIters': 5, 'model.scoreRestarts': 16, 'model.scoreIterations': 100 },
      seeds: [0, 1, 2],
    },
    real: {
      description: 'the San Diego airport scene (AVIRIS, 100x100x189, 134 anomalous pixels); any other cube with --set dataset.path=<file.mat>',
      set: { dataset: { kind: 'mat', path: '../shared/data/hsi/sandiego_plane.mat', variable: 'data', labels: 'map' }, 'model.iterations': 400 },
    },
  },
});
