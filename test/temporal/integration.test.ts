/**
 * The Temporal executor against a real server. Runs when TEMPORAL_ADDRESS is set, or when the
 * `temporal` CLI is on PATH (then a dev server is started on a free port and stopped afterwards);
 * otherwise every test is skipped and says why. Workers run as child processes
 * (`gantry worker`, the real CLI), so a test can kill -9 one mid-training.
 *
 *   npm run build && TEMPORAL_ADDRESS=localhost:7233 node --test dist/test/temporal/integration.test.js
 *   npm run build && PATH=$PATH:~/.temporalio/bin node --test dist/test/temporal/integration.test.js
 *
 * Each run uses its own study names and task queues, so a shared server's other workflows and
 * workers are never touched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { PreparedStudy } from '../../infra/executor/prepare.js';
import { LocalStore } from '../../infra/store/local.js';
import { type ArtifactStore } from '../../infra/store/store.js';
import { listRecords, readRecord, recordKey, writeRecord } from '../../infra/ledger.js';
import { temporalSettings, type TemporalSettings } from '../../infra/temporal/connection.js';
import { cancelStudy, launchStudy, signalStudy, studyProgress, waitForStudy, type LaunchOptions } from '../../infra/temporal/client.js';
import type { StudyProgressInfo } from '../../workflows/temporal/types.js';
import { tempHome, toyStudy } from '../helpers.js';
import { assertSameResults, embeddedReference, latestCheckpoint, longStudy, prepare, query, until } from './fixtures.js';
import { findTemporalServer, SKIP_MESSAGE, startWorker, type TemporalServer, type WorkerProcess } from './harness.js';

let server: TemporalServer | undefined;
try {
  server = await findTemporalServer();
} catch (e) {
  // A server that is configured but broken is a failure, not a skip.
  test('the Temporal server starts', () => {
    throw e;
  });
}
const skip = server ? false : SKIP_MESSAGE;
if (!server) process.stdout.write(`temporal integration suite ${SKIP_MESSAGE}\n`);
const TAG = randomBytes(3).toString('hex');
const TIMEOUT = 600_000;

before(() => {
  if (server) process.stdout.write(`temporal integration suite against ${server.origin} (tag ${TAG})\n`);
});
after(async () => {
  await server?.stop();
});

/** A gantry home, its settings and workers: one per test, on task queues of its own. */
class Deployment {
  readonly queue: string;
  readonly conn: TemporalSettings;
  readonly store: ArtifactStore;
  private readonly workers: WorkerProcess[] = [];
  constructor(readonly home: string, name: string) {
    this.queue = `gantry-it-${TAG}-${name}`;
    this.conn = temporalSettings({ TEMPORAL_ADDRESS: server!.address, TEMPORAL_NAMESPACE: server!.namespace, GANTRY_TASK_QUEUE: this.queue });
    this.store = new LocalStore(join(home, 'store'));
  }
  get catalogPath(): string {
    return join(this.home, 'catalog.duckdb');
  }
  async worker(): Promise<WorkerProcess> {
    const w = startWorker({
      TEMPORAL_ADDRESS: server!.address, TEMPORAL_NAMESPACE: server!.namespace, GANTRY_TASK_QUEUE: this.queue,
      GANTRY_HOME: this.home, GANTRY_STORE: join(this.home, 'store'), GANTRY_CATALOG: this.catalogPath, GANTRY_BACKEND: 'cpu',
    }, ['--max-concurrent', '2']);
    this.workers.push(w);
    await w.ready;
    return w;
  }
  async launch(study: PreparedStudy, opts: Omit<LaunchOptions, 'store'> = {}) {
    return launchStudy(study, this.conn, { store: this.store, concurrency: 2, checkpoint: { everyIterations: 25 }, ...opts });
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
  /** Worker output, for a failing assertion's message. */
  logs(): string {
    return this.workers.map((w, i) => `--- worker ${i} ---\n${w.output()}`).join('\n');
  }
}

async function deployment(name: string): Promise<Deployment> {
  return new Deployment(await tempHome('gantry-temporal-it-'), name);
}

const grid = (name: string) => toyStudy({ name, grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.noiseDim': [2, 3] } }], seeds: [0] });

test('a small grid runs to the end across continue-as-new, with the same trial ids, step keys and artifacts as the embedded executor; shared steps run once', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-grid`;
  const d = await deployment('grid');
  try {
    const ref = await embeddedReference(grid(name));
    await d.worker();
    const study = await prepare(grid(name));
    const launch = await d.launch(study, { batchSize: 2 });
    assert.deepEqual([launch.attached, launch.scheduled, launch.alreadyDone, launch.total], [false, 3, 0, 3]);
    const seen: StudyProgressInfo[] = [];
    const result = await waitForStudy(d.conn, launch.workflowId, { onProgress: (p) => seen.push(p), intervalMs: 200 });
    assert.ok(result, d.logs());
    assert.deepEqual([result.done, result.failed, result.interrupted, result.cancelled], [3, 0, 0, false], JSON.stringify(result));
    assert.equal(result.runs, 2, 'three trials in windows of two: one continue-as-new');
    assert.ok(seen.every((p) => p.running.length <= 2), 'bounded fan-out');
    const records = await assertSameResults(ref, d.store, 'embedded vs temporal');
    assert.ok(records.every((r) => r.status === 'done' && r.attempt === 1), 'every step ran once: shared load/filter/tile were computed by one trial and found cached by the others');
    assert.deepEqual((await query(d.catalogPath, "SELECT count(*), count(*) FILTER (WHERE status = 'done') FROM trials"))[0].map(Number), [3, 3]);
    assert.deepEqual((await query(d.catalogPath, 'SELECT study FROM studies'))[0], [name]);
    const status = await studyProgress(d.conn, { study: name });
    assert.equal(status[0]?.workflowId, launch.workflowId);
    assert.equal(status[0]?.status, 'COMPLETED');
    assert.equal(status[0]?.progress?.done, 3);
  } finally {
    await d.close();
  }
});

test('kill -9 a worker mid-training, start another: training resumes from its checkpoint and ends bit-identical to an uninterrupted run', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-resume`;
  const spec = longStudy(name, 3000);
  const d = await deployment('resume');
  try {
    const ref = await embeddedReference(spec);
    const study = await prepare(spec);
    const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
    const w1 = await d.worker();
    // A dead worker is noticed after the train heartbeat timeout: short here, minutes by default.
    const launch = await d.launch(study, { tuning: { train: { heartbeatTimeoutMs: 5000, initialIntervalMs: 1000 } } });
    await until('a checkpoint at iteration 100', async () => (await latestCheckpoint(d.store, train.key)) >= 100, 180_000, () => d.logs());
    w1.child.kill('SIGKILL');
    assert.equal((await w1.exited).signal, 'SIGKILL');
    const atKill = await latestCheckpoint(d.store, train.key);
    assert.equal((await readRecord(d.store, train.key))?.status, 'running', 'the killed attempt left its record running');
    assert.ok(atKill < 3000, 'training was still going when the worker died');

    await d.worker();
    const result = await waitForStudy(d.conn, launch.workflowId, { intervalMs: 500 });
    assert.equal(result?.done, 1, `${JSON.stringify(result)}\n${d.logs()}`);
    const rec = (await readRecord(d.store, train.key))!;
    assert.equal(rec.status, 'done');
    assert.equal(rec.attempt, 2);
    assert.ok(rec.resumedFrom !== undefined && rec.resumedFrom > 0, 'resumed, not restarted');
    assert.equal(rec.resumedFrom, atKill, 'from the newest checkpoint');
    assert.match(rec.reason, /^resumed from checkpoint at iteration \d+$/);
    for (const r of await listRecords(d.store)) if (r.kind !== 'train') assert.equal(r.attempt, 1, `${r.kind} ran again`);
    await assertSameResults(ref, d.store, 'uninterrupted embedded vs resumed temporal');
  } finally {
    await d.close();
  }
});

test('cancel a study: training stops after a checkpoint, the ledger and the catalog say interrupted; launching it again resumes it', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-cancel`;
  const d = await deployment('cancel');
  try {
    const study = await prepare(longStudy(name, 6000));
    const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
    await d.worker();
    const tuning = { train: { heartbeatTimeoutMs: 4000 } };
    const launch = await d.launch(study, { tuning });
    await until('a checkpoint at iteration 50', async () => (await latestCheckpoint(d.store, train.key)) >= 50, 180_000, () => d.logs());
    const before = await latestCheckpoint(d.store, train.key);
    const cancelled = await cancelStudy(d.conn, { workflowId: launch.workflowId }, { wait: true });
    assert.deepEqual(cancelled, [launch.workflowId]);
    const [st] = await studyProgress(d.conn, { workflowId: launch.workflowId });
    assert.equal(st.status, 'CANCELLED');
    const rec = (await readRecord(d.store, train.key))!;
    assert.equal(rec.status, 'interrupted', d.logs());
    assert.match(rec.error ?? '', /cancelled at iteration/);
    const atCancel = await latestCheckpoint(d.store, train.key);
    assert.ok(atCancel >= before, 'it saved a checkpoint when it stopped');
    assert.ok(atCancel < 6000);
    assert.deepEqual(await query(d.catalogPath, 'SELECT status FROM trials'), [['interrupted']]);

    const again = await d.launch(study, { tuning });
    assert.equal(again.workflowId, launch.workflowId);
    assert.deepEqual([again.attached, again.scheduled], [false, 1]);
    const result = await waitForStudy(d.conn, again.workflowId, { intervalMs: 500 });
    assert.equal(result?.done, 1, d.logs());
    const done = (await readRecord(d.store, train.key))!;
    assert.deepEqual([done.status, done.attempt, done.resumedFrom], ['done', 2, atCancel]);
    assert.deepEqual(await query(d.catalogPath, 'SELECT status FROM trials'), [['done']]);
  } finally {
    await d.close();
  }
});

test('relaunching the same grid attaches while it runs, then schedules only missing and failed cells; pause holds new trials; no trial is ever duplicated', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-relaunch`;
  const d = await deployment('relaunch');
  try {
    const study = await prepare(grid(name));
    await d.worker();
    // The plan goes through the store here (as for grids of thousands of trials).
    const first = await d.launch(study, { concurrency: 1, inlineLimitBytes: 0 });
    assert.ok(first.planKey, 'the plan was written to the store');
    assert.deepEqual(await signalStudy(d.conn, { workflowId: first.workflowId }, 'pause'), [first.workflowId]);
    const second = await d.launch(study, { concurrency: 1 });
    assert.deepEqual([second.workflowId, second.attached, second.scheduled], [first.workflowId, true, 0], 'a second launch of a running grid attaches to it');

    const progress = async () => (await studyProgress(d.conn, { workflowId: first.workflowId }))[0].progress as StudyProgressInfo;
    await until('the study to report itself paused', async () => (await progress())?.paused === true);
    await until('running trials to finish while paused', async () => (await progress()).running.length === 0, 120_000, () => d.logs());
    const held = await progress();
    await new Promise((r) => setTimeout(r, 3000));
    const still = await progress();
    assert.equal(still.done + still.running.length, held.done, 'no trial started while paused');
    assert.ok(still.done < 3, 'paused before the end');
    await signalStudy(d.conn, { workflowId: first.workflowId }, 'resume');
    const r1 = await waitForStudy(d.conn, first.workflowId, { intervalMs: 300 });
    assert.equal(r1?.done, 3, d.logs());

    // One cell's result goes missing, another's evaluation is marked failed: a relaunch redoes just those.
    const [, missing, failed] = study.trials;
    const evalOf = (t: typeof missing) => t.steps.find((s) => s.kind === 'evaluate')!;
    await d.store.delete(recordKey(evalOf(missing).key));
    const rec = (await readRecord(d.store, evalOf(failed).key))!;
    await writeRecord(d.store, { ...rec, status: 'failed', error: 'injected failure' });
    const third = await d.launch(study);
    assert.deepEqual([third.workflowId, third.attached, third.scheduled, third.alreadyDone], [first.workflowId, false, 2, 1]);
    const r3 = await waitForStudy(d.conn, third.workflowId, { intervalMs: 300 });
    assert.deepEqual([r3?.done, r3?.alreadyDone, r3?.failed], [2, 1, 0], d.logs());
    const after = new Map((await listRecords(d.store)).map((r) => [r.key, r]));
    assert.equal(after.get(evalOf(missing).key)?.attempt, 1);
    assert.equal(after.get(evalOf(failed).key)?.attempt, 2);
    assert.equal(after.get(evalOf(failed).key)?.reason, 'previous run failed: injected failure');
    for (const r of after.values()) if (r.kind !== 'evaluate') assert.equal(r.attempt, 1, `${r.kind} ran again`);

    const fourth = await d.launch(study);
    assert.deepEqual([fourth.scheduled, fourth.alreadyDone], [0, 3]);
    assert.equal((await waitForStudy(d.conn, fourth.workflowId))?.alreadyDone, 3);
    assert.deepEqual((await query(d.catalogPath, "SELECT count(*), count(DISTINCT trial_id), count(*) FILTER (WHERE status = 'done') FROM trials"))[0].map(Number), [3, 3, 3]);
  } finally {
    await d.close();
  }
});
