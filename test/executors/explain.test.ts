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

test('a step whose record is gone says so, not that an input changed (issue 13, row 5)', () => {
  const withKey = (r: StepRecord, key: string): StepRecord => ({ ...r, key });
  const earlier = [
    withKey(rec('train', { seed: 0 }, { tiles: 'T1' }), 'M1'),
    withKey(rec('train', { seed: 1 }, { tiles: 'T1' }), 'M2'),
    withKey(rec('score', { restarts: 1 }, { model: 'M1', tiles: 'T1' }), 'S1'),
    // The evaluate step of the trial whose score step was deleted still names it as its input.
    withKey(rec('evaluate', {}, { scores: 'S2', tiles: 'T1' }), 'E2'),
  ];
  const deleted: StepCall = { kind: 'score', version: 1, key: 'S2', params: { restarts: 1 }, inputs: { model: 'M2', tiles: 'T1' } };
  assert.equal(explainNewStep(deleted, earlier), 'its record is missing (deleted?); it runs again');
  // No step names it, but the input that differs from its sibling's was made before this run: nothing changed.
  assert.equal(explainNewStep({ ...deleted, key: 'S3' }, earlier.slice(0, 3)), 'new: its inputs are from earlier runs (it never ran, or its record was deleted)');
  // An input made by this run (M9, not recorded before) did change.
  assert.equal(explainNewStep({ ...deleted, key: 'S4', inputs: { model: 'M9', tiles: 'T1' } }, earlier), 'input changed: model');
});
