/**
 * The image GAN detectors on Magnetic Tile Defects, one-class, as Murase (2022, Table 5.4) runs
 * them: whole images resized, defect-free images as normal, the per-seed split (normals
 * 50/25/25, defective images 50/50 validation/test), checkpoints chosen on the validation split,
 * image AUROC on the test split. Profile `smoke` runs GANomaly, Skip-GANomaly and ALGAN at 32×32
 * on 2 CPU cores in minutes; `full` holds the papers' settings (256×256, their epochs and
 * batches) for GPUs; `tiny` is synthetic textures, for tests.
 */
import { defineStudy } from './spec.js';

export default defineStudy({
  name: 'mtd-gans',
  description: 'GANomaly, Skip-GANomaly and ALGAN on MTD images, one-class: validation-selected checkpoints, image AUROC on the test split',
  base: {
    dataset: { kind: 'images', path: '../shared/data/mtd', layout: 'mtd', channels: 'gray' },
    filter: { minSize: 32 },
    tiling: { kind: 'resize', size: 32 },
    split: { protocol: 'murase-mtd' },
    model: { kind: 'ganomaly', preset: 'akcay2018', batchSize: 32, epochs: 8, validateEvery: 15 },
    // Precision, recall and F1 at the threshold chosen on validation, beside the threshold-free metrics.
    evaluation: { metrics: ['auc', 'logauc', 'ap', 'f1'] },
  },
  grid: [
    { name: 'ganomaly', set: {} },
    { name: 'skip-ganomaly', set: { model: { kind: 'skip-ganomaly', preset: 'akcay2019', ngf: 32, batchSize: 32, epochs: 8, validateEvery: 15 } } },
    { name: 'algan', set: { model: { kind: 'algan', preset: 'murase2022', ngf: 32, batchSize: 16, epochs: 16, validateEveryEpochs: 2 } } },
  ],
  seeds: [0],
  report: {
    paper: {
      source: 'Murase (2022), Table 5.4 (MTD, mean image AUROC over 10 runs)',
      rows: [
        { block: 'algan', metric: 'image_auc', value: 0.956 },
        { block: 'skip-ganomaly', metric: 'image_auc', value: 0.504, note: "the thesis's label is garbled; most likely Skip-GANomaly" },
      ],
    },
    protocol: [
      "Profiles smoke (32×32 grayscale, a few epochs on 2 CPU cores) and tiny (synthetic textures) are far from the papers' 256×256 images and hundreds of epochs (profile full): their numbers are not comparable with the paper's.",
      'Checkpoints are chosen on the validation split; the test split is scored once, by evaluate (the original GANomaly code selects on the test set).',
      'Scores are not min–max normalised over the test set, and BatchNorm runs in inference mode at test time.',
    ],
  },
  defaultProfile: 'smoke',
  profiles: {
    smoke: { description: '32×32 grayscale, a few epochs: the three detectors on 2 CPU cores in minutes' },
    full: {
      description: "the papers' settings for GPUs: 256×256, presets as published (GANomaly 15 epochs, ALGAN 512 with validation every 8), 10 seeds",
      set: {
        tiling: { kind: 'resize', size: 256 },
      },
      grid: [
        { name: 'ganomaly', set: { model: { kind: 'ganomaly', preset: 'akcay2018', validateEvery: 100 } } },
        { name: 'skip-ganomaly', set: { model: { kind: 'skip-ganomaly', preset: 'akcay2019', validateEvery: 100 } } },
        { name: 'algan', set: { model: { kind: 'algan', preset: 'murase2022' } } },
      ],
      seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    },
    tiny: {
      description: 'synthetic 16×16 textures and narrow networks: the same pipeline in seconds (tests)',
      set: {
        dataset: { kind: 'synthetic-textures', normals: 40, anomalies: 16, size: 32, channels: 1, seed: 3 },
        filter: {},
        tiling: { kind: 'resize', size: 16 },
      },
      grid: [
        { name: 'ganomaly', set: { model: { kind: 'ganomaly', ngf: 4, nz: 8, batchSize: 8, iterations: 12, validateEvery: 4 } } },
        { name: 'skip-ganomaly', set: { model: { kind: 'skip-ganomaly', ngf: 4, batchSize: 8, iterations: 12, validateEvery: 4 } } },
        { name: 'algan', set: { model: { kind: 'algan', ngf: 4, nz: 8, batchSize: 8, iterations: 12, validateEvery: 4 } } },
      ],
    },
  },
});
