/** Launches: each `gantry run` is recorded (store and catalog), so re-runs with --set or another profile are told apart (issue 13, row 16); `gantry --version`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, runCli, tempHome, toyStudy, writeStudy } from '../helpers.js';
import { LocalStore } from '../../infra/store/local.js';
import { launchKeys, readLaunch, readLaunchTrials } from '../../activities/launches.js';

/** One rx trial on a synthetic scene: no grid axis, so every cell's label is the same (''). */
const study = () => toyStudy({
  grid: [{ set: { model: { kind: 'rx' } } }],
  profiles: { four: { set: { 'dataset.anomalies': 4 } }, six: { set: { 'dataset.anomalies': 6 } } },
});

/** Rows' (profile, overrides), in a fixed order. */
const settings = (rows: { profile: string; overrides: string }[]) =>
  rows.map((r) => [r.profile, JSON.parse(r.overrides)] as const).sort((a, b) => (`${a[0]} ${Object.keys(a[1]).length}` < `${b[0]} ${Object.keys(b[1]).length}` ? -1 : 1));

async function query<T>(home: string, sql: string): Promise<T[]> {
  const r = await runCli(['query', sql, '--format', 'json'], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T[];
}

test('re-runs with --set values or another profile that give same-labelled cells are rows of their own in cell_summary', async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  const file = await writeStudy(home, study());
  for (const args of [['--profile', 'four'], ['--profile', 'four', '--set', 'dataset.seed=2'], ['--profile', 'six']]) {
    const r = await runCli(['run', file, ...args], env);
    assert.equal(r.code, 0, r.stderr);
    // The table after a run says once which settings its rows are of.
    assert.match(r.stdout, new RegExp(`^profile ${args[1]}${args[2] ? ', --set dataset.seed=2' : ''}$`, 'm'));
  }

  const cells = await query<{ cell: string; cell_id: string; profile: string; overrides: string; seeds: number; auc_mean: number }>(home, 'SELECT cell, cell_id, profile, overrides, seeds, auc_mean FROM cell_summary ORDER BY profile, overrides');
  assert.equal(cells.length, 3);
  assert.ok(cells.every((c) => c.cell === ''), 'the labels alone cannot tell them apart');
  assert.equal(new Set(cells.map((c) => c.cell_id)).size, 3);
  assert.deepEqual(settings(cells), [['four', {}], ['four', { 'dataset.seed': 2 }], ['six', {}]]);

  const launches = await query<{ launch_id: string; study: string; profile: string; overrides: string; executor: string; trials: number; gantry_version: string; started_at: string; grid_id: string }>(home, 'SELECT * FROM launches ORDER BY started_at');
  assert.equal(launches.length, 3);
  assert.deepEqual(launches.map((l) => [l.profile, JSON.parse(l.overrides), l.executor, l.trials]), [['four', {}, 'embedded', 1], ['four', { 'dataset.seed': 2 }, 'embedded', 1], ['six', {}, 'embedded', 1]]);
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.ok(launches.every((l) => l.gantry_version === `gantry@${version}` && l.study === 'toy'));
  assert.equal(new Set(launches.map((l) => l.launch_id)).size, 3);
  assert.equal(new Set(launches.map((l) => l.grid_id)).size, 3, 'three grids');

  // The same grid launched again: a new launch, the same grid id; the trial's latest launch is the new one.
  const again = await runCli(['run', file, '--profile', 'four'], env);
  assert.match(again.stdout, /0 steps ran, 7 cached/);
  const after = await query<{ launch_id: string; grid_id: string }>(home, 'SELECT launch_id, grid_id FROM launches ORDER BY started_at');
  assert.equal(after.length, 4);
  assert.equal(after[3].grid_id, after[0].grid_id);
  const links = await query<{ n: number; trials: number }>(home, 'SELECT count(*) AS n, count(DISTINCT trial_id) AS trials FROM launch_trials');
  assert.deepEqual(links, [{ n: 4, trials: 3 }]);
  const latest = await query<{ launch_id: string }>(home, `SELECT l.launch_id FROM latest_launch l JOIN trials t USING (trial_id) WHERE t.trial_id IN (SELECT trial_id FROM launch_trials WHERE launch_id = '${after[0].launch_id}')`);
  assert.deepEqual(latest, [{ launch_id: after[3].launch_id }]);
  const summary = await query<{ profile: string; overrides: string }>(home, 'SELECT profile, overrides FROM trial_summary ORDER BY profile, overrides');
  assert.deepEqual(settings(summary), [['four', {}], ['four', { 'dataset.seed': 2 }], ['six', {}]]);

  // The store is the source of truth: a rebuilt catalog has the same launches.
  await rm(join(home, 'catalog.duckdb'));
  const rb = await runCli(['catalog', 'rebuild'], env);
  assert.equal(rb.code, 0, rb.stderr);
  assert.deepEqual(await query(home, 'SELECT launch_id, grid_id FROM launches ORDER BY started_at'), after);
  assert.equal((await query(home, 'SELECT * FROM cell_summary')).length, 3);
});

test('a launch document holds the overrides, versions, git commit of the study\'s folder and its trials', async () => {
  const home = await tempHome();
  const repo = join(home, 'project');
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@example.org', '-c', 'user.name=t', ...args], { cwd: repo, encoding: 'utf8' }).trim();
  execFileSync('git', ['init', '-q', repo]);
  const file = await writeStudy(repo, study());
  git('add', '.');
  git('commit', '-qm', 'study');
  const r = await runCli(['run', file, '--set', 'dataset.seed=3', '--set', 'model.kind=rx'], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const outside = await writeStudy(home, study(), 'outside.json');
  assert.equal((await runCli(['run', outside], { GANTRY_HOME: home })).code, 0);

  const store = new LocalStore(join(home, 'store'));
  const keys = await launchKeys(store, 'toy');
  assert.equal(keys.length, 2);
  const [inRepo, plain] = await Promise.all(keys.map((k) => readLaunch(store, k)));
  assert.deepEqual(inRepo.overrides, { 'dataset.seed': 3, 'model.kind': 'rx' });
  assert.equal(inRepo.gitCommit, git('rev-parse', 'HEAD'));
  assert.equal(plain.gitCommit, null, 'not in a git checkout');
  assert.equal(inRepo.executor, 'embedded');
  assert.match(inRepo.codeVersion, /^gantry@\d+\.\d+\.\d+/);
  assert.equal(inRepo.trials, 1);
  const trialIds = await readLaunchTrials(store, inRepo);
  assert.equal(trialIds.length, 1);
  assert.ok((await store.list('trials')).includes(`trials/${trialIds[0]}.json`));
  assert.ok(inRepo.launchId < plain.launchId, 'launch ids sort by time');
});

test('gantry --version prints the package version and the code version', async () => {
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const r = await runCli(['--version'], {});
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `${version} (gantry@${version})`);
});
