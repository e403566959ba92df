/**
 * The Temporal commands of the CLI, offline: bad settings and an unreachable server are one-line
 * errors that name the cause, exit 2, and start no work. (Against a real server:
 * test/temporal/integration.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempHome } from '../helpers.js';
import { freePort } from '../temporal/harness.js';

const NO_TEMPORAL = { TEMPORAL_ADDRESS: '', TEMPORAL_API_KEY: '', GANTRY_EXECUTOR: '' };

test('run --executor temporal with a bad address names the setting and does no work', async () => {
  const home = await tempHome();
  const r = await runCli(['run', 'quickstart', '--executor', 'temporal', '--address', 'not an address'], { GANTRY_HOME: home, ...NO_TEMPORAL });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^error: invalid Temporal settings: TEMPORAL_ADDRESS \(--address\): expected host:port/m);
  assert.ok(!existsSync(join(home, 'store')), 'nothing written before the settings are valid');
});

test('run --executor temporal with no server says where it looked and what to do, in one line, without the API key', { timeout: 60_000 }, async () => {
  const home = await tempHome();
  const port = await freePort();
  const r = await runCli(['run', 'quickstart', '--executor', 'temporal', '--address', `127.0.0.1:${port}`], { GANTRY_HOME: home, ...NO_TEMPORAL, TEMPORAL_API_KEY: 'sekret-key-123' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^error: cannot reach Temporal at 127\\.0\\.0\\.1:${port} \\(namespace default\\): .*temporal server start-dev`, 'm'));
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr + r.stdout, /sekret-key-123/);
  assert.ok(!existsSync(join(home, 'store', 'studies')), 'no study registered without a server');
});

test('GANTRY_EXECUTOR is validated; worker refuses unknown task queues before connecting; cancel needs a study', async () => {
  const home = await tempHome();
  const bad = await runCli(['run', 'quickstart'], { GANTRY_HOME: home, ...NO_TEMPORAL, GANTRY_EXECUTOR: 'slurm' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown executor 'slurm' \(from GANTRY_EXECUTOR\)/);
  const w = await runCli(['worker', '--task-queue', 'gantry-tpu'], { GANTRY_HOME: home, ...NO_TEMPORAL });
  assert.equal(w.code, 2);
  assert.match(w.stderr, /unknown task queue 'gantry-tpu' \(gantry's queues are gantry, gantry-gpu, gantry-catalog/);
  const c = await runCli(['cancel'], { GANTRY_HOME: home, ...NO_TEMPORAL });
  assert.equal(c.code, 2);
  assert.match(c.stderr, /gantry cancel needs a study name or --workflow <id>/);
});

test('--help of the Temporal commands documents the connection flags and the queues', async () => {
  const run = await runCli(['run', '--help'], {});
  assert.equal(run.code, 0);
  for (const flag of ['--executor', '--detach', '--batch-size', '--address', '--namespace', '--tls-cert', '--task-queue-base']) assert.ok(run.stdout.includes(flag), flag);
  const worker = await runCli(['worker', '--help'], {});
  assert.match(worker.stdout, /--task-queue[\s\S]*gantry-catalog/);
  assert.match(worker.stdout, /--max-concurrent/);
});
