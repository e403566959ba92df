/**
 * The Temporal executor against a real server. Runs when TEMPORAL_ADDRESS is set, or when the
 * `temporal` CLI is found (GANTRY_TEMPORAL_BIN, the live-servers directory, PATH: then a dev
 * server is started on free loopback ports and stopped afterwards); otherwise every test is
 * skipped and says why, and with GANTRY_LIVE=require a missing server fails the suite. Workers
 * run as child processes (`gantry worker`, the real CLI), so a test can kill -9 one mid-training.
 *
 *   npx tsc -p . && GANTRY_TEMPORAL_BIN=~/go/bin/temporal node --test dist/test/temporal/integration.test.js
 *   npx tsc -p . && TEMPORAL_ADDRESS=localhost:7233 node --test dist/test/temporal/integration.test.js
 *
 * Each run uses its own study names and task queues, so a shared server's other workflows and
 * workers are never touched. Besides gantry's own counters, the tests read what the server
 * recorded (the runs of each chain, the commands in their histories): see history.ts.
 *
 * Waits are on conditions (a checkpoint written, a query's answer, the server's pending state),
 * each bounded; none is a fixed sleep. On a loaded 2-core machine the suite takes a few minutes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PreparedStudy } from '../../executors/prepare.js';
import { LocalStore } from '../../infra/store/local.js';
import { type ArtifactStore } from '../../infra/store/store.js';
import { listRecords, readRecord, recordKey, writeRecord } from '../../infra/ledger.js';
import { connectClient, temporalSettings, type ConnectedClient, type TemporalSettings, type TemporalTarget } from '../../executors/temporal/connection.js';
import { QUIET_PROGRESS_MS } from '../../cli/temporal.js';
import { cancelStudy, launchStudy, signalStudy, studyProgress, waitForStudy, type LaunchOptions } from '../../executors/temporal/client.js';
import { trialWorkflowId } from '../../workflows/temporal/ids.js';
import { PLAN_PAGE } from '../../workflows/temporal/scheduler.js';
import type { PlanSliceInput, StudyInput, StudyProgressInfo } from '../../workflows/temporal/types.js';
import { bandsBeyondCubeStudy, runCli, tempHome, toyStudy, writeStudy } from '../helpers.js';
import { MlflowClient, type MlflowRun } from '../../infra/mlflow/client.js';
import { liveTrackingUri, mlflowTargets } from '../infra/mlflow-contract-server.js';
import { liveRequired, missingServer } from '../live/servers.js';
import { assertSameResults, embeddedReference, embeddedRun, latestCheckpoint, longStudy, prepare, query, until } from './fixtures.js';
import { findTemporalServer, SKIP_MESSAGE, startWorker, type TemporalServer, type WorkerProcess } from './harness.js';
import { activityInputs, childrenStarted, latestChain, quiescent, runChain, signalsReceived, type RunHistory } from './history.js';

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
/** Per test: generous for a loaded 2-core machine, still bounded. */
const TIMEOUT = 600_000;
/**
 * How soon the server must hear of a running step (progress, or its reply to a cancel): workers
 * heartbeat every 5 s; the SDK's default throttle was up to a minute.
 */
const HEARTBEAT_BOUND_MS = 30_000;

before(() => {
  if (server) process.stdout.write(`temporal integration suite: ${server.version}; at ${server.address} (${server.origin}), namespace ${server.namespace}, tag ${TAG}\n`);
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
  private connected?: ConnectedClient;
  private ok = false;
  constructor(readonly home: string, name: string) {
    this.queue = `gantry-it-${TAG}-${name}`;
    this.conn = temporalSettings({ TEMPORAL_ADDRESS: server!.address, TEMPORAL_NAMESPACE: server!.namespace, GANTRY_TASK_QUEUE: this.queue });
    this.store = new LocalStore(join(home, 'store'));
  }
  get catalogPath(): string {
    return join(this.home, 'catalog.duckdb');
  }
  /** One connection for the test's polling (launches connect on their own, as the CLI does). */
  async target(): Promise<TemporalTarget> {
    this.connected ??= await connectClient(this.conn);
    return { client: this.connected.client, settings: this.conn };
  }
  /** The environment of this deployment's `gantry` processes (workers and the CLI). */
  env(): Record<string, string> {
    return {
      TEMPORAL_ADDRESS: server!.address, TEMPORAL_NAMESPACE: server!.namespace, GANTRY_TASK_QUEUE: this.queue,
      GANTRY_HOME: this.home, GANTRY_STORE: join(this.home, 'store'), GANTRY_CATALOG: this.catalogPath, GANTRY_BACKEND: 'cpu',
    };
  }
  async worker(extra: Record<string, string> = {}): Promise<WorkerProcess> {
    const w = startWorker({ ...this.env(), ...extra }, ['--max-concurrent', '2']);
    this.workers.push(w);
    await w.ready;
    return w;
  }
  async launch(study: PreparedStudy, opts: Omit<LaunchOptions, 'store'> = {}) {
    return launchStudy(study, this.conn, { store: this.store, concurrency: 2, checkpoint: { everyIterations: 25 }, ...opts });
  }
  async progress(workflowId: string): Promise<StudyProgressInfo | undefined> {
    return (await studyProgress(await this.target(), { workflowId }))[0]?.progress as StudyProgressInfo | undefined;
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.connected?.close().catch(() => {});
    if (this.ok) await rm(this.home, { recursive: true, force: true });
  }
  /**
   * The end of a test that passed: no worker failed a workflow task (a nondeterministic replay, a
   * bug in workflow code, which the server would retry forever); the home can go. A failed test keeps it.
   */
  passed(): void {
    assert.doesNotMatch(this.logs(), /nondetermin|TMPRL1100|workflow task fail|failing workflow task/i);
    this.ok = true;
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

/** The study input a run started with, as the server recorded it. */
function startInput(run: RunHistory): { input: StudyInput; bytes: number } {
  const payload = run.events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0];
  return { input: JSON.parse(Buffer.from(payload.data!).toString('utf8')) as StudyInput, bytes: payload.data!.length };
}

test('a grid larger than the batch size runs to the end across continue-as-new, with the same trial ids, step keys and artifacts as the embedded executor; shared steps run once', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-grid`;
  const d = await deployment('grid');
  try {
    const ref = await embeddedReference(grid(name));
    await d.worker();
    const study = await prepare(grid(name));
    const batchSize = 2;
    assert.ok(study.trials.length > batchSize, 'the grid is larger than the batch size');
    const launch = await d.launch(study, { batchSize });
    assert.deepEqual([launch.attached, launch.scheduled, launch.alreadyDone, launch.total], [false, 3, 0, 3]);
    const seen: StudyProgressInfo[] = [];
    const result = await waitForStudy(d.conn, launch.workflowId, { onProgress: (p) => seen.push(p), intervalMs: 200 });
    assert.ok(result, d.logs());
    assert.deepEqual([result.done, result.failed, result.interrupted, result.cancelled], [3, 0, 0, false], JSON.stringify(result));
    assert.equal(result.runs, 2, 'three trials in windows of two: one continue-as-new');
    assert.ok(seen.every((p) => p.running.length <= 2), 'bounded fan-out');

    // What the server holds: two runs, the first continued as new after starting its window of two.
    const runs = await runChain(d.conn, launch.workflowId, launch.runId);
    assert.deepEqual(runs.map((r) => r.closed), ['continued-as-new', 'completed']);
    assert.deepEqual(runs.map((r) => childrenStarted(r).length), [2, 1]);
    assert.deepEqual(runs.flatMap(childrenStarted).sort(), study.trials.map((t) => trialWorkflowId(launch.workflowId, t.id)).sort(), 'each trial started once');
    assert.equal(startInput(runs[1]).input.carry?.counters.done, 2, 'the second run carries the first one\'s counters');

    const records = await assertSameResults(ref, d.store, 'embedded vs temporal');
    assert.ok(records.every((r) => r.status === 'done' && r.attempt === 1), 'every step ran once: shared load/filter/tile were computed by one trial and found cached by the others');
    assert.deepEqual((await query(d.catalogPath, "SELECT count(*), count(*) FILTER (WHERE status = 'done') FROM trials"))[0].map(Number), [3, 3]);
    assert.deepEqual((await query(d.catalogPath, 'SELECT study FROM studies'))[0], [name]);
    const status = await studyProgress(d.conn, { study: name });
    assert.equal(status[0]?.workflowId, launch.workflowId);
    assert.equal(status[0]?.status, 'COMPLETED');
    assert.equal(status[0]?.progress?.done, 3);
    d.passed();
  } finally {
    await d.close();
  }
});

test('an image study (scan, screen, extract, split, PCA) runs on Temporal with the same step keys, outputs and artifacts as embedded', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-images`;
  const spec = {
    name,
    base: {
      dataset: { kind: 'synthetic-textures', normals: 16, anomalies: 8, size: 32, seed: 2 },
      tiling: { kind: 'patches', size: 16, stride: 16, threshold: 0 },
      split: { protocol: 'fractions', normal: [0.5, 0.25, 0.25], anomalous: [0, 0.5, 0.5] },
      model: { kind: 'pca', components: 4 },
    },
    seeds: [0, 1],
  };
  const d = await deployment('images');
  try {
    const ref = await embeddedReference(spec);
    await d.worker();
    const launch = await d.launch(await prepare(spec));
    const result = await waitForStudy(d.conn, launch.workflowId, { intervalMs: 200 });
    assert.ok(result, d.logs());
    assert.deepEqual([result.done, result.failed], [2, 0], JSON.stringify(result));
    const records = await assertSameResults(ref, d.store, 'embedded vs temporal (images)');
    assert.deepEqual([...new Set(records.map((r) => r.kind))].sort(), ['evaluate', 'export', 'extract', 'scan', 'score', 'screen', 'split', 'train']);
    const m = await query(d.catalogPath, "SELECT count(*) FROM final_metrics WHERE name IN ('auc', 'image_auc')");
    assert.equal(Number(m[0][0]), 4);
    d.passed();
  } finally {
    await d.close();
  }
});

test('bad data on Temporal: every trial fails as bad input in its data step, and the CLI exits 2', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-baddata`;
  const d = await deployment('baddata');
  try {
    // Bands a cube file does not have: only the filter step can tell (a synthetic cube's fail at validation).
    const spec = { ...(await bandsBeyondCubeStudy(d.home)), name, grid: [{}, { set: { 'split.maxTrain': 50 } }], seeds: [0] };
    await d.worker();
    const launch = await d.launch(await prepare(spec));
    const result = await waitForStudy(d.conn, launch.workflowId, { intervalMs: 200 });
    assert.ok(result, d.logs());
    assert.equal(result.failed, 2, JSON.stringify(result));
    assert.ok(result.failures.every((f) => f.badInput && /^filter: band selection \[0, 99\)/.test(f.error)), JSON.stringify(result.failures));
    const file = await writeStudy(d.home, { ...spec, name: `${name}-cli` });
    const cli = await runCli(['run', file, '--executor', 'temporal'], d.env());
    assert.equal(cli.code, 2, cli.stdout + cli.stderr);
    assert.match(cli.stderr, /band selection \[0, 99\) does not fit a cube of 6 bands/);
    d.passed();
  } finally {
    await d.close();
  }
});

test('a plan too large to travel inline goes through the store and is read in pages of 100 trials; 130 trials in windows of 120 (continue-as-new); no trial twice', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-stored`;
  const n = 130;
  const batchSize = 120;
  // RX trials (no training loop): each has its own tile, train, score and evaluate; load and filter are shared.
  const spec = toyStudy({ name, grid: [{ set: { model: { kind: 'rx' } }, cartesian: { 'split.maxTrain': Array.from({ length: n }, (_, i) => 20 + i) } }], seeds: [0] });
  const d = await deployment('stored');
  try {
    const ref = await embeddedReference(spec);
    const study = await prepare(spec);
    assert.equal(study.trials.length, n);
    // The default limit (256 KiB) would take ~260 such trials; the launcher's limit is lowered instead, to keep the test short.
    const inlineLimitBytes = 64 * 1024;
    const planBytes = Buffer.byteLength(JSON.stringify(study.trials.map((t) => ({ id: t.id, steps: t.steps }))));
    assert.ok(planBytes > inlineLimitBytes, `the plan (${planBytes} bytes) is over the limit`);
    await d.worker();
    const launch = await d.launch(study, { batchSize, concurrency: 4, inlineLimitBytes });
    assert.ok(launch.planKey, 'the plan was written to the store');
    assert.ok(await d.store.exists(launch.planKey));
    const seen: StudyProgressInfo[] = [];
    const result = await waitForStudy(await d.target(), launch.workflowId, { onProgress: (p) => seen.push(p), intervalMs: 500 });
    assert.deepEqual([result?.done, result?.failed, result?.interrupted, result?.runs], [n, 0, 0, 2], `${JSON.stringify(result)}\n${d.logs()}`);
    assert.ok(seen.length && seen.every((p) => p.running.length <= 4), 'bounded fan-out');

    const runs = await runChain(d.conn, launch.workflowId, launch.runId);
    assert.deepEqual(runs.map((r) => r.closed), ['continued-as-new', 'completed']);
    // The inputs carry the plan's key, never its trials.
    for (const r of runs) {
      const { input, bytes } = startInput(r);
      assert.deepEqual(input.plan, { kind: 'store', key: launch.planKey, total: n });
      assert.ok(bytes < 16 * 1024, `a run's input is small (${bytes} bytes)`);
    }
    assert.equal(startInput(runs[1]).input.carry?.cursor, batchSize);
    // Pages of PLAN_PAGE trials within each window: [0,100) and [100,120), then [120,130).
    assert.equal(PLAN_PAGE, 100);
    assert.deepEqual(runs.map((r) => activityInputs<PlanSliceInput>(r, 'planSlice')), [
      [{ key: launch.planKey, offset: 0, limit: 100 }, { key: launch.planKey, offset: 100, limit: 20 }],
      [{ key: launch.planKey, offset: 120, limit: 10 }],
    ]);
    assert.deepEqual(runs.map((r) => childrenStarted(r).length), [batchSize, n - batchSize]);
    // In plan order, each trial once.
    assert.deepEqual(runs.flatMap(childrenStarted), study.trials.map((t) => trialWorkflowId(launch.workflowId, t.id)));

    const records = await listRecords(d.store);
    assert.equal(records.length, study.uniqueSteps);
    assert.ok(records.every((r) => r.status === 'done' && r.attempt === 1), 'every distinct step ran once');
    assert.deepEqual((await query(d.catalogPath, "SELECT count(*), count(DISTINCT trial_id), count(*) FILTER (WHERE status = 'done') FROM trials"))[0].map(Number), [n, n, n]);
    await assertSameResults(ref, d.store, 'embedded vs temporal, stored plan');
    d.passed();
  } finally {
    await d.close();
  }
});

test('kill -9 a worker mid-training, start another: training resumes from its newest checkpoint and ends bit-identical to an uninterrupted run', { skip, timeout: TIMEOUT }, async (t) => {
  const name = `it${TAG}-resume`;
  const spec = longStudy(name, 3000);
  const d = await deployment('resume');
  try {
    const ref = await embeddedRun(spec);
    const study = await prepare(spec);
    const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
    const w1 = await d.worker();
    // A dead worker is noticed after the train heartbeat timeout: short here, minutes by default.
    const launch = await d.launch(study, { tuning: { train: { heartbeatTimeoutMs: 5000, initialIntervalMs: 1000 } } });
    await until('a checkpoint at iteration 100', async () => (await latestCheckpoint(d.store, train.key)) >= 100, 180_000, () => d.logs());
    w1.child.kill('SIGKILL');
    assert.equal((await w1.exited).signal, 'SIGKILL');
    // Nothing writes checkpoints now: this is the newest there will be until another worker resumes.
    const atKill = await latestCheckpoint(d.store, train.key);
    assert.equal((await readRecord(d.store, train.key))?.status, 'running', 'the killed attempt left its record running');
    assert.ok(atKill >= 100 && atKill < 3000, `training was still going when the worker died (checkpoint at ${atKill})`);
    // Older checkpoints are kept too (keep 2): resuming from the newest is a choice, not the only option.
    const states = (await d.store.list(`steps/${train.key}/checkpoints/`)).flatMap((k) => /(\d+)\.state$/.exec(k)?.[1] ?? []).map(Number).sort((a, b) => a - b);
    assert.ok(states.includes(atKill) && states.some((x) => x < atKill), `checkpoints at kill: ${states.join(', ')}`);

    await d.worker();
    const result = await waitForStudy(await d.target(), launch.workflowId, { intervalMs: 500 });
    assert.equal(result?.done, 1, `${JSON.stringify(result)}\n${d.logs()}`);
    const rec = (await readRecord(d.store, train.key))!;
    assert.equal(rec.status, 'done');
    assert.equal(rec.attempt, 2);
    assert.equal(rec.resumedFrom, atKill, 'resumed from the newest checkpoint present at the kill');
    assert.equal(rec.reason, `resumed from checkpoint at iteration ${atKill}`);
    t.diagnostic(`killed with checkpoints at ${states.join(', ')} of 3000; the second worker resumed from ${rec.resumedFrom}`);
    assert.deepEqual((await query(d.catalogPath, `SELECT attempt, resumed_from FROM steps WHERE step_key = '${train.key}'`)).map((r) => r.map(Number)), [[2, atKill]]);
    for (const r of await listRecords(d.store)) if (r.kind !== 'train') assert.equal(r.attempt, 1, `${r.kind} ran again`);
    await assertSameResults(ref.store, d.store, 'uninterrupted embedded vs resumed temporal');
    // Every metric point, to the last bit, and none twice (a resumed run never double-logs).
    const points = 'SELECT name, step, value FROM metrics ORDER BY name, step';
    const got = await query(d.catalogPath, points);
    assert.ok(got.length > 0);
    assert.deepEqual(got, await query(ref.catalogPath, points), 'metric points: embedded vs resumed temporal');
    assert.deepEqual(await query(d.catalogPath, 'SELECT name, step FROM metrics GROUP BY name, step HAVING count(*) > 1'), []);
    const finals = "SELECT name, value FROM final_metrics WHERE name IN ('auc', 'logauc') ORDER BY name";
    assert.deepEqual(await query(d.catalogPath, finals), await query(ref.catalogPath, finals));
    d.passed();
  } finally {
    await d.close();
  }
});

test('cancel a study: training stops after a checkpoint, the ledger and the catalog say interrupted; launching it again resumes it', { skip, timeout: TIMEOUT }, async (t) => {
  const name = `it${TAG}-cancel`;
  const d = await deployment('cancel');
  try {
    // Long enough (about 45 s here) that the status check and the cancel both land mid-training on a faster machine too.
    const iterations = 20_000;
    const study = await prepare(longStudy(name, iterations));
    const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
    await d.worker();
    // The default timeouts and retries (a 2-minute heartbeat timeout), as users run it.
    const launch = await d.launch(study);
    await until('a checkpoint at iteration 50', async () => (await latestCheckpoint(d.store, train.key)) >= 50, 180_000, () => d.logs());
    // The server hears of progress in heartbeats: `gantry status` follows within seconds, not a minute.
    await until('status to show the iteration and the checkpoint', async () => {
      const [st] = await studyProgress(await d.target(), { workflowId: launch.workflowId });
      const hb = st?.trials[0]?.heartbeat;
      return hb?.kind === 'train' && hb.total === iterations && (hb.checkpointIteration ?? 0) >= 50;
    }, HEARTBEAT_BOUND_MS, () => d.logs());
    const before = await latestCheckpoint(d.store, train.key);
    const asked = Date.now();
    const cancelled = await cancelStudy(d.conn, { workflowId: launch.workflowId }, { wait: true });
    const took = Date.now() - asked;
    assert.deepEqual(cancelled, [launch.workflowId]);
    // The step hears of the cancel in a heartbeat's reply: seconds, not the SDK's default minute.
    assert.ok(took < HEARTBEAT_BOUND_MS, `cancelled in ${took} ms`);
    const [st] = await studyProgress(d.conn, { workflowId: launch.workflowId });
    assert.equal(st.status, 'CANCELLED');
    const rec = (await readRecord(d.store, train.key))!;
    assert.equal(rec.status, 'interrupted', d.logs());
    assert.match(rec.error ?? '', /cancelled at iteration/);
    const atCancel = await latestCheckpoint(d.store, train.key);
    t.diagnostic(`cancel asked with a checkpoint at ${before}; stopped with one at ${atCancel} of ${iterations}, ${took} ms later`);
    assert.ok(atCancel >= before, 'it saved a checkpoint when it stopped');
    assert.ok(atCancel < iterations, 'cancelled before the end');
    assert.deepEqual(await query(d.catalogPath, 'SELECT status FROM trials'), [['interrupted']]);

    const again = await d.launch(study);
    assert.equal(again.workflowId, launch.workflowId);
    assert.deepEqual([again.attached, again.scheduled], [false, 1]);
    const result = await waitForStudy(d.conn, again.workflowId, { intervalMs: 500 });
    assert.equal(result?.done, 1, d.logs());
    const done = (await readRecord(d.store, train.key))!;
    assert.deepEqual([done.status, done.attempt, done.resumedFrom], ['done', 2, atCancel]);
    assert.deepEqual(await query(d.catalogPath, 'SELECT status FROM trials'), [['done']]);
    d.passed();
  } finally {
    await d.close();
  }
});

test('pause holds new trials while the running one finishes, across continue-as-new; resume goes on; each trial starts once', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-pause`;
  // The first trial trains long enough to be running when the pause lands; the other two are quick.
  const spec = {
    ...longStudy(name, 1500),
    grid: [{}, { set: { model: { kind: 'rx' } } }, { set: { model: { kind: 'rx' }, 'split.maxTrain': 100 } }],
  };
  const d = await deployment('pause');
  try {
    const study = await prepare(spec);
    assert.equal(study.trials.length, 3);
    const train = study.trials[0].steps.find((s) => s.kind === 'train')!;
    await d.worker();
    // Windows of one trial: the first run ends (continue-as-new) when its trial does, paused or not.
    const launch = await d.launch(study, { concurrency: 1, batchSize: 1 });
    const target = await d.target();
    await until('the first trial to checkpoint', async () => (await latestCheckpoint(d.store, train.key)) >= 25, 180_000, () => d.logs());
    assert.deepEqual(await signalStudy(target, { workflowId: launch.workflowId }, 'pause'), [launch.workflowId]);
    assert.ok((await latestCheckpoint(d.store, train.key)) < 1500, 'the first trial was still training when paused');

    // Held: the study says paused with nothing running and trials pending, and the server has
    // nothing in flight for it (no workflow task, activity or child): only a signal can wake it.
    let held: StudyProgressInfo | undefined;
    await until('the paused study to settle', async () => {
      held = await d.progress(launch.workflowId);
      if (!held?.paused || held.running.length || held.done < 1) return false;
      return (await quiescent(target, launch.workflowId)).idle && (await d.progress(launch.workflowId))?.done === held.done;
    }, 180_000, () => d.logs());
    assert.equal(held!.done, 1, 'the running trial finished');
    assert.equal(held!.pending, 2, 'the others wait');
    const pausedRuns = await runChain(d.conn, launch.workflowId, launch.runId);
    assert.deepEqual(pausedRuns.map((r) => r.closed), ['continued-as-new', 'open'], 'the first window ended while paused');
    assert.equal(startInput(pausedRuns[1]).input.carry?.paused, true, 'the pause went on to the next run');
    assert.deepEqual(pausedRuns.map((r) => childrenStarted(r).length), [1, 0], 'no trial started while paused');
    const pausedAt = signalsReceived(pausedRuns[0]).find((s) => s.name === 'pause')!;
    assert.ok(pausedAt, 'the pause reached the first run');
    assert.ok(pausedRuns[1].events.every((e) => !e.timerStartedEventAttributes), 'no timer could wake it');

    assert.deepEqual(await signalStudy(target, { workflowId: launch.workflowId }, 'resume'), [launch.workflowId]);
    const r = await waitForStudy(target, launch.workflowId, { intervalMs: 300 });
    assert.deepEqual([r?.done, r?.failed, r?.runs], [3, 0, 3], d.logs());
    const runs = await runChain(d.conn, launch.workflowId, launch.runId);
    assert.deepEqual(runs.map((x) => x.closed), ['continued-as-new', 'continued-as-new', 'completed']);
    assert.equal(runs[1].runId, pausedRuns[1].runId);
    assert.deepEqual(signalsReceived(runs[1]).map((s) => s.name), ['resume'], 'the resume went to the run that was paused');
    assert.deepEqual(runs.flatMap(childrenStarted), study.trials.map((t) => trialWorkflowId(launch.workflowId, t.id)), 'each trial once, in plan order');
    assert.equal(startInput(runs[2]).input.carry?.paused, false);
    d.passed();
  } finally {
    await d.close();
  }
});

test('relaunching the same grid attaches while it runs, then schedules only missing and failed cells; no trial is ever duplicated', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-relaunch`;
  const d = await deployment('relaunch');
  try {
    const study = await prepare(grid(name));
    await d.worker();
    // The plan goes through the store here (as for grids of thousands of trials).
    const first = await d.launch(study, { concurrency: 1, inlineLimitBytes: 0 });
    assert.ok(first.planKey, 'the plan was written to the store');
    // Paused, the study cannot end while the second launch looks at it.
    assert.deepEqual(await signalStudy(d.conn, { workflowId: first.workflowId }, 'pause'), [first.workflowId]);
    const second = await d.launch(study, { concurrency: 1 });
    assert.deepEqual([second.workflowId, second.attached, second.scheduled], [first.workflowId, true, 0], 'a second launch of a running grid attaches to it');
    assert.equal(second.runId, first.runId);
    await until('the study to report itself paused', async () => (await d.progress(first.workflowId))?.paused === true);
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
    const third3 = await runChain(d.conn, third.workflowId, third.runId);
    assert.deepEqual(third3.flatMap(childrenStarted).sort(), [missing, failed].map((t) => trialWorkflowId(third.workflowId, t.id)).sort(), 'only the two cells ran again');
    const after = new Map((await listRecords(d.store)).map((r) => [r.key, r]));
    assert.equal(after.get(evalOf(missing).key)?.attempt, 1);
    assert.equal(after.get(evalOf(failed).key)?.attempt, 2);
    assert.equal(after.get(evalOf(failed).key)?.reason, 'previous run failed: injected failure');
    for (const r of after.values()) if (r.kind !== 'evaluate') assert.equal(r.attempt, 1, `${r.kind} ran again`);

    const fourth = await d.launch(study);
    assert.deepEqual([fourth.scheduled, fourth.alreadyDone], [0, 3]);
    assert.equal((await waitForStudy(d.conn, fourth.workflowId))?.alreadyDone, 3);
    assert.deepEqual((await runChain(d.conn, fourth.workflowId, fourth.runId)).flatMap(childrenStarted), [], 'nothing to run');
    assert.deepEqual((await query(d.catalogPath, "SELECT count(*), count(DISTINCT trial_id), count(*) FILTER (WHERE status = 'done') FROM trials"))[0].map(Number), [3, 3, 3]);
    d.passed();
  } finally {
    await d.close();
  }
});

/** Seconds from a duration as the CLI prints it (`12s`, `3m05s`, `1h02m`). */
function seconds(d: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  assert.ok(m && d, `a duration: ${d}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

test('the CLI: gantry run --executor temporal --batch-size 2 follows a grid larger than the batch size across continue-as-new, a line per change, and prints its results; gantry status --temporal shows it; running it again schedules nothing', { skip, timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-cli`;
  const d = await deployment('cli');
  try {
    // A first trial long enough for the follower to poll it many times unchanged.
    const file = await writeStudy(d.home, { ...longStudy(name, 3000), grid: [{}, { set: { model: { kind: 'rx' } } }, { set: { model: { kind: 'rx' }, 'split.maxTrain': 100 } }] });
    const args = ['run', file, '--executor', 'temporal', '--batch-size', '2', '--concurrency', '2', '--checkpoint-every', '25'];
    const w = await d.worker();
    const r = await runCli(args, d.env());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${d.logs()}`);
    const id = /^study \S+: workflow (gantry-\S+) on \S+, namespace \S+: 3 trials scheduled, \d+ distinct steps$/m.exec(r.stderr)?.[1];
    assert.ok(id, r.stderr);
    assert.match(r.stdout, /^3\/3 trials done; /m);
    // Progress: a line when the counters change, or after a quiet minute; never the same counters at every poll.
    const progress = r.stderr.split('\n').flatMap((l) => {
      const m = /^\[(.+), (\w+)\]$/.exec(l);
      return m ? [{ counters: m[1], at: seconds(m[2]) }] : [];
    });
    assert.ok(progress.length > 0, r.stderr);
    for (let i = 1; i < progress.length; i++) {
      if (progress[i].counters === progress[i - 1].counters) assert.ok(progress[i].at - progress[i - 1].at >= QUIET_PROGRESS_MS / 1000 - 1, `a repeated line:\n${r.stderr}`);
    }
    const runs = await latestChain(await d.target(), id);
    assert.deepEqual(runs.map((x) => x.closed), ['continued-as-new', 'completed'], '--batch-size 2 for 3 trials: two runs');
    assert.deepEqual(runs.map((x) => childrenStarted(x).length), [2, 1]);

    const st = await runCli(['status', name, '--temporal'], d.env());
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`^${id} \\(completed, started \\S+, closed \\S+\\)\n  3/3 done, `, 'm'));

    const again = await runCli(args, d.env());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`^study \\S+: workflow ${id} on \\S+, namespace \\S+: 0 trials scheduled, 3 already done, `, 'm'));
    assert.match(again.stdout, /^3\/3 trials done; 0 steps ran, 0 cached/m);
    assert.doesNotMatch(w.output(), /No workflows registered/, 'the worker keeps the SDK\'s expected warnings to itself');
    d.passed();
  } finally {
    await d.close();
  }
});

const mlflowLive = mlflowTargets().some((t) => t.live);
test('with MLflow on the launcher and the catalog worker: one parent run for the launch, every trial nested under it, all FINISHED, with backend and code version', { skip: skip || (!mlflowLive && !liveRequired() && missingServer('mlflow')), timeout: TIMEOUT }, async () => {
  const name = `it${TAG}-mlflow`;
  const d = await deployment('mlflow');
  const mlflow = new MlflowClient(await liveTrackingUri(), { retries: 2 });
  try {
    const extra = { MLFLOW_TRACKING_URI: (await liveTrackingUri()).trackingUri };
    const w = await d.worker(extra);
    const file = await writeStudy(d.home, grid(name));
    // The launcher shares the worker's home, as on one machine: it keeps an outbox of its own.
    const r = await runCli(['run', file, '--executor', 'temporal', '--concurrency', '2', '--checkpoint-every', '25'], { ...d.env(), ...extra });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${d.logs()}`);
    const trials = (await query(d.catalogPath, 'SELECT trial_id, backend FROM trials ORDER BY 1')) as [string, string | null][];
    const tag = (x: MlflowRun, k: string) => x.data.tags.find((t) => t.key === k)?.value;
    let done: MlflowRun[] = [];
    // On a loaded machine the launcher's last flush (10 s) may not reach MLflow; it then says so,
    // and what it left (the launch's parent run ending) is sent by `gantry sync mlflow`, as documented.
    const leftover = /items left in the outbox/.test(r.stderr);
    if (leftover) {
      const sync = await runCli(['sync', 'mlflow', '--timeout', '60'], { ...d.env(), ...extra });
      assert.equal(sync.code, 0, sync.stderr);
    }
    // The catalog worker mirrors in the background: wait for it.
    await until('every run FINISHED in MLflow', async () => {
      const exp = await mlflow.getExperimentByName(`gantry/${name}`);
      if (!exp) return false;
      done = await mlflow.searchRuns([exp.experiment_id], '', { maxResults: 100 });
      return done.filter((x) => tag(x, 'gantry.trial_id')).length === trials.length && done.every((x) => x.info.status === 'FINISHED');
    }, 120_000, () => `runs: ${done.map((x) => `${tag(x, 'gantry.trial_id') ?? `parent ${tag(x, 'gantry.launch_id') ?? '?'}`} ${x.info.status}`).join(', ') || 'none'}; ${trials.length} trials in the catalog; launcher: ${leftover ? 'left items, synced' : 'flushed'}\n${r.stderr}\n${d.logs()}`);
    const parents = done.filter((x) => tag(x, 'gantry.launch_id'));
    assert.equal(parents.length, 1, 'one parent run');
    assert.equal(parents[0].info.run_name, `${name}`);
    for (const [id, backend] of trials) {
      const run = done.find((x) => tag(x, 'gantry.trial_id') === id)!;
      assert.equal(tag(run, 'mlflow.parentRunId'), parents[0].info.run_id, 'nested under the launch');
      assert.equal(tag(run, 'gantry.backend'), backend ?? undefined);
      assert.match(tag(run, 'gantry.code_version') ?? '', /^gantry@\d/);
      assert.equal(tag(run, 'gantry.executor'), 'temporal');
    }
    assert.doesNotMatch(w.output() + r.stderr, /could not record|locked|refused/);
    d.passed();
  } finally {
    await mlflow.close();
    await d.close();
  }
});
