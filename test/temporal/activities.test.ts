/**
 * The Temporal activities, offline: the activity functions are called as a worker calls them, with
 * a stand-in for Temporal's activity context (attempt number, cancellation signal, heartbeats).
 * They run the embedded executor's step functions and ledger, so the same spec gives the same
 * trial ids, step keys and artifacts; a cancelled training saves a checkpoint and its retry resumes
 * from it bit-identically; bad input is never retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { PreparedStudy } from '../../executors/prepare.js';
import { runEmbedded } from '../../executors/embedded.js';
import { LocalStore } from '../../infra/store/local.js';
import { type ArtifactStore } from '../../infra/store/store.js';
import { listRecords, readRecord } from '../../infra/ledger.js';
import { assertSameResults, latestCheckpoint, longStudy, prepare, query } from './fixtures.js';
import { createActivities, type ActivityRuntime } from '../../executors/temporal/activities.js';
import { registerStudy } from '../../executors/prepare.js';
import { trialsToSchedule } from '../../executors/temporal/client.js';
import { writePlan } from '../../executors/temporal/plan.js';
import type { StepActivityInput, StepHeartbeat, TrialPlan } from '../../workflows/temporal/types.js';
import { bandsBeyondCubeStudy, tempHome, toyStudy } from '../helpers.js';

const POLICY = { everyIterations: 25, everyMinutes: 5, keep: 2 };
const LAUNCHED = '2026-01-01T00:00:00.000Z';

class FakeRuntime implements ActivityRuntime {
  readonly beats: StepHeartbeat[] = [];
  readonly abort = new AbortController();
  signal = this.abort.signal;
  constructor(public attempt = 1, public lastHeartbeat: unknown = undefined, public heartbeatTimeoutMs = 1500) {}
  heartbeat(d: StepHeartbeat): void {
    this.beats.push(structuredClone(d));
  }
}

interface Tracked {
  started: string[];
  ended: { trialId: string; status: string; points: number }[];
}

function setup(store: ArtifactStore, home: string, tracked?: Tracked) {
  let rt = new FakeRuntime();
  const tracker = tracked && {
    trialStarted: (t: { id: string }) => void tracked.started.push(t.id),
    trialEnded: (trialId: string, status: string, points: unknown[]) => void tracked.ended.push({ trialId, status, points: points.length }),
  };
  const side = createActivities({ store, catalogPath: join(home, 'catalog.duckdb'), backend: 'cpu', heavyThreads: 2, runtime: () => rt, progressBeatMs: 0, tracker });
  return {
    ...side,
    use(r: FakeRuntime) {
      rt = r;
      return r;
    },
  };
}

const input = (study: string, trialId: string, call: TrialPlan['steps'][number], maxAttempts = 3): StepActivityInput => ({
  call, trialId, study, checkpoint: POLICY, launchedAt: LAUNCHED, maxAttempts,
});

/** Every trial's steps through the activities, in plan order, then the record activity. */
async function runAll(a: ReturnType<typeof setup>, study: PreparedStudy): Promise<{ cached: number; ran: number }> {
  let cached = 0;
  let ran = 0;
  for (const t of study.trials) {
    for (const s of t.steps) {
      const r = await a.activities[s.kind](input(study.study, t.id, s));
      if (r.cached) cached++;
      else ran++;
    }
  }
  await a.activities.record({ study: study.study, trialIds: [], withStudy: true });
  await a.activities.record({ study: study.study, trialIds: study.trials.map((t) => t.id), withStudy: false });
  return { cached, ran };
}

test('the activities run the embedded executor\'s steps: same trial ids, step keys, outputs and artifacts; done steps are cached; the catalog matches', { timeout: 240_000 }, async () => {
  const spec = toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.noiseDim': [2, 3] } }], seeds: [0, 1] });
  const embeddedHome = await tempHome();
  const embedded = await prepare(spec);
  const eStore = new LocalStore(join(embeddedHome, 'store'));
  await runEmbedded(embedded, { store: eStore, catalogPath: join(embeddedHome, 'catalog.duckdb'), lockPath: join(embeddedHome, 'run.lock'), concurrency: 2, backend: 'cpu' });

  const home = await tempHome();
  const study = await prepare(spec);
  assert.deepEqual(study.trials.map((t) => t.id), embedded.trials.map((t) => t.id), 'same trial ids');
  const store = new LocalStore(join(home, 'store'));
  await registerStudy(store, study, LAUNCHED, 'temporal');
  const tracked: Tracked = { started: [], ended: [] };
  const a = setup(store, home, tracked);
  try {
    const rt = a.use(new FakeRuntime());
    const first = await runAll(a, study);
    // The MLflow hook: each recorded trial's run, then all its catalog points and its status.
    assert.deepEqual(tracked.started.sort(), study.trials.map((t) => t.id).sort());
    const pointsInCatalog = await query(join(home, 'catalog.duckdb'), 'SELECT trial_id, count(*) FROM metrics GROUP BY ALL');
    assert.deepEqual(tracked.ended.map((e) => [e.trialId, e.points]).sort(), pointsInCatalog.map(([id, n]) => [id, Number(n)]).sort());
    assert.ok(tracked.ended.every((e) => e.status === 'done'));
    assert.equal(first.ran, study.uniqueSteps, 'each distinct step ran once');
    const recs = await assertSameResults(eStore, store, 'embedded vs activities');
    assert.ok(recs.every((r) => r.status === 'done' && r.attempt === 1));
    for (const b of rt.beats) assert.ok(JSON.stringify(b).length < 512, `heartbeat too large: ${JSON.stringify(b)}`);
    assert.ok(rt.beats.some((b) => b.kind === 'train' && b.iteration > 0 && b.iteration <= b.total), 'training heartbeats its iteration');

    const second = await runAll(a, study);
    assert.deepEqual(second, { cached: study.trials.reduce((n, t) => n + t.steps.length, 0), ran: 0 }, 'a relaunch recomputes nothing');
    assert.ok((await listRecords(store)).every((r) => r.attempt === 1));
    assert.deepEqual(await trialsToSchedule(store, study.trials), [], 'nothing is left to schedule');

    const sql = 'SELECT t.trial_id, t.cell, t.status, m.name, m.step, m.value FROM trials t JOIN metrics m USING (trial_id) ORDER BY ALL';
    assert.deepEqual(await query(join(home, 'catalog.duckdb'), sql), await query(join(embeddedHome, 'catalog.duckdb'), sql), 'same catalog rows');
    const counts = await query(join(home, 'catalog.duckdb'), 'SELECT count(*), count(DISTINCT trial_id) FROM trials');
    assert.deepEqual(counts[0].map(Number), [study.trials.length, study.trials.length], 'recording twice duplicates nothing');
  } finally {
    await a.close();
  }
});

const LONG = longStudy('long', 3000);

test('cancelling training saves a checkpoint and reports a cancellation; the retry resumes from it and ends bit-identical', { timeout: 240_000 }, async () => {
  const study = await prepare(LONG);
  const [t] = study.trials;
  const train = t.steps.find((s) => s.kind === 'train')!;

  // Reference: the same training, uninterrupted.
  const refHome = await tempHome();
  const refStore = new LocalStore(join(refHome, 'store'));
  const ref = setup(refStore, refHome);
  try {
    for (const s of t.steps.slice(0, 4)) await ref.activities[s.kind](input(study.study, t.id, s));
  } finally {
    await ref.close();
  }
  const refModel = (await readRecord(refStore, train.key))!.artifacts.model;

  const home = await tempHome();
  const store = new LocalStore(join(home, 'store'));
  const a = setup(store, home);
  try {
    for (const s of t.steps.slice(0, 3)) await a.activities[s.kind](input(study.study, t.id, s));
    const rt1 = a.use(new FakeRuntime(1));
    const running = a.activities.train(input(study.study, t.id, train, 20));
    const deadline = Date.now() + 60_000;
    while ((await latestCheckpoint(store, train.key)) < 100) {
      assert.ok(Date.now() < deadline, 'no checkpoint appeared in time');
      await new Promise((r) => setTimeout(r, 10));
    }
    rt1.abort.abort();
    await assert.rejects(running, (e) => e instanceof CancelledFailure && /cancelled at iteration/.test((e as Error).message));
    const atCancel = await latestCheckpoint(store, train.key);
    assert.ok(atCancel >= 100);
    const rec1 = (await readRecord(store, train.key))!;
    assert.equal(rec1.status, 'interrupted');
    assert.equal(rec1.attempt, 1);
    const lastBeat = rt1.beats.at(-1)!;
    assert.ok(lastBeat.iteration >= 100 && lastBeat.total === 3000, JSON.stringify(lastBeat));
    assert.ok(rt1.beats.every((b) => JSON.stringify(b).length < 512), 'heartbeats carry a few numbers, never weights');

    // Temporal retries the activity (attempt 2, with the last heartbeat's details): it resumes.
    const rt2 = a.use(new FakeRuntime(2, lastBeat));
    const r = await a.activities.train(input(study.study, t.id, train, 20));
    assert.equal(r.cached, false);
    const rec2 = (await readRecord(store, train.key))!;
    assert.equal(rec2.status, 'done');
    assert.equal(rec2.attempt, 2);
    assert.equal(rec2.resumedFrom, atCancel);
    assert.match(rec2.reason, /^resumed from checkpoint at iteration \d+$/);
    assert.ok(rt2.beats.some((b) => b.resumedFrom === atCancel));
    assert.deepEqual(rec2.artifacts.model, { ...refModel, key: rec2.artifacts.model.key }, 'the resumed model is bit-identical to the uninterrupted one');
    assert.equal(rec2.artifacts.model.sha256, refModel.sha256);
  } finally {
    await a.close();
  }
});

test('bad input fails at once, non-retryable, leaving a failed record and no artifact; a transient failure is retried and the ledger says why', { timeout: 120_000 }, async () => {
  const home = await tempHome();
  const local = new LocalStore(join(home, 'store'));
  let failures = 0;
  const flaky = Object.assign(Object.create(local) as LocalStore, {
    put: async (key: string, data: Uint8Array | string) => {
      if (key.endsWith('/out/train-index') && failures++ < 2) throw new Error('disk hiccup (injected)');
      return local.put(key, data);
    },
  });
  const a = setup(flaky, home);
  try {
    const bad = await prepare(await bandsBeyondCubeStudy(home));
    const [bt] = bad.trials;
    await a.activities.load(input(bad.study, bt.id, bt.steps[0]));
    a.use(new FakeRuntime(1));
    await assert.rejects(a.activities.filter(input(bad.study, bt.id, bt.steps[1])), (e) => {
      assert.ok(e instanceof ApplicationFailure, String(e));
      assert.equal(e.type, 'UserError');
      assert.equal(e.nonRetryable, true);
      assert.match(e.message, /band selection \[0, 99\) does not fit a cube of 6 bands/);
      return true;
    });
    const f = (await readRecord(local, bt.steps[1].key))!;
    assert.equal(f.status, 'failed');
    assert.deepEqual((await local.list(`steps/${f.key}`)).filter((k) => !k.endsWith('record.json')), []);

    const ok = await prepare(toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }] }));
    const [ot] = ok.trials;
    for (const s of ot.steps.slice(0, 2)) await a.activities[s.kind](input(ok.study, ot.id, s));
    const tile = ot.steps[2];
    // Attempt 1 of 3 fails: retryable, the record stays 'running' with the error.
    a.use(new FakeRuntime(1));
    await assert.rejects(a.activities.tile(input(ok.study, ot.id, tile, 3)), (e) => !(e instanceof ApplicationFailure && e.nonRetryable) && /disk hiccup/.test((e as Error).message));
    let rec = (await readRecord(local, tile.key))!;
    assert.deepEqual([rec.status, rec.attempt, rec.error], ['running', 1, 'disk hiccup (injected)']);
    // Attempt 2 fails again and 3 succeeds; the record counts attempts and says why it ran.
    a.use(new FakeRuntime(2));
    await assert.rejects(a.activities.tile(input(ok.study, ot.id, tile, 3)));
    a.use(new FakeRuntime(3));
    await a.activities.tile(input(ok.study, ot.id, tile, 3));
    rec = (await readRecord(local, tile.key))!;
    assert.deepEqual([rec.status, rec.attempt, rec.reason], ['done', 3, 'retry after: disk hiccup (injected)']);
    assert.deepEqual(Object.keys(rec.artifacts).sort(), ['labels', 'samples', 'train-index']);

    // The last allowed attempt's failure is final: 'failed'.
    failures = 0;
    const other = await prepare(toyStudy({ base: { ...(toyStudy().base as object), split: { maxTrain: 50 } }, grid: [{ set: { model: { kind: 'rx' } } }] }));
    const [xt] = other.trials;
    for (const s of xt.steps.slice(0, 2)) await a.activities[s.kind](input(other.study, xt.id, s));
    a.use(new FakeRuntime(1));
    await assert.rejects(a.activities.tile(input(other.study, xt.id, xt.steps[2], 1)));
    assert.equal((await readRecord(local, xt.steps[2].key))!.status, 'failed');

    // Malformed inputs are refused without running anything.
    await assert.rejects(a.activities.tile({ ...input(ok.study, ot.id, tile), trialId: '' }), (e) => e instanceof ApplicationFailure && e.nonRetryable);
    await assert.rejects(a.activities.train(input(ok.study, ot.id, tile)), (e) => e instanceof ApplicationFailure && e.nonRetryable && /activity train was given a tile step/.test(e.message));
  } finally {
    await a.close();
  }
});

test('planSlice reads a stored plan in slices; a plan missing from the worker\'s store is a non-retryable error naming GANTRY_STORE', async () => {
  const home = await tempHome();
  const store = new LocalStore(join(home, 'store'));
  const study = await prepare(toyStudy());
  const key = await writePlan(store, study.study, study.trials);
  assert.equal(await writePlan(store, study.study, study.trials), key, 'content-addressed');
  const a = setup(store, home);
  try {
    const page = await a.activities.planSlice({ key, offset: 2, limit: 3 });
    assert.deepEqual(page.map((t) => t.id), study.trials.slice(2, 5).map((t) => t.id));
    assert.deepEqual(page[0].steps, study.trials[2].steps);
    await assert.rejects(a.activities.planSlice({ key: 'temporal/plans/0123abcd.json', offset: 0, limit: 1 }), (e) => e instanceof ApplicationFailure && e.nonRetryable && /GANTRY_STORE/.test(e.message));
  } finally {
    await a.close();
  }
});
