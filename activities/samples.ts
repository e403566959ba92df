/**
 * How steps read a trial's samples: the tiling step's sample set, and which of its items each
 * split holds. Item datasets (images, patches) have a `split` step whose assignment is per
 * source item, so every patch of a test image is a test patch; the pixel tiler of hyperspectral
 * cubes carries its own training index (Eide's protocol: train on background pixels, score all).
 */
import { UserError } from '../core/errors.js';
import { decodeNd } from '../datasets/tensor-file.js';
import { LABEL, openSampleSet, type SampleSet } from '../datasets/sample-set.js';
import { subsetSource, type SampleSource } from '../core/samples.js';
import type { LabelledSource } from '../models/detector.js';
import type { StepContext } from './context.js';

/** Split codes stored per source item by the split step. */
export const SPLIT_CODE = { train: 0, val: 1, test: 2, unused: 3 } as const;
export type SplitCode = (typeof SPLIT_CODE)[keyof typeof SPLIT_CODE];
/** Split names by code (the catalog's `scores.split`; NULL for unused). */
export const SPLIT_NAMES = ['train', 'val', 'test', null] as const;

export async function tiledSamples(ctx: StepContext): Promise<SampleSet> {
  return openSampleSet(await ctx.input('tiles'));
}

/** Each sample's split, from its source item's; undefined when the trial has no split step. */
export async function sampleSplits(ctx: StepContext, set: SampleSet): Promise<Uint8Array | undefined> {
  if (!ctx.hasInput('split')) return undefined;
  const split = await ctx.input('split');
  return perSampleSplits(set, decodeNd(await split.read('assignment'), 'split assignment').data as Uint8Array);
}

/** Each sample's split code, given each item's (the split step's assignment). */
export function perSampleSplits(set: Pick<SampleSet, 'labels' | 'groups'>, perItem: Uint8Array): Uint8Array {
  if (!set.groups) throw new Error('a split needs a sample set that records each sample\'s source item');
  const out = new Uint8Array(set.labels.length);
  for (let i = 0; i < out.length; i++) {
    const g = set.groups[i];
    if (g < 0 || g >= perItem.length) throw new Error(`sample ${i} comes from item ${g}, the split has ${perItem.length} items`);
    out[i] = perItem[g];
  }
  return out;
}

/**
 * Why the test samples cannot be evaluated, or undefined: AUROC ranks anomalous samples against
 * normal ones, so the test split needs both. The split step checks this per item; a patch study
 * can still have anomalous test items none of whose patches is anomalous (all the anomalous
 * patches in validation items), which only the samples' labels show. Counts labels only.
 */
export function testSetProblem(labels: Uint8Array, splits: Uint8Array): string | undefined {
  let normal = 0;
  let anomalous = 0;
  for (let i = 0; i < labels.length; i++) {
    if (splits[i] !== SPLIT_CODE.test) continue;
    if (labels[i] === LABEL.normal) normal++;
    else if (labels[i] === LABEL.anomalous) anomalous++;
  }
  if (normal && anomalous) return undefined;
  return `the test split holds ${normal} normal and ${anomalous} anomalous samples: AUROC needs both${anomalous ? '' : ' (its anomalous items have no sample labelled anomalous: lower tiling.threshold, or split otherwise)'}`;
}

/** Indices of the samples of one split (per source item) that `keep` accepts by label. */
function inSplit(splits: Uint8Array, labels: Uint8Array, code: SplitCode, keep: (label: number) => boolean): Int32Array {
  const picked: number[] = [];
  for (let i = 0; i < splits.length; i++) if (splits[i] === code && keep(labels[i])) picked.push(i);
  return Int32Array.from(picked);
}

/**
 * What training reads: the training samples (normal samples of the training split, or the pixel
 * tiler's index) and the validation samples with their classes (ambiguous ones left out), for
 * model selection — the split step's validation items, or the pixel tiler's held-out pixels;
 * undefined when the trial has none. The test split is never read here.
 */
export async function trainingSamples(ctx: StepContext): Promise<{ source: SampleSource; index: Int32Array; validation?: LabelledSource }> {
  const tiles = await ctx.input('tiles');
  const set = await openSampleSet(tiles);
  const splits = await sampleSplits(ctx, set);
  // Evaluation could not rank the test samples: fail now, as bad input, not after training. The test
  // split's labels are counted; none of its samples is read.
  const problem = splits && testSetProblem(set.labels, splits);
  if (problem) throw new UserError(problem);
  const index = splits
    ? inSplit(splits, set.labels, SPLIT_CODE.train, (l) => l === LABEL.normal)
    : (decodeNd(await tiles.read('train-index'), 'train-index').data as Int32Array);
  let val: Int32Array | undefined;
  if (splits) val = inSplit(splits, set.labels, SPLIT_CODE.val, (l) => l !== LABEL.ambiguous);
  else if (typeof tiles.output.validation === 'number') val = decodeNd(await tiles.read('val-index'), 'val-index').data as Int32Array;
  const validation = val?.length ? { source: subsetSource(set.source, val), labels: Uint8Array.from(val, (i) => set.labels[i]) } : undefined;
  return { source: subsetSource(set.source, index), index, ...(validation ? { validation } : {}) };
}
