/** `gantry gc`: lists, then removes, the steps no trial references and old temp files; never what is referenced, running or recent. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { matFile, runCli, tempHome, toyStudy, writeStudy } from '../helpers.js';
import { LocalStore } from '../../infra/store/local.js';
import { writeRecord } from '../../infra/ledger.js';
import { S3Store } from '../../infra/store/s3.js';
import { S3TestServer } from '../infra/s3-server.js';
import { leaseKey } from '../../executors/step-lease.js';

/** A small cube with a few anomalous pixels; `shift` changes its values (so its fingerprint and every step key). */
function cube(shift: number): Buffer {
  const rows = 12, cols = 10, bands = 4;
  const data = Array.from({ length: rows * cols * bands }, (_, i) => ((i * 7 + shift) % 13) / 13);
  const map = Array.from({ length: rows * cols }, (_, i) => (i % 17 === 3 ? 1 : 0));
  return matFile([{ name: 'data', dims: [rows, cols, bands], data }, { name: 'map', dims: [rows, cols], data: map }]);
}

const stepFolders = async (home: string) => (await readdir(join(home, 'store', 'steps'))).filter((n) => !n.startsWith('.')).sort();

test('gc lists the step folders a changed dataset left behind, --yes removes only them, and the study stays cached', async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  const data = join(home, 'scene.mat');
  await writeFile(data, cube(0));
  const file = await writeStudy(home, toyStudy({ base: { ...(toyStudy().base as object), dataset: { kind: 'mat', path: data } }, grid: [{ set: { model: { kind: 'rx' } } }] }));
  assert.equal((await runCli(['run', file], env)).code, 0);
  const first = await stepFolders(home);
  assert.equal(first.length, 7);

  // Nothing unreferenced yet.
  const none = await runCli(['gc', '--min-age', '0'], env);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /nothing to remove; 1 trial files and the studies' latest launch plans reference 7 steps/);

  // The same trial (its config names the path, not the bytes) with new data: all seven steps get new keys.
  await writeFile(data, cube(5));
  const second = await runCli(['run', file], env);
  assert.match(second.stdout, /7 steps ran, 0 cached/);
  assert.equal((await stepFolders(home)).length, 14);
  // The catalog indexes the trial's new steps (it once kept the old ones: same trial id, same step count).
  const catalogKeys = await runCli(['query', 'SELECT step_key FROM trial_steps ORDER BY position', '--format', 'csv'], env);
  assert.ok(first.every((k) => !catalogKeys.stdout.includes(k)), catalogKeys.stdout);

  // Just written: a concurrent launch could be registering them, so the default age spares them.
  const young = await runCli(['gc'], env);
  assert.equal(young.code, 0, young.stderr);
  assert.match(young.stdout, /nothing to remove/);
  assert.equal(young.stdout.match(/^kept steps\/[0-9a-f]+: started \d+ min ago/gm)?.length, 7, young.stdout);

  const dry = await runCli(['gc', '--min-age', '0'], env);
  assert.equal(dry.code, 0, dry.stderr);
  for (const key of first) assert.match(dry.stdout, new RegExp(`^steps/${key}\\s+\\w+\\s+done\\s+\\d+\\s+\\d`, 'm'));
  assert.match(dry.stdout, /would remove 7 step folders and 0 temp files \(\d+(\.\d)? KB\); 1 trial files and the studies' latest launch plans reference 7 steps .*gantry gc --yes/);
  assert.equal((await stepFolders(home)).length, 14, 'a dry run removes nothing');

  const yes = await runCli(['gc', '--yes', '--min-age', '0'], env);
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /removed 7 step folders and 0 temp files/);
  const left = await stepFolders(home);
  assert.equal(left.length, 7);
  assert.ok(left.every((k) => !first.includes(k)), 'only the unreferenced ones went');
  // Their lease documents went with them; the kept steps' stay.
  const leases = join(home, 'store', '.gantry-versioned', 'leases');
  for (const k of first) assert.ok(!existsSync(join(leases, k)), `lease of removed step ${k}`);
  for (const k of left) assert.ok(existsSync(join(leases, k)), `lease of kept step ${k}`);
  // The catalog forgets them, but for rows a (stale) trial_steps still lists.
  const rows = await runCli(['query', `SELECT count(*) AS n FROM steps WHERE step_key IN (${first.map((k) => `'${k}'`).join(',')}) AND step_key NOT IN (SELECT step_key FROM trial_steps)`, '--format', 'csv'], env);
  assert.equal(rows.stdout.trim(), 'n\n0');

  const again = await runCli(['run', file], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 steps ran, 7 cached/);
});

test('gc spares a running step with a live owner, removes old temp files, keeps new ones', async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  const file = await writeStudy(home, toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }] }));
  assert.equal((await runCli(['run', file], env)).code, 0);
  const store = new LocalStore(join(home, 'store'));
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  // An unreferenced step "running" in this (live) test process, started long ago.
  await writeRecord(store, { key: 'feedfacefeedface', kind: 'train', version: 1, params: {}, inputs: {}, status: 'running', attempt: 1, reason: 'new', startedAt: twoHoursAgo.toISOString(), artifacts: {}, pid: process.pid, host: hostname() });
  // The same, by a process that is gone.
  await writeRecord(store, { key: 'deaddeaddeaddead', kind: 'train', version: 1, params: {}, inputs: {}, status: 'running', attempt: 1, reason: 'new', startedAt: twoHoursAgo.toISOString(), artifacts: {}, pid: 2 ** 22 + 12345, host: hostname() });
  const oldTemp = join(home, 'store', 'trials', '.tmp-0123456789ab');
  const newTemp = join(home, 'store', 'trials', '.tmp-ba9876543210');
  await writeFile(oldTemp, 'half a write');
  await writeFile(newTemp, 'a write in progress');
  for (const f of [oldTemp, join(home, 'store', 'steps', 'feedfacefeedface', 'record.json'), join(home, 'store', 'steps', 'deaddeaddeaddead', 'record.json')]) await utimes(f, twoHoursAgo, twoHoursAgo);

  const yes = await runCli(['gc', '--yes'], env);
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, new RegExp(`^kept steps/feedfacefeedface: running \\(pid ${process.pid}, alive\\)$`, 'm'));
  assert.match(yes.stdout, /removed 1 step folder and 1 temp file/);
  assert.ok(existsSync(join(home, 'store', 'steps', 'feedfacefeedface', 'record.json')));
  assert.ok(!existsSync(join(home, 'store', 'steps', 'deaddeaddeaddead')));
  assert.ok(!existsSync(oldTemp));
  assert.ok(existsSync(newTemp), 'a recent temp file may be a write in progress');
  assert.equal((await stepFolders(home)).length, 8);
});

test('gc refuses --dry-run with --yes', async () => {
  const r = await runCli(['gc', '--dry-run', '--yes'], { GANTRY_HOME: await tempHome() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--dry-run or --yes, not both/);
});

test('gc on an S3 store (MinIO): the steps a changed dataset left behind, and their leases, are removed; the study stays cached', { timeout: 300_000 }, async (t) => {
  const s3 = await S3TestServer.start(); // GANTRY_LIVE=require: no server is a failure, not a skip
  t.after(() => s3.close());
  const home = await tempHome();
  const s3env = s3.env('gc');
  const env = { GANTRY_HOME: home, ...s3env };
  const store = new S3Store(s3env.GANTRY_STORE, { ...s3.storeOptions(), env: {} });
  t.after(() => store.close());
  const data = join(home, 'scene.mat');
  await writeFile(data, cube(0));
  const file = await writeStudy(home, toyStudy({ base: { ...(toyStudy().base as object), dataset: { kind: 'mat', path: data } }, grid: [{ set: { model: { kind: 'rx' } } }] }));
  assert.equal((await runCli(['run', file], env)).code, 0);
  const stepKeys = async () => [...new Set((await store.list('steps')).map((k) => k.split('/')[1]))].sort();
  const first = await stepKeys();
  assert.equal(first.length, 7);
  await writeFile(data, cube(5));
  assert.match((await runCli(['run', file], env)).stdout, /7 steps ran, 0 cached/);
  const leased = s3.backend.name.startsWith('MinIO'); // other test servers ignore conditional writes: no leases then
  if (leased) for (const k of first) assert.ok(await store.getVersioned(leaseKey(k)), `lease of ${k} before gc`);

  const dry = await runCli(['gc', '--min-age', '0'], env);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove 7 step folders and 0 temp files .*reference 7 steps/);
  const yes = await runCli(['gc', '--yes', '--min-age', '0'], env);
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /removed 7 step folders/);
  const left = await stepKeys();
  assert.equal(left.length, 7);
  assert.ok(left.every((k) => !first.includes(k)), 'only the unreferenced ones went');
  if (leased) {
    for (const k of first) assert.equal(await store.getVersioned(leaseKey(k)), undefined, `lease of removed step ${k}`);
    for (const k of left) assert.ok(await store.getVersioned(leaseKey(k)), `lease of kept step ${k}`);
  }
  assert.match((await runCli(['run', file], env)).stdout, /0 steps ran, 7 cached/);
});
