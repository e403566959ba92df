/**
 * Several processes on one store (issue 13, row 7): two `gantry run`s with different homes on one
 * GANTRY_STORE never run a step twice, never corrupt one, and each home's catalog is right without
 * a rebuild; a run killed or stalled while it holds a step's lease is taken over; a store that
 * cannot lease says so. First the lease itself (executors/step-lease.ts), then real processes on a
 * local store and on S3 (MinIO).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCli, startCli, tempHome, toyStudy, writeStudy, type CliResult } from '../helpers.js';
import { leaseKey, LeaseLostError, leaseSettings, StepLease, thisMachine, type LeaseOwner } from '../../executors/step-lease.js';
import { runEmbedded, type ExecEvent } from '../../executors/embedded.js';
import { prepareStudy } from '../../executors/prepare.js';
import { defineStudy, type StudyInput } from '../../experiments/spec.js';
import { listRecords, type StepRecord } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';
import { S3Store } from '../../infra/store/s3.js';
import { Catalog } from '../../infra/catalog.js';
import type { ArtifactStore } from '../../infra/store/store.js';
import { S3TestServer } from '../infra/s3-server.js';
import { startS3rver } from '../infra/s3rver.js';

const STEP = { key: 'a1b2c3d4e5f60718', kind: 'train' };
const fast = (ttlMs: number) => leaseSettings({}, ttlMs);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A lease document as another process would write it. */
function foreignLease(owner: Partial<LeaseOwner>, ttlMs: number, expiresAt = Date.now() + ttlMs): string {
  return JSON.stringify({
    step: STEP.key, kind: STEP.kind, owner: { host: 'elsewhere', machine: 'another-machine', pid: 4242, token: 'f0f0f0f0f0f0f0f0', ...owner },
    state: 'held', seq: 0, ttlMs, renewedAt: new Date().toISOString(), expiresAt,
  });
}

async function holder(store: ArtifactStore): Promise<{ token: string; state: string }> {
  const doc = JSON.parse(Buffer.from((await store.getVersioned(leaseKey(STEP.key)))!.data).toString()) as { owner: LeaseOwner; state: string };
  return { token: doc.owner.token, state: doc.state };
}

test('lease: a live lease makes a second taker wait, told who holds it; once released it is taken', async () => {
  const store = new LocalStore(join(await tempHome(), 'store'));
  const first = await StepLease.acquire(store, STEP, { settings: fast(2000) });
  const told: LeaseOwner[] = [];
  let second: StepLease | undefined;
  const taking = StepLease.acquire(store, STEP, { settings: fast(2000), waiting: (o) => told.push(o) }).then((l) => (second = l));
  await sleep(1000);
  assert.equal(second, undefined, 'taken while held');
  assert.equal(told.length, 1);
  assert.equal(told[0].pid, process.pid);
  await first.release();
  const t0 = performance.now();
  await taking;
  assert.ok(performance.now() - t0 < 1500, 'a released lease is taken at the next look');
  assert.equal((await holder(store)).state, 'held');
  await second!.release();
  assert.equal((await holder(store)).state, 'released');
});

test('lease: one not renewed is taken over after its duration (timed by the taker), not before', async () => {
  const store = new LocalStore(join(await tempHome(), 'store'));
  // Another machine's lease, fresh by its clock: it cannot be checked from here, only timed.
  assert.ok((await store.createExclusive(leaseKey(STEP.key), foreignLease({}, 1200))).ok);
  const t0 = performance.now();
  const told: LeaseOwner[] = [];
  const lease = await StepLease.acquire(store, STEP, { settings: fast(1200), waiting: (o) => told.push(o) });
  const waited = performance.now() - t0;
  assert.ok(waited >= 1200 && waited < 4000, `took over after ${waited.toFixed(0)} ms`);
  assert.equal(told[0]?.host, 'elsewhere');
  await lease.release();

  // A lease whose expiry is long past by the wall clock (its owner died before anyone looked) is taken at once.
  const cur = (await store.getVersioned(leaseKey(STEP.key)))!;
  assert.ok((await store.replaceIfMatch(leaseKey(STEP.key), foreignLease({}, 60_000, Date.now() - 121_000), cur.etag)).ok);
  const t1 = performance.now();
  await (await StepLease.acquire(store, STEP, { settings: fast(60_000) })).release();
  assert.ok(performance.now() - t1 < 1000);
});

test('lease: one whose owner process is gone on this machine is taken at once', async () => {
  const store = new LocalStore(join(await tempHome(), 'store'));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(dead.stdout);
  assert.ok(pid > 0);
  assert.ok((await store.createExclusive(leaseKey(STEP.key), foreignLease({ machine: thisMachine(), pid }, 60_000))).ok);
  const t0 = performance.now();
  const lease = await StepLease.acquire(store, STEP, { settings: fast(60_000) });
  assert.ok(performance.now() - t0 < 1000, 'waited for a dead owner');
  await lease.release();
});

test('lease: an owner that cannot renew loses it after 3/4 of its duration; one taken over notices at its next renewal; neither writes over the new owner', async () => {
  const local = new LocalStore(join(await tempHome(), 'store'));
  let stalled = false;
  const store = Object.assign(Object.create(local) as LocalStore, {
    replaceIfMatch: async (key: string, data: Uint8Array | string, etag: string) => {
      if (stalled) throw new Error('the store does not answer (injected)');
      return local.replaceIfMatch(key, data, etag);
    },
  });
  const owner = await StepLease.acquire(store, STEP, { settings: fast(1200) });
  await owner.ensureHeld();
  stalled = true;
  await sleep(1100);
  await assert.rejects(owner.ensureHeld(), LeaseLostError);
  assert.ok(owner.lost.aborted);
  stalled = false;
  const next = await StepLease.acquire(local, STEP, { settings: fast(1200) });
  const nextToken = (await holder(local)).token;
  await owner.release();
  assert.deepEqual(await holder(local), { token: nextToken, state: 'held' }, 'the lost owner released the new owner’s lease');

  // Taken over behind its back (a taker that judged it dead): the owner notices within a renewal.
  const cur = (await local.getVersioned(leaseKey(STEP.key)))!;
  assert.ok((await local.replaceIfMatch(leaseKey(STEP.key), foreignLease({}, 60_000), cur.etag)).ok);
  await sleep(600);
  await assert.rejects(next.ensureHeld(), /taken over by elsewhere pid 4242/);
  await next.release();
  assert.equal((await holder(local)).token, 'f0f0f0f0f0f0f0f0');
});

test('lease: an owner whose event loop was blocked past the lease keeps it when nobody took it over', async () => {
  const store = new LocalStore(join(await tempHome(), 'store'));
  const owner = await StepLease.acquire(store, STEP, { settings: fast(600) });
  const until = performance.now() + 1000;
  while (performance.now() < until); // a long synchronous computation: no renewal runs
  await owner.ensureHeld();
  assert.equal(owner.lost.aborted, false);
  await owner.release();
  assert.equal((await holder(store)).state, 'released');
});

test('lease: waiting is cancelled by the run’s signal', async () => {
  const store = new LocalStore(join(await tempHome(), 'store'));
  const first = await StepLease.acquire(store, STEP, { settings: fast(5000) });
  const abort = new AbortController();
  const waiting = StepLease.acquire(store, STEP, { settings: fast(5000), signal: abort.signal });
  setTimeout(() => abort.abort(), 300);
  await assert.rejects(waiting, { name: 'CancelledError' });
  await first.release();
});

async function prepare(input: unknown) {
  return prepareStudy(defineStudy(input as StudyInput), {});
}

test('two runs in one process on one store: the second waits for the first’s steps (told who holds them) and runs none twice', async () => {
  const dir = await tempHome();
  const store = new LocalStore(join(dir, 'store'));
  const input = toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.hidden': [4, 6] } }] });
  const events: ExecEvent[][] = [[], []];
  const summaries = await Promise.all(
    ['a', 'b'].map(async (h, i) =>
      runEmbedded(await prepare(input), {
        store, catalogPath: join(dir, h, 'catalog.duckdb'), lockPath: join(dir, h, 'run.lock'), concurrency: 2, backend: 'cpu', onEvent: (e) => events[i].push(e),
      }),
    ),
  );
  for (const s of summaries) assert.ok(s.outcomes.every((o) => o.status === 'done'), JSON.stringify(s.outcomes));
  const records = await listRecords(store);
  assert.ok(records.every((r) => r.attempt === 1 && r.status === 'done'), JSON.stringify(records.map((r) => [r.kind, r.attempt, r.reason])));
  assert.equal(summaries[0].stepsRun + summaries[1].stepsRun, records.length, 'a step ran in both');
  const waits = events.flat().filter((e): e is Extract<ExecEvent, { type: 'step-wait' }> => e.type === 'step-wait');
  assert.ok(waits.length > 0, 'neither run waited for the other');
  assert.ok(waits.every((w) => w.holder.endsWith(` pid ${process.pid}`)), JSON.stringify(waits));
});

test('a store that cannot lease (an S3 server that ignores conditional writes) runs unleased and says so once', { timeout: 120_000 }, async () => {
  const backend = await startS3rver(['no-cas']);
  // Step threads reopen the store from its URL with the environment's settings.
  const vars = { AWS_ENDPOINT_URL_S3: backend.endpoint, AWS_ACCESS_KEY_ID: backend.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: backend.credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    const home = await tempHome();
    const store = new S3Store('s3://no-cas/g');
    const events: ExecEvent[] = [];
    const s = await runEmbedded(await prepare(toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }] })), {
      store, catalogPath: join(home, 'catalog.duckdb'), lockPath: join(home, 'run.lock'), onEvent: (e) => events.push(e),
    });
    assert.ok(s.outcomes.every((o) => o.status === 'done'));
    const warnings = events.filter((e): e is Extract<ExecEvent, { type: 'warning' }> => e.type === 'warning');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].message, /ignores conditional writes .*steps are not leased: run one gantry process at a time on this store/);
    await store.close();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await backend.close();
  }
});

/** Spectra and a small WGAN-GP: three data steps shared by two trials whose training overlaps. */
function ganStudy(name: string, grid = true, iterations = 300): Record<string, unknown> {
  return {
    name,
    base: {
      dataset: { kind: 'synthetic-hsi', rows: 24, cols: 24, bands: 8, anomalies: 5, seed: 3 },
      model: { kind: 'wgan-gp', iterations, hidden: 16, batchSize: 32, criticIters: 2, scoreRestarts: 1, scoreIterations: 5, logEvery: 5 },
    },
    ...(grid ? { grid: [{ cartesian: { 'model.hidden': [8, 12] } }] } : {}),
    seeds: [0],
  };
}

const ARGS = ['--checkpoint-every', '20', '--backend', 'cpu'];
const METRICS = 'SELECT m.trial_id, m.name, m.step, m.value, epoch_ms(m.time) AS time FROM metrics m ORDER BY 1, 2, 3';
const STEPS = 'SELECT step_key, kind, status, attempt, reason, started_at::VARCHAR AS started_at FROM steps ORDER BY 1';
const ARTIFACTS = 'SELECT step_key, name, sha256 FROM artifacts ORDER BY 1, 2';

/** Rows of a home's catalog (read in this process: a CLI start per query is slow on a busy machine). */
async function query(env: Record<string, string>, sql: string): Promise<Record<string, unknown>[]> {
  const c = await Catalog.openReadOnly(join(env.GANTRY_HOME, 'catalog.duckdb'));
  try {
    const r = await c.query(sql);
    return r.rows.map((row) => Object.fromEntries(r.columns.map((col, i) => [col, row[i]])));
  } finally {
    c.close();
  }
}

const withoutTime = (rows: Record<string, unknown>[]) => rows.map(({ time: _t, ...rest }) => rest);

function counts(r: CliResult): { ran: number; cached: number } {
  const m = /(\d+) steps ran, (\d+) cached/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return { ran: Number(m[1]), cached: Number(m[2]) };
}

/** A run on its own home and store: what one uninterrupted run gives (one per study, shared by the tests). */
const references = new Map<string, Promise<{ env: Record<string, string>; records: StepRecord[] }>>();
function reference(study: Record<string, unknown>): Promise<{ env: Record<string, string>; records: StepRecord[] }> {
  const key = JSON.stringify(study);
  let p = references.get(key);
  if (!p) {
    p = (async () => {
      const dir = await tempHome();
      const env = { GANTRY_HOME: join(dir, 'reference') };
      const r = await runCli(['run', await writeStudy(dir, study), ...ARGS], env);
      assert.equal(r.code, 0, r.stderr);
      return { env, records: await listRecords(new LocalStore(join(dir, 'reference', 'store'))) };
    })();
    references.set(key, p);
  }
  return p;
}

/** Artifacts' checksums per step; a training's metrics.json holds its points' wall-clock times, so it differs between runs. */
const checksums = (rs: StepRecord[]) =>
  Object.fromEntries(rs.map((r) => [r.key, Object.fromEntries(Object.entries(r.artifacts).filter(([n]) => n !== 'metrics.json').map(([n, x]) => [n, x.sha256]))]));

/**
 * Two homes run `file` at once on the store `shared` (env); then: both exit 0, nothing is
 * corrupt, every step ran once (attempt 1, and the runs' counts add up), the store's results
 * equal the reference's, and both catalogs equal each other and a catalog rebuilt from the store.
 */
async function twoRunsAtOnce(study: Record<string, unknown>, shared: Record<string, string>, readStore: () => Promise<StepRecord[]>): Promise<void> {
  const ref = await reference(study);
  const dir = await tempHome();
  const file = await writeStudy(dir, study);
  const homes = ['first', 'second'].map((h) => ({ ...shared, GANTRY_HOME: join(dir, h) }));
  const [a, b] = await Promise.all(homes.map((env) => runCli(['run', file, ...ARGS], env)));
  for (const r of [a, b]) {
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr + r.stdout, /corrupt|interrupted/);
  }
  const records = await readStore();
  assert.equal(records.length, ref.records.length);
  for (const rec of records) assert.deepEqual([rec.kind, rec.status, rec.attempt], [rec.kind, 'done', 1], `${rec.kind} ran more than once: ${rec.reason}`);
  const ca = counts(a);
  const cb = counts(b);
  assert.equal(ca.ran + cb.ran, records.length, `steps ran: ${ca.ran} + ${cb.ran}`);
  assert.equal(ca.ran + ca.cached, records.length);
  assert.equal(cb.ran + cb.cached, records.length);
  // The same results as one uninterrupted run, bit for bit.
  assert.deepEqual(checksums(records), checksums(ref.records));

  // Both catalogs are right as they are: equal to each other, to a rebuild from the store, and in values to the reference.
  const rebuilt = { ...shared, GANTRY_HOME: join(dir, 'rebuilt') };
  const rb = await runCli(['catalog', 'rebuild'], rebuilt);
  assert.equal(rb.code, 0, rb.stderr);
  const refMetrics = await query(ref.env, METRICS);
  assert.ok(refMetrics.some((m) => m.name === 'auc') && refMetrics.some((m) => m.name === 'train/critic_loss'));
  for (const sql of [METRICS, STEPS, ARTIFACTS]) {
    const [qa, qb, qr] = [await query(homes[0], sql), await query(homes[1], sql), await query(rebuilt, sql)];
    assert.deepEqual(qa, qr, `first home's catalog differs from a rebuild: ${sql}`);
    assert.deepEqual(qb, qr, `second home's catalog differs from a rebuild: ${sql}`);
  }
  assert.deepEqual(withoutTime(await query(homes[0], METRICS)), withoutTime(refMetrics));
}

async function localRecords(store: string): Promise<StepRecord[]> {
  return listRecords(new LocalStore(store));
}

test('two `gantry run`s with different homes on one local store, at once: no step runs twice, nothing is corrupt, both catalogs are right', { timeout: 300_000 }, async () => {
  const store = join(await tempHome(), 'shared-store');
  await twoRunsAtOnce(ganStudy('shared'), { GANTRY_STORE: store }, () => localRecords(store));
});

test('the same on S3 (MinIO): conditional writes lease the steps', { timeout: 300_000 }, async (t) => {
  const s3 = await S3TestServer.start(); // GANTRY_LIVE=require: no MinIO is a failure, not a skip
  t.after(() => s3.close());
  if (!s3.backend.name.startsWith('MinIO')) return t.skip(`no MinIO (the ${s3.backend.name} ignores conditional writes, so runs on it are not leased): run \`node scripts/live-servers.mjs provision\``);
  const env = s3.env('shared');
  const store = new S3Store(env.GANTRY_STORE, { ...s3.storeOptions(), env: {} });
  t.after(() => store.close());
  await twoRunsAtOnce(ganStudy('shared'), env, () => listRecords(store));
});

/** Wait until the store's training checkpoint reaches `iteration`. */
async function checkpointAt(store: string, iteration: number, child: { exitCode: number | null }): Promise<void> {
  const s = new LocalStore(store);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ptr = (await s.list('steps')).find((k) => k.endsWith('checkpoints/latest.json'));
    if (ptr && (JSON.parse(await readFile(join(store, ptr), 'utf8')) as { iteration: number }).iteration >= iteration) return;
    if (Date.now() > deadline) assert.fail('no checkpoint appeared in time');
    if (child.exitCode !== null) assert.fail('training finished before it could be interrupted; make it longer');
    await sleep(20);
  }
}

async function assertLikeReference(study: Record<string, unknown>, homes: string[], store: string): Promise<StepRecord> {
  const ref = await reference(study);
  const records = await localRecords(store);
  const train = records.find((r) => r.kind === 'train')!;
  assert.deepEqual(checksums(records), checksums(ref.records));
  for (const kind of ['load', 'filter', 'tile']) assert.equal(records.find((r) => r.kind === kind)!.attempt, 1, `${kind} ran twice`);
  const refMetrics = withoutTime(await query(ref.env, METRICS));
  for (const home of homes) assert.deepEqual(withoutTime(await query({ GANTRY_STORE: store, GANTRY_HOME: home }, METRICS)), refMetrics, `catalog of ${home}`);
  return train;
}

test('kill -9 of a run holding a training lease: a run from another home takes the step over at once and finishes it', { timeout: 300_000 }, async () => {
  const study = ganStudy('shared-one', false);
  const dir = await tempHome();
  const file = await writeStudy(dir, study);
  const store = join(dir, 'shared-store');
  // A long lease: only seeing that its owner is dead lets the second run go on at once.
  const env = (h: string) => ({ GANTRY_STORE: store, GANTRY_HOME: join(dir, h), GANTRY_LEASE_SECONDS: '600' });
  const first = startCli(['run', file, ...ARGS], env('first'));
  await checkpointAt(store, 60, first.child);
  first.child.kill('SIGKILL');
  assert.equal((await first.done).signal, 'SIGKILL');
  const second = await runCli(['run', file, ...ARGS], env('second'));
  assert.equal(second.code, 0, second.stderr);
  // Its owner's pid is gone, so the lease is taken without waiting out its 600 s.
  assert.doesNotMatch(second.stderr, /waiting: leased by/);
  const train = await assertLikeReference(study, [join(dir, 'second')], store);
  assert.equal(train.attempt, 2);
  assert.match(train.reason, /resumed from checkpoint at iteration/);
});

test('a run stalled while it holds a training lease (SIGSTOP): another home takes over after the lease expires; the stalled one, resumed, writes nothing over it and finishes', { timeout: 300_000 }, async () => {
  const study = ganStudy('shared-one', false);
  const dir = await tempHome();
  const file = await writeStudy(dir, study);
  const store = join(dir, 'shared-store');
  const env = (h: string) => ({ GANTRY_STORE: store, GANTRY_HOME: join(dir, h), GANTRY_LEASE_SECONDS: '3' });
  const first = startCli(['run', file, ...ARGS], env('first'));
  await checkpointAt(store, 60, first.child);
  first.child.kill('SIGSTOP');
  let second: CliResult;
  const t0 = performance.now();
  try {
    second = await runCli(['run', file, ...ARGS], env('second'));
  } finally {
    first.child.kill('SIGCONT');
  }
  const took = performance.now() - t0;
  assert.equal(second.code, 0, second.stderr);
  assert.ok(took >= 3000, `took over after ${took.toFixed(0)} ms, before the lease expired`);
  const taken = (await localRecords(store)).find((r) => r.kind === 'train')!;
  assert.equal(taken.attempt, 2);
  assert.match(taken.reason, /resumed from checkpoint at iteration/);

  const resumed = await first.done;
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /lost the lease of step \w+: taken over by \S+ pid \d+/);
  const train = await assertLikeReference(study, [join(dir, 'first'), join(dir, 'second')], store);
  assert.deepEqual(train, taken, 'the stalled run wrote over the record of the run that took over');
});
