/**
 * The foundation's central promise: kill -9 during training, run the same command again, and
 * the study finishes as if nothing happened — completed steps are not executed again, training
 * resumes from its newest checkpoint, and the results equal an uninterrupted run's exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { runCli, startCli, tempHome, writeStudy } from '../helpers.js';
import { listRecords } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';
import { loadAddon } from '../../native/addon.js';

const study = {
  name: 'resume',
  base: {
    dataset: { kind: 'synthetic-hsi', rows: 24, cols: 24, bands: 8, anomalies: 5, seed: 3 },
    model: { kind: 'wgan-gp', iterations: 400, hidden: 16, batchSize: 32, criticIters: 2, scoreRestarts: 1, scoreIterations: 5, logEvery: 5 },
  },
  seeds: [0],
};

/** The same promise for an image GAN: tiny GANomaly on synthetic textures (scan → screen → extract → split → train). */
const ganStudy = {
  name: 'resume-gan',
  base: {
    dataset: { kind: 'synthetic-textures', normals: 40, anomalies: 16, size: 32, channels: 1, seed: 3 },
    tiling: { kind: 'resize', size: 16 },
    split: { protocol: 'murase-mtd' },
    model: { kind: 'ganomaly', ngf: 4, nz: 8, batchSize: 8, iterations: 300, validateEvery: 25, logEvery: 5 },
  },
  seeds: [0],
};

const QUERY = 'SELECT m.name, m.step, m.value FROM metrics m JOIN trials t USING (trial_id) ORDER BY m.name, m.step';

async function latestCheckpoint(store: string): Promise<number> {
  const s = new LocalStore(store);
  const ptr = (await s.list('steps')).find((k) => k.endsWith('checkpoints/latest.json'));
  if (!ptr) return 0;
  return (JSON.parse(await readFile(join(store, ptr), 'utf8')) as { iteration: number }).iteration;
}

const SPECTRA = { study, dataSteps: ['load', 'filter', 'tile'], trainMetric: 'train/critic_loss' };
const IMAGES = { study: ganStudy, dataSteps: ['scan', 'screen', 'extract', 'split'], trainMetric: 'train/g_loss' };

const CASES = [
  { backend: 'cpu', signal: 'SIGKILL', after: 'running', ...SPECTRA },
  { backend: 'wasm', signal: 'SIGKILL', after: 'running', ...SPECTRA },
  // Ctrl-C: training saves a checkpoint, the run exits 130 and the ledger says 'interrupted'.
  { backend: 'wasm', signal: 'SIGINT', after: 'interrupted', ...SPECTRA },
  { backend: 'cpu', signal: 'SIGKILL', after: 'running', ...IMAGES },
  { backend: 'native', signal: 'SIGKILL', after: 'running', ...IMAGES },
] as const;

for (const { backend, signal, after: statusAfter, study: spec, dataSteps, trainMetric } of CASES) {
  test(`${signal === 'SIGKILL' ? 'kill -9' : 'Ctrl-C'} during ${spec.base.model.kind} training, then the same command: resumes from the checkpoint and ends bit-identical (${backend})`, { timeout: 300_000 }, async (t) => {
    if (backend === 'native' && !loadAddon().addon) return t.skip(`native addon not built: ${loadAddon().reason}`);
    const dir = await tempHome();
    const file = await writeStudy(dir, spec);
    const args = ['run', file, '--checkpoint-every', '20', '--backend', backend];

    const ref = join(dir, 'uninterrupted');
    const a = await runCli(args, { GANTRY_HOME: ref });
    assert.equal(a.code, 0, a.stderr);

    const home = join(dir, 'interrupted');
    const store = join(home, 'store');
    const { child, done } = startCli(args, { GANTRY_HOME: home });
    const deadline = Date.now() + 120_000;
    while ((await latestCheckpoint(store)) < 60) {
      if (Date.now() > deadline) assert.fail('no checkpoint appeared in time');
      if (child.exitCode !== null) assert.fail('training finished before it could be interrupted; make it longer');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill(signal);
    const killed = await done;
    if (signal === 'SIGKILL') assert.equal(killed.signal, 'SIGKILL');
    else assert.equal(killed.code, 130, killed.stderr);
    const atKill = await latestCheckpoint(store);
    const before = await listRecords(new LocalStore(store));
    assert.equal(before.find((r) => r.kind === 'train')?.status, statusAfter);

    const b = await runCli(args, { GANTRY_HOME: home });
    assert.equal(b.code, 0, b.stderr);
    const after = await listRecords(new LocalStore(store));
    for (const kind of dataSteps) {
      const r = after.find((x) => x.kind === kind)!;
      assert.equal(r.attempt, 1, `${kind} was executed again`);
    }
    const trainRec = after.find((r) => r.kind === 'train')!;
    assert.equal(trainRec.attempt, 2);
    assert.ok(trainRec.resumedFrom !== undefined && trainRec.resumedFrom === atKill, `resumedFrom ${trainRec.resumedFrom}, newest checkpoint ${atKill}`);
    assert.match(trainRec.reason, /resumed from checkpoint at iteration/);

    const qa = await runCli(['query', QUERY, '--format', 'json'], { GANTRY_HOME: ref });
    const qb = await runCli(['query', QUERY, '--format', 'json'], { GANTRY_HOME: home });
    assert.equal(qa.code, 0, qa.stderr);
    const ma = JSON.parse(qa.stdout) as { name: string; step: number; value: number }[];
    const mb = JSON.parse(qb.stdout) as typeof ma;
    assert.ok(ma.some((m) => m.name === 'auc') && ma.some((m) => m.name === trainMetric));
    assert.equal(mb.length, ma.length, 'a resumed run must log each point exactly once');
    assert.deepEqual(mb, ma);
    // The trained model itself is byte-identical.
    const modelA = (await listRecords(new LocalStore(join(ref, 'store')))).find((r) => r.kind === 'train')!.artifacts.model.sha256;
    assert.equal(trainRec.artifacts.model.sha256, modelA);
  });
}
