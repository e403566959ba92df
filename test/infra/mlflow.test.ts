/**
 * The MLflow client, its pure parts (config, batch planning, error bodies), the outbox, and the
 * contract server's fidelity to the recorded MLflow 2.10.2 behaviour. Server tests run against
 * the contract server, and also against a live MLflow when MLFLOW_TRACKING_URI is set.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import {
  describeErrorBody,
  isMlflowError,
  LOG_BATCH_LIMITS,
  MlflowClient,
  mlflowConfigFromEnv,
  MlflowError,
  planLogBatch,
  validateMetric,
  type Metric,
  type MlflowConfig,
} from '../../infra/mlflow/client.js';
import { MlflowOutbox } from '../../infra/mlflow/outbox.js';
import { StepSet } from '../../infra/mlflow/step-set.js';
import { UserError } from '../../core/errors.js';
import { liveMlflowMissing, MlflowContractServer, mlflowTargets, openTarget } from './mlflow-contract-server.js';

const uniq = () => `gantry-test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
const fast = { retries: 1, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 10_000 };

// ---------------------------------------------------------------------------------------------
// Pure parts

describe('mlflow config from the environment', () => {
  test('unset URI turns the mirror off; token and basic auth are read', () => {
    assert.equal(mlflowConfigFromEnv({}), undefined);
    assert.equal(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: '' }), undefined);
    const c = mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'http://h:5000/', MLFLOW_TRACKING_TOKEN: 'tok', MLFLOW_TRACKING_INSECURE_TLS: 'true' })!;
    assert.equal(c.trackingUri, 'http://h:5000');
    assert.equal(c.token, 'tok');
    assert.equal(c.insecureTls, true);
    const b = mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'https://h/mlflow', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' })!;
    assert.deepEqual([b.trackingUri, b.username, b.password, b.insecureTls], ['https://h/mlflow', 'u', 'p', false]);
  });

  test('credentials in the URL move out of it; bad settings are one-line UserErrors without the value', () => {
    const c = mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'http://alice:s3cr%40t@h:5000' })!;
    assert.equal(c.trackingUri, 'http://h:5000');
    assert.deepEqual([c.username, c.password], ['alice', 's3cr@t']);
    const bad: [Record<string, string>, RegExp][] = [
      [{ MLFLOW_TRACKING_URI: 'not a url sekrit' }, /MLFLOW_TRACKING_URI/],
      [{ MLFLOW_TRACKING_URI: 'file:///tmp/mlruns' }, /http\(s\)/],
      [{ MLFLOW_TRACKING_URI: 'http://h', MLFLOW_TRACKING_USERNAME: 'u' }, /together/],
      [{ MLFLOW_TRACKING_URI: 'http://h', MLFLOW_TRACKING_TOKEN: 't', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' }, /either/],
      [{ MLFLOW_TRACKING_URI: 'http://h', MLFLOW_TRACKING_INSECURE_TLS: 'maybe' }, /MLFLOW_TRACKING_INSECURE_TLS/],
    ];
    for (const [env, re] of bad) {
      assert.throws(
        () => mlflowConfigFromEnv(env),
        (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('sekrit') && !e.message.includes('\n'),
        JSON.stringify(env),
      );
    }
  });
});

describe('log-batch planning', () => {
  const within = (b: ReturnType<typeof planLogBatch>[number]) => {
    assert.ok(b.metrics.length <= LOG_BATCH_LIMITS.metrics);
    assert.ok(b.params.length <= LOG_BATCH_LIMITS.params);
    assert.ok(b.tags.length <= LOG_BATCH_LIMITS.tags);
    assert.ok(b.metrics.length + b.params.length + b.tags.length <= LOG_BATCH_LIMITS.total);
    assert.ok(Buffer.byteLength(JSON.stringify(b)) <= LOG_BATCH_LIMITS.bytes);
    // A metric request carries nothing else: its outcome is about metrics alone.
    if (b.metrics.length) assert.equal(b.params.length + b.tags.length, 0);
  };

  test('2,500 metrics + 150 params + 120 tags: every request within every limit, nothing lost or doubled', () => {
    const metrics: Metric[] = Array.from({ length: 2500 }, (_, i) => ({ key: `m${i % 7}`, value: i / 3, timestamp: 1_700_000_000_000 + i, step: i }));
    const params = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`p${i}`, String(i)]));
    const tags = Array.from({ length: 120 }, (_, i) => ({ key: `t${i}`, value: 'v' }));
    const bodies = planLogBatch('r1', { metrics, params, tags });
    for (const b of bodies) within(b);
    assert.equal(bodies.reduce((a, b) => a + b.metrics.length, 0), 2500);
    assert.equal(bodies.reduce((a, b) => a + b.params.length, 0), 150);
    assert.equal(bodies.reduce((a, b) => a + b.tags.length, 0), 120);
    assert.equal(bodies.filter((b) => b.metrics.length).length, 3);
  });

  test('the 1 MB request limit splits large params and tags', () => {
    const params = Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: 'x'.repeat(6000) }));
    const tags = Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'y'.repeat(5000) }));
    const bodies = planLogBatch('r1', { params, tags });
    for (const b of bodies) within(b);
    assert.ok(bodies.length >= 2);
    assert.equal(bodies.reduce((a, b) => a + b.params.length + b.tags.length, 0), 250);
  });

  test('metric values are checked on this side (MLflow would store a non-number as 0)', () => {
    for (const value of [NaN, Infinity, -Infinity, 'x' as unknown as number]) {
      assert.throws(() => validateMetric({ key: 'loss', value, timestamp: 1, step: 0 }), UserError);
    }
    assert.throws(() => validateMetric({ key: 'bad!name', value: 1, timestamp: 1, step: 0 }), UserError);
    assert.throws(() => validateMetric({ key: 'loss', value: 1, timestamp: 1, step: 0.5 }), UserError);
    assert.throws(() => planLogBatch('r', { params: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] }), UserError);
  });
});

test('error bodies become one short line: JSON, the SQL-laden duplicate, and HTML pages', () => {
  const sql =
    '{"error_code": "RESOURCE_ALREADY_EXISTS", "message": "Experiment(name=x) already exists. Error: (raised as a result of Query-invoked autoflush; consider using a session.no_autoflush block if this flush is occurring prematurely)\\n(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name\\n[SQL: INSERT INTO experiments (name) VALUES (?)]"}';
  assert.deepEqual(describeErrorBody(sql), { errorCode: 'RESOURCE_ALREADY_EXISTS', text: 'Experiment(name=x) already exists.' });
  const h405 = '<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n';
  assert.equal(describeErrorBody(h405).text, '405 Method Not Allowed: The method is not allowed for the requested URL.');
  assert.equal(describeErrorBody('upstream connect error\n').text, 'upstream connect error');
  assert.ok(describeErrorBody('z'.repeat(5000)).text.length <= 240);
});

test('StepSet: strided steps take one progression; membership matches a plain Set under random inserts', () => {
  const s = new StepSet();
  for (let i = 0; i < 100_000; i += 10) s.add(i);
  assert.equal(s.toJSON().length, 1);
  assert.equal(s.size, 10_000);
  assert.ok(s.has(99_990) && !s.has(99_995) && !s.has(100_000) && !s.has(-10));
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 500;
  const model = new Set<number>();
  const t = new StepSet();
  for (let i = 0; i < 3000; i++) {
    const v = rnd();
    assert.equal(t.add(v), !model.has(v));
    model.add(v);
  }
  for (let v = -5; v < 510; v++) assert.equal(t.has(v), model.has(v), String(v));
  assert.equal(t.size, model.size);
  assert.deepEqual(new StepSet(JSON.parse(JSON.stringify(t))).values(), [...model].sort((a, b) => a - b));
  // Strided runs hit in every order: splits, extensions at both ends, merges.
  const u = new StepSet();
  const um = new Set<number>();
  for (let i = 0; i < 20_000; i++) {
    const r = rnd();
    const v = r < 250 ? (r % 50) * 10 : r < 400 ? 1000 - r : r * 3;
    u.add(v);
    um.add(v);
  }
  for (let v = -5; v < 1600; v++) assert.equal(u.has(v), um.has(v), String(v));
  assert.deepEqual(u.values(), [...um].sort((a, b) => a - b));
});

describe('outbox', () => {
  const run = { type: 'run' as const, trialId: 't1', study: 's', runName: 'r', tags: {}, params: {} };
  test('appends JSON lines; a reopen reads them back, skips a torn tail and never appends to an old segment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gantry-outbox-'));
    const o = new MlflowOutbox(dir);
    o.append([run, { type: 'metrics', trialId: 't1', points: [{ name: 'loss', step: 0, value: 1, time: 5 }] }]);
    assert.equal(o.pending(), 2);
    // A crash: no close; the last write was cut short.
    const [seg] = (await readdir(dir)).filter((f) => f.startsWith('seg-'));
    await appendFile(join(dir, seg), '{"type":"metrics","trialId":"t1","poi');
    const o2 = new MlflowOutbox(dir);
    assert.deepEqual(o2.segments(), [seg]);
    const r = await o2.read(seg);
    assert.equal(r.entries.length, 2);
    assert.equal(r.skipped, 1);
    o2.append([{ type: 'status', trialId: 't1', status: 'FINISHED' }]);
    assert.ok(o2.seal());
    assert.equal(o2.segments().length, 2);
    await o2.remove(seg);
    assert.deepEqual(o2.pendingByType(), { run: 0, metrics: 0, status: 1, artifact: 0 });
    o2.close();
    assert.ok(!(await readdir(dir)).includes('lock'));
  });

  test('segments rotate by size; another live process holding the lock is a UserError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gantry-outbox-'));
    const o = new MlflowOutbox(dir, { maxSegmentBytes: 200 });
    for (let i = 0; i < 20; i++) o.append([{ type: 'metrics', trialId: 't', points: [{ name: 'm', step: i, value: i, time: 1 }] }]);
    assert.ok(o.segments().length >= 5);
    o.close();
    await writeFile(join(dir, 'lock'), String(process.ppid)); // a live process that is not us
    assert.throws(() => new MlflowOutbox(dir), (e: unknown) => e instanceof UserError && /in use by process/.test((e as Error).message));
    await writeFile(join(dir, 'lock'), '999999999'); // a dead one: taken over
    new MlflowOutbox(dir).close();
  });
});

// ---------------------------------------------------------------------------------------------
// Against a server

liveMlflowMissing('the client');

for (const target of mlflowTargets()) {
  describe(`mlflow client against the ${target.name} server`, () => {
    let server: MlflowContractServer;
    let config: MlflowConfig;
    let client: MlflowClient;
    before(async () => {
      ({ server, config } = await openTarget(target));
      client = new MlflowClient(config, fast);
    });
    after(async () => {
      await client.close();
      await server.close();
    });

    test('getOrCreateExperiment: idempotent, and a concurrent creator is not an error (quirk #7)', async () => {
      const name = uniq();
      const ids = await Promise.all([client.getOrCreateExperiment(name, { team: 'ts' }), client.getOrCreateExperiment(name), client.getOrCreateExperiment(name)]);
      assert.equal(new Set(ids).size, 1);
      assert.equal(await client.getOrCreateExperiment(name), ids[0]);
      assert.equal((await client.getExperiment(ids[0])).name, name);
      assert.equal(await client.getExperimentByName(uniq()), undefined);
    });

    test('runs: create, find by tag, and search pages until an empty page (quirk #9)', async () => {
      const exp = await client.getOrCreateExperiment(uniq());
      const runs = [];
      for (let i = 0; i < 4; i++) runs.push(await client.createRun(exp, { runName: `r${i}`, tags: { 'gantry.trial_id': `trial-${i}`, k: 'same' }, startTime: 1_700_000_000_000 + i }));
      assert.equal(runs[0].info.status, 'RUNNING');
      assert.match(runs[0].info.artifact_uri ?? '', /^mlflow-artifacts:\/.+\/artifacts$/);
      const found = await client.findRunByTag(exp, 'gantry.trial_id', 'trial-2');
      assert.equal(found?.info.run_id, runs[2].info.run_id);
      assert.equal(await client.findRunByTag(exp, 'gantry.trial_id', 'nope'), undefined);
      const before = server.requests('POST /api/2.0/mlflow/runs/search');
      const all = await client.searchRuns([exp], "tags.k = 'same'", { maxResults: 2 });
      assert.equal(all.length, 4);
      assert.equal(server.requests('POST /api/2.0/mlflow/runs/search') - before, 3, 'two full pages, then the empty one the token points to');
    });

    test('logBatch: 2,500 metrics + 150 params go out in requests within every limit; all arrive once', async () => {
      const exp = await client.getOrCreateExperiment(uniq());
      const run = await client.createRun(exp, { runName: 'batch' });
      const id = run.info.run_id;
      const metrics: Metric[] = Array.from({ length: 2500 }, (_, i) => ({ key: `m${i % 5}`, value: i, timestamp: 1_700_000_000_000 + i, step: Math.floor(i / 5) }));
      const params = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`p${i}`, `v${i}`]));
      const from = server.seen.length;
      const r = await client.logBatch(id, { metrics, params, tags: { stage: 'test' } });
      const sent = server.seen.slice(from).filter((x) => x.route === 'POST /api/2.0/mlflow/runs/log-batch');
      assert.equal(sent.length, r.requests);
      assert.equal(sent.length, 5); // params 100 + 50 (+ the tag), metrics 1000 + 1000 + 500
      for (const b of sent) {
        const m = b.body.metrics?.length ?? 0;
        const p = b.body.params?.length ?? 0;
        const t = b.body.tags?.length ?? 0;
        assert.ok(m <= 1000 && p <= 100 && t <= 100 && m + p + t <= 1000 && b.bytes <= 1_000_000, JSON.stringify({ m, p, t, bytes: b.bytes }));
      }
      let stored = 0;
      for (let k = 0; k < 5; k++) stored += (await client.getMetricHistory(id, `m${k}`)).length;
      assert.equal(stored, 2500);
      if (!target.live) assert.equal(server.metricsStored(id), 2500);
      const data = (await client.getRun(id)).data;
      assert.equal(data.params.length, 150);
    });

    test('logBatch: large params and tags are split by size, and the server takes every request', async () => {
      const exp = await client.getOrCreateExperiment(uniq());
      const id = (await client.createRun(exp, { runName: 'big' })).info.run_id;
      const params = Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: String(i % 10).repeat(6000) }));
      const tags = Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'y'.repeat(5000) }));
      const from = server.seen.length;
      await client.logBatch(id, { params, tags });
      const sent = server.seen.slice(from).filter((x) => x.route === 'POST /api/2.0/mlflow/runs/log-batch');
      assert.ok(sent.length >= 2);
      for (const b of sent) assert.ok(b.bytes <= 1_000_000, String(b.bytes));
      const data = (await client.getRun(id)).data;
      assert.equal(data.params.length, 150);
      assert.equal(data.tags.filter((t) => t.key.startsWith('t')).length, 100);
    });

    test('params: resending the same values is harmless; a changed value is refused clearly (quirk #11)', async () => {
      const exp = await client.getOrCreateExperiment(uniq());
      const id = (await client.createRun(exp, { runName: 'params' })).info.run_id;
      await client.logBatch(id, { params: { lr: '0.01', epochs: '3' } });
      await client.logBatch(id, { params: { lr: '0.01', epochs: '3', extra: 'x' } });
      await assert.rejects(client.logBatch(id, { params: { lr: '0.02' } }), (e: unknown) => e instanceof UserError && /'lr'.*already logged/.test((e as Error).message));
      const r = await client.logBatch(id, { params: { lr: '0.02', new1: 'y' } }, { changedParams: 'keep-existing' });
      assert.deepEqual(r.skippedParams, ['lr']);
      const params = Object.fromEntries((await client.getRun(id)).data.params.map((p) => [p.key, p.value]));
      assert.deepEqual(params, { lr: '0.01', epochs: '3', extra: 'x', new1: 'y' });
    });

    test('errors: JSON bodies give code and message; HTML bodies a clean line; 4xx is not retried', async () => {
      const before = server.requests('GET /api/2.0/mlflow/runs/get');
      await assert.rejects(client.getRun('doesnotexist0000000000000000000000'), (e: unknown) => {
        assert.ok(isMlflowError(e));
        assert.equal(e.status, 404);
        assert.equal(e.errorCode, 'RESOURCE_DOES_NOT_EXIST');
        assert.match(e.message, /^MLflow GET runs\/get: 404 RESOURCE_DOES_NOT_EXIST: Run with id=doesnotexist0+ not found$/);
        return true;
      });
      assert.equal(server.requests('GET /api/2.0/mlflow/runs/get') - before, 1);
      server.failNext(fast.retries + 1, 500, { match: 'GET /api/2.0/mlflow/runs/get', body: '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>The server encountered an internal error.</p>\n' });
      await assert.rejects(client.getRun('x'), (e: unknown) => {
        assert.ok(e instanceof MlflowError);
        assert.equal(e.status, 500);
        assert.ok(!/[<>]/.test(e.message) && !e.message.includes('\n'), e.message);
        assert.match(e.message, /500 Internal Server Error: The server encountered an internal error\./);
        return true;
      });
    });

    test('retries: 503 and 429 are retried for reads; a metric batch with an unknown outcome is not resent blindly', async () => {
      const exp = await client.getOrCreateExperiment(uniq());
      const id = (await client.createRun(exp, { runName: 'retry' })).info.run_id;
      server.failNext(1, 503, { match: 'GET /api/2.0/mlflow/runs/get' });
      assert.equal((await client.getRun(id)).info.run_id, id);
      const batch = { metrics: [{ key: 'm', value: 1, timestamp: 1_700_000_000_000, step: 0 }] };
      server.failNext(1, 503, { match: 'POST /api/2.0/mlflow/runs/log-batch' });
      await assert.rejects(client.logBatch(id, batch), (e: unknown) => isMlflowError(e) && e.status === 503 && e.mayHaveApplied);
      server.failNext(1, 429, { match: 'POST /api/2.0/mlflow/runs/log-batch', body: '{"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}' });
      await client.logBatch(id, batch); // 429: certainly not applied, so resent
      assert.equal((await client.getMetricHistory(id, 'm')).length, 1);
    });

    test('artifacts: single PUT, listing relative to the root, download; a missing file is RESOURCE_DOES_NOT_EXIST (quirk #2)', async () => {
      const exp = await client.getOrCreateExperiment(uniq());
      const run = await client.createRun(exp, { runName: 'art' });
      const uri = run.info.artifact_uri!;
      await client.uploadArtifact(uri, 'hello.txt', 'hello artifact');
      await client.uploadArtifact(uri, 'sub/dir/data.json', new Uint8Array(Buffer.from('{"a":1}')));
      const root = await client.listArtifacts(uri);
      assert.deepEqual(root.map((f) => [f.path, f.isDir]).sort(), [['hello.txt', false], ['sub', true]]);
      assert.deepEqual(await client.listArtifacts(uri, 'sub/dir'), [{ path: 'sub/dir/data.json', isDir: false, size: 7 }]);
      assert.equal(Buffer.from(await client.downloadArtifact(uri, 'hello.txt')).toString(), 'hello artifact');
      const before = server.requests('GET /api/2.0/mlflow-artifacts/artifacts');
      await assert.rejects(client.downloadArtifact(uri, 'nope.txt'), (e: unknown) => isMlflowError(e) && e.errorCode === 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(server.requests('GET /api/2.0/mlflow-artifacts/artifacts') - before, 1, 'a missing artifact is not retried');
      await assert.rejects(client.uploadArtifact('s3://bucket/x', 'a.txt', 'x'), UserError);
      await assert.rejects(client.uploadArtifact(uri, '../escape.txt', 'x'), UserError);
    });

    test('the server behaves as recorded (quirks #4, #5, #6, #8, #9, #12, #3)', async () => {
      const base = target.live ? config.trackingUri : server.url;
      const auth: Record<string, string> = config.token
        ? { authorization: `Bearer ${config.token}` }
        : config.username
          ? { authorization: `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}` }
          : {};
      const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
        const r = await request(base + path, { method: method as 'GET', headers: { ...auth, ...(body !== undefined ? { 'content-type': type } : {}) }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
        return { status: r.statusCode, text: await r.body.text() };
      };
      const exp = await client.getOrCreateExperiment(uniq());
      const id = (await client.createRun(exp, { runName: 'quirks' })).info.run_id;
      // #5: a non-numeric value is accepted and stored as 0 / timestamp 0 / step 0.
      let r = await call('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: id, metrics: [{ key: 'x', value: 'notanumber', timestamp: 1 }] });
      assert.equal(r.status, 200);
      assert.deepEqual(
        (await client.getMetricHistory(id, 'x')).map((m) => [m.value, m.timestamp, m.step]),
        [[0, 0, 0]],
      );
      // #12: log-metric needs a timestamp.
      r = await call('POST', '/api/2.0/mlflow/runs/log-metric', { run_id: id, key: 'm', value: 1.0 });
      assert.equal(r.status, 400);
      assert.match(r.text, /"error_code": "INVALID_PARAMETER_VALUE".*timestamp/);
      // #4: get-history ignores max_results.
      await client.logBatch(id, { metrics: [0, 1, 2, 3].map((s) => ({ key: 'loss', value: s, timestamp: 1_700_000_000_000 + s, step: s })) });
      r = await call('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${id}&metric_key=loss&max_results=2`);
      assert.equal(JSON.parse(r.text).metrics.length, 4);
      assert.equal(JSON.parse(r.text).next_page_token, undefined);
      // #8: a POST that does not say JSON.
      r = await call('POST', '/api/2.0/mlflow/runs/set-tag', JSON.stringify({ run_id: id, key: 'k', value: 'v' }), 'text/plain');
      assert.equal(r.status, 400);
      assert.match(r.text, /Content-Type must be one of \['application\/json'\]/);
      // #6: framework errors are HTML.
      r = await call('GET', '/api/2.0/mlflow/runs/search');
      assert.equal(r.status, 405);
      assert.match(r.text, /<title>405 Method Not Allowed<\/title>/);
      // #3: multipart upload is not there with a local artifact store (a live server with another store may differ).
      if (!target.live) {
        r = await call('POST', '/api/2.0/mlflow-artifacts/mpu/create/1/x/artifacts/big.bin', { path: 'big.bin', num_parts: 2 });
        assert.equal(r.status, 501);
      }
      // #9 with a single run: a full page carries a token, the next page is empty.
      r = await call('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [exp], max_results: 1 });
      const page = JSON.parse(r.text);
      assert.equal(page.runs.length, 1);
      assert.ok(page.next_page_token);
      r = await call('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [exp], max_results: 1, page_token: page.next_page_token });
      assert.equal(JSON.parse(r.text).runs, undefined);
      // Limits (#13): one metric over is refused.
      r = await call('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: id, metrics: Array.from({ length: 1001 }, (_, i) => ({ key: 'z', value: 1, timestamp: 1, step: i })) });
      assert.equal(r.status, 400);
      assert.match(r.text, /INVALID_PARAMETER_VALUE/);
    });
  });
}

describe('secrets never reach an error message', () => {
  const TOKEN = 'tok-3f9a8b7c6d5e4f3a2b1c';
  let server: MlflowContractServer;
  before(async () => {
    server = await MlflowContractServer.create({ token: TOKEN });
  });
  after(async () => server.close());

  test('a 401, a 500 that echoes the header, and an unreachable server: no token in any message', async () => {
    const messages: string[] = [];
    const grab = async (p: Promise<unknown>) => {
      await p.then(
        () => assert.fail('expected an error'),
        (e: unknown) => {
          assert.ok(isMlflowError(e), String(e));
          messages.push(e.message, String(e.hint ?? ''), e.stack ?? '');
        },
      );
    };
    const wrong = new MlflowClient({ trackingUri: server.url, token: TOKEN + 'x' }, fast);
    await grab(wrong.getExperimentByName('a'));
    assert.ok(messages.some((m) => /401/.test(m)));
    assert.ok(messages.some((m) => /MLFLOW_TRACKING_TOKEN/.test(m)));
    await wrong.close();
    const right = new MlflowClient({ trackingUri: server.url, token: TOKEN }, fast);
    assert.ok(await right.getOrCreateExperiment('ok'));
    server.failNext(2, 500, { body: `{"error_code": "INTERNAL_ERROR", "message": "bad header Authorization: Bearer ${TOKEN}"}` });
    await grab(right.getRun('r'));
    server.failNext(2, 502, { body: `<html><title>502</title><p>upstream said authorization=Bearer ${TOKEN}</p></html>` });
    await grab(right.getRun('r'));
    await server.stop();
    await grab(right.getRun('r'));
    await server.start();
    await right.close();
    const basic = new MlflowClient({ trackingUri: server.url, username: 'alice', password: 'pw-9d8c7b6a' }, fast);
    server.failNext(2, 500, { body: `{"error_code": "INTERNAL_ERROR", "message": "got Basic ${Buffer.from('alice:pw-9d8c7b6a').toString('base64')} / pw-9d8c7b6a"}` });
    await grab(basic.getRun('r'));
    await basic.close();
    assert.ok(messages.length >= 12);
    for (const m of messages) {
      assert.ok(!m.includes(TOKEN), m);
      assert.ok(!m.includes('pw-9d8c7b6a'), m);
      assert.ok(!m.includes(Buffer.from('alice:pw-9d8c7b6a').toString('base64')), m);
    }
  });
});

test('the contract server answers unknown routes and methods with HTML, duplicates with the SQL text', async () => {
  const server = await MlflowContractServer.create();
  try {
    const get = async (method: string, path: string, body?: unknown) => {
      const r = await request(server.url + path, { method: method as 'GET', headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
      return { status: r.statusCode, type: String(r.headers['content-type']), text: await r.body.text() };
    };
    let r = await get('GET', '/api/2.0/mlflow/nope');
    assert.equal(r.status, 404);
    assert.match(r.type, /html/);
    r = await get('DELETE', '/api/2.0/mlflow/runs/create');
    assert.equal(r.status, 405);
    r = await get('POST', '/api/2.0/mlflow/experiments/create', { name: 'dup' });
    assert.equal(r.status, 200);
    assert.equal(r.text, '{\n  "experiment_id": "1"\n}'); // pretty-printed success (#6)
    r = await get('POST', '/api/2.0/mlflow/experiments/create', { name: 'dup' });
    assert.equal(r.status, 400);
    assert.match(r.text, /^\{"error_code": "RESOURCE_ALREADY_EXISTS", "message": "Experiment\(name=dup\) already exists\. .*\[SQL: INSERT INTO experiments/);
    assert.deepEqual(describeErrorBody(r.text), { errorCode: 'RESOURCE_ALREADY_EXISTS', text: 'Experiment(name=dup) already exists.' });
    r = await get('GET', '/version');
    assert.equal(r.text, '2.10.2');
  } finally {
    await server.close();
  }
});
