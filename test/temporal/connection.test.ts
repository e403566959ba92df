/** Temporal connection settings from env and flags: defaults, validation, TLS files, no secrets in messages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectClient, describeSettings, temporalSettings, tlsOption } from '../../executors/temporal/connection.js';
import { activitiesFor, resolveQueues } from '../../executors/temporal/worker.js';
import { STEP_KINDS } from '../../experiments/plan.js';
import { isUserError, oneLine } from '../../core/errors.js';
import type { GantryActivities } from '../../workflows/temporal/types.js';
import { tempHome } from '../helpers.js';

const SECRET = 'sk-live-0123456789abcdef';

function fails(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isUserError(e), `not a UserError: ${e}`);
    assert.match(oneLine(e), re);
    assert.ok(!oneLine(e).includes(SECRET), 'a secret leaked into the message');
    return;
  }
  assert.fail('expected a UserError');
}

test('defaults: localhost:7233, namespace default, plain, queues gantry / gantry-gpu / gantry-catalog', () => {
  const s = temporalSettings({});
  assert.deepEqual(s, { address: 'localhost:7233', namespace: 'default', taskQueue: 'gantry', queues: { main: 'gantry', gpu: 'gantry-gpu', catalog: 'gantry-catalog' } });
  assert.equal(describeSettings(s), 'localhost:7233, namespace default');
});

test('env and flags: flags win; an API key turns TLS on; the description never shows the key', () => {
  const s = temporalSettings({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'lab', TEMPORAL_API_KEY: SECRET, GANTRY_TASK_QUEUE: 'hsi' }, { namespace: 'lab.prod' });
  assert.equal(s.address, 'temporal:7233');
  assert.equal(s.namespace, 'lab.prod');
  assert.ok(s.tls, 'Temporal Cloud keys need TLS');
  assert.equal(s.apiKey, SECRET);
  assert.deepEqual(s.queues, { main: 'hsi', gpu: 'hsi-gpu', catalog: 'hsi-catalog' });
  const d = describeSettings(s);
  assert.ok(!d.includes(SECRET));
  assert.match(d, /TLS, API key set/);
  assert.equal(temporalSettings({ TEMPORAL_API_KEY: SECRET, TEMPORAL_TLS: 'false' }).tls, undefined, 'TEMPORAL_TLS=false wins');
  assert.equal(temporalSettings({ TEMPORAL_ADDRESS: '[::1]:7233' }).address, '[::1]:7233');
});

test('bad settings are one-line UserErrors that name the setting and never quote a secret', () => {
  fails(() => temporalSettings({ TEMPORAL_ADDRESS: 'localhost' }), /TEMPORAL_ADDRESS.*host:port/);
  fails(() => temporalSettings({ TEMPORAL_ADDRESS: 'http://x:7233' }), /TEMPORAL_ADDRESS/);
  fails(() => temporalSettings({ TEMPORAL_NAMESPACE: 'a b' }), /TEMPORAL_NAMESPACE/);
  fails(() => temporalSettings({ TEMPORAL_TLS_CERT: '/c.pem' }), /TEMPORAL_TLS_KEY.*certificate needs its key/);
  fails(() => temporalSettings({ TEMPORAL_TLS: 'maybe' }), /TEMPORAL_TLS/);
  fails(() => temporalSettings({ TEMPORAL_API_KEY: `${SECRET} x` }), /TEMPORAL_API_KEY.*whitespace/);
  fails(() => temporalSettings({ GANTRY_TASK_QUEUE: 'a/b' }), /GANTRY_TASK_QUEUE/);
});

test('TLS material is read from the given files; a missing file is a UserError naming it', async () => {
  const dir = await tempHome();
  await writeFile(join(dir, 'c.pem'), 'CERT');
  await writeFile(join(dir, 'k.pem'), 'KEY');
  const s = temporalSettings({ TEMPORAL_TLS_CERT: join(dir, 'c.pem'), TEMPORAL_TLS_KEY: join(dir, 'k.pem'), TEMPORAL_TLS_SERVER_NAME: 'temporal.lab' });
  const tls = await tlsOption(s);
  assert.equal(tls?.clientCertPair?.crt.toString(), 'CERT');
  assert.equal(tls?.clientCertPair?.key.toString(), 'KEY');
  assert.equal(tls?.serverNameOverride, 'temporal.lab');
  assert.match(describeSettings(s), /TLS with client certificate/);
  const missing = temporalSettings({ TEMPORAL_TLS_CA: join(dir, 'nope.pem') });
  await assert.rejects(tlsOption(missing), (e) => isUserError(e) && /TEMPORAL_TLS_CA.*nope\.pem.*ENOENT/.test(oneLine(e)));
});

test('an unreachable server is a UserError saying where and what to do, without the API key', async () => {
  const s = temporalSettings({ TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_API_KEY: SECRET, TEMPORAL_TLS: 'false' });
  await assert.rejects(connectClient(s), (e) => {
    assert.ok(isUserError(e));
    assert.match(oneLine(e), /cannot reach Temporal at 127\.0\.0\.1:1.*TEMPORAL_ADDRESS/);
    assert.ok(!oneLine(e).includes(SECRET));
    return true;
  });
});

test('worker queues: names or roles select queues; unknown names are refused; each queue registers its own activities', () => {
  const q = temporalSettings({}).queues;
  assert.deepEqual(resolveQueues(undefined, q), ['main', 'gpu', 'catalog']);
  assert.deepEqual(resolveQueues(['gantry-gpu'], q), ['gpu']);
  assert.deepEqual(resolveQueues(['gantry-catalog,gantry'], q), ['main', 'catalog']);
  fails(() => resolveQueues(['gpu-queue'], q), /unknown task queue 'gpu-queue'.*gantry, gantry-gpu, gantry-catalog/);
  const fake = Object.fromEntries([...STEP_KINDS, 'record', 'planSlice'].map((k) => [k, async () => k])) as unknown as GantryActivities;
  assert.deepEqual(Object.keys(activitiesFor('gpu', fake)).sort(), ['embed', 'score', 'train']);
  assert.deepEqual(Object.keys(activitiesFor('catalog', fake)), ['record']);
  assert.deepEqual(Object.keys(activitiesFor('main', fake)).sort(), ['evaluate', 'export', 'extract', 'filter', 'load', 'planSlice', 'scan', 'screen', 'split', 'tile']);
  // Every step kind is registered on exactly one queue.
  const registered = (['main', 'gpu', 'catalog'] as const).flatMap((r) => Object.keys(activitiesFor(r, fake)));
  assert.deepEqual(registered.filter((k) => (STEP_KINDS as readonly string[]).includes(k)).sort(), [...STEP_KINDS].sort());
});
