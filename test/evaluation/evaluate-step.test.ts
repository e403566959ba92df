/**
 * The evaluate step's new metrics (ap, f1, f1_oracle) on hand-built inputs, through the step
 * function itself with a stand-in context: values equal the library's, thresholds are chosen on
 * validation and applied to test, and a study that lists only the old metrics gets exactly the
 * old output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InputHandle, StepContext } from '../../activities/context.js';
import { evaluate } from '../../activities/evaluate.js';
import { SPLIT_CODE } from '../../activities/samples.js';
import { encodeNd, ndarray } from '../../datasets/tensor-file.js';
import { Prng } from '../../datasets/prng.js';
import { averagePrecision, bestF1Threshold, percentileThreshold, validationChosen } from '../../evaluation/precision-recall.js';
import { eideRoc, rocAuc } from '../../evaluation/roc.js';
import { close } from './vectors.js';

function handle(output: Record<string, unknown>, files: Record<string, Uint8Array | string>): InputHandle {
  return {
    key: 'k',
    output,
    async read(name) {
      const f = files[name];
      if (f === undefined) throw new Error(`no artifact ${name}`);
      return typeof f === 'string' ? Buffer.from(f) : f;
    },
  };
}

function context(inputs: Record<string, InputHandle>): StepContext {
  return {
    key: 'evaluate',
    store: undefined as never,
    locator: {},
    input: async (name) => {
      if (!inputs[name]) throw new Error(`no input ${name}`);
      return inputs[name];
    },
    hasInput: (name) => name in inputs,
    write: async () => undefined as never,
    progress: () => {},
    log: () => {},
    checkpointPolicy: { everyIterations: 1, everyMinutes: 1, keep: 1 },
    onResume: () => {},
    signal: new AbortController().signal,
  };
}

const f64 = (a: Float64Array) => encodeNd(ndarray(a, [a.length]));
const u8 = (a: Uint8Array) => encodeNd(ndarray(a, [a.length]));

/** An item dataset: one sample per item, items split train/val/test; sets 'main' and 'critic'. */
function items(valAnomalies: boolean) {
  const rng = new Prng(17);
  const n = 600;
  const labels = new Uint8Array(n);
  const assignment = new Uint8Array(n);
  const main = new Float64Array(n);
  const critic = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    assignment[i] = i % 3 === 0 ? SPLIT_CODE.train : i % 3 === 1 ? SPLIT_CODE.val : SPLIT_CODE.test;
    labels[i] = assignment[i] === SPLIT_CODE.train || (!valAnomalies && assignment[i] === SPLIT_CODE.val) ? 0 : rng.uniform() < 0.2 ? 1 : i % 50 === 5 ? 2 : 0;
    main[i] = Math.round((rng.normal() + 1.5 * (labels[i] === 1 ? 1 : 0)) * 10) / 10;
    critic[i] = rng.normal() + 0.5 * (labels[i] === 1 ? 1 : 0);
  }
  const manifest = { version: 1, n, shape: [1], shards: [{ name: 'shard-00000', count: n }], hasCoords: false };
  const groups = encodeNd(ndarray(Int32Array.from({ length: n }, (_, i) => i), [n]));
  const inputs = {
    scores: handle({ sets: ['main', 'critic'] }, { 'scores-main': f64(main), 'scores-critic': f64(critic) }),
    tiles: handle({ n, dim: 1, shape: [1], shards: 1, items: n }, { labels: u8(labels), 'samples.json': JSON.stringify(manifest), groups, 'item-labels': u8(labels.map((l) => (l === 2 ? 1 : l))) }),
    split: handle({}, { assignment: u8(assignment) }),
  };
  const pick = (s: Float64Array, code: number) => {
    const idx = [...labels.keys()].filter((i) => assignment[i] === code && labels[i] !== 2);
    return { scores: Float64Array.from(idx, (i) => s[i]), labels: Uint8Array.from(idx, (i) => labels[i]) };
  };
  return { ctx: context(inputs), main, critic, pick };
}

async function run(ctx: StepContext, params: Record<string, unknown>): Promise<Record<string, number>> {
  const { output } = await evaluate(ctx, params);
  return output.metrics as Record<string, number>;
}

test('evaluate: studies listing only auc/logauc get exactly the old metric names', async () => {
  const { ctx } = items(true);
  const m = await run(ctx, { metrics: ['auc', 'logauc'] });
  assert.deepEqual(Object.keys(m).sort(), [
    'auc', 'critic/auc', 'critic/image_auc', 'critic/logauc', 'critic/val_auc', 'critic/val_image_auc', 'critic/val_logauc',
    'image_auc', 'logauc', 'val_auc', 'val_image_auc', 'val_logauc',
  ]);
});

test('evaluate: ap on test and validation, f1 at the validation-chosen threshold, f1_oracle on test', async () => {
  const { ctx, main, critic, pick } = items(true);
  const m = await run(ctx, { metrics: ['auc', 'ap', 'f1', 'f1_oracle'] });
  for (const [set, scores, prefix] of [['main', main, ''], ['critic', critic, 'critic/']] as const) {
    const test = pick(scores, SPLIT_CODE.test);
    const val = pick(scores, SPLIT_CODE.val);
    close(m[`${prefix}auc`], rocAuc(test.scores, test.labels), 0, set);
    close(m[`${prefix}ap`], averagePrecision(test.scores, test.labels), 0, set);
    close(m[`${prefix}val_ap`], averagePrecision(val.scores, val.labels), 0, set);
    const chosen = validationChosen(val, test);
    assert.equal(chosen.source, 'val-best-f1');
    assert.equal(m[`${prefix}threshold`], bestF1Threshold(val.scores, val.labels).threshold, set);
    assert.equal(m[`${prefix}threshold_by_val_f1`], 1);
    for (const k of ['precision', 'recall', 'f1'] as const) assert.equal(m[`${prefix}${k}`], chosen[k], `${set} ${k}`);
    assert.equal(m[`${prefix}f1_oracle`], bestF1Threshold(test.scores, test.labels).f1);
    // The oracle is chosen on test: never below the honest figure.
    assert.ok(m[`${prefix}f1_oracle`] >= m[`${prefix}f1`]);
  }
  assert.equal(m.logauc, undefined);
  assert.equal(m.val_f1, undefined, 'thresholded metrics are test-only');
});

test('evaluate: validation without anomalies falls back to the percentile param on validation scores', async () => {
  const { ctx, main, pick } = items(false);
  for (const [params, p] of [[{ metrics: ['f1'] }, 80], [{ metrics: ['f1'], percentile: 95 }, 95]] as const) {
    const m = await run(ctx, params);
    const val = pick(main, SPLIT_CODE.val);
    assert.equal(val.labels.includes(1), false);
    assert.equal(m.threshold, percentileThreshold(val.scores, p));
    assert.equal(m.threshold_by_val_f1, 0);
    const test = pick(main, SPLIT_CODE.test);
    const chosen = validationChosen(val, test, { percentile: p });
    assert.equal(m.f1, chosen.f1);
    assert.equal(m.auc, undefined);
  }
  await assert.rejects(run(ctx, { metrics: ['f1'], percentile: 120 }));
});

test('evaluate without a split (cubes): every sample counts; f1 thresholds on the held-out pixels, else the percentile of all scores', async () => {
  const rng = new Prng(3);
  const n = 400;
  const labels = Uint8Array.from({ length: n }, (_, i) => (i % 10 === 3 ? 1 : 0));
  const scores = Float64Array.from(labels, (l) => rng.normal() + 2 * l);
  const samples = encodeNd(ndarray(new Float32Array(n * 2), [n, 2]));
  const valIndex = Int32Array.from({ length: 40 }, (_, k) => 10 * k); // background pixels
  const cube = (withVal: boolean) =>
    context({
      scores: handle({ sets: ['rx'] }, { 'scores-rx': f64(scores) }),
      tiles: handle({ n, dim: 2, train: 100, rows: 20, cols: 20, ...(withVal ? { validation: 40 } : {}) }, { labels: u8(labels), samples, ...(withVal ? { 'val-index': encodeNd(ndarray(valIndex, [40])) } : {}) }),
    });
  const old = await run(cube(true), { metrics: ['auc', 'logauc'] });
  assert.deepEqual(old, { auc: rocAuc(scores, labels), logauc: eideRoc(scores, labels).logAuc });
  const withVal = await run(cube(true), { metrics: ['f1', 'ap'] });
  assert.equal(withVal.threshold, percentileThreshold(Float64Array.from(valIndex, (i) => scores[i]), 80));
  assert.equal(withVal.threshold_by_val_f1, 0);
  assert.equal(withVal.ap, averagePrecision(scores, labels));
  const none = await run(cube(false), { metrics: ['f1', 'f1_oracle'] });
  assert.equal(none.threshold, percentileThreshold(scores, 80));
  assert.equal(none.f1_oracle, bestF1Threshold(scores, labels).f1);
});
