/**
 * How steps read a trial's samples: the tiling step's sample set, and which of its items each
 * split holds. Item datasets (images, patches) have a `split` step whose assignment is per
 * source item, so every patch of a test image is a test patch; the pixel tiler of hyperspectral
 * cubes carries its own training index (Eide's protocol: train on background pixels, score all).
 */
import { decodeNd } from '../datasets/tensor-file.js';
import { LABEL, openSampleSet, type SampleSet } from '../datasets/sample-set.js';
import { subsetSource, type SampleSource } from '../core/samples.js';
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
  const perItem = decodeNd(await split.read('assignment'), 'split assignment').data as Uint8Array;
  if (!set.groups) throw new Error('a split needs a sample set that records each sample\'s source item');
  const out = new Uint8Array(set.labels.length);
  for (let i = 0; i < out.length; i++) {
    const g = set.groups[i];
    if (g < 0 || g >= perItem.length) throw new Error(`sample ${i} comes from item ${g}, the split has ${perItem.length} items`);
    out[i] = perItem[g];
  }
  return out;
}

/** The training samples: normal samples of the training split, or the pixel tiler's index. */
export async function trainingSamples(ctx: StepContext): Promise<{ source: SampleSource; index: Int32Array }> {
  const tiles = await ctx.input('tiles');
  const set = await openSampleSet(tiles);
  const splits = await sampleSplits(ctx, set);
  let index: Int32Array;
  if (splits) {
    const picked: number[] = [];
    for (let i = 0; i < splits.length; i++) if (splits[i] === SPLIT_CODE.train && set.labels[i] === LABEL.normal) picked.push(i);
    index = Int32Array.from(picked);
  } else {
    index = decodeNd(await tiles.read('train-index'), 'train-index').data as Int32Array;
  }
  return { source: subsetSource(set.source, index), index };
}
