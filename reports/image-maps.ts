/**
 * Anomaly maps over images from patch scores (patch studies): each pixel takes the highest score
 * of the patches covering it, beside the image's ground-truth mask. They feed the report's figure
 * of maps and its pixel-level metrics (pixel AUROC, AUPRO), which is how patch-based detectors
 * (ALAD and the others of Özgümüş 2019) are localised.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { AnomalyMap } from '../evaluation/regions.js';
import type { ItemPatches, TrialData } from './data.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { readableRecord } from '../infra/ledger.js';
import { recordArtifacts, screenedItems } from '../activities/record.js';

/** Pixel metrics are computed on maps at most this many pixels on the long side (nearest neighbour): a cost bound. */
export const METRIC_SIDE = 128;

/** The highest score of the patches (side `size`, corners y, x in image pixels) covering each pixel of a w×h grid scaled by `scale`. */
export function paintPatchMap(patches: ItemPatches['patches'], size: number, w: number, h: number, scale = 1): Float64Array {
  const heat = new Float64Array(w * h).fill(-Infinity);
  for (const p of patches) {
    const y1 = Math.min(h, Math.ceil((p.y + size) * scale));
    const x1 = Math.min(w, Math.ceil((p.x + size) * scale));
    for (let y = Math.floor(p.y * scale); y < y1; y++) for (let x = Math.floor(p.x * scale); x < x1; x++) if (p.value > heat[y * w + x]) heat[y * w + x] = p.value;
  }
  return heat;
}

/** A mask file as 0/1 pixels on a w×h grid (nearest neighbour); all zeros without one. */
export async function readMask(path: string | undefined, w: number, h: number): Promise<Uint8Array> {
  if (!path) return new Uint8Array(w * h);
  const raw = await sharp(path).grayscale().resize({ width: w, height: h, fit: 'fill', kernel: 'nearest' }).raw().toBuffer();
  return Uint8Array.from(raw, (v) => (v > 0 ? 1 : 0));
}

/**
 * Every test image's map at METRIC_SIDE resolution with its mask, for pixel AUROC and AUPRO.
 * Pixels no patch covers (a border narrower than the stride) have no score: they get one below
 * every covered pixel's and count as normal. Anomalous images without a mask file are left out
 * (their defect pixels are unknown).
 */
export async function metricMaps(items: ItemPatches[], root: string, masks: Map<string, string | undefined>, size: number): Promise<AnomalyMap[]> {
  const maps: AnomalyMap[] = [];
  for (const it of items) {
    const maskRel = masks.get(it.rel);
    if (it.anomalous && !(maskRel && existsSync(join(root, maskRel)))) continue;
    const { width = 0, height = 0 } = await sharp(join(root, it.rel)).metadata();
    const scale = Math.min(1, METRIC_SIDE / Math.max(width, height));
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    const scores = paintPatchMap(it.patches, size, w, h, scale);
    const mask = await readMask(it.anomalous ? join(root, maskRel!) : undefined, w, h);
    let lowest = Infinity;
    for (const v of scores) if (v > -Infinity && v < lowest) lowest = v;
    for (let i = 0; i < scores.length; i++) if (scores[i] === -Infinity) (scores[i] = lowest - 1), (mask[i] = 0);
    maps.push({ width: w, height: h, scores, mask });
  }
  return maps;
}

/** Where an image trial's files are: the dataset root, each screened item's rel (by item index) and mask, or why they cannot be read. */
export async function imageFiles(store: ArtifactStore, t: TrialData, datasetPath: string, dataRoot: string): Promise<{ root: string; rels: string[]; masks: Map<string, string | undefined> } | string> {
  const root = resolve(dataRoot, datasetPath);
  const screen = t.steps.screen ? await readableRecord(store, t.steps.screen) : undefined;
  const items = screen ? (await screenedItems(recordArtifacts(store, screen))).items : [];
  if (!items.length || !existsSync(join(root, items[0].rel))) return `the dataset's files are not at ${root} (pass the study file with --spec, or run the report where the study ran)`;
  return { root, rels: items.map((i) => i.rel), masks: new Map(items.map((i) => [i.rel, i.mask])) };
}
