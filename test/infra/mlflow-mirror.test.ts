/**
 * The MLflow mirror: outbox → runs, exactly once through outages, lost acknowledgements, process
 * restarts and duplicate enqueues. Runs against the contract server, and also against a live
 * MLflow (behind the fault-injecting proxy) when MLFLOW_TRACKING_URI is set.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MlflowClient, type MlflowConfig } from '../../infra/mlflow/client.js';
import { flattenParams, mlflowStatusOf, MlflowMirror, type MirrorPoint } from '../../infra/mlflow/mirror.js';
import { liveMlflowMissing, MlflowContractServer, mlflowTargets, openTarget, type SeenRequest } from './mlflow-contract-server.js';

const LOG_BATCH = 'POST /api/2.0/mlflow/runs/log-batch';
const fast = { retries: 1, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 10_000 };
const uniq = () => `gantry-test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
const T0 = 1_800_000_000_000;

function pts(names: string[], from: number, to: number, value: (step: number, name: string) => number = (s) => s / 7): MirrorPoint[] {
  const out: MirrorPoint[] = [];
  for (let step = from; step < to; step++) for (const name of names) out.push({ name, step, value: value(step, name), time: T0 + step });
  return out;
}

const isMetricBatch = (r: SeenRequest) => r.route === LOG_BATCH && Array.isArray(r.body?.metrics) && r.body.metrics.length > 0;

async function flushAll(m: MlflowMirror, rounds = 6) {
  let r = await m.flush();
  for (let i = 1; i < rounds && (r.pending > 0 || r.error); i++) r = await m.flush();
  return r;
}

liveMlflowMissing('the mirror');

for (const target of mlflowTargets()) {
  describe(`mlflow mirror against the ${target.name} server`, () => {
    let server: MlflowContractServer;
    let config: MlflowConfig;
    let probe: MlflowClient;
    const prefix = uniq();
    const expName = (study: string) => `${prefix}/${study}`;

    before(async () => {
      ({ server, config } = await openTarget(target));
      probe = new MlflowClient(config, fast);
    });
    after(async () => {
      await probe.close();
      await server.close();
    });

    const open = (dir: string, client = new MlflowClient(config, fast)) => {
      const lines: string[] = [];
      const m = new MlflowMirror({ client, dir, log: (l) => lines.push(l), experimentName: expName });
      return { m, lines, client };
    };
    const runOf = async (study: string, trialId: string) => {
      const exp = await probe.getExperimentByName(expName(study));
      assert.ok(exp, `experiment of ${study}`);
      const run = await probe.findRunByTag(exp.experiment_id, 'gantry.trial_id', trialId);
      assert.ok(run, `run of ${trialId}`);
      return run;
    };
    const runsTagged = async (study: string, trialId: string) => {
      const exp = await probe.getExperimentByName(expName(study));
      return (await probe.searchRuns([exp!.experiment_id], `tags.\`gantry.trial_id\` = '${trialId}'`)).length;
    };
    const stored = async (runId: string, names: string[]) => {
      const h = await Promise.all(names.map((n) => probe.getMetricHistory(runId, n)));
      const flat = h.flat();
      // Exactly once means no (name, step) twice, too.
      assert.equal(new Set(flat.map((m) => `${m.key}@${m.step}`)).size, flat.length, 'a (name, step) stored twice');
      return flat.length;
    };

    test('MLflow down for a while, then up: every distinct point is stored exactly once', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      await server.stop();
      const { m, lines } = open(dir);
      m.enqueueRun({
        trialId: 'tA-' + prefix,
        study: 'down',
        cell: 'cell-1',
        seed: 0,
        stepKeys: ['k-load', 'k-train'],
        codeVersion: 'v1.2.3',
        backend: 'cpu',
        params: { model: { kind: 'wgan-gp', lr: 0.001, hidden: 8 }, seeds: [0, 1] },
      });
      m.enqueueMetrics('tA-' + prefix, pts(['loss', 'gp', 'auc'], 0, 400));
      let r = await m.flush();
      assert.ok(r.error);
      assert.equal(r.sent, 0);
      assert.equal(r.pending, 1201);
      r = await m.flush(); // still down: no second line
      assert.deepEqual(lines.filter((l) => l.startsWith('mlflow: unreachable')), ['mlflow: unreachable (ECONNREFUSED), 1200 points and 1 other update waiting']);
      await server.start();
      r = await flushAll(m);
      assert.deepEqual([r.pending, r.error], [0, undefined]);
      assert.ok(lines.some((l) => l.startsWith('mlflow: reachable again')), lines.join('\n'));
      const run = await runOf('down', 'tA-' + prefix);
      assert.equal(await stored(run.info.run_id, ['loss', 'gp', 'auc']), 1200);
      if (!target.live) assert.equal(server.metricsStored(run.info.run_id), 1200);
      const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
      assert.equal(tags['gantry.trial_id'], 'tA-' + prefix);
      assert.equal(tags['gantry.study'], 'down');
      assert.equal(tags['gantry.cell'], 'cell-1');
      assert.equal(tags['gantry.seed'], '0');
      assert.equal(tags['gantry.step_keys'], 'k-load,k-train');
      assert.equal(tags['gantry.code_version'], 'v1.2.3');
      assert.equal(tags['gantry.backend'], 'cpu');
      assert.equal(tags['mlflow.runName'], run.info.run_name);
      const params = Object.fromEntries(run.data.params.map((p) => [p.key, p.value]));
      assert.deepEqual(params, { 'model.kind': 'wgan-gp', 'model.lr': '0.001', 'model.hidden': '8', seeds: '[0,1]' });
      await m.close();
    });

    test('a metric batch applied but not acknowledged, then a process restart: still exactly once', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const trial = 'tB-' + prefix;
      const a = open(dir);
      a.m.enqueueRun({ trialId: trial, study: 'drop' });
      a.m.enqueueMetrics(trial, pts(['loss', 'acc'], 0, 1250)); // 2,500 points: 3 batches
      let nth = 0;
      server.dropResponseAfterHandling(1, (r) => isMetricBatch(r) && ++nth === 2);
      const r1 = await a.m.flush();
      assert.ok(r1.error, 'the second batch was applied, its response lost');
      // The process dies here: no close(), the ledger says the second batch is in flight.
      await a.client.destroy();
      const b = open(dir);
      // The first batch is acknowledged; 1,500 points wait, plus the run entry of the unfinished segment.
      assert.equal(b.m.pending(), 1501);
      const from = server.seen.length;
      const r2 = await flushAll(b.m);
      assert.deepEqual([r2.pending, r2.error], [0, undefined]);
      const resent = server.seen.slice(from).filter(isMetricBatch).reduce((n, x) => n + x.body.metrics.length, 0);
      assert.equal(resent, 500, 'only the third batch is sent after reconciling');
      assert.ok(b.m.stats().reconciled >= 1);
      const run = await runOf('drop', trial);
      assert.equal(await stored(run.info.run_id, ['loss', 'acc']), 2500);
      if (!target.live) assert.equal(server.metricsStored(run.info.run_id), 2500);
      await b.m.close();
    });

    test('runs/create applied but not acknowledged: the run is found by its tag, not created twice', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const trial = 'tC-' + prefix;
      const { m } = open(dir);
      m.enqueueRun({ trialId: trial, study: 'create' });
      m.enqueueMetrics(trial, pts(['loss'], 0, 10));
      server.dropResponseAfterHandling(1, 'POST /api/2.0/mlflow/runs/create');
      assert.ok((await m.flush()).error);
      assert.equal((await flushAll(m)).pending, 0);
      assert.equal(await runsTagged('create', trial), 1);
      assert.equal(await stored((await runOf('create', trial)).info.run_id, ['loss']), 10);
      await m.close();
    });

    test('a 503 on a metric batch, then a process restart before the next flush: exactly once', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const trial = 'tD-' + prefix;
      const a = open(dir);
      a.m.enqueueRun({ trialId: trial, study: 'fail' });
      a.m.enqueueMetrics(trial, pts(['loss'], 0, 1500));
      server.failNext(1, 503, { match: (r) => isMetricBatch(r) });
      assert.ok((await a.m.flush()).error);
      await a.m.close({ flushTimeoutMs: 0 });
      const b = open(dir);
      assert.equal((await flushAll(b.m)).pending, 0);
      assert.equal(await stored((await runOf('fail', trial)).info.run_id, ['loss']), 1500);
      await b.m.close();
    });

    test('the same (trial, name, step) enqueued twice, and again after a restart, is stored once: the first value wins', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const trial = 'tE-' + prefix;
      const a = open(dir);
      a.m.enqueueRun({ trialId: trial, study: 'dups' });
      a.m.enqueueMetrics(trial, pts(['loss'], 0, 100, (s) => s));
      a.m.enqueueMetrics(trial, pts(['loss'], 0, 100, (s) => s + 1000)); // a resumed training re-logs
      a.m.enqueueMetrics(trial, pts(['loss'], 50, 150, (s) => s + 2000)); // half old, half new
      assert.equal(a.m.stats().duplicates, 150);
      assert.equal((await flushAll(a.m)).pending, 0);
      a.m.enqueueMetrics(trial, pts(['loss'], 140, 160, (s) => s + 3000)); // 10 old (already sent), 10 new
      await a.m.close();
      const b = open(dir);
      b.m.enqueueRun({ trialId: trial, study: 'dups' });
      b.m.enqueueMetrics(trial, pts(['loss'], 0, 200, () => -1)); // after a restart: 40 new
      assert.equal((await flushAll(b.m)).pending, 0);
      const run = await runOf('dups', trial);
      const h = await probe.getMetricHistory(run.info.run_id, 'loss');
      assert.equal(await stored(run.info.run_id, ['loss']), 200);
      const value = new Map(h.map((m) => [m.step, m.value]));
      assert.equal(value.get(10), 10);
      assert.equal(value.get(120), 2120);
      assert.equal(value.get(155), 3155);
      assert.equal(value.get(170), -1);
      await b.m.close();
    });

    test('another home relaunching a trial whose run holds part of its points: the rest arrive, none twice (large batches with stored rows get a 400 from 2.10.2)', async () => {
      const trial = 'tH-' + prefix;
      const names = ['a', 'b', 'c'];
      const first = open(await mkdtemp(join(tmpdir(), 'gantry-mirror-')));
      first.m.enqueueRun({ trialId: trial, study: 'attach' });
      first.m.enqueueMetrics(trial, pts(names, 0, 20)); // cut off after these
      assert.equal((await flushAll(first.m)).pending, 0);
      await first.m.close();
      // A fresh home on the same store: every point again, identical rows included, in one flush.
      const second = open(await mkdtemp(join(tmpdir(), 'gantry-mirror-')));
      second.m.enqueueRun({ trialId: trial, study: 'attach' });
      second.m.enqueueMetrics(trial, pts(names, 0, 60));
      const r = await flushAll(second.m);
      assert.equal(r.error, undefined);
      assert.equal(r.pending, 0);
      assert.equal(second.m.stats().refused, 0, second.lines.join('\n'));
      assert.equal(await stored((await runOf('attach', trial)).info.run_id, names), 180);
      // And a third home whose points have other timestamps (its own store retrained): nothing appended.
      const third = open(await mkdtemp(join(tmpdir(), 'gantry-mirror-')));
      third.m.enqueueRun({ trialId: trial, study: 'attach' });
      third.m.enqueueMetrics(trial, pts(names, 0, 60).map((p) => ({ ...p, time: p.time! + 5000 })));
      assert.equal((await flushAll(third.m)).pending, 0);
      await Promise.all([second.m.close(), third.m.close()]);
      assert.equal(await stored((await runOf('attach', trial)).info.run_id, names), 180);
      assert.equal(await runsTagged('attach', trial), 1);
    });

    test('a 400 on a metric batch is reconciled and split, never dropped: every point arrives once', async () => {
      const trial = 'tI-' + prefix;
      const { m, lines } = open(await mkdtemp(join(tmpdir(), 'gantry-mirror-')));
      m.enqueueRun({ trialId: trial, study: 'split' });
      m.enqueueMetrics(trial, pts(['x', 'y'], 0, 80));
      server.failNext(2, 400, { match: isMetricBatch, contentType: 'application/json', body: JSON.stringify({ error_code: 'BAD_REQUEST', message: '(raised as a result of Query-invoked autoflush; …)' }) });
      const r = await flushAll(m);
      assert.equal(r.pending, 0);
      assert.equal(m.stats().refused, 0, lines.join('\n'));
      assert.doesNotMatch(lines.join('\n'), /refused/);
      assert.equal(await stored((await runOf('split', trial)).info.run_id, ['x', 'y']), 160);
      assert.ok(server.requests(isMetricBatch) >= 4, 'the refused batch went again in halves');
      await m.close();
    });

    test('a resumed trial continues the same run: from the ledger, and by tag when the ledger is gone', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const trial = 'tF-' + prefix;
      const a = open(dir);
      a.m.enqueueRun({ trialId: trial, study: 'resume', params: { lr: 0.1 } });
      a.m.enqueueMetrics(trial, pts(['loss'], 0, 50));
      a.m.enqueueStatus(trial, 'KILLED', T0 + 50);
      assert.equal((await flushAll(a.m)).pending, 0);
      await a.m.close();
      const first = await runOf('resume', trial);
      assert.equal(first.info.status, 'KILLED');

      const creates = server.requests('POST /api/2.0/mlflow/runs/create');
      const b = open(dir);
      b.m.enqueueRun({ trialId: trial, study: 'resume', params: { lr: 0.1 } });
      b.m.enqueueMetrics(trial, pts(['loss'], 50, 100));
      assert.equal((await flushAll(b.m)).pending, 0);
      assert.equal(server.requests('POST /api/2.0/mlflow/runs/create'), creates, 'the ledger knew the run');
      assert.equal((await probe.getRun(first.info.run_id)).info.status, 'KILLED', 'announcing the run again changes no status');
      b.m.enqueueStatus(trial, 'RUNNING'); // the trial really runs again
      await flushAll(b.m);
      assert.equal((await probe.getRun(first.info.run_id)).info.status, 'RUNNING');
      b.m.enqueueStatus(trial, 'FINISHED', T0 + 100);
      await flushAll(b.m);
      await b.m.close();
      assert.equal((await probe.getRun(first.info.run_id)).info.status, 'FINISHED');

      const c = open(await mkdtemp(join(tmpdir(), 'gantry-mirror-'))); // another machine, or a wiped GANTRY_HOME
      c.m.enqueueRun({ trialId: trial, study: 'resume', params: { lr: 0.1 } });
      c.m.enqueueMetrics(trial, pts(['loss'], 100, 110));
      assert.deepEqual((await flushAll(c.m)).error, undefined);
      assert.equal(server.requests('POST /api/2.0/mlflow/runs/create'), creates, 'found by tag');
      assert.equal(await runsTagged('resume', trial), 1);
      assert.equal(await stored(first.info.run_id, ['loss']), 110);
      await c.m.close();
    });

    test('statuses FINISHED, FAILED and KILLED land, with their end times', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const { m } = open(dir);
      const cases = [
        ['done', 'FINISHED'],
        ['failed', 'FAILED'],
        ['interrupted', 'KILLED'],
      ] as const;
      for (const [i, [gantry]] of cases.entries()) {
        m.enqueueRun({ trialId: `tG${i}-${prefix}`, study: 'status' });
        m.enqueueMetrics(`tG${i}-${prefix}`, pts(['loss'], 0, 3));
        m.enqueueStatus(`tG${i}-${prefix}`, mlflowStatusOf(gantry), T0 + 1000 + i);
      }
      assert.equal((await flushAll(m)).pending, 0);
      for (const [i, [, status]] of cases.entries()) {
        const run = await runOf('status', `tG${i}-${prefix}`);
        assert.equal(run.info.status, status);
        assert.equal(run.info.end_time, T0 + 1000 + i);
      }
      await m.close();
    });

    test('artifacts are uploaded; a file that is gone is reported and does not block the rest', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const file = join(dir, 'summary.json');
      await writeFile(file, '{"auc":0.9}');
      const trial = 'tH-' + prefix;
      const { m, lines } = open(dir);
      m.enqueueRun({ trialId: trial, study: 'art' });
      m.enqueueArtifact(trial, 'missing.txt', join(dir, 'nope.txt'));
      m.enqueueArtifact(trial, 'report/summary.json', file);
      m.enqueueMetrics(trial, pts(['loss'], 0, 5));
      assert.equal((await flushAll(m)).pending, 0);
      const run = await runOf('art', trial);
      assert.equal(Buffer.from(await probe.downloadArtifact(run.info.artifact_uri!, 'report/summary.json')).toString(), '{"auc":0.9}');
      assert.ok(lines.some((l) => /not uploading missing\.txt .*ENOENT/.test(l)), lines.join('\n'));
      await m.close();
    });

    test('background flushing delivers without a caller; close() sends the rest', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
      const trial = 'tI-' + prefix;
      const { m } = open(dir);
      m.enqueueRun({ trialId: trial, study: 'bg' });
      m.start(10);
      for (let i = 0; i < 20; i++) {
        m.enqueueMetrics(trial, pts(['loss'], i * 50, (i + 1) * 50));
        await new Promise((r) => setTimeout(r, 5));
      }
      await m.close({ flushTimeoutMs: 10_000 });
      assert.equal(m.pending(), 0);
      assert.equal(await stored((await runOf('bg', trial)).info.run_id, ['loss']), 1000);
    });
  });
}

describe('mlflow mirror, local behaviour', () => {
  let server: MlflowContractServer;
  before(async () => {
    server = await MlflowContractServer.create({ token: 'tok-7c1e2d3f4a5b6c7d8e9f' });
  });
  after(async () => server.close());

  test('enqueue never throws; what it drops is said once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
    const lines: string[] = [];
    const m = new MlflowMirror({ client: new MlflowClient({ trackingUri: server.url, token: 'tok-7c1e2d3f4a5b6c7d8e9f' }, fast), dir, log: (l) => lines.push(l) });
    m.enqueueMetrics('never-started', pts(['loss'], 0, 5));
    m.enqueueMetrics('never-started', pts(['loss'], 5, 10));
    m.enqueueRun({ trialId: 't', study: 's', stepKeys: Array.from({ length: 200 }, (_, i) => `${i}`.padStart(64, 'k')) });
    m.enqueueMetrics('t', [
      { name: 'loss', step: 0, value: NaN },
      { name: 'loss', step: 1, value: Infinity },
      { name: 'loss', step: 2.5, value: 1 },
      { name: 'loss', step: 3, value: 0.5 },
    ]);
    assert.equal(m.stats().dropped, 13);
    assert.equal(lines.filter((l) => l.includes('never-started')).length, 1);
    assert.ok(lines.some((l) => /not mirroring loss=NaN/.test(l)));
    const r = await flushAll(m);
    assert.deepEqual([r.pending, r.error], [0, undefined]);
    const exp = await m['client'].getExperimentByName('gantry/s');
    assert.ok(exp, 'experiments are named gantry/<study>');
    const run = await m['client'].findRunByTag(exp.experiment_id, 'gantry.trial_id', 't');
    const stepKeys = run!.data.tags.find((t) => t.key === 'gantry.step_keys')!.value;
    assert.ok(stepKeys.length <= 5000 && /,…\+\d+$/.test(stepKeys), stepKeys.slice(-20));
    await m.close();
    m.enqueueMetrics('t', pts(['loss'], 10, 11)); // after close: still no throw
    assert.ok(lines.some((l) => /closed/.test(l)));
  });

  test('no token in any log line: a wrong token (401) and a 500 that echoes the header', async () => {
    const TOKEN = 'tok-7c1e2d3f4a5b6c7d8e9f';
    const dir = await mkdtemp(join(tmpdir(), 'gantry-mirror-'));
    const lines: string[] = [];
    const bad = new MlflowMirror({ client: new MlflowClient({ trackingUri: server.url, token: TOKEN + '0' }, fast), dir, log: (l) => lines.push(l) });
    bad.enqueueRun({ trialId: 'tok', study: 'tok' });
    const r = await bad.flush();
    assert.match(r.error ?? '', /401/);
    await bad.close({ flushTimeoutMs: 0 });
    const good = new MlflowMirror({ client: new MlflowClient({ trackingUri: server.url, token: TOKEN }, fast), dir, log: (l) => lines.push(l) });
    server.failNext(10, 500, { body: `{"error_code": "INTERNAL_ERROR", "message": "Authorization: Bearer ${TOKEN}"}` });
    const r2 = await good.flush();
    assert.ok(r2.error && !r2.error.includes(TOKEN));
    server.clearFaults();
    assert.equal((await flushAll(good)).pending, 0);
    await good.close();
    assert.ok(lines.some((l) => /sync failing: .*401/.test(l)), lines.join('\n'));
    for (const l of lines) assert.ok(!l.includes(TOKEN) && !l.includes(TOKEN + '0'), l);
  });

  test('params are flattened to dotted keys within MLflow limits', () => {
    assert.deepEqual(flattenParams({ model: { kind: 'rx', lr: 1e-3, layers: [4, 8] }, 'bad key!': true, long: 'x'.repeat(7000), none: undefined }), {
      'model.kind': 'rx',
      'model.lr': '0.001',
      'model.layers': '[4,8]',
      'bad key_': 'true',
      long: 'x'.repeat(5999) + '…',
    });
  });
});
