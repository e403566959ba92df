import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../../datasets/prng.js';
import { CancelledError, UserError } from '../../core/errors.js';
import { backendName, selectBackend } from '../../models/backend.js';
import { loadAddon } from '../../native/addon.js';
import type { Samples } from '../../models/detector.js';
import { keyed, recorder } from './recorder.js';
import { memorySource } from '../../core/samples.js';
import { wganGp, wganGpParams, type WganGpParams } from '../../models/wgan-gp/index.js';
import { gradientPenalty } from '../../models/wgan-gp/losses.js';
import { criticValue, criticVars, disposeNets, initNets } from '../../models/wgan-gp/network.js';

// The tests pick backends themselves; an override from the shell would make them test one twice.
delete process.env.GANTRY_BACKEND;

/** Normal data: points on a 2-D curved sheet in `dim` dimensions, plus a little noise. */
function sheet(n: number, dim: number, seed: number, shape = 7): Float32Array {
  const w = new Prng(shape).normals(2 * dim);
  const rng = new Prng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const u = 2 * rng.uniform() - 1;
    const v = 2 * rng.uniform() - 1;
    for (let j = 0; j < dim; j++) out[i * dim + j] = 0.8 * Math.tanh(w[2 * j] * u + w[2 * j + 1] * v) + 0.02 * rng.normal();
  }
  return out;
}

const DIM = 8;
const TRAIN: Samples = { n: 512, dim: DIM, data: sheet(512, DIM, 1) };

function params(over: Partial<WganGpParams> = {}): WganGpParams {
  return wganGpParams.parse({ iterations: 12, logEvery: 2, ...over });
}

function auc(scores: Float64Array, isAnomaly: (i: number) => boolean): number {
  let pos = 0;
  let neg = 0;
  let wins = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!isAnomaly(i)) continue;
    pos++;
    for (let j = 0; j < scores.length; j++) {
      if (isAnomaly(j)) continue;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  neg = scores.length - pos;
  return wins / (pos * neg);
}

test('backend selection: explicit, idempotent, unknown names are user errors', async () => {
  const a = await selectBackend('cpu');
  assert.equal(a.name, 'cpu');
  assert.equal(await selectBackend(), a, 'a second call keeps the choice');
  assert.equal(backendName(), 'cpu');
  await assert.rejects(selectBackend('cuda'), (e: unknown) => e instanceof UserError && /tensorflow, native, wasm, cpu/.test(e.hint ?? ''));
  // Native TensorFlow is not installed in CI: asking for it must say so, not crash.
  await assert.rejects(selectBackend('tensorflow'), (e: unknown) => e instanceof UserError && /tensorflow/.test(e.message));
  assert.equal(tf.getBackend(), 'cpu', 'a failed request leaves the previous backend');
});

test('backend auto-selection in a fresh process: no native TensorFlow here, so the native addon if built, else wasm with a note', () => {
  const url = new URL('../../models/backend.js', import.meta.url).href;
  const script = `import { selectBackend, backendName } from '${url}';
    const a = await selectBackend(); const b = await selectBackend();
    console.log(JSON.stringify({ a, same: a === b, name: backendName() }));`;
  const env = { ...process.env };
  delete env.GANTRY_BACKEND;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { a: { name: string; note?: string }; same: boolean; name: string };
  assert.ok(out.same);
  assert.equal(out.name, out.a.name);
  if (out.a.name !== 'tensorflow') {
    if (loadAddon().addon) {
      assert.equal(out.a.name, 'native');
    } else {
      assert.equal(out.a.name, 'wasm');
      assert.match(out.a.note ?? '', /tfjs-node/);
      assert.match(out.a.note ?? '', /native addon/);
    }
  }
});

test('params: defaults, and unknown keys are errors', () => {
  const p = wganGpParams.parse({});
  assert.equal(p.noiseDim, 4);
  assert.equal(p.criticIters, 5);
  assert.equal(p.gpLambda, 10);
  assert.equal(p.scoreRestarts, 4);
  assert.equal(p.scoreIterations, 50);
  assert.equal(p.noiseWeight, 100);
  assert.equal(wganGpParams.safeParse({ noise_dim: 4 }).success, false);
});

test('gradient penalty: its gradient w.r.t. critic weights matches finite differences', async () => {
  await selectBackend('cpu');
  const nets = initNets({ dim: 5, noiseDim: 2, hidden: 6, depth: 2, outputActivation: 'linear' }, new Prng(3));
  const rng = new Prng(4);
  const real = tf.tensor2d(rng.normals(7 * 5), [7, 5]);
  const fake = tf.tensor2d(rng.normals(7 * 5), [7, 5]);
  const alpha = tf.tensor2d(Array.from({ length: 7 }, () => rng.uniform()), [7, 1]);
  const f = () => gradientPenalty((x) => criticValue(nets, x), real, fake, alpha, 10);
  const vars = criticVars(nets);
  const { grads, value } = tf.variableGrads(f, vars);
  let checked = 0;
  let nonzero = 0;
  let kinks = 0;
  for (const v of vars) {
    // The output bias does not change ∇x D, so it gets no gradient at all.
    const analytic = grads[v.name]?.dataSync() ?? new Float32Array(v.size);
    const w0 = v.dataSync().slice();
    for (let i = 0; i < w0.length; i++) {
      const at = (d: number) => {
        const w = w0.slice();
        w[i] += d;
        tf.tidy(() => v.assign(tf.tensor(w, v.shape)));
        return tf.tidy(() => f().dataSync()[0]);
      };
      const eps = 2e-3;
      const [lo, mid, hi] = [at(-eps), at(0), at(eps)];
      tf.tidy(() => v.assign(tf.tensor(w0, v.shape)));
      // With ReLUs, ∇x D is piecewise constant, so the penalty jumps where a unit flips at an
      // interpolate: there one-sided differences disagree and no derivative exists to compare.
      if (Math.abs((hi - mid) - (mid - lo)) / eps > 0.05 + 0.05 * Math.abs(analytic[i])) {
        kinks++;
        continue;
      }
      const fd = (hi - lo) / (2 * eps);
      assert.ok(Math.abs(fd - analytic[i]) <= 2e-3 + 1e-2 * Math.abs(analytic[i]), `${v.name}[${i}]: analytic ${analytic[i]} vs finite difference ${fd}`);
      checked++;
      if (Math.abs(analytic[i]) > 1e-3) nonzero++;
    }
  }
  assert.ok(value.dataSync()[0] > 0);
  assert.ok(checked > 50 && kinks < checked / 10 && nonzero > checked / 3, `${nonzero}/${checked} non-zero gradients, ${kinks} kinks skipped`);
  tf.dispose([real, fake, alpha, value, ...Object.values(grads)]);
  disposeNets(nets);
});

for (const backend of ['cpu', 'wasm', 'native'] as const) {
  test(`resume is bit-identical to an uninterrupted run (${backend})`, async (t) => {
    if (backend === 'native' && !loadAddon().addon) return t.skip(`native addon not built: ${loadAddon().reason}`);
    await selectBackend(backend);
    assert.equal(backendName(), backend);
    const p = params();
    const ref = recorder();
    const refModel = await wganGp.fit(memorySource(TRAIN), p, 11, ref.hooks);

    // Attempt 1 dies right after persisting the iteration-8 checkpoint.
    const first = recorder({ killAt: 8 });
    await assert.rejects(wganGp.fit(memorySource(TRAIN), p, 11, first.hooks), /killed after iteration 8/);
    const saved = first.checkpoints.get(8)!;
    assert.ok(Buffer.from(saved).equals(Buffer.from(ref.checkpoints.get(8)!)), 'same state at iteration 8');

    // Attempt 2 starts fresh from that checkpoint.
    const second = recorder({ restore: saved });
    const resumed = await wganGp.fit(memorySource(TRAIN), p, 11, second.hooks);
    assert.ok(Buffer.from(resumed).equals(Buffer.from(refModel)), 'final model bytes equal');
    assert.ok(Buffer.from(second.checkpoints.get(12)!).equals(Buffer.from(ref.checkpoints.get(12)!)), 'final checkpoint equal');
    assert.ok(second.logs.every((pt) => pt.step > 8), 'a resumed run logs only the iterations it ran');
    assert.deepEqual(keyed([...first.logs, ...second.logs]), keyed(ref.logs), 'metric values equal');
    assert.equal(ref.logs.length, 3 * 6);
  });
}

test('determinism: same seed, same bytes; another seed, other bytes', async () => {
  await selectBackend('cpu');
  const p = params({ iterations: 3 });
  const a = await wganGp.fit(memorySource(TRAIN), p, 5, recorder().hooks);
  const b = await wganGp.fit(memorySource(TRAIN), p, 5, recorder().hooks);
  const c = await wganGp.fit(memorySource(TRAIN), p, 6, recorder().hooks);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  assert.ok(!Buffer.from(a).equals(Buffer.from(c)));
});

test('a checkpoint from another seed is refused', async () => {
  await selectBackend('cpu');
  const p = params({ iterations: 4 });
  const r = recorder();
  await wganGp.fit(memorySource(TRAIN), p, 5, r.hooks);
  await assert.rejects(wganGp.fit(memorySource(TRAIN), p, 6, recorder({ restore: r.checkpoints.get(4) }).hooks), UserError);
});

test('cancellation saves a checkpoint and throws CancelledError; resuming from it is exact', async () => {
  await selectBackend('cpu');
  const p = params({ iterations: 6 });
  const ref = await wganGp.fit(memorySource(TRAIN), p, 2, recorder().hooks);
  const ac = new AbortController();
  const cancelled = recorder({ every: 1000, signal: ac.signal, onProgress: (it) => it === 3 && ac.abort() });
  await assert.rejects(wganGp.fit(memorySource(TRAIN), p, 2, cancelled.hooks), (e: unknown) => e instanceof CancelledError);
  assert.deepEqual([...cancelled.checkpoints.keys()], [3]);
  const resumed = await wganGp.fit(memorySource(TRAIN), p, 2, recorder({ restore: cancelled.checkpoints.get(3) }).hooks);
  assert.ok(Buffer.from(resumed).equals(Buffer.from(ref)));
});

test('no tensor leaks across iterations, fit or score', async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const r = recorder({ every: 3 });
  const model = await wganGp.fit(memorySource(TRAIN), params({ iterations: 8 }), 1, r.hooks);
  // progress(0) comes after setup; every later count must equal it.
  assert.ok(r.tensors.length === 9 && r.tensors.every((n) => n === r.tensors[0]), `tensors per iteration: ${r.tensors}`);
  assert.equal(tf.memory().numTensors, before, 'fit frees everything');
  await wganGp.score(model, memorySource({ n: 20, dim: DIM, data: sheet(20, DIM, 9) }), params({ scoreIterations: 3, scoreBatch: 8 }), 1);
  assert.equal(tf.memory().numTensors, before, 'score frees everything');
});

test('scores: the generator score separates off-manifold anomalies (AUC > 0.8)', async () => {
  await selectBackend('wasm');
  const p = params({ iterations: 80, logEvery: 10 });
  const model = await wganGp.fit(memorySource(TRAIN), p, 1, recorder().hooks);
  const nNormal = 200;
  const nAnom = 50;
  const data = new Float32Array((nNormal + nAnom) * DIM);
  data.set(sheet(nNormal, DIM, 2));
  const far = new Prng(8);
  for (let i = nNormal * DIM; i < data.length; i++) data[i] = 2 * far.uniform() - 1;
  const samples: Samples = { n: nNormal + nAnom, dim: DIM, data };
  const progress: number[] = [];
  const sets = await wganGp.score(model, memorySource(samples), { ...p, scoreBatch: 64 }, 3, { progress: (d) => progress.push(d) });
  assert.deepEqual(sets.map((s) => s.name), ['generator', 'critic']);
  for (const s of sets) {
    assert.ok(s.scores instanceof Float64Array && s.scores.length === samples.n);
    assert.ok(s.scores.every(Number.isFinite), `${s.name} scores finite`);
  }
  const a = auc(sets[0].scores, (i) => i >= nNormal);
  assert.ok(a > 0.8, `generator AUC ${a}`);
  assert.deepEqual(progress, [0, 64, 128, 192, 250]);
  // Same seed, same scores: the z restarts come from the Prng.
  const again = await wganGp.score(model, memorySource(samples), { ...p, scoreBatch: 64 }, 3);
  assert.deepEqual(again[0].scores, sets[0].scores);
});

test('smoke timing (cpu vs wasm vs native): training and scoring throughput', async (t) => {
  const dim = 20;
  const train: Samples = { n: 1024, dim, data: sheet(1024, dim, 3) };
  const toScore: Samples = { n: 128, dim, data: sheet(128, dim, 4) };
  for (const backend of ['cpu', 'wasm', ...(loadAddon().addon ? (['native'] as const) : [])] as const) {
    await selectBackend(backend);
    const p = params({ iterations: 10, batchSize: 64 });
    await wganGp.fit(memorySource(train), params({ iterations: 2 }), 1, recorder().hooks); // warm-up
    let t0 = performance.now();
    const model = await wganGp.fit(memorySource(train), p, 1, recorder().hooks);
    const trainS = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await wganGp.score(model, memorySource(toScore), p, 1);
    const scoreS = (performance.now() - t0) / 1000;
    const seen = p.iterations * p.criticIters * p.batchSize;
    t.diagnostic(
      `${backend}: train ${(seen / trainS).toFixed(0)} real samples/s (${(p.iterations / trainS).toFixed(1)} gen it/s, batch 64, ${p.criticIters} critic steps each); ` +
        `score ${(toScore.n / scoreS).toFixed(0)} samples/s at ${p.scoreRestarts}×${p.scoreIterations} (dim ${dim}, hidden ${p.hidden}×${p.depth})`,
    );
  }
});
