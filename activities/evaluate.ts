/** evaluate: detection metrics of each score set against the labels. */
import { z } from 'zod';
import { decodeNd } from '../datasets/tensor-file.js';
import { rocAuc, eideRoc } from '../models/components/roc.js';
import { defineStep } from './context.js';
import { scoreOutput } from './score.js';

const evaluateParams = z.object({ metrics: z.array(z.enum(['auc', 'logauc'])) });

/**
 * Metric name for a score set: the primary set's metrics are plain ('auc'); others are prefixed
 * with their set ('critic/auc'), with the one separator every metric name uses ('train/gp').
 */
export function metricName(set: string, metric: string, primary: boolean): string {
  return primary ? metric : `${set}/${metric}`;
}

export const evaluateOutput = z.object({ metrics: z.record(z.string(), z.number()), primary: z.string() });

export const evaluate = defineStep('evaluate', { params: evaluateParams, output: evaluateOutput }, async (ctx, { metrics }) => {
  const scored = await ctx.input('scores');
  const labels = decodeNd(await (await ctx.input('tiles')).read('labels'), 'labels').data as Uint8Array;
  const { sets } = scoreOutput.parse(scored.output);
  const values: Record<string, number> = {};
  for (const [i, set] of sets.entries()) {
    const scores = decodeNd(await scored.read(`scores-${set}`), `scores-${set}`).data as Float64Array;
    if (metrics.includes('auc')) values[metricName(set, 'auc', i === 0)] = rocAuc(scores, labels);
    if (metrics.includes('logauc')) values[metricName(set, 'logauc', i === 0)] = eideRoc(scores, labels).logAuc;
  }
  return { metrics: values, primary: sets[0] };
});
