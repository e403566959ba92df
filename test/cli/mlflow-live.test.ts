/**
 * The MLflow mirror as users meet it, against a real MLflow 2.10.2 server (started here from the
 * provisioned binary, or MLFLOW_TRACKING_URI), reached through the fault-injecting proxy so that an
 * outage can be staged. Each test is one of the cases the real server showed to break:
 *  1. a relaunch from a fresh GANTRY_HOME on the same store, after a run cut off from MLflow,
 *     delivers every missing point (the server answers 400 to large batches holding stored rows);
 *  2. the same study from a fresh home with its own store appends nothing (runs found by tag);
 *  3. a relaunch that runs nothing changes nothing: statuses, end times, tags, params, points;
 *  4. every trained run says its backend and code version;
 *  5. after kill -9 and resume, MLflow holds exactly the catalog's points, timestamps included;
 *  6. MLflow's conventions: a parent run per launch, nested trials, readable names and cells,
 *     mlflow.user / mlflow.source.*, final metrics at the last training step, one separator;
 *  7. one line about what is left when MLflow is down at the end; no "refused 0 points" noise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MlflowClient, type MlflowRun } from '../../infra/mlflow/client.js';
import { LAUNCH_TAG, TRIAL_TAG } from '../../infra/mlflow/mirror.js';
import { REPORT_TAG } from '../../reports/publish.js';
import { LocalStore } from '../../infra/store/local.js';
import { gitCommit } from '../../infra/version.js';
import { REPO_ROOT, runCli, startCli, tempHome, type CliResult } from '../helpers.js';
import { liveMlflowMissing, liveTrackingUri, MlflowContractServer, mlflowTargets, type SeenRequest } from '../infra/mlflow-contract-server.js';

/** The quickstart, made small: 1 RX trial and 4 GAN trials whose curves hold 60 steps × 3–4 metrics (over 100 points a batch). */
const QUICK = ['--set', 'seeds=[0]', '--set', 'model.iterations=300', '--set', 'model.logEvery=5', '--set', 'model.scoreRestarts=1', '--set', 'model.scoreIterations=2', '--checkpoint-every', '50'];
const POINTS = 'SELECT trial_id, name, step, value, epoch_ms(time) AS time FROM metrics ORDER BY 1, 2, 3';
const metricBatch = (r: SeenRequest) => r.route === 'POST /api/2.0/mlflow/runs/log-batch' && Array.isArray(r.body?.metrics) && r.body.metrics.length > 0;

interface Point {
  trial_id: string;
  name: string;
  step: number;
  value: number;
  time: number;
}

liveMlflowMissing('the CLI mirror cases');
const live = mlflowTargets().some((t) => t.live);

describe('the MLflow mirror against a real MLflow server', { skip: !live }, () => {
  let proxy: MlflowContractServer;
  let client: MlflowClient;
  let experimentId: string;
  const study = `mlflow-live-${Date.now().toString(36)}`;

  before(async () => {
    const upstream = await liveTrackingUri();
    proxy = await MlflowContractServer.create({ upstream: upstream.trackingUri });
    client = new MlflowClient(upstream, { retries: 2 });
  });
  after(async () => {
    await client?.close();
    await proxy?.close();
  });

  /** A study file: the quickstart under a name of this run's own, so its experiment is new. */
  async function studyFile(dir: string, seed = 7): Promise<string> {
    const { default: quickstart } = await import('../../experiments/quickstart.js');
    const file = join(dir, `${study}.json`);
    const spec = { ...structuredClone(quickstart), name: study } as Record<string, any>;
    spec.base.dataset.seed = seed;
    await writeFile(file, JSON.stringify(spec));
    return file;
  }

  const env = (home: string, store = join(home, 'store')) => ({ GANTRY_HOME: home, GANTRY_STORE: store, MLFLOW_TRACKING_URI: proxy.url, MLFLOW_HTTP_REQUEST_TIMEOUT: '10' });

  async function catalogPoints(home: string, store?: string): Promise<Point[]> {
    const q = await runCli(['query', POINTS, '--format', 'json'], env(home, store));
    assert.equal(q.code, 0, q.stderr);
    return JSON.parse(q.stdout);
  }

  async function runs(): Promise<MlflowRun[]> {
    experimentId ??= (await client.getExperimentByName(`gantry/${study}`))!.experiment_id;
    return client.searchRuns([experimentId], '', { maxResults: 1000 });
  }
  const tag = (r: MlflowRun, k: string) => r.data.tags.find((t) => t.key === k)?.value;

  /** Every run's points, as (trial, name, step, value, time) rows sorted like POINTS. */
  async function mlflowPoints(): Promise<Point[]> {
    const out: Point[] = [];
    for (const r of await runs()) {
      const trial = tag(r, TRIAL_TAG);
      if (!trial) continue;
      for (const key of new Set(r.data.metrics.map((m) => m.key))) {
        for (const m of await client.getMetricHistory(r.info.run_id, key)) out.push({ trial_id: trial, name: key, step: m.step, value: m.value, time: m.timestamp });
      }
    }
    return out.sort((a, b) => (a.trial_id < b.trial_id ? -1 : a.trial_id > b.trial_id ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : a.step - b.step));
  }

  /** What a user sees of every run: info, tags, params and points. */
  async function snapshot(): Promise<unknown> {
    const rs = (await runs()).sort((a, b) => a.info.run_id.localeCompare(b.info.run_id));
    return { runs: rs.map((r) => ({ info: r.info, tags: [...r.data.tags].sort((a, b) => a.key.localeCompare(b.key)), params: [...r.data.params].sort((a, b) => a.key.localeCompare(b.key)) })), points: await mlflowPoints() };
  }

  const sameKeys = (ps: Point[]) => ps.map(({ trial_id, name, step }) => `${trial_id} ${name} ${step}`);

  let dir: string;
  let first: CliResult;
  let catalog: Point[];

  test('case 7: MLflow going down mid-run: one line about what is left, no empty refusals', { timeout: 300_000 }, async () => {
    dir = await tempHome('gantry-mlflow-live-');
    const file = await studyFile(dir);
    const { child, done } = startCli(['run', file, ...QUICK], env(join(dir, 'home1'), join(dir, 'store')), REPO_ROOT);
    // Cut MLflow off once some training points have arrived: the rest waits in home1's outbox.
    const deadline = Date.now() + 180_000;
    while (proxy.requests(metricBatch) < 2) {
      if (Date.now() > deadline || child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await proxy.stop();
    first = await done;
    await proxy.start();
    assert.equal(first.code, 0, first.stderr);
    const left = first.stderr.split('\n').filter((l) => /left in the outbox|not yet sent/.test(l));
    assert.equal(left.length, 1, `one line about what is left, got:\n${first.stderr}`);
    assert.doesNotMatch(first.stderr, /refused 0 points/);
    catalog = await catalogPoints(join(dir, 'home1'), join(dir, 'store'));
    const delivered = await mlflowPoints();
    assert.ok(delivered.length > 0 && delivered.length < catalog.length, `the outage must leave some points undelivered (${delivered.length} of ${catalog.length})`);
  });

  test('case 1: a relaunch from a fresh GANTRY_HOME on the same store delivers every missing point, once', { timeout: 300_000 }, async () => {
    assert.ok(catalog, 'needs case 7');
    const file = join(dir, `${study}.json`);
    const r = await runCli(['run', file, ...QUICK], env(join(dir, 'home2'), join(dir, 'store')), REPO_ROOT);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /0 steps ran/);
    assert.doesNotMatch(r.stderr, /refused/);
    const got = await mlflowPoints();
    assert.deepEqual(sameKeys(got), sameKeys(catalog), 'each (trial, name, step) of the catalog exactly once in MLflow');
    assert.deepEqual(got, catalog, 'with the catalog values and timestamps');
  });

  test('case 3: a relaunch that runs nothing changes nothing in MLflow', { timeout: 300_000 }, async () => {
    assert.ok(catalog, 'needs case 1');
    const before = await snapshot();
    const file = join(dir, `${study}.json`);
    for (const home of ['home1', 'home2']) {
      const r = await runCli(['run', file, ...QUICK], env(join(dir, home), join(dir, 'store')), REPO_ROOT);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(await snapshot(), before);
  });

  test('case 2: the same study from a fresh home with its own store appends no point', { timeout: 300_000 }, async () => {
    assert.ok(catalog, 'needs case 1');
    const file = join(dir, `${study}.json`);
    const r = await runCli(['run', file, ...QUICK], env(join(dir, 'home3')), REPO_ROOT);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /\b0 steps ran/, 'its own store: the trials ran again');
    const got = await mlflowPoints();
    assert.deepEqual(sameKeys(got), sameKeys(catalog), 'no (trial, name, step) twice');
    assert.equal((await runs()).filter((x) => tag(x, TRIAL_TAG)).length, new Set(catalog.map((p) => p.trial_id)).size, 'one run per trial');
  });

  test('cases 4 and 6: tags, names, nesting and steps follow MLflow conventions', { timeout: 120_000 }, async () => {
    assert.ok(catalog, 'needs case 1');
    const q = await runCli(['query', 'SELECT trial_id, cell, seed, model, backend FROM trials', '--format', 'json'], env(join(dir, 'home1'), join(dir, 'store')));
    const trials = new Map((JSON.parse(q.stdout) as { trial_id: string; cell: string; seed: number; model: string; backend: string | null }[]).map((t) => [t.trial_id, t]));
    const all = await runs();
    const parents = all.filter((r) => tag(r, LAUNCH_TAG));
    assert.equal(parents.length, 1, 'one parent run for the launch (relaunches of the same grid reuse it)');
    const parent = parents[0];
    assert.equal(parent.info.status, 'FINISHED');
    assert.match(parent.info.run_name ?? '', new RegExp(`^${study} \\(smoke\\)$`));
    const children = all.filter((r) => tag(r, TRIAL_TAG));
    assert.equal(children.length, trials.size);
    const commit = gitCommit();
    for (const r of [parent, ...children]) {
      assert.ok(tag(r, 'mlflow.user'), 'mlflow.user');
      assert.equal(tag(r, 'mlflow.source.name'), 'gantry');
      assert.equal(tag(r, 'mlflow.source.type'), 'LOCAL');
      if (commit) assert.equal(tag(r, 'mlflow.source.git.commit'), commit);
      assert.match(tag(r, 'gantry.code_version') ?? '', /^gantry@\d/);
    }
    for (const r of children) {
      const t = trials.get(tag(r, TRIAL_TAG)!)!;
      assert.equal(tag(r, 'mlflow.parentRunId'), parent.info.run_id, 'nested under the launch');
      assert.equal(r.info.status, 'FINISHED');
      assert.equal(tag(r, 'gantry.cell') ?? '', t.cell, 'the readable cell, as the catalog has it (RX has none)');
      assert.equal(tag(r, 'gantry.backend'), t.backend ?? undefined, 'the backend that trained it');
      if (t.model === 'rx') assert.equal(r.info.run_name, 'baseline', 'a deterministic baseline has no seed');
      else assert.match(r.info.run_name ?? '', /^gan: hidden=\d+, noiseDim=\d+ · seed 0$/);
      for (const m of r.data.metrics) assert.doesNotMatch(m.key, /\./, `one separator in metric names: ${m.key}`);
      if (t.model !== 'rx') {
        const auc = r.data.metrics.find((m) => m.key === 'auc')!;
        assert.equal(auc.step, 300, 'final metrics at the last training step');
        assert.ok(r.data.metrics.some((m) => m.key === 'critic/auc'));
      }
    }
  });

  test('case 5: kill -9 during training, then resume: MLflow holds the catalog points, timestamps included', { timeout: 300_000 }, async () => {
    const kdir = await tempHome('gantry-mlflow-kill-');
    const file = join(kdir, `${study}.json`);
    await writeFile(file, (await readFile(join(dir, `${study}.json`), 'utf8')).replace('"seed":7', '"seed":8'));
    const args = ['run', file, ...QUICK, '--concurrency', '1'];
    const e = env(join(kdir, 'home'));
    const { child, done } = startCli(args, e, REPO_ROOT);
    const store = new LocalStore(e.GANTRY_STORE);
    const deadline = Date.now() + 180_000;
    // Kill once a training has checkpointed at least twice and sent points, before it ends.
    for (;;) {
      if (Date.now() > deadline) assert.fail('no checkpoint appeared in time');
      if (child.exitCode !== null) assert.fail('the run ended before it could be killed');
      const ptrs = (await store.list('steps')).filter((k) => k.endsWith('checkpoints/latest.json'));
      const its = await Promise.all(ptrs.map(async (k) => (JSON.parse(Buffer.from(await store.get(k)).toString()) as { iteration: number }).iteration));
      if (its.some((i) => i >= 100 && i < 300)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300)); // let the training log past its checkpoint
    child.kill('SIGKILL');
    await done;
    const r = await runCli(args, e, REPO_ROOT);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /resumed from checkpoint|steps ran/);
    const cat = (await catalogPoints(e.GANTRY_HOME)).filter((p) => !catalog.some((c) => c.trial_id === p.trial_id));
    const got = (await mlflowPoints()).filter((p) => cat.some((c) => c.trial_id === p.trial_id));
    assert.ok(cat.length > 0);
    assert.deepEqual(got, cat);
  });

  test('gantry report uploads the report to one report run of the study, replaced on each report', { timeout: 120_000 }, async () => {
    assert.ok(catalog, 'needs case 1');
    const e = env(join(dir, 'home1'), join(dir, 'store'));
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['report', study, '--format', 'md'], e);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /uploaded to MLflow run [0-9a-f]+/);
    }
    const reports = (await runs()).filter((x) => tag(x, REPORT_TAG) === study);
    assert.equal(reports.length, 1, 'one report run, found again by its tag');
    assert.equal(reports[0].info.status, 'FINISHED');
    const uri = reports[0].info.artifact_uri!;
    const top = (await client.listArtifacts(uri, 'report/md')).map((f) => f.path);
    assert.ok(top.includes('report/md/report.md'), top.join(', '));
    const plots = (await client.listArtifacts(uri, 'report/md/plots')).map((f) => f.path);
    assert.ok(plots.includes('report/md/plots/roc.png'), plots.join(', '));
    const md = Buffer.from(await client.downloadArtifact(uri, 'report/md/report.md')).toString();
    const local = await readFile(join(dir, 'home1', 'reports', study, 'report.md'), 'utf8');
    assert.equal(md, local, 'MLflow holds the report as written');
  });
});
