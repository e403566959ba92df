/** Bad input: a clear one-line error naming the cause, a non-zero exit, no partial artifact, a consistent catalog. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { matFile, runCli, tempHome, toyStudy, writeStudy } from '../helpers.js';
import { listRecords } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';

const rxOnly = (base: Record<string, unknown>) => toyStudy({ base: { ...(toyStudy().base as object), ...base }, grid: [{ set: { model: { kind: 'rx' } } }] });

/** Every artifact in the store belongs to a step whose record says done. */
async function assertNoPartialArtifacts(store: string): Promise<void> {
  if (!existsSync(store)) return;
  const s = new LocalStore(store);
  const done = new Set((await listRecords(s)).filter((r) => r.status === 'done').map((r) => r.key));
  for (const k of await s.list('steps')) {
    if (k.includes('/out/')) assert.ok(done.has(k.split('/')[1]), `partial artifact visible: ${k}`);
  }
}

test('a malformed spec lists every problem with its path, before any work', async () => {
  const home = await tempHome();
  const file = await writeStudy(home, { name: 'bad', base: { dataset: { kind: 'synthetic-hsi', rows: 'many' }, model: { kind: 'wgan-gp', lr: -1 } }, seeds: [] });
  const r = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /invalid study spec 'bad'/);
  assert.match(r.stderr, /seeds/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/); // no stack trace
  assert.ok(!existsSync(join(home, 'store')), 'no work may start');
  const j = join(home, 'broken.json');
  await writeFile(j, '{ not json');
  const r2 = await runCli(['run', j], { GANTRY_HOME: home });
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /broken\.json is not valid JSON/);
});

test('an unknown model names the kind and the known ones', async () => {
  const home = await tempHome();
  const study = { ...toyStudy(), grid: [{}] };
  const r = await runCli(['run', await writeStudy(home, study), '--set', 'model.kind=dcgan'], { GANTRY_HOME: home });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /model\.kind/);
  assert.match(r.stderr, /rx/);
});

test('a missing dataset file, and a file that is not a MAT-file, are named', async () => {
  const home = await tempHome();
  const missing = await writeStudy(home, rxOnly({ dataset: { kind: 'mat', path: join(home, 'nope.mat') } }));
  const r = await runCli(['run', missing], { GANTRY_HOME: home });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /nope\.mat does not exist/);

  const garbage = join(home, 'garbage.mat');
  await writeFile(garbage, 'this is not a mat file'.repeat(20));
  const r2 = await runCli(['run', await writeStudy(home, rxOnly({ dataset: { kind: 'mat', path: garbage } }), 'g.json')], { GANTRY_HOME: home });
  // Bad data is bad input: the launch stops before any training, with one line and exit 2.
  assert.equal(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /^error: dataset: load step failed: .*garbage\.mat/m);
  await assertNoPartialArtifacts(join(home, 'store'));
  const q = await runCli(['query', 'SELECT status FROM trials', '--format', 'csv'], { GANTRY_HOME: home });
  assert.equal(q.stdout.trim(), 'status\nfailed');
});

test('NaN in the data is reported with its location; no partial artifact remains', async () => {
  const home = await tempHome();
  const rows = 6, cols = 5, bands = 3;
  const data = Array.from({ length: rows * cols * bands }, (_, i) => (i * 7) % 11);
  data[2 * rows * cols + 1 * rows + 4] = NaN; // column-major: row 4, col 1, band 2
  const map = Array.from({ length: rows * cols }, (_, i) => (i === 3 ? 1 : 0));
  const path = join(home, 'nan.mat');
  await writeFile(path, matFile([{ name: 'data', dims: [rows, cols, bands], data }, { name: 'map', dims: [rows, cols], data: map }]));
  const r = await runCli(['run', await writeStudy(home, rxOnly({ dataset: { kind: 'mat', path } }))], { GANTRY_HOME: home });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /1 non-finite value \(first: NaN at pixel 4,1, band 2\)/);
  assert.equal(r.stderr.match(/non-finite/g)?.length, 1, 'said once, not once per trial');
  await assertNoPartialArtifacts(join(home, 'store'));
  const q = await runCli(['query', 'SELECT status, error FROM trials', '--format', 'json'], { GANTRY_HOME: home });
  const rowsOut = JSON.parse(q.stdout);
  assert.equal(rowsOut[0].status, 'failed');
  assert.match(rowsOut[0].error, /^filter: dataset has 1 non-finite value/);
});

test('an unwritable store is a clear error, and nothing runs', async () => {
  const dir = await tempHome();
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const r = await runCli(['run', await writeStudy(dir, rxOnly({}))], { GANTRY_HOME: join(file, 'home') });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not writable|cannot/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('query is read-only and reports SQL errors in one line', async () => {
  const home = await tempHome();
  await mkdir(home, { recursive: true });
  const ok = await runCli(['run', await writeStudy(home, rxOnly({}))], { GANTRY_HOME: home });
  assert.equal(ok.code, 0, ok.stderr);
  const w = await runCli(['query', 'DELETE FROM trials'], { GANTRY_HOME: home });
  assert.equal(w.code, 2);
  assert.match(w.stderr, /read-only/i);
  const bad = await runCli(['query', 'SELEC 1'], { GANTRY_HOME: home });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /query failed/);
  const n = await runCli(['query', 'SELECT count(*) AS n FROM trials', '--format', 'csv'], { GANTRY_HOME: home });
  assert.equal(n.stdout.trim(), 'n\n1');
  assert.deepEqual((await readdir(home)).filter((f) => f.startsWith('.tmp')), []);
});

test('an empty grid is refused before any work (it would run nothing and say done)', async () => {
  const home = await tempHome();
  const r = await runCli(['run', await writeStudy(home, { ...rxOnly({}), grid: [] })], { GANTRY_HOME: home });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /grid: an empty grid has no trials/);
  assert.ok(!existsSync(join(home, 'store')), 'no study record written');
});

test('a corrupt catalog is named as corrupt at once (not as locked after a wait), and rebuild recovers it from the store', async () => {
  const home = await tempHome();
  const ok = await runCli(['run', await writeStudy(home, rxOnly({}))], { GANTRY_HOME: home });
  assert.equal(ok.code, 0, ok.stderr);
  const path = join(home, 'catalog.duckdb');
  const bytes = await readFile(path);
  for (let i = 0; i < bytes.length; i += 97) bytes[i] ^= 0xff;
  await writeFile(path, bytes);
  const t0 = Date.now();
  const q = await runCli(['query', 'SELECT count(*) FROM trials'], { GANTRY_HOME: home });
  assert.equal(q.code, 2, q.stderr);
  assert.match(q.stderr, /catalog .* is corrupt .*gantry catalog rebuild/);
  assert.doesNotMatch(q.stderr, /locked/);
  assert.ok(Date.now() - t0 < 10_000, 'no lock wait');
  const rebuilt = await runCli(['catalog', 'rebuild'], { GANTRY_HOME: home });
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  const n = await runCli(['query', 'SELECT count(*) AS n FROM trials', '--format', 'csv'], { GANTRY_HOME: home });
  assert.equal(n.stdout.trim(), 'n\n1');
});

test('gantry query cannot write, read files, reach the network or change settings (issue 13, item 1)', async () => {
  const home = await tempHome();
  const ok = await runCli(['run', await writeStudy(home, rxOnly({}))], { GANTRY_HOME: home });
  assert.equal(ok.code, 0, ok.stderr);
  const victim = join(home, 'precious.txt');
  await writeFile(victim, 'keep me');
  const refused: [string, RegExp][] = [
    [`COPY (SELECT 'x') TO '${victim}'`, /COPY statements are refused|disabled by configuration/],
    [`SELECT * FROM read_csv('${victim}')`, /query failed: .*(external|disabled|Permission)/i],
    [`SELECT * FROM read_text('${victim}')`, /query failed: .*(external|disabled|Permission)/i],
    ['INSTALL httpfs', /refused|disabled by configuration/],
    ['SET threads = 1', /refused|locked/],
    ['CREATE TEMP TABLE t AS SELECT 1', /refused/],
    [`ATTACH '${join(home, 'other.duckdb')}'`, /refused|disabled by configuration/],
    ['SELECT 1; SELECT 2', /one statement, got 2/],
  ];
  for (const [sql, expect] of refused) {
    const r = await runCli(['query', sql], { GANTRY_HOME: home });
    assert.equal(r.code, 2, `${sql}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, expect, sql);
  }
  assert.equal(await readFile(victim, 'utf8'), 'keep me');
  assert.ok(!existsSync(join(home, 'other.duckdb')));
  // Reading the catalog still works, DESCRIBE included.
  const d = await runCli(['query', 'DESCRIBE trials', '--format', 'csv'], { GANTRY_HOME: home });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /trial_id/);
});

test('a truncated step record does not break status; the next run repeats that step and ends with the same results (issue 13, item 6)', async () => {
  const home = await tempHome();
  const file = await writeStudy(home, rxOnly({}));
  const first = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(first.code, 0, first.stderr);
  const auc = async () => (await runCli(['query', "SELECT value FROM final_metrics WHERE name = 'auc'", '--format', 'csv'], { GANTRY_HOME: home })).stdout;
  const before = await auc();
  const store = new LocalStore(join(home, 'store'));
  const filter = (await listRecords(store)).find((r) => r.kind === 'filter')!;
  const path = join(home, 'store', 'steps', filter.key, 'record.json');
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.slice(0, Math.floor(text.length / 2)));
  const st = await runCli(['status', '--steps'], { GANTRY_HOME: home });
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /record unreadable, the next run repeats the step/);
  const again = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /1 steps ran/);
  assert.equal(await auc(), before);
  const fixed = await runCli(['status', '--steps'], { GANTRY_HOME: home });
  assert.doesNotMatch(fixed.stdout, /record unreadable, the next run/);
  assert.match(fixed.stdout, /filter .*ran: its record was unreadable/);
});
