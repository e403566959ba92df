import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trialWorkflow } from '../../workflows/trial.js';
import { studyWorkflow } from '../../workflows/study.js';
import type { StepCall } from '../../experiments/plan.js';

const step = (kind: StepCall['kind']): StepCall => ({ kind, version: 1, key: kind, params: {}, inputs: {} });

test('a trial runs its steps in order and stops at the first failure', async () => {
  const ran: string[] = [];
  const ok = await trialWorkflow([step('load'), step('train'), step('evaluate')], async (c) => {
    ran.push(c.kind);
    return { output: c.kind === 'evaluate' ? { metrics: { auc: 0.9 } } : {} };
  });
  assert.deepEqual(ran, ['load', 'train', 'evaluate']);
  assert.deepEqual(ok, { ok: true, metrics: { auc: 0.9 } });
  ran.length = 0;
  const bad = await trialWorkflow([step('load'), step('train'), step('evaluate')], async (c) => {
    ran.push(c.kind);
    if (c.kind === 'train') throw new Error('boom');
    return {};
  });
  assert.deepEqual(ran, ['load', 'train']);
  assert.equal(bad.ok, false);
  assert.equal(bad.failedAt, 1);
});

test('a study keeps at most `concurrency` trials in flight, in plan order, and stops starting new ones when asked', async () => {
  let inFlight = 0;
  let peak = 0;
  const started: number[] = [];
  const results = await studyWorkflow([0, 1, 2, 3, 4, 5], 2, async (t) => {
    started.push(t);
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    return t * 10;
  });
  assert.equal(peak, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(results, [0, 10, 20, 30, 40, 50]);
  let stop = false;
  const partial = await studyWorkflow([0, 1, 2, 3], 1, async (t) => {
    if (t === 1) stop = true;
    return t;
  }, () => stop);
  assert.deepEqual(partial, [0, 1]);
});
