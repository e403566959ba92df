/**
 * The Temporal executor's planning logic, offline: the study scheduler (bounded fan-out, shared
 * steps computed once, look-ahead), windows and continue-as-new (inline and stored plans, early
 * hand-over when the history grows), workflow ids, and activity options per step kind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../datasets/prng.js';
import type { StepCall, StepKind } from '../../experiments/plan.js';
import { defineStudy, type StudyInput as SpecInput } from '../../experiments/spec.js';
import { prepareStudy } from '../../executors/prepare.js';
import { studyWorkflowId } from '../../executors/temporal/client.js';
import { isStudyWorkflowIdOf, trialWorkflowId } from '../../workflows/temporal/ids.js';
import { activityOptions, DEFAULT_TUNING, NON_RETRYABLE_ERROR_TYPES, stepActivityOptions, taskQueues, tuningFor } from '../../workflows/temporal/options.js';
import {
  continuation, countOutcome, failureMessage, initialCarry, MAX_FAILURES_KEPT, remainingTrials, restrictWindow, StudyScheduler, windowOf, windowPages, type RunState,
} from '../../workflows/temporal/scheduler.js';
import type { StudyInput, TrialPlan } from '../../workflows/temporal/types.js';
import { toyStudy } from '../helpers.js';

const call = (kind: StepKind, key: string): StepCall => ({ kind, version: 1, key, params: {}, inputs: {} });

/** A trial of the usual shape: load → filter → tile → train → score → evaluate, keys given per level. */
function trial(id: string, keys: { data: string; train: string; score: string }): TrialPlan {
  return {
    id,
    steps: [
      call('load', `load-${keys.data}`), call('filter', `filter-${keys.data}`), call('tile', `tile-${keys.data}`),
      call('train', `train-${keys.train}`), call('score', `score-${keys.score}`), call('evaluate', `eval-${keys.score}`),
    ],
  };
}

const Q = taskQueues('gantry');

function studyInput(trials: TrialPlan[], over: Partial<StudyInput> = {}): StudyInput {
  return {
    study: 'toy', total: trials.length, alreadyDone: 0, plan: { kind: 'inline', trials }, concurrency: 2, batchSize: 200, queues: Q,
    checkpoint: { everyIterations: 50, everyMinutes: 5, keep: 2 }, launchedAt: '2026-01-01T00:00:00.000Z', ...over,
  };
}

test('the scheduler starts trials in plan order, at most `concurrency` at once', () => {
  const trials = ['a', 'b', 'c', 'd'].map((id) => trial(id, { data: id, train: id, score: id }));
  const s = new StudyScheduler(trials, 2);
  assert.equal(s.next()?.trial.id, 'a');
  assert.equal(s.next()?.trial.id, 'b');
  assert.equal(s.canStart(), false);
  assert.equal(s.next(), undefined);
  s.finished('a', true);
  assert.equal(s.next()?.trial.id, 'c');
  s.finished('b', true);
  s.finished('c', true);
  assert.equal(s.next()?.trial.id, 'd');
  assert.equal(s.drained(), false);
  s.finished('d', true);
  assert.equal(s.drained(), true);
});

test('trials sharing upstream steps wait until the first reports them done; then they start together', () => {
  const trials = ['a', 'b', 'c'].map((id) => trial(id, { data: 'D', train: id, score: id }));
  const s = new StudyScheduler(trials, 3);
  const a = s.next()!;
  assert.equal(a.trial.id, 'a');
  // a must tell the study about the keys b and c wait for, and only those.
  assert.deepEqual(a.reportKeys.sort(), ['filter-D', 'load-D', 'tile-D']);
  assert.equal(s.next(), undefined, 'b needs load-D, which a computes');
  s.stepDone('a', 'load-D');
  s.stepDone('a', 'filter-D');
  assert.equal(s.canStart(), false, 'tile-D is still being computed');
  s.stepDone('a', 'tile-D');
  const b = s.next()!;
  const c = s.next()!;
  assert.deepEqual([b.trial.id, c.trial.id], ['b', 'c']);
  assert.deepEqual(b.reportKeys, [], 'nothing b computes is needed by a pending trial');
});

test('look-ahead: a trial blocked on a shared training does not hold back independent ones', () => {
  // b re-scores a's model (same train key, other scoring settings); c shares nothing.
  const trials = [trial('a', { data: 'A', train: 'T', score: 'a' }), trial('b', { data: 'A', train: 'T', score: 'b' }), trial('c', { data: 'C', train: 'c', score: 'c' })];
  const s = new StudyScheduler(trials, 2);
  assert.equal(s.next()?.trial.id, 'a');
  assert.equal(s.next()?.trial.id, 'c');
  s.finished('c', true);
  assert.equal(s.next(), undefined, 'b waits for the training a runs');
  s.stepDone('a', 'load-A');
  s.stepDone('a', 'filter-A');
  s.stepDone('a', 'tile-A');
  assert.equal(s.next(), undefined);
  s.stepDone('a', 'train-T');
  assert.equal(s.next()?.trial.id, 'b');
});

test('a trial that fails releases its steps: the next one computes them; a requeued trial goes first again', () => {
  const trials = ['a', 'b'].map((id) => trial(id, { data: 'D', train: id, score: id }));
  const s = new StudyScheduler(trials, 2);
  s.next();
  assert.equal(s.next(), undefined);
  s.finished('a', false);
  const b = s.next()!;
  assert.equal(b.trial.id, 'b');
  assert.deepEqual(b.reportKeys, []);
  s.requeue('b');
  assert.equal(s.runningCount, 0);
  assert.deepEqual(s.pendingTrials().map((t) => t.id), ['b']);
  assert.equal(s.next()?.trial.id, 'b');
});

test('a step that fails for good fails the pending trials that need it (as one shared execution would), and no others', () => {
  const trials = [trial('a', { data: 'D', train: 'a', score: 'a' }), trial('b', { data: 'D', train: 'b', score: 'b' }), trial('c', { data: 'E', train: 'c', score: 'c' })];
  const s = new StudyScheduler(trials, 1);
  s.next();
  const doomed = s.finished('a', false, 'filter-D');
  assert.deepEqual(doomed.map((t) => t.id), ['b']);
  assert.deepEqual(s.pendingTrials().map((t) => t.id), ['c']);
  assert.deepEqual(s.finished('c', false), [], 'a trial not running ends nothing');
  assert.equal(s.next()?.trial.id, 'c');
  assert.deepEqual(s.finished('c', false), [], 'an interrupted trial (no failed step) dooms nobody');
  assert.ok(s.drained());
});

test('a trial set aside (its workflow id still taken) frees its slot and its shared steps until it comes back', () => {
  const trials = ['a', 'b', 'c'].map((id) => trial(id, { data: 'D', train: id, score: id }));
  const s = new StudyScheduler(trials, 1);
  assert.equal(s.next()?.trial.id, 'a');
  s.defer('a');
  assert.equal(s.drained(), false);
  assert.deepEqual(s.pendingTrials().map((t) => t.id), ['a', 'b', 'c'], 'a set-aside trial is handed on as not started');
  const b = s.next()!;
  assert.equal(b.trial.id, 'b', 'b takes the slot and the shared steps');
  assert.deepEqual(b.reportKeys.sort(), ['filter-D', 'load-D', 'tile-D']);
  s.undefer('a');
  assert.equal(s.next(), undefined, 'one slot');
  s.finished('b', true);
  assert.equal(s.next()?.trial.id, 'a', 'back at the front');
});

test('windows: inline plans shrink run by run; stored plans advance a cursor, in pages', () => {
  const trials = Array.from({ length: 5 }, (_, i) => trial(`t${i}`, { data: 'D', train: `${i}`, score: `${i}` }));
  const inline = studyInput(trials, { batchSize: 2 });
  const w = windowOf(inline);
  assert.equal(w.kind, 'inline');
  if (w.kind !== 'inline') return;
  assert.deepEqual(w.trials.map((t) => t.id), ['t0', 't1']);
  const state: RunState = { counters: initialCarry().counters, failures: [], paused: true };
  const next = continuation(inline, w, [], state)!;
  assert.equal(next.plan.kind, 'inline');
  assert.deepEqual(next.plan.kind === 'inline' && next.plan.trials.map((t) => t.id), ['t2', 't3', 't4']);
  assert.equal(next.carry?.runs, 2);
  assert.equal(next.carry?.paused, true, 'pause survives continue-as-new');
  // Trials this run did not start come first in the next.
  const early = continuation(inline, w, [trials[1]], state)!;
  assert.deepEqual(early.plan.kind === 'inline' && early.plan.trials.map((t) => t.id), ['t1', 't2', 't3', 't4']);

  const stored = studyInput([], { plan: { kind: 'store', key: 'temporal/plans/ab.json', total: 250 }, batchSize: 120 });
  const sw = windowOf(stored);
  assert.deepEqual(sw, { kind: 'store', key: 'temporal/plans/ab.json', start: 0, end: 120 });
  if (sw.kind !== 'store') return;
  assert.deepEqual(windowPages(sw), [{ offset: 0, limit: 100 }, { offset: 100, limit: 20 }]);
  const s2 = continuation(stored, sw, [], state)!;
  assert.equal(s2.carry?.cursor, 120);
  const s3 = continuation(s2, windowOf(s2), [], state)!;
  assert.deepEqual(windowOf(s3), { kind: 'store', key: 'temporal/plans/ab.json', start: 240, end: 250 });
  assert.equal(continuation(s3, windowOf(s3), [], state), undefined, 'the last window ends the study');
  // Leftovers: the same window again, restricted to the trials not started.
  const left = continuation(s2, windowOf(s2), [trials[3]], state)!;
  assert.deepEqual(windowOf(left), { kind: 'store', key: 'temporal/plans/ab.json', start: 120, end: 240, only: ['t3'] });
  assert.deepEqual(restrictWindow(trials, ['t3', 't4']).map((t) => t.id), ['t3', 't4']);
  assert.equal(restrictWindow(trials, undefined).length, 5);
});

test('counters: outcomes accumulate, failures are kept up to a cap, remaining trials follow', () => {
  const state: RunState = { counters: initialCarry().counters, failures: [], paused: false };
  for (let i = 0; i < MAX_FAILURES_KEPT + 5; i++) countOutcome(state, { trialId: `f${i}`, status: 'failed', error: 'boom', metrics: {}, stepsRun: 1, stepsCached: 0 });
  countOutcome(state, { trialId: 'ok', status: 'done', error: null, metrics: { auc: 0.9 }, stepsRun: 4, stepsCached: 2 });
  countOutcome(state, { trialId: 'int', status: 'interrupted', error: 'interrupted', metrics: {}, stepsRun: 0, stepsCached: 0 });
  assert.deepEqual(state.counters, { done: 1, failed: MAX_FAILURES_KEPT + 5, interrupted: 1, stepsRun: MAX_FAILURES_KEPT + 9, stepsCached: 2 });
  assert.equal(state.failures.length, MAX_FAILURES_KEPT);
  assert.equal(remainingTrials(studyInput([], { total: 200, alreadyDone: 10 }), state.counters), 200 - 10 - 1 - (MAX_FAILURES_KEPT + 5) - 1);
});

/**
 * The whole study loop, simulated: random grids with shared data, shared trainings and
 * independent cells; random completion order; runs that stop early (as when Temporal suggests
 * continue-as-new); inputs that cross JSON between runs (as workflow inputs do).
 */
function simulate(trials: TrialPlan[], o: { concurrency: number; batchSize: number; stored: boolean; seed: number; stopEarly: number }) {
  const rng = new Prng(o.seed);
  const ledger = new Set<string>();
  const executing = new Map<string, string>();
  const executions = new Map<string, number>();
  const started = new Map<string, number>();
  let input: StudyInput | undefined = studyInput(o.stored ? [] : trials, {
    concurrency: o.concurrency, batchSize: o.batchSize, plan: o.stored ? { kind: 'store', key: 'temporal/plans/x.json', total: trials.length } : { kind: 'inline', trials },
  });
  let runs = 0;
  let peak = 0;
  let finalCounters = initialCarry().counters;
  while (input) {
    runs++;
    assert.ok(runs < 1000, 'the study makes progress');
    input = JSON.parse(JSON.stringify(input)) as StudyInput;
    const carry = input.carry ?? initialCarry();
    const state: RunState = { counters: { ...carry.counters }, failures: [...carry.failures], paused: carry.paused };
    const w = windowOf(input);
    const windowTrials = w.kind === 'inline' ? w.trials : restrictWindow(windowPages(w).flatMap((p) => trials.slice(p.offset, p.offset + p.limit)), w.only);
    const s = new StudyScheduler(windowTrials, input.concurrency);
    const prog = new Map<string, { t: TrialPlan; i: number; busy: boolean; report: Set<string> }>();
    let stop = false;
    let startedHere = 0;
    for (;;) {
      while (!stop && s.canStart()) {
        const d = s.next()!;
        started.set(d.trial.id, (started.get(d.trial.id) ?? 0) + 1);
        prog.set(d.trial.id, { t: d.trial, i: 0, busy: false, report: new Set(d.reportKeys) });
        startedHere++;
        peak = Math.max(peak, s.runningCount);
        if (startedHere > 0 && rng.uniform() < o.stopEarly) stop = true;
      }
      if (s.drained() || (stop && s.runningCount === 0)) break;
      const ids = s.runningIds();
      assert.ok(ids.length > 0, 'something runs while trials are pending (no deadlock)');
      const id = ids[rng.int(ids.length)];
      const p = prog.get(id)!;
      const step = p.t.steps[p.i];
      if (!p.busy) {
        if (ledger.has(step.key)) p.i++; // cached
        else {
          assert.ok(!executing.has(step.key), `step ${step.key} computed by ${executing.get(step.key)} and ${id} at once`);
          executing.set(step.key, id);
          executions.set(step.key, (executions.get(step.key) ?? 0) + 1);
          p.busy = true;
          continue;
        }
      } else {
        executing.delete(step.key);
        ledger.add(step.key);
        p.busy = false;
        p.i++;
        if (p.report.has(step.key)) s.stepDone(id, step.key);
      }
      if (p.i === p.t.steps.length) {
        prog.delete(id);
        s.finished(id, true);
        countOutcome(state, { trialId: id, status: 'done', error: null, metrics: {}, stepsRun: 0, stepsCached: 0 });
      }
    }
    finalCounters = state.counters;
    input = continuation(input, w, s.pendingTrials(), state);
  }
  return { started, executions, runs, peak, counters: finalCounters };
}

function randomGrid(seed: number, n: number): TrialPlan[] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const data = `d${rng.int(3)}`;
    const train = `${data}-m${rng.int(Math.max(2, n / 3))}`;
    return trial(`t${i}`, { data, train, score: `${train}-s${rng.int(2)}` });
  }).filter((t, i, all) => all.findIndex((u) => u.steps[5].key === t.steps[5].key) === i); // one trial per cell
}

test('simulated studies: every trial starts once, every distinct step is computed once, fan-out stays bounded, runs hand over what they did not start', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const trials = randomGrid(seed, 5 + (seed % 7) * 9);
    const o = { concurrency: 1 + (seed % 4), batchSize: 1 + (seed % 9), stored: seed % 2 === 0, seed, stopEarly: seed % 3 === 0 ? 0.3 : 0 };
    const r = simulate(trials, o);
    const where = `seed ${seed} (${trials.length} trials, ${JSON.stringify(o)})`;
    assert.deepEqual([...r.started.values()].filter((n) => n !== 1), [], where);
    assert.equal(r.started.size, trials.length, where);
    const keys = new Set(trials.flatMap((t) => t.steps.map((s) => s.key)));
    assert.equal(r.executions.size, keys.size, where);
    assert.deepEqual([...r.executions].filter(([, n]) => n !== 1), [], where);
    assert.ok(r.peak <= o.concurrency, where);
    assert.equal(r.counters.done, trials.length, where);
    if (!o.stopEarly) assert.equal(r.runs, Math.max(1, Math.ceil(trials.length / o.batchSize)), where);
  }
});

test('study workflow ids: stable for the same grid in any order, different for another grid or study; trial ids extend them', async () => {
  const spec = defineStudy(toyStudy() as SpecInput);
  const a = await prepareStudy(spec, {});
  const b = await prepareStudy(spec, {});
  const id = studyWorkflowId(a.study, a.trials);
  assert.match(id, /^gantry-toy-[0-9a-f]{16}$/);
  assert.equal(studyWorkflowId(b.study, [...b.trials].reverse()), id, 'plan order does not matter');
  assert.ok(isStudyWorkflowIdOf(id, 'toy'));
  assert.ok(!isStudyWorkflowIdOf(id, 'to'));
  assert.ok(!isStudyWorkflowIdOf(trialWorkflowId(id, a.trials[0].id), 'toy'), 'a trial workflow is not a study workflow');
  assert.notEqual(studyWorkflowId('other', a.trials), id);
  assert.notEqual(studyWorkflowId(a.study, a.trials.slice(1)), id, 'a smaller grid is another launch');
  const changed = a.trials.map((t, i) => (i === 0 ? { ...t, steps: t.steps.map((s, j) => (j === 0 ? { ...s, key: 'ffffffffffffffff' } : s)) } : t));
  assert.notEqual(studyWorkflowId(a.study, changed), id, 'a changed dataset (step key) is another launch');
  const more = await prepareStudy(spec, { set: { seeds: [0, 1] } });
  assert.notEqual(studyWorkflowId(more.study, more.trials), id);
  assert.equal(trialWorkflowId(id, a.trials[0].id), `${id}-trial-${a.trials[0].id}`);
});

test('activity options per step kind: queues, timeouts, heartbeats, retries, non-retryable bad input', () => {
  for (const kind of ['load', 'filter', 'tile', 'evaluate'] as const) {
    const o = stepActivityOptions(kind, Q);
    assert.equal(o.taskQueue, 'gantry');
    assert.equal(o.startToCloseTimeout, DEFAULT_TUNING.light.startToCloseMs);
    assert.ok((o.heartbeatTimeout as number) > 0);
    assert.equal(o.retry?.maximumAttempts, 3);
  }
  const train = stepActivityOptions('train', Q);
  assert.equal(train.taskQueue, 'gantry-gpu');
  assert.ok((train.startToCloseTimeout as number) >= 24 * 3600_000, 'a training attempt may run for days');
  assert.ok((train.heartbeatTimeout as number) <= 5 * 60_000, 'a dead worker is noticed within minutes');
  assert.ok((train.retry?.maximumAttempts ?? 0) >= 10, 'preemptions and crashes resume many times');
  assert.equal(train.cancellationType, 'WAIT_CANCELLATION_COMPLETED', 'a cancel waits for the checkpoint');
  assert.equal(stepActivityOptions('score', Q).taskQueue, 'gantry-gpu');
  const rec = activityOptions('record', Q);
  assert.equal(rec.taskQueue, 'gantry-catalog');
  assert.equal(rec.heartbeatTimeout, undefined);
  assert.ok((rec.scheduleToCloseTimeout as number) > (rec.startToCloseTimeout as number), 'a trial never waits forever for the catalog');
  assert.equal(activityOptions('plan', Q).taskQueue, 'gantry');
  for (const o of [train, rec]) for (const t of ['UserError', 'CancelledError']) assert.ok(o.retry?.nonRetryableErrorTypes?.includes(t));
  assert.deepEqual(NON_RETRYABLE_ERROR_TYPES.includes('UserError'), true);
  // Overrides apply field by field; nonsense is ignored; attempts are at least one.
  const tuned = stepActivityOptions('train', taskQueues('lab'), { train: { heartbeatTimeoutMs: 5000, maxAttempts: 0 } });
  assert.equal(tuned.taskQueue, 'lab-gpu');
  assert.equal(tuned.heartbeatTimeout, 5000);
  assert.equal(tuned.retry?.maximumAttempts, 1);
  assert.equal(tuned.startToCloseTimeout, DEFAULT_TUNING.train.startToCloseMs);
  assert.equal(tuningFor('light', { light: { maxAttempts: Number.NaN } }).maxAttempts, 3);
});

test('failure messages: the innermost cause, one line', () => {
  const inner = Object.assign(new Error('band selection [0, 99) does not fit\nstack…'), {});
  const outer = Object.assign(new Error('Activity task failed'), { cause: inner });
  assert.equal(failureMessage(outer), 'band selection [0, 99) does not fit');
  assert.equal(failureMessage('plain'), 'plain');
});
