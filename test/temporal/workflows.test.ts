/**
 * The study and trial workflows, offline: the real workflow bundle runs in the SDK's workflow
 * sandbox, driven by an in-process stand-in for the server (sim.ts), with the real activities on
 * a real store and catalog. Every scenario ends by replaying each workflow run's activations in a
 * fresh sandbox: the same commands come out (determinism, as a worker replaying history needs).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { PreparedStudy } from '../../executors/prepare.js';
import { LocalStore } from '../../infra/store/local.js';
import { listRecords, readRecord } from '../../infra/ledger.js';
import { createActivities } from '../../executors/temporal/activities.js';
import { parseLaunchOptions, planLaunch, type LaunchOptions } from '../../executors/temporal/client.js';
import { bundleWorkflows } from '../../executors/temporal/worker.js';
import { taskQueues } from '../../workflows/temporal/options.js';
import { trialWorkflowId } from '../../workflows/temporal/ids.js';
import { STUDY_PROGRESS_QUERY, STUDY_WORKFLOW, TRIAL_WORKFLOW, type StudyProgressInfo, type StudyResult, type TrialProgressInfo } from '../../workflows/temporal/types.js';
import { bandsBeyondCubeStudy, tempHome, toyStudy } from '../helpers.js';
import { assertSameResults, embeddedReference, latestCheckpoint, longStudy, prepare, query, until } from './fixtures.js';
import { activityRuntime, failureOf, TemporalSim, type SimOptions } from './sim.js';

const Q = taskQueues('gantry');
let bundle: { code: string };
before(async () => {
  bundle = await bundleWorkflows();
});

const open: { close(): Promise<void> }[] = [];
after(async () => {
  for (const o of open) await o.close();
});

/** A gantry home whose activities run under the simulator. */
async function world(sim: Partial<Omit<SimOptions, 'bundle' | 'activities'>> = {}) {
  const home = await tempHome('gantry-wf-');
  const store = new LocalStore(join(home, 'store'));
  const catalogPath = join(home, 'catalog.duckdb');
  const side = createActivities({ store, catalogPath, backend: 'cpu', heavyThreads: 2, runtime: () => activityRuntime.getStore()! });
  const s = new TemporalSim({ bundle, activities: side.activities as unknown as SimOptions['activities'], ...sim });
  const w = {
    home, store, catalogPath, sim: s,
    /** What `gantry run --executor temporal` starts: the launcher's plan, then the study workflow. */
    async launch(study: PreparedStudy, opts: Omit<LaunchOptions, 'store'> = {}) {
      const plan = await planLaunch(study, store, Q, parseLaunchOptions({ concurrency: 2, checkpoint: { everyIterations: 25 }, ...opts }));
      await s.start(STUDY_WORKFLOW, plan.workflowId, [plan.input], Q.main);
      return plan;
    },
    async close() {
      await s.close();
      await side.close();
    },
  };
  open.push(w);
  return w;
}

const grid = (name: string, over: Record<string, unknown> = {}) =>
  toyStudy({ name, grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.noiseDim': [2, 3], 'model.hidden': [4, 6] } }], seeds: [0], ...over });

test('a grid: one child workflow per trial, bounded fan-out, continue-as-new between windows, shared steps once, the embedded executor\'s results; deterministic on replay', { timeout: 300_000 }, async () => {
  const spec = grid('wfgrid');
  const ref = await embeddedReference(spec);
  const w = await world();
  const study = await prepare(spec);
  const { workflowId } = await w.launch(study, { concurrency: 3, batchSize: 2 });
  const peaks: number[] = [];
  const polling = (async () => {
    while (w.sim.latest(workflowId).status === 'RUNNING' || w.sim.latest(workflowId).status === 'CONTINUED_AS_NEW') {
      const e = w.sim.latest(workflowId);
      if (e.status === 'RUNNING' && e.wf) {
        const p = await w.sim.query<StudyProgressInfo>(workflowId, STUDY_PROGRESS_QUERY).catch(() => undefined);
        if (p) {
          peaks.push(p.running.length);
          for (const r of p.running) {
            const t = await w.sim.query<TrialProgressInfo>(r.workflowId, 'trialProgress').catch(() => undefined);
            if (t) assert.equal(t.trialId, r.trialId);
          }
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const end = await w.sim.closed(workflowId);
  await polling;
  assert.equal(end.status, 'COMPLETED', w.sim.problems.join('\n'));
  const result = end.result as StudyResult;
  assert.deepEqual([result.total, result.done, result.failed, result.interrupted, result.cancelled], [5, 5, 0, 0, false]);
  assert.equal(result.runs, 3, 'five trials in windows of two: two continue-as-new');
  assert.equal(w.sim.runs((e) => e.workflowId === workflowId).length, 3);
  assert.ok(peaks.length > 0 && Math.max(...peaks) <= 3, `fan-out ${Math.max(...peaks)}`);
  assert.deepEqual(w.sim.problems, [], 'no workflow task failed; no run closed with a trial running');

  // Each trial ran once, as a child of the study, under its derived id.
  const trials = w.sim.runs((e) => e.type === TRIAL_WORKFLOW);
  assert.deepEqual(trials.map((e) => e.workflowId).sort(), study.trials.map((t) => trialWorkflowId(workflowId, t.id)).sort());
  assert.ok(trials.every((e) => e.status === 'COMPLETED'));

  // The very steps the embedded executor ran, each once (shared load/filter/tile included).
  const records = await assertSameResults(ref, w.store, 'embedded vs temporal workflows');
  assert.ok(records.every((r) => r.attempt === 1), records.filter((r) => r.attempt !== 1).map((r) => `${r.kind} ${r.attempt}`).join(', '));
  const loads = w.sim.scheduled.filter((a) => a.type === 'load');
  assert.equal(loads.length, 5);
  assert.deepEqual(loads.map((a) => (a.result as { cached: boolean }).cached).sort(), [false, true, true, true, true], 'one trial loaded the data; the others waited for it and found it cached');

  // Activity options as planned: queues per kind, heartbeats, retries.
  for (const a of w.sim.scheduled) {
    const queue = a.type === 'train' || a.type === 'score' ? Q.gpu : a.type === 'record' ? Q.catalog : Q.main;
    assert.equal(a.taskQueue, queue, `${a.type} on ${a.taskQueue}`);
    if (a.type !== 'record' && a.type !== 'planSlice') {
      assert.ok(a.options.heartbeatTimeoutMs! > 0);
      assert.equal(a.options.cancellationType, 1, 'WAIT_CANCELLATION_COMPLETED');
      assert.ok(a.options.nonRetryable.includes('UserError'));
    }
  }
  const train = w.sim.scheduled.find((a) => a.type === 'train')!;
  assert.ok(train.options.startToCloseMs >= 24 * 3600_000 && train.options.maxAttempts >= 10);
  assert.ok(w.sim.scheduled.some((a) => a.type === 'record' && (a.input as { withStudy: boolean }).withStudy), 'the study row is recorded');

  assert.deepEqual((await query(w.catalogPath, "SELECT count(*), count(DISTINCT trial_id), count(*) FILTER (WHERE status = 'done') FROM trials"))[0].map(Number), [5, 5, 5]);
  assert.ok((await w.sim.replayAll()) >= 3 + 5);
});

test('a plan too large to travel inline is read from the store in slices, window by window', { timeout: 300_000 }, async () => {
  const w = await world();
  const study = await prepare(grid('wfstored'));
  const { workflowId, planKey } = await w.launch(study, { inlineLimitBytes: 0, batchSize: 3 });
  assert.ok(planKey);
  const end = await w.sim.closed(workflowId);
  assert.equal(end.status, 'COMPLETED', w.sim.problems.join('\n'));
  assert.equal((end.result as StudyResult).done, 5);
  assert.equal((end.result as StudyResult).runs, 2);
  const slices = w.sim.scheduled.filter((a) => a.type === 'planSlice').map((a) => a.input);
  assert.deepEqual(slices, [{ key: planKey, offset: 0, limit: 3 }, { key: planKey, offset: 3, limit: 2 }]);
  await w.sim.replayAll();
});

test('when the history grows large (continue-as-new suggested), a run stops starting trials, drains, and hands the rest to the next run', { timeout: 300_000 }, async () => {
  for (const stored of [false, true]) {
    const w = await world({ suggestContinueAsNewAt: 30 });
    const study = await prepare(grid(stored ? 'wfsuggests' : 'wfsuggest'));
    const { workflowId } = await w.launch(study, { concurrency: 2, batchSize: 100, ...(stored ? { inlineLimitBytes: 0 } : {}) });
    const end = await w.sim.closed(workflowId);
    assert.equal(end.status, 'COMPLETED', w.sim.problems.join('\n'));
    const result = end.result as StudyResult;
    assert.equal(result.done, 5);
    assert.ok(result.runs > 1, `runs ${result.runs}`);
    const trials = w.sim.runs((e) => e.type === TRIAL_WORKFLOW);
    assert.equal(trials.length, 5, 'every trial started exactly once');
    assert.deepEqual(w.sim.problems, []);
    await w.sim.replayAll();
  }
});

test('cancelling the study cancels the running trial: training saves a checkpoint, ledger and catalog say interrupted; a new launch resumes it', { timeout: 300_000 }, async () => {
  const w = await world();
  const study = await prepare(longStudy('wfcancel', 6000));
  const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
  const { workflowId } = await w.launch(study);
  await until('a checkpoint at 50', async () => (await latestCheckpoint(w.store, train.key)) >= 50);
  const before = await latestCheckpoint(w.store, train.key);
  w.sim.cancel(workflowId);
  const end = await w.sim.closed(workflowId);
  assert.equal(end.status, 'CANCELLED', w.sim.problems.join('\n'));
  const [trial] = w.sim.runs((e) => e.type === TRIAL_WORKFLOW);
  assert.equal(trial.status, 'CANCELLED', 'the trial workflow ended cancelled, after its step confirmed');
  assert.equal(w.sim.scheduled.find((a) => a.type === 'train')?.outcome, 'cancelled');
  const rec = (await readRecord(w.store, train.key))!;
  assert.equal(rec.status, 'interrupted');
  const atCancel = await latestCheckpoint(w.store, train.key);
  assert.ok(atCancel >= before && atCancel < 6000);
  assert.deepEqual(await query(w.catalogPath, 'SELECT status FROM trials'), [['interrupted']], 'recorded although cancelled');
  assert.deepEqual(w.sim.problems, []);
  await w.sim.replayAll();

  // The same grid again: a new run of the same workflow id, training resumes.
  await w.launch(study);
  const again = await w.sim.closed(workflowId);
  assert.equal(again.status, 'COMPLETED', w.sim.problems.join('\n'));
  const done = (await readRecord(w.store, train.key))!;
  assert.deepEqual([done.status, done.attempt, done.resumedFrom], ['done', 2, atCancel]);
  assert.deepEqual(await query(w.catalogPath, 'SELECT status FROM trials'), [['done']]);
});

test('the cancel signal stops the study the same way and completes it with cancelled: true', { timeout: 300_000 }, async () => {
  const w = await world();
  const study = await prepare(longStudy('wfcancelsig', 6000));
  const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
  const { workflowId } = await w.launch(study);
  await until('a checkpoint at 50', async () => (await latestCheckpoint(w.store, train.key)) >= 50);
  w.sim.signal(workflowId, 'cancel');
  const end = await w.sim.closed(workflowId);
  assert.equal(end.status, 'COMPLETED', w.sim.problems.join('\n'));
  const r = end.result as StudyResult;
  assert.deepEqual([r.cancelled, r.interrupted, r.done], [true, 1, 0]);
  assert.equal((await readRecord(w.store, train.key))?.status, 'interrupted');
  await w.sim.replayAll();
});

test('a worker shutting down mid-training fails the attempt; the retry resumes from the checkpoint and ends bit-identical', { timeout: 300_000 }, async () => {
  const spec = longStudy('wfretry', 3000);
  const ref = await embeddedReference(spec);
  const w = await world();
  const study = await prepare(spec);
  const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
  const { workflowId } = await w.launch(study);
  await until('a checkpoint at 100', async () => (await latestCheckpoint(w.store, train.key)) >= 100);
  assert.ok(w.sim.interruptActivity('train'));
  const end = await w.sim.closed(workflowId);
  assert.equal(end.status, 'COMPLETED', w.sim.problems.join('\n'));
  const rec = (await readRecord(w.store, train.key))!;
  assert.equal(rec.attempt, 2);
  assert.ok((rec.resumedFrom ?? 0) >= 100, `resumed from ${rec.resumedFrom}`);
  const act = w.sim.scheduled.find((a) => a.type === 'train')!;
  assert.equal(act.attempts, 2);
  assert.ok(act.heartbeats.some((h) => h.checkpointKey && h.checkpointIteration! >= 25), 'heartbeats name the newest checkpoint');
  assert.ok(act.heartbeats.every((h) => JSON.stringify(h).length < 512));
  await assertSameResults(ref, w.store, 'uninterrupted vs retried');
  await w.sim.replayAll();
});

test('bad input fails the trials at once (non-retryable), each trial workflow fails with its outcome, the study reports why', { timeout: 300_000 }, async () => {
  const w = await world();
  // Bands a cube file does not have: only the filter step can tell (a synthetic cube's fail at validation).
  const bad = (await bandsBeyondCubeStudy(await tempHome())).base as Record<string, unknown>;
  const study = await prepare(grid('wfbad', { base: { ...(toyStudy().base as object), dataset: bad.dataset, filter: bad.filter } }));
  const { workflowId } = await w.launch(study, { concurrency: 2 });
  const end = await w.sim.closed(workflowId);
  assert.equal(end.status, 'COMPLETED', w.sim.problems.join('\n'));
  const r = end.result as StudyResult;
  assert.deepEqual([r.done, r.failed], [0, 5]);
  assert.match(r.failures[0].error, /^filter: band selection \[0, 99\) does not fit a cube of 6 bands/);
  const filters = w.sim.scheduled.filter((a) => a.type === 'filter');
  assert.equal(filters.length, 1, 'the shared step failed once and its other trials failed with it, as under the embedded executor');
  assert.ok(filters.every((a) => a.attempts === 1 && a.outcome === 'failed'), 'never retried');
  assert.ok(!w.sim.scheduled.some((a) => a.type === 'tile'), 'no step after the failure');
  const trials = w.sim.runs((e) => e.type === TRIAL_WORKFLOW);
  assert.ok(trials.every((e) => e.status === 'FAILED'));
  const f = failureOf(trials[0]);
  assert.ok(f instanceof ApplicationFailure && f.type === 'TrialFailed' && f.nonRetryable);
  assert.deepEqual((await query(w.catalogPath, "SELECT count(*) FROM trials WHERE status = 'failed'"))[0].map(Number), [5]);
  await w.sim.replayAll();
});

test('pause holds new trials (running ones finish), resume goes on', { timeout: 300_000 }, async () => {
  const w = await world();
  const study = await prepare(grid('wfpause'));
  const { workflowId } = await w.launch(study, { concurrency: 1 });
  w.sim.signal(workflowId, 'pause');
  const progress = () => w.sim.query<StudyProgressInfo>(workflowId, STUDY_PROGRESS_QUERY);
  await until('paused and idle', async () => {
    const p = await progress();
    return p.paused && p.running.length === 0;
  });
  const held = await progress();
  await new Promise((r) => setTimeout(r, 500));
  const still = await progress();
  assert.equal(still.done, held.done);
  assert.equal(still.running.length, 0);
  assert.ok(still.done < 5);
  w.sim.signal(workflowId, 'resume');
  const end = await w.sim.closed(workflowId);
  assert.equal((end.result as StudyResult).done, 5, w.sim.problems.join('\n'));
  await w.sim.replayAll();
});

test('a trial whose workflow id is still taken (an earlier run closing) is retried later, not failed', { timeout: 300_000 }, async () => {
  // Timers at 1/100 speed: the 15 s waits between tries take 150 ms, the 40 tries 6 s.
  const w = await world({ timerScale: 0.01 });
  const study = await prepare(grid('wfbusy'));
  const plan = await planLaunch(study, w.store, Q, parseLaunchOptions({ concurrency: 2 }));
  const release = w.sim.reserve(trialWorkflowId(plan.workflowId, study.trials[0].id));
  await w.sim.start(STUDY_WORKFLOW, plan.workflowId, [plan.input], Q.main);
  await until('the other trials to finish', async () => (await w.sim.query<StudyProgressInfo>(plan.workflowId, STUDY_PROGRESS_QUERY)).done === 4);
  assert.equal(w.sim.latest(plan.workflowId).status, 'RUNNING', `still waiting for the busy trial: ${JSON.stringify(w.sim.latest(plan.workflowId).result)} ${w.sim.problems}`);
  release();
  const end = await w.sim.closed(plan.workflowId);
  assert.deepEqual([(end.result as StudyResult).done, (end.result as StudyResult).failed], [5, 0], w.sim.problems.join('\n'));
  assert.equal(w.sim.runs((e) => e.type === TRIAL_WORKFLOW).length, 5);
  await w.sim.replayAll();
});

test('ledger and activity attempts agree: records say running/done with attempts as the embedded executor writes them', { timeout: 120_000 }, async () => {
  const w = await world();
  const study = await prepare(grid('wfledger', { grid: [{ set: { model: { kind: 'rx' } } }] }));
  const { workflowId } = await w.launch(study);
  await w.sim.closed(workflowId);
  const recs = await listRecords(w.store);
  assert.equal(recs.length, 7); // load, filter, tile, train, score, evaluate, export
  for (const r of recs) {
    assert.deepEqual([r.status, r.attempt], ['done', 1]);
    assert.ok(r.host && r.pid && r.finishedAt && r.durationMs !== undefined);
  }
  assert.equal(recs.find((r) => r.kind === 'load')?.reason, 'new');
});
