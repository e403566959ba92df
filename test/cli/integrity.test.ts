/**
 * Integrity end to end (issue 13, rows 4 and 5): sealed records, checked cached steps, `gantry
 * verify`, `gantry repair`, an atomic `catalog rebuild` that reports damage instead of failing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { runCli, tempHome, toyStudy, writeStudy } from '../helpers.js';
import { listRecords, type StepRecord } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';

const rxOnly = (base: Record<string, unknown> = {}) => toyStudy({ base: { ...(toyStudy().base as object), ...base }, grid: [{ set: { model: { kind: 'rx' } } }] });

async function ranStudy(study = rxOnly()): Promise<{ home: string; file: string; env: Record<string, string> }> {
  const home = await tempHome();
  const file = await writeStudy(home, study);
  const env = { GANTRY_HOME: home };
  const r = await runCli(['run', file], env);
  assert.equal(r.code, 0, r.stderr);
  return { home, file, env };
}

const storeOf = (home: string) => new LocalStore(join(home, 'store'));
const recordOf = async (home: string, kind: string): Promise<StepRecord> => (await listRecords(storeOf(home))).find((r) => r.kind === kind)!;
const recordPath = (home: string, key: string) => join(home, 'store', 'steps', key, 'record.json');

async function auc(env: Record<string, string>): Promise<string> {
  const q = await runCli(['query', "SELECT value FROM final_metrics WHERE name = 'auc'", '--format', 'csv'], env);
  assert.equal(q.code, 0, q.stderr);
  return q.stdout.trim();
}

async function flipByte(path: string): Promise<void> {
  const b = await readFile(path);
  b[b.length >> 1] ^= 0xff;
  await writeFile(path, b);
}

test('row 4: an edited AUC in a step record is detected by verify, never indexed by rebuild, and repaired by the next run (its forged record kept)', async () => {
  const { home, file, env } = await ranStudy();
  const trueAuc = await auc(env);
  const evaluate = await recordOf(home, 'evaluate');
  const path = recordPath(home, evaluate.key);
  const text = await readFile(path, 'utf8');
  const real = String(evaluate.output!.metrics && (evaluate.output!.metrics as Record<string, number>).auc);
  assert.ok(text.includes(real));
  await writeFile(path, text.replace(real, '0.999'));

  const v = await runCli(['verify'], env);
  assert.equal(v.code, 1, v.stdout + v.stderr);
  assert.match(v.stdout, new RegExp(`record\\s+evaluate\\s+${evaluate.key}\\s+its seal does not match`));
  assert.match(v.stdout, /checked 1 study, 1 trials, 7 steps, \d+ artifacts \(.*\) in .* s: 1 damaged/);

  const rb = await runCli(['catalog', 'rebuild'], env);
  assert.equal(rb.code, 1, rb.stdout + rb.stderr);
  assert.match(rb.stdout, /rebuilt: 1 studies, 1 trials; 1 damaged: trial \w+ \(gantry verify lists them\)/);
  assert.ok(!existsSync(join(home, 'catalog.duckdb.rebuild')));
  assert.equal(await auc(env), 'value', 'the forged value is not indexed');
  const st = await runCli(['query', 'SELECT status FROM trials', '--format', 'csv'], env);
  assert.equal(st.stdout.trim(), 'status\ndamaged');

  const again = await runCli(['run', file], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /warning: evaluate \w+ is damaged: record seal does not match/);
  assert.match(again.stderr, /evaluate\s+\w+ ran: repair: record seal does not match/);
  assert.match(again.stdout, /1 steps ran, 6 cached/);
  assert.equal(await auc(env), trueAuc);
  assert.doesNotMatch(again.stdout, /0\.999/);
  // History is kept: the forged record, byte for byte, under damaged/.
  const kept = await readdir(join(home, 'store', 'steps', evaluate.key, 'damaged'));
  assert.equal(kept.length, 1);
  assert.match(await readFile(join(home, 'store', 'steps', evaluate.key, 'damaged', kept[0]), 'utf8'), /"auc": 0\.999/);
  const ok = await runCli(['verify'], env);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /: 0 damaged/);
});

test('row 5: a flipped byte in a cached score artifact: verify says damaged, rebuild reports it (no .rebuild left), the run recomputes it', async () => {
  const { home, file, env } = await ranStudy();
  const trueAuc = await auc(env);
  const score = await recordOf(home, 'score');
  const [name, ref] = Object.entries(score.artifacts).find(([n]) => n.startsWith('scores-'))!;
  await flipByte(join(home, 'store', ...ref.key.split('/')));

  const v = await runCli(['verify', 'toy', '--json'], env);
  assert.equal(v.code, 1, v.stderr);
  const report = JSON.parse(v.stdout);
  assert.deepEqual(report.damaged.map((d: { kind: string; name: string; key: string; what: string }) => [d.kind, d.name, d.key, d.what]), [['artifact', `score ${name}`, score.key, 'sha256 mismatch']]);

  // A stale file from a rebuild that was killed goes too.
  await writeFile(join(home, 'catalog.duckdb.rebuild'), 'left by a crash');
  const rb = await runCli(['catalog', 'rebuild'], env);
  assert.equal(rb.code, 1, rb.stdout + rb.stderr);
  assert.match(rb.stdout, /1 trials; 1 damaged/);
  assert.ok(!existsSync(join(home, 'catalog.duckdb.rebuild')));

  const again = await runCli(['run', file], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`score\\s+\\w+ ran: repair: artifact ${name} \\(sha256 mismatch\\)`));
  assert.match(again.stdout, /1 steps ran, 6 cached/);
  assert.equal(await auc(env), trueAuc);
  assert.equal((await runCli(['verify'], env)).code, 0);
  assert.equal((await runCli(['catalog', 'rebuild'], env)).code, 0);
});

test('a rebuild that fails removes its .rebuild file and leaves the old catalog', async () => {
  const { home, env } = await ranStudy();
  // The catalog path is a folder with a file in it: building works, the final swap (rename) fails.
  const dir = join(home, 'cat');
  await mkdir(dir);
  await writeFile(join(dir, 'keep'), 'x');
  const rb = await runCli(['catalog', 'rebuild'], { ...env, GANTRY_CATALOG: dir });
  assert.equal(rb.code, 1, rb.stdout + rb.stderr);
  assert.ok(!existsSync(`${dir}.rebuild`), 'no .rebuild file left');
  assert.ok(existsSync(join(dir, 'keep')));
});

test('a deleted step folder: the step says its record is missing, not that an input changed', async () => {
  // Two trials whose score steps share params but not inputs: before, a deleted one was said to have 'input changed: model, tiles'.
  const { home, file, env } = await ranStudy(toyStudy({ base: { ...(toyStudy().base as object), model: { kind: 'rx' } }, grid: [{ cartesian: { 'dataset.anomalies': [3, 4] } }] }));
  const score = (await listRecords(storeOf(home))).filter((r) => r.kind === 'score')[0];
  await import('node:fs/promises').then((fs) => fs.rm(join(home, 'store', 'steps', score.key), { recursive: true }));
  const again = await runCli(['run', file], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`score\\s+${score.key.slice(0, 12)} ran: its record is missing \\(deleted\\?\\); it runs again`));
  assert.doesNotMatch(again.stderr, /input changed/);
});

test('gantry repair recomputes damaged steps from the store alone and lists what needs the study file', async () => {
  const { home, env } = await ranStudy();
  const trueAuc = await auc(env);
  const evaluate = await recordOf(home, 'evaluate');
  const score = await recordOf(home, 'score');
  const filter = await recordOf(home, 'filter');
  const ePath = recordPath(home, evaluate.key);
  await writeFile(ePath, (await readFile(ePath, 'utf8')).replace(/"auc": [0-9.e-]+/, '"auc": 0.5'));
  await flipByte(join(home, 'store', ...Object.values(score.artifacts)[0].key.split('/')));

  const r = await runCli(['repair'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 damaged/);
  assert.match(r.stdout, /repaired 2 steps; 1 trial indexed again in the catalog/);
  assert.match(r.stderr, new RegExp(`repairing score ${score.key.slice(0, 12)}`));
  assert.equal((await runCli(['verify'], env)).code, 0);
  assert.equal(await auc(env), trueAuc);
  const st = await runCli(['status', '--steps'], env);
  assert.match(st.stdout, /evaluate .*repair: record seal does not match/);

  // A record cut in half cannot say what its step computed: repair names it and the command that recomputes it.
  const fPath = recordPath(home, filter.key);
  const text = await readFile(fPath, 'utf8');
  await writeFile(fPath, text.slice(0, text.length >> 1));
  const r2 = await runCli(['repair', 'toy'], env);
  assert.equal(r2.code, 1, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /1 damaged item cannot be recomputed from the store alone/);
  assert.match(r2.stdout, new RegExp(`record\\s+filter\\s+${filter.key}.*its record cannot be read`));
  assert.match(r2.stdout, /run `gantry run <study file>` to recompute them/);
  const none = await runCli(['repair', 'nope'], env);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no study 'nope'/);
});

test('an unsealed (older gantry) record is read and reused, and verify lists it as a warning, not damage', async () => {
  const { home, file, env } = await ranStudy();
  const train = await recordOf(home, 'train');
  const path = recordPath(home, train.key);
  const doc = JSON.parse(await readFile(path, 'utf8'));
  assert.equal(typeof doc.sha256, 'string', 'records are sealed');
  delete doc.sha256;
  await writeFile(path, JSON.stringify(doc, null, 1));
  const v = await runCli(['verify'], env);
  assert.equal(v.code, 0, v.stdout);
  assert.match(v.stdout, /warning: 1 document has no seal/);
  assert.match(v.stdout, new RegExp(`record train ${train.key}`));
  assert.match(v.stdout, /0 damaged, 1 unsealed/);
  const again = await runCli(['run', file], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 steps ran, 7 cached/);
});
