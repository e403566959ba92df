/**
 * ALGAN-feature's pipeline with a user-supplied feature network: a tfjs graph model (model.json +
 * weight shard, written here by hand) maps each extracted image to a vector (the embed step);
 * ALGAN's dense networks train on the vectors; the network's files enter the step key by content.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../../datasets/prng.js';
import { selectBackend } from '../../models/backend.js';
import { loadFeatureNetwork } from '../../models/components/feature-network.js';
import { listRecords } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';
import { runCli, tempHome, writeStudy } from '../helpers.js';
import { writeGraphModel } from '../graph-model.js';

test('a user-supplied tfjs graph model gives the same features as the same ops in tfjs (mean-pooled)', async () => {
  await selectBackend();
  const dir = await tempHome();
  const w = new Prng(1).normals(36, 0.5);
  const net = await loadFeatureNetwork(await writeGraphModel(join(dir, 'net'), w), { pool: 'mean' });
  const x = new Prng(2).normals(3 * 256);
  const got = net.embed(x, 3, [16, 16, 1]);
  const want = tf.tidy(() => tf.mean(tf.relu(tf.conv2d(tf.tensor4d(x, [3, 16, 16, 1]), tf.tensor4d(w, [3, 3, 1, 4]), 2, 'same')), [1, 2]).dataSync());
  assert.equal(got.length, 12);
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `${i}: ${got[i]} vs ${want[i]}`);
  assert.equal(net.dim([16, 16, 1]), 4);
  net.dispose();
  await assert.rejects(loadFeatureNetwork(join(dir, 'missing.json'), { pool: 'mean' }), /cannot be read as JSON/);
});

test('features + ALGAN through the CLI: an embed step, vectors for training, the network in the key by content', { timeout: 240_000 }, async () => {
  const dir = await tempHome();
  const model = await writeGraphModel(join(dir, 'net'), new Prng(1).normals(36, 0.5));
  const study = {
    name: 'feat',
    base: {
      dataset: { kind: 'synthetic-textures', normals: 40, anomalies: 16, size: 32, channels: 1, seed: 3 },
      tiling: { kind: 'resize', size: 16 },
      features: { model },
      split: { protocol: 'murase-mtd' },
      model: { kind: 'algan', ngf: 8, nz: 4, batchSize: 8, iterations: 10, validateEvery: 5 },
    },
  };
  const file = await writeStudy(dir, study);
  const env = { GANTRY_HOME: join(dir, 'home') };
  const r = await runCli(['run', file], env);
  assert.equal(r.code, 0, r.stderr);
  const records = await listRecords(new LocalStore(join(dir, 'home', 'store')));
  const embed = records.find((x) => x.kind === 'embed')!;
  assert.equal(embed.status, 'done');
  assert.deepEqual(embed.output!.shape, [4]);
  assert.deepEqual(embed.output!.from, [16, 16, 1]);
  const train = records.find((x) => x.kind === 'train')!;
  assert.equal(train.output!.dim, 4);
  assert.match(r.stdout, /1\/1 trials done/);

  // New weights, same path: the embed step (and what follows) runs again; scan/screen/extract do not.
  await writeGraphModel(join(dir, 'net'), new Prng(9).normals(36, 0.5));
  const again = await runCli(['run', file], env);
  assert.equal(again.code, 0, again.stderr);
  const after = await listRecords(new LocalStore(join(dir, 'home', 'store')));
  assert.equal(after.filter((x) => x.kind === 'embed').length, 2);
  assert.equal(after.filter((x) => x.kind === 'extract').length, 1);

  // A feature model that is not there is named as such, before any work.
  const gone = await writeStudy(dir, { ...study, name: 'feat3', base: { ...study.base, features: { model: join(dir, 'nowhere', 'model.json') } } });
  const g = await runCli(['run', gone], env);
  assert.equal(g.code, 2);
  assert.match(g.stderr, /feature model \(features\.model\) .*nowhere\/model\.json.* does not exist/);

  // GANomaly cannot take vectors: refused at plan time.
  const bad = await writeStudy(dir, { ...study, name: 'feat2', base: { ...study.base, model: { kind: 'ganomaly' } } });
  const b = await runCli(['run', bad], env);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /features: ganomaly needs images/);
});
