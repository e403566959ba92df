/**
 * Reconstruction grids for the detectors that reconstruct their input (GANomaly, Skip-GANomaly):
 * a few normal and anomalous test images, the trained model's reconstruction of each, and the
 * absolute difference the reconstruction score is built from. The model and the samples come
 * from the store (the train step's model, the extract step's samples), so the grid shows what
 * the detector saw, computed again with its weights in inference mode.
 */
import sharp from 'sharp';
import { getVerified, type ArtifactStore } from '../infra/store/store.js';
import { readableRecord } from '../infra/ledger.js';
import { openSampleSet } from '../datasets/sample-set.js';
import { detectorFor } from '../models/registry.js';
import { itemSplits, recordArtifacts } from '../activities/record.js';
import { SPLIT_CODE } from '../activities/samples.js';
import type { CellData, TrialData } from './data.js';
import type { AnomalyMap } from '../evaluation/regions.js';
import { readMask } from './image-maps.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Columns of each class in the grid. */
const PER_CLASS = 4;
const TILE = 96;
const GAP = 4;

export interface ReconstructionGrid {
  inputs: Float32Array;
  outputs: Float32Array;
  /** Per-sample shape [h, w, c]. */
  shape: number[];
  labels: number[];
  /** The samples' indices in the extract step's set (the catalog's `sample`). */
  indices: number[];
}

/** The first test samples of each class of a trial, and the model's reconstructions of them; undefined where the model does not reconstruct. */
export async function trialReconstructions(store: ArtifactStore, t: TrialData): Promise<ReconstructionGrid | undefined> {
  const detector = detectorFor(t.model);
  if (!detector.reconstruct || !t.steps.train || !t.steps.extract || !t.steps.split) return undefined;
  const [train, extract, split] = await Promise.all([t.steps.train, t.steps.extract, t.steps.split].map((k) => readableRecord(store, k)));
  if (train?.status !== 'done' || extract?.status !== 'done' || split?.status !== 'done' || !train.artifacts.model) return undefined;
  const set = await openSampleSet(recordArtifacts(store, extract));
  if (set.source.shape.length !== 3 || !set.groups) return undefined;
  const codes = await itemSplits(recordArtifacts(store, split));
  const picked: Record<number, number[]> = { 0: [], 1: [] };
  for (let i = 0; i < set.labels.length && (picked[0].length < PER_CLASS || picked[1].length < PER_CLASS); i++) {
    const l = set.labels[i];
    if ((l === 0 || l === 1) && codes[set.groups[i]] === SPLIT_CODE.test && picked[l].length < PER_CLASS) picked[l].push(i);
  }
  const indices = [...picked[0], ...picked[1]];
  if (!indices.length) return undefined;
  const inputs = await set.source.gather(indices);
  const outputs = await detector.reconstruct(await getVerified(store, train.artifacts.model), inputs, indices.length);
  if (!outputs) return undefined;
  return { inputs, outputs, shape: [...set.source.shape], labels: indices.map((i) => set.labels[i]), indices };
}

/** The best cell (by the ranking order) whose model reconstructs: its first seed's grid. */
export async function bestReconstructions(store: ArtifactStore, cells: CellData[]): Promise<{ cell: CellData; trial: TrialData; grid: ReconstructionGrid } | undefined> {
  for (const cell of cells) {
    if (!detectorFor(cell.model).reconstruct) continue;
    const trial = cell.trials.find((t) => t.status === 'done');
    const grid = trial && (await trialReconstructions(store, trial));
    if (trial && grid) return { cell, trial, grid };
  }
  return undefined;
}

/**
 * Three rows — inputs, reconstructions, |input − reconstruction| — one column per sample, each
 * tile TILE pixels (nearest neighbour). Inputs and reconstructions share one grey scale (the
 * inputs' range over the grid, for display only); the differences go from black (0) to white (the
 * largest difference in the grid), averaged over channels.
 */
export async function reconstructionGridPng(g: ReconstructionGrid): Promise<Uint8Array> {
  const [h, w, c] = g.shape;
  const per = h * w * c;
  const n = g.labels.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of g.inputs) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  const span = hi > lo ? hi - lo : 1;
  let maxDiff = 0;
  for (let i = 0; i < g.inputs.length; i++) maxDiff = Math.max(maxDiff, Math.abs(g.inputs[i] - g.outputs[i]));
  const byte = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));
  const tile = async (k: number, row: number): Promise<Buffer> => {
    const px = new Uint8Array(h * w * 3);
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const src = k * per + p * c + (c === 3 ? ch : 0);
        let v: number;
        if (row === 2) {
          let d = 0;
          for (let cc = 0; cc < c; cc++) d += Math.abs(g.inputs[k * per + p * c + cc] - g.outputs[k * per + p * c + cc]);
          v = maxDiff > 0 ? d / c / maxDiff : 0;
        } else v = ((row === 0 ? g.inputs : g.outputs)[src] - lo) / span;
        px[p * 3 + ch] = byte(v);
      }
    }
    return sharp(px, { raw: { width: w, height: h, channels: 3 } }).resize({ width: TILE, height: TILE, kernel: 'nearest' }).png().toBuffer();
  };
  const composite = [];
  for (let row = 0; row < 3; row++) {
    for (let k = 0; k < n; k++) {
      // A wider gap between the normal and the anomalous columns.
      const extra = g.labels[k] === 1 && g.labels.indexOf(1) > 0 ? 3 * GAP : 0;
      composite.push({ input: await tile(k, row), left: k * (TILE + GAP) + extra, top: row * (TILE + GAP) });
    }
  }
  const width = n * (TILE + GAP) - GAP + (g.labels.includes(0) && g.labels.includes(1) ? 3 * GAP : 0);
  const png = await sharp({ create: { width, height: 3 * TILE + 2 * GAP, channels: 3, background: '#fff' } }).composite(composite).png().toBuffer();
  return new Uint8Array(png);
}

/** Test samples reconstructed per call (bounded memory). */
const BATCH = 32;

/**
 * Per-pixel maps of a reconstructing model over every test image resized whole: |x − G(x)|
 * averaged over channels, against the image's mask resized the same way (size × size, nearest).
 * Anomalous images without a mask file are left out; normal ones have an empty mask.
 */
export async function reconstructionMaps(store: ArtifactStore, t: TrialData, root: string, masks: Map<string, string | undefined>, rels: string[]): Promise<AnomalyMap[] | undefined> {
  const detector = detectorFor(t.model);
  if (!detector.reconstruct || !t.resized || !t.steps.train || !t.steps.extract || !t.steps.split) return undefined;
  const [train, extract, split] = await Promise.all([t.steps.train, t.steps.extract, t.steps.split].map((k) => readableRecord(store, k)));
  if (train?.status !== 'done' || extract?.status !== 'done' || split?.status !== 'done' || !train.artifacts.model) return undefined;
  const set = await openSampleSet(recordArtifacts(store, extract));
  const [h, w, c] = set.source.shape;
  if (set.source.shape.length !== 3 || !set.groups) return undefined;
  const codes = await itemSplits(recordArtifacts(store, split));
  const model = await getVerified(store, train.artifacts.model);
  const chosen: number[] = [];
  for (let i = 0; i < set.labels.length; i++) {
    if (codes[set.groups[i]] !== SPLIT_CODE.test || set.labels[i] > 1) continue;
    const maskRel = masks.get(rels[set.groups[i]]);
    if (set.labels[i] === 1 && !(maskRel && existsSync(join(root, maskRel)))) continue;
    chosen.push(i);
  }
  const maps: AnomalyMap[] = [];
  for (let b = 0; b < chosen.length; b += BATCH) {
    const idx = chosen.slice(b, b + BATCH);
    const x = await set.source.gather(idx);
    const y = await detector.reconstruct(model, x, idx.length);
    if (!y) return undefined;
    for (let k = 0; k < idx.length; k++) {
      const scores = new Float64Array(h * w);
      for (let p = 0; p < h * w; p++) {
        let d = 0;
        for (let ch = 0; ch < c; ch++) d += Math.abs(x[(k * h * w + p) * c + ch] - y[(k * h * w + p) * c + ch]);
        scores[p] = d / c;
      }
      const i = idx[k];
      const maskRel = set.labels[i] === 1 ? masks.get(rels[set.groups[i]]) : undefined;
      maps.push({ width: w, height: h, scores, mask: await readMask(maskRel && join(root, maskRel), w, h) });
    }
  }
  return maps;
}
