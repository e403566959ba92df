/** The quickstart's `real` profile on the San Diego scene (../shared/data; skipped when absent). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, SANDIEGO, runCli, tempHome } from '../helpers.js';

const GRID_SQL = `SELECT t.model, p.key, p.value, m.name, m.value AS metric
  FROM trials t JOIN params p USING (trial_id) JOIN metrics m USING (trial_id)
  WHERE p.is_axis OR p.key = 'model.kind' ORDER BY ALL`;

test('real profile: global RX AUC is 0.9403; the catalog rebuilds to the same rows', { skip: !existsSync(SANDIEGO) && 'shared data not present' }, async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  // The GAN trials are cut to a few iterations: this test is about RX and the catalog.
  const sets = ['model.iterations=3', 'model.scoreRestarts=1', 'model.scoreIterations=2', 'seeds=[0]'].flatMap((s) => ['--set', s]);
  const r = await runCli(['run', 'quickstart', '--profile', 'real', ...sets], env, REPO_ROOT);
  assert.equal(r.code, 0, r.stderr);
  const q = await runCli(['query', "SELECT auc, status FROM trial_summary WHERE model = 'rx'", '--format', 'json'], env);
  const [rx] = JSON.parse(q.stdout) as { auc: number; status: string }[];
  assert.equal(rx.status, 'done');
  assert.equal(rx.auc.toFixed(4), '0.9403');

  const before = await runCli(['query', GRID_SQL, '--format', 'csv'], env);
  assert.ok(before.stdout.split('\n').length > 5);
  await rm(join(home, 'catalog.duckdb'));
  const rebuilt = await runCli(['catalog', 'rebuild'], env);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.match(rebuilt.stdout, /rebuilt: 1 studies, 5 trials/);
  const after = await runCli(['query', GRID_SQL, '--format', 'csv'], env);
  assert.equal(after.stdout, before.stdout);
});
