/**
 * Issue 4's end-to-end promise: the quickstart with its artifacts on S3 (MinIO on loopback when
 * there is one, else the s3rver stand-in: see test/infra/s3-server.ts) and runs mirrored to MLflow
 * (the recorded-contract server, or a live one when MLFLOW_TRACKING_URI is set for the mirror's own
 * tests): every trial is one MLflow run holding exactly the catalog's metric points, even when
 * MLflow is down for part of the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, runCli, startCli, tempHome } from '../helpers.js';
import { S3TestServer } from '../infra/s3-server.js';
import { MlflowContractServer } from '../infra/mlflow-contract-server.js';

const TOKEN = 'mlflow-token-7f3a9c';
const QUICK = ['--set', 'model.iterations=20', '--set', 'model.scoreRestarts=1', '--set', 'model.scoreIterations=2'];
const COUNTS = 'SELECT t.trial_id, count(m.name) AS n FROM trials t LEFT JOIN metrics m USING (trial_id) GROUP BY t.trial_id ORDER BY 1';

async function catalogCounts(env: Record<string, string>): Promise<{ trial_id: string; n: number }[]> {
  const q = await runCli(['query', COUNTS, '--format', 'json'], env);
  assert.equal(q.code, 0, q.stderr);
  return JSON.parse(q.stdout);
}

async function artifactRoot(mlflow: MlflowContractServer, runId: string): Promise<string> {
  const r = await fetch(`${mlflow.url}/api/2.0/mlflow/runs/get?run_id=${runId}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const uri = ((await r.json()) as { run: { info: { artifact_uri: string } } }).run.info.artifact_uri;
  return uri.replace(/^mlflow-artifacts:\//, '');
}

async function assertMirrored(mlflow: MlflowContractServer, counts: { trial_id: string; n: number }[], checkArtifacts = true): Promise<void> {
  for (const { trial_id, n } of counts) {
    const runs = mlflow.runsWithTag('gantry.trial_id', trial_id);
    assert.equal(runs.length, 1, `trial ${trial_id} has ${runs.length} MLflow runs`);
    assert.equal(mlflow.metricsStored(runs[0]), n, `trial ${trial_id}: MLflow holds ${mlflow.metricsStored(runs[0])} points, the catalog ${n}`);
    assert.equal(mlflow.run(runs[0])!.status, 'FINISHED');
    if (!checkArtifacts) continue;
    const summary = mlflow.artifact(`${await artifactRoot(mlflow, runs[0])}/gantry/trial.json`);
    assert.ok(summary, `trial ${trial_id} has no gantry/trial.json artifact`);
    assert.equal(JSON.parse(summary.toString()).trialId, trial_id);
  }
}

test('quickstart on S3 with the MLflow mirror: one run per trial, metric counts equal the catalog, even across an MLflow outage', { timeout: 300_000 }, async (t) => {
  const s3 = await S3TestServer.start();
  const mlflow = await MlflowContractServer.create({ token: TOKEN });
  t.after(async () => {
    await mlflow.close();
    await s3.close();
  });
  const home = await tempHome();
  const env = { ...s3.env('studies'), MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: TOKEN, GANTRY_HOME: home };
  const outputs: string[] = [];

  const first = await runCli(['run', 'quickstart', ...QUICK, '--set', 'seeds=[0]'], env, REPO_ROOT);
  assert.equal(first.code, 0, first.stderr);
  outputs.push(first.stdout, first.stderr);
  const counts = await catalogCounts(env);
  assert.equal(counts.length, 5);
  assert.ok(counts.every((c) => c.n > 0));
  await assertMirrored(mlflow, counts);
  const stores = await runCli(['query', 'SELECT store FROM studies', '--format', 'csv'], env);
  assert.equal(stores.stdout.trim(), `store\ns3://${s3.bucket}/studies`);

  // MLflow goes down once the second run's first trial is over: the run must not wait or fail.
  const second = startCli(['run', 'quickstart', ...QUICK, '--set', 'seeds=[1]', '--concurrency', '1'], env, REPO_ROOT);
  let stopped: Promise<void> | undefined;
  second.child.stderr!.on('data', (d: Buffer) => {
    if (!stopped && /trial \w+ done/.test(d.toString())) stopped = mlflow.stop();
  });
  const r2 = await second.done;
  assert.equal(r2.code, 0, r2.stderr);
  outputs.push(r2.stdout, r2.stderr);
  assert.ok(stopped, 'MLflow was never stopped');
  await stopped;
  assert.match(r2.stderr, /mlflow: \d+ items left in the outbox/);
  const all = await catalogCounts(env);
  assert.equal(all.length, 9);
  // While MLflow is down, what it holds is incomplete (checked from its state, not over HTTP).
  await assert.rejects(assertMirrored(mlflow, all, false), /MLflow runs|MLflow holds|FINISHED|status/);

  await mlflow.start();
  const sync = await runCli(['sync', 'mlflow'], env);
  assert.equal(sync.code, 0, sync.stderr);
  outputs.push(sync.stdout, sync.stderr);
  assert.match(sync.stdout, /nothing pending/);
  await assertMirrored(mlflow, all);
  const again = await runCli(['sync', 'mlflow'], env);
  assert.match(again.stdout, /0 items sent, nothing pending/);
  await assertMirrored(mlflow, all);

  // The catalog rebuilds from S3 alone.
  await rm(join(home, 'catalog.duckdb'));
  const rebuilt = await runCli(['catalog', 'rebuild'], env);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.deepEqual(await catalogCounts(env), all);

  // No secret anywhere: output, catalog, store objects, MLflow params and tags.
  for (const table of ['studies', 'trials', 'params', 'steps', 'artifacts', 'lineage']) {
    const q = await runCli(['query', `SELECT * FROM ${table}`, '--format', 'csv'], env);
    outputs.push(q.stdout);
  }
  const objects = await s3.objects();
  assert.ok(objects.length > 0, 'no store objects to check');
  for (const o of objects) outputs.push(o.key, JSON.stringify(o.metadata), o.body.toString('utf8'));
  for (const id of all.map((c) => c.trial_id)) {
    const run = mlflow.run(mlflow.runsWithTag('gantry.trial_id', id)[0])!;
    outputs.push(JSON.stringify(run.params), JSON.stringify(run.tags));
  }
  const text = outputs.join('\n');
  for (const secret of [TOKEN, s3.env().AWS_SECRET_ACCESS_KEY, s3.env().AWS_ACCESS_KEY_ID]) assert.ok(!text.includes(secret), `a secret leaked: ${secret}`);
});
