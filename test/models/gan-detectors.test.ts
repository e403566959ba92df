/**
 * The image GAN detectors (GANomaly, Skip-GANomaly, ALGAN): published parameter counts, a few
 * training iterations on tiny images with the losses moving, scoring, bit-identical resume from
 * a checkpoint, validation-based selection, the divergence guard, inference-mode BatchNorm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../../datasets/prng.js';
import { UserError } from '../../core/errors.js';
import { memorySource } from '../../core/samples.js';
import { selectBackend } from '../../models/backend.js';
import { detectorFor } from '../../models/registry.js';
import { modelSummary } from '../../models/summaries.js';
import { TrainingDiverged } from '../../models/components/gan.js';
import { gradientPenalty } from '../../models/components/gan-nets.js';
import { Network } from '../../models/components/network.js';
import { summarize } from '../../models/components/net-spec.js';
import { keyed, recorder } from './recorder.js';

const S = 16;

/** Normal images: smooth random stripes in [-1, 1]; anomalous ones add a bright square. */
function images(n: number, seed: number, anomalous = false): Float32Array {
  const rng = new Prng(seed);
  const out = new Float32Array(n * S * S);
  for (let i = 0; i < n; i++) {
    const [fx, fy, ph] = [rng.uniform() * 0.6, rng.uniform() * 0.6, rng.uniform() * 6];
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) out[i * S * S + y * S + x] = 0.6 * Math.sin(fx * x + fy * y + ph) + 0.05 * rng.normal();
    if (anomalous) for (let y = 4; y < 9; y++) for (let x = 5; x < 10; x++) out[i * S * S + y * S + x] = 1;
  }
  return out;
}

const TRAIN = memorySource({ n: 32, dim: S * S, data: images(32, 1), shape: [S, S, 1] });
const valData = new Float32Array(16 * S * S);
valData.set(images(8, 2));
valData.set(images(8, 3, true), 8 * S * S);
const VAL = { source: memorySource({ n: 16, dim: S * S, data: valData, shape: [S, S, 1] }), labels: Uint8Array.from({ length: 16 }, (_, i) => (i < 8 ? 0 : 1)) };

const TINY = { ngf: 4, batchSize: 8, iterations: 12, validateEvery: 4, logEvery: 1 };
const MODELS: Record<string, Record<string, unknown>> = {
  ganomaly: { nz: 8 },
  'skip-ganomaly': {},
  'skip-ganomaly (masked)': { maskSize: 8 },
  algan: { nz: 8 },
};
const kindOf = (name: string) => name.split(' ')[0];
const paramsOf = (name: string, over: Record<string, unknown> = {}) => detectorFor(kindOf(name)).params.parse({ ...TINY, ...MODELS[name], ...over });

test('the presets build exactly the parameter counts the papers publish (Keras counting)', () => {
  const counts = (model: string, preset: string, shape?: number[]) =>
    modelSummary(model, preset, shape).parts.map((p) => [p.total, p.trainable, p.nonTrainable]);
  // Mammadova 2022, Tables 3.1–3.3: [total, trainable, non-trainable] of G, then D.
  assert.deepEqual(counts('ganomaly', 'mammadova-m1'), [[143_974_144, 143_950_208, 23_936], [44_747_264, 44_739_328, 7_936]]);
  for (const m of ['mammadova-m2', 'mammadova-m3']) assert.deepEqual(counts('ganomaly', m), [[64_842_880, 64_831_232, 11_648], [17_428_672, 17_424_832, 3_840]]);
  for (const m of ['mammadova-m4', 'mammadova-m5']) assert.deepEqual(counts('skip-ganomaly', m), [[54_423_811, 54_413_955, 9_856], [47_992_896, 47_984_960, 7_936]]);
  // Akçay 2018's public code (../shared/reference/torch_ganomaly_bench.py): trainable only, as PyTorch counts.
  assert.deepEqual(counts('ganomaly', 'akcay2018').map((c) => c[1]), [3_206_528, 663_296]);
  assert.deepEqual(counts('ganomaly', 'akcay2018', [64, 64, 3]).map((c) => c[1]), [10_729_856, 2_765_568]);
});

test('ALGAN at 256×256 has seven transposed convolutions in G and seven convolutions in D (Murase §5.1.1)', () => {
  const s = modelSummary('algan', 'murase2022');
  const layers = (i: number, type: string) => s.parts[i].nets[0].rows.filter((r) => r.type === type).length;
  assert.equal(layers(0, 'Conv2DTranspose'), 7);
  assert.equal(layers(1, 'Conv2D'), 7);
  assert.deepEqual(s.parts[0].nets[0].output, [256, 256, 3]);
});

test('a summary that cannot be built says why', () => {
  assert.throws(() => modelSummary('ganomaly', 'nope'), /no preset 'nope'.*akcay2018/);
  assert.throws(() => modelSummary('rx'), /no neural network/);
  assert.throws(() => modelSummary('ganomaly', 'akcay2018', [30, 30, 3]), (e: unknown) => e instanceof UserError && /power of two/.test(e.message));
  assert.throws(() => modelSummary('ganomaly', 'ozgumus-a4', [64, 64, 1]), /defined for 32×32/);
});

for (const name of Object.keys(MODELS)) {
  test(`${name}: trains on tiny images (losses move), scores every variant, resumes bit-identically`, { timeout: 120_000 }, async () => {
    await selectBackend();
    const det = detectorFor(kindOf(name));
    const p = paramsOf(name);
    const ref = recorder();
    const fitted = await det.fit(TRAIN, p, 7, ref.hooks, { validation: VAL });
    const gLoss = ref.logs.filter((x) => x.name === 'train/g_loss').map((x) => x.value);
    const dLoss = ref.logs.filter((x) => x.name === 'train/d_loss').map((x) => x.value);
    assert.equal(gLoss.length, 12);
    assert.ok(gLoss.every(Number.isFinite) && dLoss.every(Number.isFinite));
    assert.ok(new Set(gLoss.map((v) => v.toFixed(6))).size > 6 && new Set(dLoss.map((v) => v.toFixed(6))).size > 6, 'losses change from iteration to iteration');
    assert.equal(fitted.selection.criterion, 'val-auc');
    assert.equal(ref.logs.filter((x) => x.name === 'val/auc').length, 3);

    const sets = await det.score(fitted.model, VAL.source, p, 0);
    assert.ok(sets.length >= 1);
    for (const s of sets) assert.ok(s.scores.length === 16 && s.scores.every(Number.isFinite), `${s.name} scores`);

    // Attempt 1 dies right after the iteration-8 checkpoint; attempt 2 resumes from it.
    const first = recorder({ killAt: 8 });
    await assert.rejects(det.fit(TRAIN, p, 7, first.hooks, { validation: VAL }), /killed after iteration 8/);
    assert.ok(Buffer.from(first.checkpoints.get(8)!).equals(Buffer.from(ref.checkpoints.get(8)!)), 'same state at iteration 8');
    const second = recorder({ restore: first.checkpoints.get(8) });
    const resumed = await det.fit(TRAIN, p, 7, second.hooks, { validation: VAL });
    assert.ok(Buffer.from(resumed.model).equals(Buffer.from(fitted.model)), 'final model bytes equal');
    assert.ok(Buffer.from(second.checkpoints.get(12)!).equals(Buffer.from(ref.checkpoints.get(12)!)), 'final checkpoint equal');
    assert.deepEqual(keyed([...first.logs.filter((x) => x.step <= 8), ...second.logs]), keyed(ref.logs), 'metric values equal');
    assert.deepEqual(resumed.selection, fitted.selection);
  });
}

test('selection: validation AUROC with both classes, the normal score without anomalies, the last iteration without validation', async () => {
  await selectBackend();
  const det = detectorFor('ganomaly');
  const p = paramsOf('ganomaly');
  const normalsOnly = { source: memorySource({ n: 8, dim: S * S, data: images(8, 2), shape: [S, S, 1] }), labels: new Uint8Array(8) };
  const a = await det.fit(TRAIN, p, 1, recorder().hooks, { validation: VAL });
  const b = await det.fit(TRAIN, p, 1, recorder().hooks, { validation: normalsOnly });
  const c = await det.fit(TRAIN, p, 1, recorder().hooks, {});
  assert.equal(a.selection.criterion, 'val-auc');
  assert.match(a.selection.reason, /highest validation AUROC/);
  assert.equal(b.selection.criterion, 'val-loss');
  assert.equal(c.selection.criterion, 'last');
  assert.equal(c.selection.iteration, 12);
  assert.match(c.selection.reason, /no validation split/);
  await assert.rejects(det.fit(TRAIN, paramsOf('ganomaly', { select: 'val-auc' }), 1, recorder().hooks, { validation: normalsOnly }), /needs normal and anomalous/);
  await assert.rejects(det.fit(TRAIN, paramsOf('ganomaly', { select: 'val-loss' }), 1, recorder().hooks, {}), /needs a validation split/);
});

test('divergence guard: a non-finite loss ends training with the reason; a collapsed discriminator stops or is re-initialised', async () => {
  await selectBackend();
  const det = detectorFor('ganomaly');
  await assert.rejects(det.fit(TRAIN, paramsOf('ganomaly', { initStd: 1e30 }), 1, recorder().hooks, {}), (e: unknown) => e instanceof TrainingDiverged && /diverged at iteration 1: \w+ is (NaN|Infinity|-Infinity)/.test(e.message));
  await assert.rejects(det.fit(TRAIN, paramsOf('ganomaly', { onCollapse: 'stop', collapseThreshold: 100 }), 1, recorder().hooks, {}), /discriminator collapsed at iteration 1 \(D loss .* < 100\)/);
  const r = recorder();
  await det.fit(TRAIN, paramsOf('ganomaly', { onCollapse: 'reinit', collapseThreshold: 100, iterations: 3 }), 1, r.hooks, {});
  assert.deepEqual(r.logs.filter((x) => x.name === 'train/d_reinit').map((x) => x.value), [1, 2, 3]);
});

test('scores use BatchNorm in inference mode: a sample scores the same alone as in any batch', async () => {
  await selectBackend();
  for (const name of ['ganomaly', 'skip-ganomaly']) {
    const det = detectorFor(name);
    const p = paramsOf(name, { iterations: 4 });
    const { model } = await det.fit(TRAIN, p, 3, recorder().hooks, {});
    const whole = await det.score(model, VAL.source, { ...p, scoreBatch: 16 }, 0);
    const ones = await det.score(model, VAL.source, { ...p, scoreBatch: 1 }, 0);
    for (let k = 0; k < whole.length; k++) {
      for (let i = 0; i < 16; i++) assert.ok(Math.abs(whole[k].scores[i] - ones[k].scores[i]) <= 1e-5 * Math.max(1, Math.abs(whole[k].scores[i])), `${name} ${whole[k].name}[${i}]`);
    }
  }
});

test('spectral normalisation: after power iterations the normalised kernel has largest singular value 1', async () => {
  await selectBackend();
  const spec = { name: 'sn', input: [6], layers: [{ op: 'dense' as const, out: 5, sn: true }] };
  assert.equal(summarize(spec).buffers, 5);
  const net = new Network(spec, { bnEpsilon: 1e-5, bnMomentum: 0.9, bnUnbiased: false, initStd: 0.5 }, new Prng(4));
  const x = tf.eye(6);
  for (let i = 0; i < 30; i++) {
    tf.tidy(() => void net.apply(x, { training: true }));
    net.commit();
  }
  // The layer's output on the identity is W/σ itself; its top singular value, by power iteration here.
  const w = tf.tidy(() => net.apply(x, { training: false }).out.arraySync() as number[][]);
  let v = [1, 1, 1, 1, 1];
  let s = 0;
  for (let it = 0; it < 200; it++) {
    const u = w.map((row) => row.reduce((a, r, j) => a + r * v[j], 0));
    const next = v.map((_, j) => w.reduce((a, row, i) => a + row[j] * u[i], 0));
    s = Math.sqrt(Math.hypot(...next));
    const norm = Math.hypot(...next);
    v = next.map((c) => c / norm);
  }
  assert.ok(Math.abs(s - 1) < 1e-3, `top singular value ${s}`);
  net.dispose();
  x.dispose();
});

test('a checkpoint from other parameters is refused', async () => {
  await selectBackend();
  const det = detectorFor('algan');
  const r = recorder();
  await det.fit(TRAIN, paramsOf('algan', { iterations: 4 }), 1, r.hooks, {});
  await assert.rejects(det.fit(TRAIN, paramsOf('algan', { iterations: 8, sigma: 3 }), 1, recorder({ restore: r.checkpoints.get(4) }).hooks, {}), /written for other data, seed or parameters/);
});

test('training-mode BatchNorm gradients (fused on native, ops elsewhere) match finite differences', async () => {
  await selectBackend();
  const spec = { name: 'bn', input: [3, 3, 4], layers: [{ op: 'bn' as const }] };
  const net = new Network(spec, { bnEpsilon: 1e-3, bnMomentum: 0.9, bnUnbiased: false, initStd: 0.3 }, new Prng(8));
  const rng = new Prng(9);
  const xs = rng.normals(5 * 36);
  const w = tf.tensor(rng.normals(5 * 36), [5, 3, 3, 4]);
  const f = (x: tf.Tensor) => tf.sum(tf.mul(net.apply(x, { training: true }).out, w)) as tf.Scalar;
  const analytic = tf.tidy(() => tf.grad(f)(tf.tensor(xs, [5, 3, 3, 4])).dataSync().slice());
  net.discard();
  const at = (i: number, d: number) => {
    const v = Float64Array.from(xs);
    v[i] += d;
    const y = tf.tidy(() => f(tf.tensor(Float32Array.from(v), [5, 3, 3, 4])).dataSync()[0]);
    net.discard();
    return y;
  };
  for (const i of [0, 7, 35, 100, 179]) {
    const eps = 1e-2;
    const fd = (at(i, eps) - at(i, -eps)) / (2 * eps);
    assert.ok(Math.abs(fd - analytic[i]) <= 2e-2 * Math.max(1, Math.abs(analytic[i])), `x[${i}]: analytic ${analytic[i]} vs finite difference ${fd}`);
  }
  w.dispose();
  net.dispose();
});

test('gradient penalty: the gradient of λ·(‖∇D(x̃)‖ − 1)² with respect to D\'s weights matches finite differences; every GAN trains with it', async () => {
  await selectBackend();
  const spec = {
    name: 'd',
    input: [8, 8, 2],
    layers: [
      { op: 'conv' as const, k: 3, s: 2, pad: 'same' as const, out: 4 },
      { op: 'bn' as const },
      { op: 'act' as const, fn: 'lrelu' as const, alpha: 0.2 },
      { op: 'conv' as const, k: 4, s: 1, pad: 'valid' as const, out: 1 },
    ],
  };
  const disc = new Network(spec, { bnEpsilon: 1e-3, bnMomentum: 0.9, bnUnbiased: false, initStd: 0.3, secondOrder: true }, new Prng(3));
  const rng = new Prng(4);
  const real = tf.tensor(rng.normals(6 * 128), [6, 8, 8, 2]);
  const fake = tf.tensor(rng.normals(6 * 128), [6, 8, 8, 2]);
  const p = paramsOf('ganomaly', { gradientPenalty: 10 });
  const penalty = () => gradientPenalty(disc, real, fake, p, new Prng(5), { training: true })!;
  const w = disc.trainable()[0];
  const { value, grads } = tf.variableGrads(penalty, [w]);
  disc.discard();
  const analytic = grads[w.name].dataSync().slice();
  assert.ok(value.dataSync()[0] > 0);
  const w0 = w.dataSync().slice();
  const at = (i: number, d: number) => {
    const v = w0.slice();
    v[i] += d;
    tf.tidy(() => w.assign(tf.tensor(v, w.shape)));
    const y = tf.tidy(() => penalty().dataSync()[0]);
    disc.discard();
    return y;
  };
  // ∇ₓD is piecewise smooth (LeakyReLU): where a unit flips inside ±eps the one-sided
  // differences disagree and no derivative exists to compare; those entries are skipped.
  let checked = 0;
  for (let i = 0; i < 72; i += 3) {
    const eps = 5e-3;
    const [lo, mid, hi] = [at(i, -eps), at(i, 0), at(i, eps)];
    if (Math.abs(hi - mid - (mid - lo)) / eps > 0.05 + 0.05 * Math.abs(analytic[i])) continue;
    const fd = (hi - lo) / (2 * eps);
    assert.ok(Math.abs(fd - analytic[i]) <= 2e-2 * Math.max(1, Math.abs(analytic[i])), `w[${i}]: analytic ${analytic[i]} vs finite difference ${fd}`);
    checked++;
  }
  assert.ok(checked >= 12, `${checked} of 24 entries away from kinks`);
  tf.dispose([real, fake, value, ...Object.values(grads)]);
  disc.dispose();

  for (const name of ['ganomaly', 'skip-ganomaly', 'algan']) {
    const r = recorder();
    await detectorFor(name).fit(TRAIN, paramsOf(name, { gradientPenalty: 10, iterations: 3 }), 1, r.hooks, {});
    const gp = r.logs.filter((x) => x.name === 'train/d_gp').map((x) => x.value);
    assert.equal(gp.length, 3, name);
    assert.ok(gp.every((v) => Number.isFinite(v) && v > 0), `${name}: ${gp}`);
  }
});
