/** What `gantry status --temporal` prints for a study workflow (counters, failures, running trials' steps and checkpoints), and the lines `gantry run --executor temporal` prints while it follows one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duration } from '../../cli/format.js';
import { progressReporter, QUIET_PROGRESS_MS } from '../../cli/temporal.js';
import { formatStudyStatus, type StudyStatus } from '../../executors/temporal/client.js';
import type { StudyProgressInfo } from '../../workflows/temporal/types.js';

const base = { study: 's', total: 10, alreadyDone: 2, done: 3, failed: 1, interrupted: 0, stepsRun: 14, stepsCached: 9, cancelled: false, runs: 1 };

test('a running study: counters, pause state, a failure, and each running trial\'s step, iteration and newest checkpoint', () => {
  const s: StudyStatus = {
    workflowId: 'gantry-s-abc', runId: 'r', status: 'RUNNING', startTime: new Date('2026-11-23T10:00:00Z'),
    progress: {
      ...base, failures: [{ trialId: 't-bad', status: 'failed', error: 'filter: band selection [0, 99) does not fit' }],
      running: [{ trialId: 't1', workflowId: 'w1' }, { trialId: 't2', workflowId: 'w2' }], pending: 2, paused: true, cancelling: false,
    },
    trials: [
      { trialId: 't1', workflowId: 'w1', step: { index: 3, kind: 'train', key: 'k' }, stepsDone: 3, total: 6, heartbeat: { kind: 'train', iteration: 1200, total: 3000, checkpointIteration: 1150, checkpointKey: 'steps/k/checkpoints/x' } },
      { trialId: 't2', workflowId: 'w2' },
    ],
  };
  const lines = formatStudyStatus(s).split('\n');
  assert.equal(lines[0], 'gantry-s-abc (running, started 2026-11-23T10:00:00.000Z)');
  assert.equal(lines[1], '  5/10 done, 2 of them before this launch, 1 failed, 2 running, 2 pending, paused, 14 steps ran, 9 cached');
  assert.equal(lines[2], '  failed t-bad: filter: band selection [0, 99) does not fit');
  assert.equal(lines[3], '  running t1: train (step 4/6), iteration 1200/3000, checkpoint at 1150');
  assert.equal(lines[4], '  running t2: between steps');
  assert.equal(lines.length, 5);
});

test('a closed study shows its result; a study with no answer says why', () => {
  const done = formatStudyStatus({
    workflowId: 'gantry-s-abc', runId: 'r', status: 'COMPLETED', startTime: new Date('2026-11-23T10:00:00Z'), closeTime: new Date('2026-11-23T11:00:00Z'),
    progress: { ...base, done: 7, failed: 0, failures: [] }, trials: [],
  });
  assert.equal(done, 'gantry-s-abc (completed, started 2026-11-23T10:00:00.000Z, closed 2026-11-23T11:00:00.000Z)\n  9/10 done, 2 of them before this launch, 14 steps ran, 9 cached');
  const silent = formatStudyStatus({ workflowId: 'w', runId: 'r', status: 'RUNNING', startTime: new Date(0), trials: [], note: 'no progress: deadline (is a gantry worker polling the main task queue?)' });
  assert.match(silent, /\n  no progress: deadline \(is a gantry worker polling the main task queue\?\)$/);
});

test('following a study prints a progress line when the counters change, and one a minute when they do not', () => {
  const lines: string[] = [];
  let t = 1_000_000;
  const report = progressReporter((l) => lines.push(l), () => t);
  const at = (ms: number, p: Partial<StudyProgressInfo>) => {
    t = 1_000_000 + ms;
    report({ ...base, done: 0, alreadyDone: 0, failed: 0, failures: [], running: [{ trialId: 't1', workflowId: 'w1' }], pending: 9, paused: false, cancelling: false, ...p });
  };
  // Polled every 2 s for three minutes: the same counters all along, then one trial done.
  for (let ms = 0; ms <= 180_000; ms += 2000) at(ms, {});
  at(182_000, { done: 1 });
  at(184_000, { done: 1 });
  assert.deepEqual(lines, [
    '[0/10 done, 1 running, 9 pending, 0s]',
    `[0/10 done, 1 running, 9 pending, ${duration(QUIET_PROGRESS_MS)}]`,
    `[0/10 done, 1 running, 9 pending, ${duration(2 * QUIET_PROGRESS_MS)}]`,
    `[0/10 done, 1 running, 9 pending, ${duration(3 * QUIET_PROGRESS_MS)}]`,
    `[1/10 done, 1 running, 9 pending, ${duration(182_000)}]`,
  ]);
});
