/** `gantry models list` and `gantry models summary`: presets, layer tables, published counts, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempHome } from '../helpers.js';

test('models list names every detector and the presets of the GANs', async () => {
  const home = await tempHome();
  const r = await runCli(['models', 'list'], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  for (const k of ['rx:', 'wgan-gp:', 'pca:', 'knn:', 'ganomaly:', 'skip-ganomaly:', 'algan:']) assert.ok(r.stdout.includes(k), k);
  assert.match(r.stdout, /--preset akcay2018 \(default\)/);
  assert.match(r.stdout, /--preset mammadova-m5: /);
  const j = await runCli(['models', 'list', '--json'], { GANTRY_HOME: home });
  const list = JSON.parse(j.stdout) as { kind: string; presets: Record<string, string> }[];
  assert.deepEqual(Object.keys(list.find((m) => m.kind === 'skip-ganomaly')!.presets), ['akcay2019', 'mammadova-m4', 'mammadova-m5', 'ozgumus-a5']);
});

test('models summary prints the layer table and the published totals; --json, --size and --set change what is built', async () => {
  const home = await tempHome();
  const r = await runCli(['models', 'summary', 'ganomaly', '--preset', 'mammadova-m2'], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /generator: total 64,842,880, trainable 64,831,232, non-trainable 11,648/);
  assert.match(r.stdout, /discriminator: total 17,428,672, trainable 17,424,832, non-trainable 3,840/);
  assert.match(r.stdout, /gaussian_noise \(GaussianNoise\)/);
  assert.match(r.stdout, /conv2d_transpose \(Conv2DTranspose\) +\[4, 4, 512\]/);
  const j = await runCli(['models', 'summary', 'skip-ganomaly', '--preset', 'mammadova-m4', '--json'], { GANTRY_HOME: home });
  const s = JSON.parse(j.stdout) as { parts: { name: string; total: number; trainable: number; nonTrainable: number }[] };
  assert.deepEqual(s.parts.map((p) => [p.name, p.total, p.trainable, p.nonTrainable]), [['generator', 54_423_811, 54_413_955, 9_856], ['discriminator', 47_992_896, 47_984_960, 7_936]]);
  const small = await runCli(['models', 'summary', 'ganomaly', '--size', '64', '--json'], { GANTRY_HOME: home });
  assert.deepEqual((JSON.parse(small.stdout) as typeof s).parts.map((p) => p.trainable), [10_729_856, 2_765_568]);
  const narrow = await runCli(['models', 'summary', 'ganomaly', '--set', 'ngf=32', '--json'], { GANTRY_HOME: home });
  assert.ok((JSON.parse(narrow.stdout) as typeof s).parts[0].trainable < 3_206_528);
});

test('models summary: unknown model, unknown preset, a size the network cannot take and a bad --set are errors (exit 2)', async () => {
  const home = await tempHome();
  for (const [args, msg] of [
    [['models', 'summary', 'nope'], /unknown model 'nope'/],
    [['models', 'summary', 'knn'], /knn has no neural network/],
    [['models', 'summary', 'algan', '--preset', 'akcay2018'], /algan has no preset 'akcay2018' \(presets: murase2022\)/],
    [['models', 'summary', 'ganomaly', '--size', '48'], /power of two/],
    [['models', 'summary', 'ganomaly', '--set', 'ngff=3'], /ngff/],
  ] as const) {
    const r = await runCli([...args], { GANTRY_HOME: home });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
});
