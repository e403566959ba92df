/**
 * evaluate: detection metrics of each score set against the labels. With a split (item
 * datasets), metrics are computed on the test split — per sample (`auc`) and per source item
 * (`image_auc`: an item's score is its highest sample score) — and, where the validation split
 * holds both classes, on it too (`val_auc`, `val_image_auc`), for model selection. Ambiguous
 * samples count nowhere. Without a split (cubes), every sample counts, as the protocol of
 * Eide (2018) has it.
 */
import { z } from 'zod';
import { decodeNd } from '../datasets/tensor-file.js';
import { LABEL } from '../datasets/sample-set.js';
import { rocAuc, eideRoc } from '../models/components/roc.js';
import { defineStep } from './context.js';
import { scoreOutput } from './score.js';
import { SPLIT_CODE, sampleSplits, tiledSamples } from './samples.js';

const evaluateParams = z.object({ metrics: z.array(z.enum(['auc', 'logauc'])) });

/**
 * Metric name for a score set: the primary set's metrics are plain ('auc'); others are prefixed
 * with their set ('critic/auc'), with the one separator every metric name uses ('train/gp').
 */
export function metricName(set: string, metric: string, primary: boolean): string {
  return primary ? metric : `${set}/${metric}`;
}

export const evaluateOutput = z.object({ metrics: z.record(z.string(), z.number()), primary: z.string() });

/** Scores and 0/1 labels of the samples `keep` selects. */
function pick(scores: Float64Array, labels: Uint8Array, keep: (i: number) => boolean): { s: Float64Array; l: Uint8Array } {
  const idx: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] !== LABEL.ambiguous && keep(i)) idx.push(i);
  return { s: Float64Array.from(idx, (i) => scores[i]), l: Uint8Array.from(idx, (i) => labels[i]) };
}

/** Per item: the highest score of its samples, and the item's label. */
function perItem(scores: Float64Array, groups: Int32Array, itemLabels: Uint8Array, keep: (g: number) => boolean): { s: Float64Array; l: Uint8Array } {
  const best = new Float64Array(itemLabels.length).fill(-Infinity);
  for (let i = 0; i < groups.length; i++) if (scores[i] > best[groups[i]]) best[groups[i]] = scores[i];
  const idx: number[] = [];
  for (let g = 0; g < itemLabels.length; g++) if (keep(g) && best[g] > -Infinity) idx.push(g);
  return { s: Float64Array.from(idx, (g) => best[g]), l: Uint8Array.from(idx, (g) => itemLabels[g]) };
}

const bothClasses = (l: Uint8Array) => l.includes(0) && l.includes(1);

export const evaluate = defineStep('evaluate', { params: evaluateParams, output: evaluateOutput }, async (ctx, { metrics }) => {
  const scored = await ctx.input('scores');
  const set = await tiledSamples(ctx);
  const splits = await sampleSplits(ctx, set);
  const { sets } = scoreOutput.parse(scored.output);
  let itemLabels: Uint8Array | undefined;
  let itemSplits: Uint8Array | undefined;
  if (splits && set.groups) {
    itemLabels = decodeNd(await (await ctx.input('tiles')).read('item-labels'), 'item-labels').data as Uint8Array;
    itemSplits = decodeNd(await (await ctx.input('split')).read('assignment'), 'split assignment').data as Uint8Array;
  }
  const values: Record<string, number> = {};
  for (const [i, name] of sets.entries()) {
    const scores = decodeNd(await scored.read(`scores-${name}`), `scores-${name}`).data as Float64Array;
    const put = (metric: string, s: Float64Array, l: Uint8Array) => {
      if (metric.endsWith('logauc')) values[metricName(name, metric, i === 0)] = eideRoc(s, l).logAuc;
      else values[metricName(name, metric, i === 0)] = rocAuc(s, l);
    };
    if (!splits) {
      const all = pick(scores, set.labels, () => true);
      for (const m of metrics) put(m, all.s, all.l);
      continue;
    }
    for (const [prefix, code] of [['', SPLIT_CODE.test], ['val_', SPLIT_CODE.val]] as const) {
      const samples = pick(scores, set.labels, (k) => splits[k] === code);
      const items = itemLabels && itemSplits ? perItem(scores, set.groups!, itemLabels, (g) => itemSplits![g] === code) : undefined;
      // Test metrics are required; validation ones exist only where validation can rank.
      if (prefix === '' || bothClasses(samples.l)) for (const m of metrics) put(prefix + m, samples.s, samples.l);
      // The split step guarantees both classes among test items; validation may lack anomalies.
      if (items && bothClasses(items.l)) put(prefix + 'image_auc', items.s, items.l);
    }
  }
  return { metrics: values, primary: sets[0] };
});
