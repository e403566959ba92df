/** `gantry sync mlflow` leaves an outbox that a running gantry owns to that process, and says so. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempHome } from '../helpers.js';

test('sync mlflow skips an outbox in use by a live process (a worker sends its own) and exits 0', async () => {
  const home = await tempHome();
  const owner = spawn('sleep', ['30']);
  try {
    await mkdir(join(home, 'mlflow', 'outbox'), { recursive: true });
    await writeFile(join(home, 'mlflow', 'outbox', 'lock'), String(owner.pid));
    // Nothing listens there: the skipped outbox must not be contacted.
    const r = await runCli(['sync', 'mlflow', '--timeout', '5'], { GANTRY_HOME: home, MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`in use by process ${owner.pid}, which sends it; skipped`));
    assert.match(r.stdout, /0 items sent, nothing pending here \(1 outbox in use by a running gantry, which sends it\)/);
  } finally {
    owner.kill();
  }
});
