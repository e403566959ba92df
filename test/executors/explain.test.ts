import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainNewStep, diffLeaves } from '../../executors/explain.js';
import type { StepRecord } from '../../infra/ledger.js';
import type { StepCall } from '../../experiments/plan.js';

const rec = (kind: string, params: Record<string, unknown>, inputs: Record<string, string>, version = 1): StepRecord => ({
  key: 'k', kind, version, params, inputs, status: 'done', attempt: 1, reason: 'new', startedAt: '2026-01-01T00:00:00Z', artifacts: {},
});
const call = (kind: StepCall['kind'], params: Record<string, unknown>, inputs: Record<string, string>): StepCall => ({ kind, version: 1, key: 'n', params, inputs });

test('a new step says which parameters or inputs changed, against steps that ran before', () => {
  const earlier = [
    rec('train', { model: { kind: 'wgan-gp', hidden: 32, lr: 0.001 }, seed: 0 }, { tiles: 'T1' }),
    rec('train', { model: { kind: 'wgan-gp', hidden: 64, lr: 0.001 }, seed: 0 }, { tiles: 'T1' }),
  ];
  assert.equal(explainNewStep(call('train', { model: { kind: 'wgan-gp', hidden: 64, lr: 0.002 }, seed: 0 }, { tiles: 'T1' }), earlier), 'params changed: model.lr 0.001 → 0.002');
  assert.equal(explainNewStep(call('train', { model: { kind: 'wgan-gp', hidden: 32, lr: 0.001 }, seed: 0 }, { tiles: 'T2' }), earlier), 'input changed: tiles');
  assert.equal(explainNewStep(call('score', {}, { model: 'M' }), earlier), 'new');
  assert.equal(explainNewStep(call('train', { other: 1 }, { tiles: 'T9' }), earlier), 'new');
  assert.deepEqual(diffLeaves({ a: { b: 1 }, c: 2 }, { a: { b: 1 }, c: 3, d: 4 }).map((d) => d.path), ['c', 'd']);
});
