/**
 * The export step (issue 12): every trial's scores.parquet, read back with DuckDB, holds exactly
 * the catalog's `scores` rows of that trial (values bit-identical, labels, splits) with its
 * lineage — `scored_samples` for item datasets, the pixel (row, col) for cubes — in a fixed order;
 * and the step run again on the same inputs writes the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { runCli, tempHome, writeStudy } from '../helpers.js';
import { LocalStore } from '../../infra/store/local.js';
import { readRecord } from '../../infra/ledger.js';
import { sha256Hex } from '../../infra/hash.js';
import { STEPS } from '../../activities/index.js';
import { stepContext } from '../../executors/step-context.js';
import type { StepCall } from '../../experiments/plan.js';

const COMMON = [['score_set', 'VARCHAR'], ['sample', 'INTEGER'], ['value', 'DOUBLE'], ['label', 'UTINYINT'], ['split', 'VARCHAR']];

async function rows(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Run a study through the CLI; then a DuckDB with its catalog attached, and each trial's export artifact. */
async function runStudy(study: unknown): Promise<{ home: string; conn: DuckDBConnection; close: () => void; exports: { trial: string; step: string; key: string; sha256: string; path: string }[] }> {
  const home = await tempHome('gantry-export-');
  const r = await runCli(['run', await writeStudy(home, study)], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  // The documented way to find them: the catalog's artifacts table.
  const q = await runCli(['query', "SELECT key FROM artifacts WHERE name = 'scores.parquet' ORDER BY key", '--format', 'json'], { GANTRY_HOME: home });
  assert.equal(q.code, 0, q.stderr);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`ATTACH ${lit(join(home, 'catalog.duckdb'))} AS cat (READ_ONLY)`);
  const found = await rows(conn, `SELECT ts.trial_id AS trial, ts.step_key AS step, a.key, a.sha256 FROM cat.trial_steps ts JOIN cat.artifacts a ON a.step_key = ts.step_key AND a.name = 'scores.parquet' WHERE ts.kind = 'export' ORDER BY ts.trial_id`);
  const trials = await rows(conn, 'SELECT trial_id FROM cat.trials');
  assert.equal(found.length, trials.length, 'one scores.parquet per trial');
  assert.deepEqual((JSON.parse(q.stdout) as { key: string }[]).map((x) => x.key), found.map((f) => f.key).sort());
  const exports = found.map((f) => ({ trial: String(f.trial), step: String(f.step), key: String(f.key), sha256: String(f.sha256), path: join(home, 'store', String(f.key)) }));
  for (const e of exports) assert.match(e.key, /^steps\/[0-9a-f]{16}\/out\/scores\.parquet$/);
  return { home, conn, exports, close: () => (conn.closeSync(), db.closeSync()) };
}

/** The file's columns and types, in order. */
async function schema(conn: DuckDBConnection, path: string): Promise<string[][]> {
  return (await rows(conn, `DESCRIBE SELECT * FROM read_parquet(${lit(path)})`)).map((r) => [String(r.column_name), String(r.column_type)]);
}

/** Rows of `a` not in `b`, as a multiset (EXCEPT ALL compares doubles exactly). */
async function missing(conn: DuckDBConnection, a: string, b: string): Promise<number> {
  return Number((await rows(conn, `SELECT count(*) AS n FROM ((${a}) EXCEPT ALL (${b}))`))[0].n);
}

async function assertSameRows(conn: DuckDBConnection, file: string, catalog: string, what: string): Promise<void> {
  assert.equal(await missing(conn, file, catalog), 0, `${what}: rows in the file that the catalog lacks`);
  assert.equal(await missing(conn, catalog, file), 0, `${what}: rows in the catalog that the file lacks`);
  const [n] = await rows(conn, `SELECT (SELECT count(*) FROM (${file})) AS f, (SELECT count(*) FROM (${catalog})) AS c`);
  assert.equal(Number(n.f), Number(n.c), what);
  assert.ok(Number(n.f) > 0, what);
}

/** The score sets of the score step an export step read, in the order the score step lists them. */
async function scoreSetsOf(home: string, exportStep: string): Promise<string[]> {
  const store = new LocalStore(join(home, 'store'));
  const rec = (await readRecord(store, exportStep))!;
  return (await readRecord(store, rec.inputs.scores))!.output!.sets as string[];
}

/** Rows go score set by score set (as the score step lists them), samples ascending within each. */
async function assertOrdered(conn: DuckDBConnection, path: string, sets: string[]): Promise<void> {
  const got = await rows(conn, `SELECT score_set, sample FROM read_parquet(${lit(path)})`);
  const n = got.length / sets.length;
  assert.ok(Number.isInteger(n));
  got.forEach((r, k) => assert.deepEqual([r.score_set, r.sample], [sets[Math.floor(k / n)], k % n], `row ${k}`));
}

/** Run the trial's export step again, in this process, under another key: the bytes must not change. */
async function assertSameBytesAgain(home: string, e: { step: string; key: string; sha256: string }): Promise<void> {
  const store = new LocalStore(join(home, 'store'));
  const rec = (await readRecord(store, e.step))!;
  const call: StepCall = { kind: 'export', version: rec.version, key: `${e.step}-again`, params: rec.params as Record<string, unknown>, inputs: rec.inputs };
  const wrote: string[] = [];
  const ctx = stepContext(call, {
    store, policy: { everyIterations: 0, everyMinutes: 0, keep: 1 }, signal: new AbortController().signal,
    progress: () => {}, resumed: () => {}, log: () => {}, wrote: (name) => wrote.push(name),
  });
  await STEPS.export(ctx, call.params);
  assert.deepEqual(wrote, ['scores.parquet']);
  const first = await store.get(e.key);
  const again = await store.get(`steps/${call.key}/out/scores.parquet`);
  assert.equal(sha256Hex(first), e.sha256);
  assert.ok(Buffer.from(again).equals(Buffer.from(first)), 'the same inputs give the same bytes');
}

test('cubes: scores.parquet holds the catalog scores of each trial, with its pixel, in a fixed order; the same bytes again', { timeout: 300_000 }, async () => {
  const height = 16;
  const cols = 12;
  const { home, conn, exports, close } = await runStudy({
    name: 'cube-export',
    base: {
      dataset: { kind: 'synthetic-hsi', rows: height, cols, bands: 6, anomalies: 4, seed: 1 },
      model: { kind: 'wgan-gp', iterations: 4, hidden: 8, noiseDim: 2, batchSize: 32, criticIters: 1, scoreRestarts: 1, scoreIterations: 2, logEvery: 2 },
    },
    grid: [{ set: { model: { kind: 'rx' } } }, { set: {} }],
    seeds: [0],
  });
  try {
    assert.equal(exports.length, 2);
    const setsSeen = new Set<string>();
    for (const e of exports) {
      assert.deepEqual(await schema(conn, e.path), [...COMMON, ['row', 'INTEGER'], ['col', 'INTEGER']]);
      const file = `SELECT score_set, sample, value, label, split FROM read_parquet(${lit(e.path)})`;
      const catalog = `SELECT score_set, sample, value, label, split FROM cat.scores WHERE trial_id = ${lit(e.trial)}`;
      await assertSameRows(conn, file, catalog, e.trial);
      const [px] = await rows(conn, `SELECT count(*) FILTER (WHERE row IS DISTINCT FROM sample // ${cols} OR col IS DISTINCT FROM sample % ${cols}) AS bad, max(sample) AS last, count(*) FILTER (WHERE split IS NOT NULL) AS split FROM read_parquet(${lit(e.path)})`);
      assert.deepEqual([Number(px.bad), Number(px.last), Number(px.split)], [0, height * cols - 1, 0]);
      const sets = await scoreSetsOf(home, e.step);
      for (const s of sets) setsSeen.add(s);
      await assertOrdered(conn, e.path, sets);
      await assertSameBytesAgain(home, e);
    }
    assert.ok(setsSeen.has('critic') && setsSeen.size >= 3, `RX's set and the GAN's two: ${[...setsSeen]}`);
  } finally {
    close();
  }
});

test('items: scores.parquet holds the catalog scores with their splits and scored_samples lineage; the same bytes again', { timeout: 300_000 }, async () => {
  const { home, conn, exports, close } = await runStudy({
    name: 'tex-export',
    base: {
      dataset: { kind: 'synthetic-textures', normals: 16, anomalies: 8, size: 32, channels: 1, seed: 3 },
      tiling: { kind: 'patches', size: 16, stride: 8, threshold: 0 },
      split: { protocol: 'fractions', normal: [0.5, 0.25, 0.25], anomalous: [0, 0.5, 0.5] },
      model: { kind: 'pca', components: 4 },
    },
    seeds: [0, 1],
  });
  try {
    assert.equal(exports.length, 2);
    for (const e of exports) {
      assert.deepEqual(await schema(conn, e.path), [...COMMON, ['item', 'INTEGER'], ['rel', 'VARCHAR'], ['sha256', 'VARCHAR'], ['class', 'VARCHAR'], ['y', 'INTEGER'], ['x', 'INTEGER']]);
      const cols = 'score_set, sample, value, label, split, item, rel, sha256, class, y, x';
      await assertSameRows(conn, `SELECT ${cols} FROM read_parquet(${lit(e.path)})`, `SELECT ${cols} FROM cat.scored_samples WHERE trial_id = ${lit(e.trial)}`, `${e.trial} vs scored_samples`);
      const common = 'score_set, sample, value, label, split';
      await assertSameRows(conn, `SELECT ${common} FROM read_parquet(${lit(e.path)})`, `SELECT ${common} FROM cat.scores WHERE trial_id = ${lit(e.trial)}`, `${e.trial} vs scores`);
      const [s] = await rows(conn, `SELECT count(DISTINCT split) AS splits, count(*) FILTER (WHERE split IS NULL) AS unsplit, count(DISTINCT (y, x)) AS positions FROM read_parquet(${lit(e.path)})`);
      assert.equal(Number(s.splits), 3, 'train, val and test');
      assert.equal(Number(s.unsplit), 0);
      assert.equal(Number(s.positions), 9, '3×3 patches per 32×32 image');
      assert.deepEqual(await scoreSetsOf(home, e.step), ['pca']);
      await assertOrdered(conn, e.path, ['pca']);
      await assertSameBytesAgain(home, e);
    }
    // The two seeds share extract but split differently: different files.
    assert.notEqual(exports[0].sha256, exports[1].sha256);
  } finally {
    close();
  }
});

test('a trial planned before the export step gets it on its next launch, and the catalog lists its file', { timeout: 120_000 }, async () => {
  const home = await tempHome('gantry-export-old-');
  const study = await writeStudy(home, {
    name: 'export-old',
    base: { dataset: { kind: 'synthetic-hsi', rows: 8, cols: 8, bands: 4, anomalies: 2, seed: 1 }, model: { kind: 'rx' } },
  });
  assert.equal((await runCli(['run', study], { GANTRY_HOME: home })).code, 0);
  // As a store written before the step existed holds it: the trial file without export, no export record.
  const store = new LocalStore(join(home, 'store'));
  const [key] = await store.list('trials');
  const file = JSON.parse(Buffer.from(await store.get(key)).toString()) as { steps: { kind: string; key: string }[]; createdAt: string };
  const exportKey = file.steps.find((s) => s.kind === 'export')!.key;
  await store.put(key, JSON.stringify({ ...file, sha256: undefined, steps: file.steps.filter((s) => s.kind !== 'export') })); // unsealed, as an old gantry wrote it
  for (const k of await store.list(`steps/${exportKey}`)) await store.delete(k);
  assert.equal((await runCli(['catalog', 'rebuild'], { GANTRY_HOME: home })).code, 0);
  const before = await runCli(['query', "SELECT count(*) AS n FROM artifacts WHERE name = 'scores.parquet'", '--format', 'csv'], { GANTRY_HOME: home });
  assert.equal(before.stdout.trim(), 'n\n0');

  const again = await runCli(['run', study], { GANTRY_HOME: home });
  assert.equal(again.code, 0, again.stderr);
  const now = JSON.parse(Buffer.from(await store.get(key)).toString()) as typeof file;
  assert.deepEqual(now.steps, file.steps, 'the trial file lists the export step again');
  assert.equal(now.createdAt, file.createdAt, 'and keeps when the trial was first made');
  const after = await runCli(['query', "SELECT count(*) AS n FROM artifacts WHERE name = 'scores.parquet'", '--format', 'csv'], { GANTRY_HOME: home });
  assert.equal(after.stdout.trim(), 'n\n1');
});
