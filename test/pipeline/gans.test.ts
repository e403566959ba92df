/**
 * The image GANs through the CLI: `mtd-gans --profile tiny` (synthetic textures) trains GANomaly,
 * Skip-GANomaly and ALGAN with checkpoints chosen on the validation split, scores with every
 * variant, and says which checkpoint it kept and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempHome } from '../helpers.js';

test('mtd-gans --profile tiny: three GANs, validation-selected checkpoints, the choice in status and the catalog', { timeout: 240_000 }, async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  const r = await runCli(['run', 'mtd-gans', '--profile', 'tiny'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3\/3 trials done/);

  const st = await runCli(['status', 'mtd-gans', '--steps'], env);
  assert.equal(st.code, 0, st.stderr);
  const kept = st.stdout.split('\n').filter((l) => /model: iteration \d+, by val-auc 0\.\d+/.test(l));
  assert.equal(kept.length, 3, st.stdout);

  const q = await runCli(['query', "SELECT t.model, m.name, count(*) AS n FROM metrics m JOIN trials t USING (trial_id) WHERE m.name IN ('val/auc', 'selection/iteration', 'auc', 'image_auc') GROUP BY ALL ORDER BY ALL", '--format', 'json'], env);
  assert.equal(q.code, 0, q.stderr);
  const rows = JSON.parse(q.stdout) as { model: string; name: string; n: number }[];
  for (const model of ['algan', 'ganomaly', 'skip-ganomaly']) {
    const n = (name: string) => rows.find((x) => x.model === model && x.name === name)?.n;
    assert.equal(n('val/auc'), 3, `${model}: validations at 4, 8, 12`);
    assert.equal(n('selection/iteration'), 1);
    assert.equal(n('auc'), 1);
    assert.equal(n('image_auc'), 1);
  }
  // Every variant is scored: GANomaly's three score sets.
  const sets = await runCli(['query', "SELECT DISTINCT score_set FROM scores JOIN trials USING (trial_id) WHERE model = 'ganomaly' ORDER BY 1", '--format', 'json'], env);
  assert.deepEqual((JSON.parse(sets.stdout) as { score_set: string }[]).map((x) => x.score_set), ['latent', 'latent-l1', 'reconstruction']);
});

test('--backend wasm with a convolutional GAN is refused before any step runs (exit 2)', async () => {
  const home = await tempHome();
  const r = await runCli(['run', 'mtd-gans', '--profile', 'tiny', '--backend', 'wasm'], { GANTRY_HOME: home });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /backend wasm cannot train ganomaly \(a convolutional network: wasm has no Conv2DBackpropFilter kernel\)/);
  assert.match(r.stderr, /--backend native/);
  const st = await runCli(['status'], { GANTRY_HOME: home });
  assert.match(st.stdout, /no studies/);
});
