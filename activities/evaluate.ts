/**
 * evaluate: detection metrics of each score set against the labels. With a split (item
 * datasets), metrics are computed on the test split — per sample (`auc`) and per source item
 * (`image_auc`: an item's score is its highest sample score) — and, where the validation split
 * holds both classes, on it too (`val_auc`, `val_image_auc`), for model selection. Ambiguous
 * samples count nowhere. Without a split (cubes), every sample counts, as the protocol of
 * Eide (2018) has it.
 *
 * Metrics a study lists (each computed only when listed, so older studies' outputs are unchanged):
 * - `auc`, `logauc`, `ap` (average precision, sklearn's average_precision_score): ranking
 *   metrics, on test and, where it holds both classes, on validation (`val_ap`).
 * - `f1`: `precision`, `recall`, `f1` on test at a `threshold` chosen on validation (flagging
 *   score >= threshold): the best-F1 threshold of the validation samples; where validation holds
 *   no anomaly, the `percentile` param's percentile of the validation scores (default 80: the
 *   top 20 % flagged, ALAD's rule). `threshold_by_val_f1` says which: 1 best F1 on validation,
 *   0 the percentile rule. Without a split, validation is the pixel tiler's held-out pixels when
 *   it has them, and the thresholded metrics count the other pixels. Where there is no validation sample at all, the percentile is taken over the
 *   test scores (the rule uses no labels, as ALAD applies it to its test set).
 * - `f1_oracle`: the best F1 over every threshold of the test samples themselves — chosen on
 *   test, so an upper bound to compare with, never a result.
 * Per-class AUROC (evaluation/roc.ts perClassRocAuc) is not offered here yet: item classes live in
 * the screen step's item list, which is not an input of this step.
 */
import { z } from 'zod';
import { decodeNd } from '../datasets/tensor-file.js';
import { LABEL } from '../datasets/sample-set.js';
import { rocAuc, eideRoc } from '../evaluation/roc.js';
import { averagePrecision, bestF1Threshold, validationChosen } from '../evaluation/precision-recall.js';
import { defineStep } from './context.js';
import { scoreOutput } from './score.js';
import { SPLIT_CODE, sampleSplits, tiledSamples } from './samples.js';

const evaluateParams = z.object({
  metrics: z.array(z.enum(['auc', 'logauc', 'ap', 'f1', 'f1_oracle'])),
  /** The fallback rule of `f1`: flag validation scores >= this percentile of them (absent: 80). */
  percentile: z.number().min(0).max(100).optional(),
});

/** Metrics ranked on every split that can rank; the others are thresholded, on test only. */
const RANKING: Record<string, (s: Float64Array, l: Uint8Array) => number> = {
  auc: rocAuc,
  logauc: (s, l) => eideRoc(s, l).logAuc,
  ap: averagePrecision,
};

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

export const evaluate = defineStep('evaluate', { params: evaluateParams, output: evaluateOutput }, async (ctx, { metrics, percentile }) => {
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
  const ranking = metrics.filter((m) => m in RANKING);
  const anyThresholded = metrics.includes('f1') || metrics.includes('f1_oracle');
  // Without a split, the pixel tiler's held-out pixels (if any) are the validation samples of `f1`.
  let cubeValidation: Int32Array | undefined;
  if (!splits && metrics.includes('f1')) {
    const tiles = await ctx.input('tiles');
    if (typeof tiles.output.validation === 'number') cubeValidation = decodeNd(await tiles.read('val-index'), 'val-index').data as Int32Array;
  }
  const values: Record<string, number> = {};
  for (const [i, name] of sets.entries()) {
    const scores = decodeNd(await scored.read(`scores-${name}`), `scores-${name}`).data as Float64Array;
    const put = (metric: string, value: number) => {
      values[metricName(name, metric, i === 0)] = value;
    };
    const thresholded = (test: { s: Float64Array; l: Uint8Array }, validation?: { s: Float64Array; l: Uint8Array }) => {
      if (metrics.includes('f1')) {
        // No validation sample: the percentile rule on the test scores, their labels unseen.
        const val = validation?.s.length ? { scores: validation.s, labels: validation.l } : { scores: test.s, labels: new Uint8Array(test.s.length) };
        const r = validationChosen(val, { scores: test.s, labels: test.l }, { percentile: percentile ?? 80 });
        put('precision', r.precision);
        put('recall', r.recall);
        put('f1', r.f1);
        put('threshold', r.threshold);
        put('threshold_by_val_f1', r.source === 'val-best-f1' ? 1 : 0);
      }
      if (metrics.includes('f1_oracle')) put('f1_oracle', bestF1Threshold(test.s, test.l).f1);
    };
    if (!splits) {
      const all = pick(scores, set.labels, () => true);
      for (const m of ranking) put(m, RANKING[m](all.s, all.l));
      if (anyThresholded) {
        // A threshold chosen on held-out pixels is applied to the other pixels only.
        const inVal = cubeValidation && inIndex(cubeValidation, set.labels.length);
        thresholded(inVal ? pick(scores, set.labels, (k) => !inVal(k)) : all, inVal && pick(scores, set.labels, inVal));
      }
      continue;
    }
    for (const [prefix, code] of [['', SPLIT_CODE.test], ['val_', SPLIT_CODE.val]] as const) {
      const samples = pick(scores, set.labels, (k) => splits[k] === code);
      const items = itemLabels && itemSplits ? perItem(scores, set.groups!, itemLabels, (g) => itemSplits![g] === code) : undefined;
      // Test metrics are required; validation ones exist only where validation can rank.
      if (prefix === '' || bothClasses(samples.l)) for (const m of ranking) put(prefix + m, RANKING[m](samples.s, samples.l));
      // The split step guarantees both classes among test items; validation may lack anomalies.
      if (items && bothClasses(items.l)) put(prefix + 'image_auc', rocAuc(items.s, items.l));
    }
    if (anyThresholded) {
      thresholded(
        pick(scores, set.labels, (k) => splits[k] === SPLIT_CODE.test),
        pick(scores, set.labels, (k) => splits[k] === SPLIT_CODE.val),
      );
    }
  }
  return { metrics: values, primary: sets[0] };
});

/** Membership in an index list, as a predicate over sample numbers. */
function inIndex(index: Int32Array, n: number): (k: number) => boolean {
  const member = new Uint8Array(n);
  for (const k of index) member[k] = 1;
  return (k) => member[k] === 1;
}
