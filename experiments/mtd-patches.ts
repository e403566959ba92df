/**
 * Patch-level anomaly detection on Magnetic Tile Defects, with classical baselines: the data
 * side of the image studies end to end. MTD images → screening (undecodable, too small) →
 * 32×32 patches every 16 pixels, anomalous when any mask pixel is (Özgümüş 2019's patching) →
 * Murase's per-seed split (normals 50/25/25, anomalies 50/50 validation/test) → PCA
 * reconstruction error and k-nearest-neighbour distance → AUROC per patch and per image (an
 * image's score is its highest patch score) on the test split. Profile `smoke` runs the same
 * pipeline on synthetic textures in seconds.
 */
import { defineStudy } from './spec.js';

export default defineStudy({
  name: 'mtd-patches',
  description: 'PCA and kNN baselines on 32x32 MTD patches (stride 16): patch- and image-level AUROC over a seeded 50/25/25 split',
  base: {
    dataset: { kind: 'images', path: '../shared/data/mtd', layout: 'mtd', channels: 'gray' },
    filter: { minSize: 32 },
    tiling: { kind: 'patches', size: 32, stride: 16, threshold: 0 },
    split: { protocol: 'murase-mtd' },
    model: { kind: 'pca', components: 16 },
  },
  grid: [
    { name: 'pca', cartesian: { 'model.components': [8, 32] } },
    { name: 'knn', set: { model: { kind: 'knn', k: 5, maxReference: 10000 } } },
  ],
  seeds: [0, 1],
  defaultProfile: 'real',
  profiles: {
    real: { description: 'the Magnetic Tile Defects images in ../shared/data/mtd (any MTD checkout with --set dataset.path=<folder>)' },
    smoke: {
      description: 'synthetic 64x64 textures with implanted defects: the same pipeline in seconds',
      set: { dataset: { kind: 'synthetic-textures', normals: 48, anomalies: 24, size: 64, channels: 1, seed: 3 }, filter: {} },
    },
  },
});
