/**
 * The 'native' backend (native/) against tfjs's cpu backend: every kernel the addon replaces, on
 * random shapes (odd sizes, strides 1 and 2, same/valid/explicit padding, transposes, batch
 * broadcasting), and the reference conv network's gradients and a few Adam steps. Skipped, with
 * the reason, where the addon is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../../datasets/prng.js';
import { selectBackend } from '../../models/backend.js';
import { disposeRefNet, initRefNet, refLoss, refNetVars, refOptimizer, refTrainStep } from '../../models/components/reference-net.js';
import { Adam } from '../../models/components/adam.js';
import { Network } from '../../models/components/network.js';
import { MODELS, modelSummary } from '../../models/summaries.js';
import { loadAddon } from '../../native/addon.js';
import { FUSED_ADAM, NATIVE_KERNELS, NATIVE_ONLY_KERNELS } from '../../native/tfjs-backend.js';

delete process.env.GANTRY_BACKEND;
const { addon, reason } = loadAddon();
const SKIP = `native addon not built: ${reason}`;

type Case = () => tf.Tensor | tf.Tensor[];

/** Run `fn` on a backend; copies of its outputs' values. */
async function on(backend: 'cpu' | 'native', fn: Case): Promise<Float32Array[]> {
  await selectBackend(backend);
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const vals = list.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  tf.dispose(list);
  return vals;
}

/** Largest |a − b| relative to the larger of 1e-3 and max |b|: GEMM summation order differs. */
function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'lengths');
  let scale = 1e-3;
  for (const v of b) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(b[i])) {
      assert.ok(Object.is(a[i], b[i]), `${b[i]} expected at ${i}, got ${a[i]}`);
      continue;
    }
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  }
  return worst;
}

async function same(what: string, fn: Case, tol = 2e-5): Promise<void> {
  const ref = await on('cpu', fn);
  const got = await on('native', fn);
  ref.forEach((r, i) => {
    const e = relErr(got[i], r);
    assert.ok(e <= tol, `${what} [output ${i}]: relative error ${e.toExponential(2)} > ${tol}`);
  });
}

const rnd = (rng: Prng, shape: number[]) => tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)), shape);

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

interface ConvCase {
  n: number;
  h: number;
  w: number;
  c: number;
  k: [number, number];
  f: number;
  s: [number, number];
  pad: Pad;
  dil?: [number, number];
}

const CONV_CASES: ConvCase[] = [
  { n: 2, h: 7, w: 5, c: 3, k: [3, 3], f: 5, s: [1, 1], pad: 'same' },
  { n: 3, h: 9, w: 11, c: 4, k: [3, 2], f: 7, s: [2, 2], pad: 'same' },
  { n: 1, h: 8, w: 8, c: 5, k: [4, 4], f: 6, s: [2, 2], pad: 'valid' },
  { n: 2, h: 13, w: 6, c: 2, k: [5, 3], f: 3, s: [1, 2], pad: 'valid' },
  { n: 2, h: 16, w: 16, c: 3, k: [4, 4], f: 33, s: [2, 2], pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { n: 1, h: 10, w: 9, c: 6, k: [3, 3], f: 4, s: [2, 1], pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
  { n: 4, h: 6, w: 6, c: 37, k: [1, 1], f: 19, s: [1, 1], pad: 'valid' }, // column matrix = input
  { n: 5, h: 4, w: 4, c: 9, k: [4, 4], f: 13, s: [1, 1], pad: 'valid' }, // filter covers the image
  { n: 2, h: 5, w: 5, c: 3, k: [7, 7], f: 2, s: [3, 3], pad: 'same' }, // filter larger than the input
  { n: 64, h: 8, w: 8, c: 17, k: [3, 3], f: 65, s: [1, 1], pad: 'same' }, // enough work for threads
];

const label = (c: ConvCase) =>
  `x[${c.n},${c.h},${c.w},${c.c}] k${c.k.join('x')}→${c.f} s${c.s.join(',')} ${typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad.slice(1, 3))}${c.dil ? ` d${c.dil}` : ''}`;

test('native backend: registers all cpu kernels and the overrides', async (t) => {
  if (!addon) return t.skip(SKIP);
  await selectBackend('native');
  const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName).sort();
  const native = tf.getKernelsForBackend('native').map((k) => k.kernelName).sort();
  assert.deepEqual(native.filter((k) => !NATIVE_ONLY_KERNELS.includes(k)), cpu);
  for (const k of NATIVE_ONLY_KERNELS) assert.ok(native.includes(k), k);
  for (const k of NATIVE_KERNELS) assert.ok(native.includes(k), k);
  const info = addon.info();
  t.diagnostic(`addon: ${info.isa} GEMM (${info.mr}×${info.nr} micro-tile), ${info.threads} threads`);
});

test('native Conv2D matches cpu (strides, same/valid/explicit padding, dilations, odd sizes)', async (t) => {
  if (!addon) return t.skip(SKIP);
  const cases: ConvCase[] = [
    ...CONV_CASES,
    { n: 2, h: 9, w: 9, c: 3, k: [3, 3], f: 4, s: [1, 1], pad: 'same', dil: [2, 2] },
    { n: 1, h: 12, w: 10, c: 2, k: [2, 3], f: 5, s: [1, 1], pad: 'valid', dil: [3, 2] },
  ];
  for (const [i, c] of cases.entries()) {
    await same(`conv2d ${label(c)}`, () => {
      const rng = new Prng(100 + i);
      const x = rnd(rng, [c.n, c.h, c.w, c.c]) as tf.Tensor4D;
      const w = rnd(rng, [...c.k, c.c, c.f]) as tf.Tensor4D;
      return tf.conv2d(x, w, c.s, c.pad, 'NHWC', c.dil ?? 1);
    });
  }
  // rank 3 input, and NCHW (falls back to the cpu kernel: same answer by construction)
  await same('conv2d rank 3', () => {
    const rng = new Prng(7);
    return tf.conv2d(rnd(rng, [6, 7, 3]) as tf.Tensor3D, rnd(rng, [3, 3, 3, 4]) as tf.Tensor4D, 1, 'same');
  });
});

test('native Conv2DBackpropInput (conv2dTranspose) matches cpu', async (t) => {
  if (!addon) return t.skip(SKIP);
  for (const [i, c] of CONV_CASES.entries()) {
    const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.c], [...c.k, c.c, c.f], c.s, 1, c.pad);
    await same(`conv2DBackpropInput ${label(c)}`, () => {
      const rng = new Prng(200 + i);
      const dy = rnd(rng, [c.n, info.outHeight, info.outWidth, c.f]) as tf.Tensor4D;
      const w = rnd(rng, [...c.k, c.c, c.f]) as tf.Tensor4D;
      return tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, {
        inputShape: [c.n, c.h, c.w, c.c], strides: c.s, pad: c.pad, dataFormat: 'NHWC',
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
  }
  // through the public op, as the reference network uses it
  await same('conv2dTranspose 4→8, k4 s2 p1', () => {
    const rng = new Prng(9);
    const x = rnd(rng, [3, 4, 4, 10]) as tf.Tensor4D;
    const f = rnd(rng, [4, 4, 6, 10]) as tf.Tensor4D;
    return tf.conv2dTranspose(x, f, [3, 8, 8, 6], 2, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  });
});

test('native Conv2DBackpropFilter matches cpu', async (t) => {
  if (!addon) return t.skip(SKIP);
  for (const [i, c] of CONV_CASES.entries()) {
    const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.c], [...c.k, c.c, c.f], c.s, 1, c.pad);
    await same(`conv2DBackpropFilter ${label(c)}`, () => {
      const rng = new Prng(300 + i);
      const x = rnd(rng, [c.n, c.h, c.w, c.c]);
      const dy = rnd(rng, [c.n, info.outHeight, info.outWidth, c.f]);
      return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
        filterShape: [...c.k, c.c, c.f], strides: c.s, pad: c.pad, dataFormat: 'NHWC',
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    }, 5e-5);
  }
});

test('native BatchMatMul and _FusedMatMul match cpu (transposes, batches, broadcasting, odd sizes)', async (t) => {
  if (!addon) return t.skip(SKIP);
  const shapes: [number[], number[]][] = [
    [[1, 1], [1, 1]],
    [[5, 3], [3, 7]],
    [[13, 33], [33, 17]],
    [[64, 100], [100, 300]],
    [[37, 1100], [1100, 65]],
    [[200, 2048], [2048, 31]], // long K, small output: split-K path
    [[4, 7, 9], [4, 9, 5]],
    [[3, 2, 6, 4], [1, 1, 4, 5]], // one side's batch broadcast
    [[1, 6, 4], [3, 4, 5]],
    [[2, 5, 8], [8, 3]],
    [[130, 260], [260, 270]],
  ];
  for (const [i, [sa, sb]] of shapes.entries()) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const A = ta ? [...sa.slice(0, -2), sa[sa.length - 1], sa[sa.length - 2]] : sa;
        const B = tb ? [...sb.slice(0, -2), sb[sb.length - 1], sb[sb.length - 2]] : sb;
        await same(`matMul ${JSON.stringify(A)}${ta ? 'ᵀ' : ''}·${JSON.stringify(B)}${tb ? 'ᵀ' : ''}`, () => {
          const rng = new Prng(400 + i);
          return tf.matMul(rnd(rng, A), rnd(rng, B), ta, tb);
        });
      }
    }
  }
  await same('fused matMul + bias + relu / leakyrelu', () => {
    const rng = new Prng(9);
    const a = rnd(rng, [70, 40]) as tf.Tensor2D;
    const b = rnd(rng, [40, 90]) as tf.Tensor2D;
    const bias = rnd(rng, [90]);
    return [
      tf.fused.matMul({ a, b, bias, activation: 'relu' }),
      tf.fused.matMul({ a, b, transposeB: false, bias, activation: 'leakyrelu', leakyreluAlpha: 0.1 }),
      tf.fused.matMul({ a: tf.transpose(a), b, transposeA: true }),
    ];
  });
  await same('fused conv2d + bias + relu', () => {
    const rng = new Prng(10);
    return tf.fused.conv2d({ x: rnd(rng, [2, 9, 9, 4]) as tf.Tensor4D, filter: rnd(rng, [3, 3, 4, 8]) as tf.Tensor4D, strides: 2, pad: 'same', bias: rnd(rng, [8]), activation: 'relu' });
  });
});

test('native elementwise ops and sums match cpu (same shape, scalars, broadcasting, NaN, ±0)', async (t) => {
  if (!addon) return t.skip(SKIP);
  await same('unary', () => {
    const rng = new Prng(11);
    const vals = rng.normals(9001, 3);
    vals[0] = NaN;
    vals[1] = -0;
    vals[2] = 0;
    vals[3] = Infinity;
    vals[4] = -Infinity;
    const x = tf.tensor(vals, [9001]);
    const pos = tf.abs(x);
    return [
      tf.relu(x), tf.leakyRelu(x, 0.2), tf.tanh(x), tf.abs(x), tf.neg(x), tf.square(x), tf.sqrt(pos),
      tf.step(x), tf.step(x, 0.3), tf.sigmoid(x), tf.exp(tf.div(x, 4)),
    ];
  }, 1e-6);
  await same('binary', () => {
    const rng = new Prng(12);
    const a = rnd(rng, [97, 101]);
    const b = rnd(rng, [97, 101]);
    const s = tf.scalar(0.37);
    const out: tf.Tensor[] = [];
    for (const op of [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.minimum, tf.squaredDifference]) {
      out.push(op(a, b), op(a, s), op(s, b));
    }
    return out;
  }, 1e-6);
  await same('binary broadcasting (bias rows, columns, and general patterns left to cpu)', () => {
    const rng = new Prng(13);
    const a = rnd(rng, [4, 50, 6]);
    const pairs: [number[], number[]][] = [
      [[4, 50, 6], [6]], [[6], [4, 50, 6]], [[4, 50, 6], [50, 6]], [[1, 50, 6], [4, 50, 6]], // rows
      [[4, 50, 6], [4, 50, 1]], [[4, 1, 1], [4, 50, 6]], [[4, 50, 6], [4, 1, 1]], // columns
      [[4, 50, 6], [50, 1]], [[4, 1, 6], [1, 50, 1]], [[4, 50, 1], [6]], // general
    ];
    const out: tf.Tensor[] = [];
    for (const [sa, sb] of pairs) {
      const x = sa.length === 3 && sa[1] === 50 && sa[2] === 6 && sa[0] === 4 ? a : rnd(rng, sa);
      const y = rnd(rng, sb);
      for (const op of [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.squaredDifference]) out.push(op(x, y));
    }
    return out;
  }, 1e-6);
  await same('sum over contiguous axes, keepDims, and other axes (cpu)', () => {
    const rng = new Prng(14);
    const x = rnd(rng, [7, 300, 5]);
    const axes: (number | number[])[] = [0, 1, 2, -1, [0, 1], [1, 2], [0, 1, 2], [0, 2]];
    return [...axes.map((ax) => tf.sum(x, ax)), tf.sum(x, 1, true), tf.sum(x, [0, 1], true), tf.sum(rnd(rng, [64, 64]), 0)];
  }, 1e-6);
});

test('reference network: gradients of every filter, native vs cpu', async (t) => {
  if (!addon) return t.skip(SKIP);
  const grads = async (backend: 'cpu' | 'native') => {
    await selectBackend(backend);
    const net = initRefNet(3);
    const x = tf.tensor4d(new Prng(4).normals(2 * 32 * 32 * 3), [2, 32, 32, 3]);
    const { value, grads } = tf.variableGrads(() => refLoss(net, x), refNetVars(net));
    const out = [value, ...refNetVars(net).map((v) => grads[v.name])].map((g) => Float32Array.from(g.dataSync() as Float32Array));
    tf.dispose([value, x, ...Object.values(grads)]);
    disposeRefNet(net);
    return out;
  };
  const ref = await grads('cpu');
  const got = await grads('native');
  const names = ['loss', 'enc0', 'enc1', 'enc2', 'enc3', 'dec0', 'dec1', 'dec2', 'dec3'];
  ref.forEach((r, i) => {
    const e = relErr(got[i], r);
    t.diagnostic(`${names[i]}: relative error ${e.toExponential(2)}`);
    assert.ok(e < 1e-4, `${names[i]}: relative error ${e}`);
    assert.ok(r.some((v) => v !== 0), `${names[i]}: gradient is not all zero`);
  });
});

test('reference network: a few Adam steps, losses and weights native vs cpu', async (t) => {
  if (!addon) return t.skip(SKIP);
  const train = async (backend: 'cpu' | 'native') => {
    await selectBackend(backend);
    const net = initRefNet(5, 0.25);
    const opt = refOptimizer();
    const x = tf.tensor4d(new Prng(6).normals(4 * 32 * 32 * 3), [4, 32, 32, 3]);
    const losses = [0, 1, 2, 3].map(() => refTrainStep(net, opt, x));
    const weights = refNetVars(net).map((v) => Float32Array.from(v.dataSync() as Float32Array));
    opt.dispose();
    x.dispose();
    disposeRefNet(net);
    return { losses, weights };
  };
  const ref = await train('cpu');
  const got = await train('native');
  ref.losses.forEach((l, i) => assert.ok(Math.abs(got.losses[i] - l) <= 1e-5 * Math.abs(l), `loss at step ${i}: ${got.losses[i]} vs ${l}`));
  assert.ok(ref.losses[3] < ref.losses[0], 'training lowers the loss');
  ref.weights.forEach((w, i) => {
    // Adam's first steps move each weight by about lr·sign(g): compare against that scale.
    let worst = 0;
    for (let k = 0; k < w.length; k++) worst = Math.max(worst, Math.abs(got.weights[i][k] - w[k]));
    assert.ok(worst <= 2e-6, `weights ${i}: max difference ${worst}`);
  });
  t.diagnostic(`losses cpu ${ref.losses.map((l) => l.toFixed(6)).join(', ')}; native ${got.losses.map((l) => l.toFixed(6)).join(', ')}`);
});

test('fused Adam on native: weights and moments bit-identical to tf.train.adam', async (t) => {
  if (!addon) return t.skip(SKIP);
  await selectBackend('native');
  const run = async (make: () => tf.AdamOptimizer) => {
    const net = initRefNet(8, 0.25);
    const opt = make();
    const x = tf.tensor4d(new Prng(9).normals(4 * 32 * 32 * 3), [4, 32, 32, 3]);
    for (let i = 0; i < 3; i++) refTrainStep(net, opt, x);
    const weights = refNetVars(net).map((v) => Float32Array.from(v.dataSync() as Float32Array));
    const state = (await opt.getWeights()).slice(1).map((w) => Float32Array.from(w.tensor.dataSync() as Float32Array));
    opt.dispose();
    x.dispose();
    disposeRefNet(net);
    return [...weights, ...state];
  };
  const ref = await run(() => tf.train.adam(2e-4, 0.5, 0.999));
  const got = await run(() => new Adam(2e-4, 0.5, 0.999));
  assert.equal(got.length, ref.length);
  ref.forEach((r, i) => assert.ok(Buffer.from(got[i].buffer).equals(Buffer.from(r.buffer)), `array ${i} differs`));
  assert.ok(tf.getKernel('GantryFusedAdam', 'native'), 'the fused kernel is registered');
});

test('conv gradients (Conv2D, Conv2DBackpropInput) match finite differences on the cpu backend', async () => {
  await selectBackend('cpu');
  const rng = new Prng(21);
  const x = tf.tensor4d(rng.normals(2 * 6 * 6 * 2), [2, 6, 6, 2]);
  const w1 = tf.variable(tf.tensor4d(rng.normals(3 * 3 * 2 * 3, 0.5), [3, 3, 2, 3]));
  const w2 = tf.variable(tf.tensor4d(rng.normals(4 * 4 * 2 * 3, 0.5), [4, 4, 2, 3]));
  const f = () =>
    tf.tidy(() => {
      const h = tf.leakyRelu(tf.conv2d(x, w1 as tf.Tensor4D, 2, 'same'), 0.2); // [2, 3, 3, 3]
      const y = tf.tanh(tf.conv2dTranspose(h, w2 as tf.Tensor4D, [2, 6, 6, 2], 2, [[0, 0], [1, 1], [1, 1], [0, 0]]));
      return tf.mean(tf.abs(tf.sub(y, x))) as tf.Scalar;
    });
  const { grads } = tf.variableGrads(f, [w1, w2]);
  for (const v of [w1, w2]) {
    const analytic = grads[v.name].dataSync();
    const base = Float32Array.from(v.dataSync() as Float32Array);
    for (const i of [0, 5, 11, base.length - 1]) {
      const eps = 1e-2;
      const at = (d: number) => {
        const p = base.slice();
        p[i] += d;
        v.assign(tf.tensor(p, v.shape));
        return f().dataSync()[0];
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      v.assign(tf.tensor(base, v.shape));
      assert.ok(Math.abs(fd - analytic[i]) <= 2e-3 + 2e-2 * Math.abs(analytic[i]), `${v.name}[${i}]: analytic ${analytic[i]} vs finite difference ${fd}`);
    }
  }
  tf.dispose([x, w1, w2, ...Object.values(grads)]);
});

test('native BatchNorm (training mode): output, batch statistics and gradients match the op composition on cpu', async (t) => {
  if (!addon) return t.skip(SKIP);
  const rng = new Prng(21);
  for (const shape of [[5, 3, 3, 7], [64, 4, 4, 300], [9, 11]]) {
    const c = shape[shape.length - 1];
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = Float32Array.from(rng.normals(n), (v, i) => 2 * v + (i % c) * 0.3);
    const gs = Float32Array.from(rng.normals(c, 0.1), (v) => 1 + v);
    const bs = rng.normals(c, 0.1);
    const ws = rng.normals(n);
    const spec = { name: 'bn', input: shape.slice(1), layers: [{ op: 'bn' as const }] };
    const run = () => {
      const net = new Network(spec, { bnEpsilon: 1e-3, bnMomentum: 0.5, bnUnbiased: true, initStd: 0.02 }, new Prng(1));
      const [gamma, beta] = net.trainable();
      gamma.assign(tf.tensor(gs, gamma.shape));
      beta.assign(tf.tensor(bs, beta.shape));
      const x = tf.tensor(xs, shape);
      const w = tf.tensor(ws, shape);
      // d/dx, d/dgamma, d/dbeta of Σ w·BN(x), plus the moving statistics after one update.
      const { value, grads } = tf.valueAndGrads((xx: tf.Tensor) => tf.sum(tf.mul(net.apply(xx, { training: true }).out, w)))([x]);
      const g2 = tf.variableGrads(() => tf.sum(tf.mul(net.apply(x, { training: true }).out, w)) as tf.Scalar, [gamma, beta]);
      net.commit();
      const moving = net.weights.filter((q) => !q.trainable).map((q) => q.variable.clone());
      const out = [value, grads[0], g2.grads[gamma.name], g2.grads[beta.name], ...moving];
      net.dispose();
      return out;
    };
    await same(`BatchNorm ${JSON.stringify(shape)}`, run, 5e-5);
  }
});

test('native LeakyRelu gradient (one fused pass) and its own gradient match cpu, NaN included', async (t) => {
  if (!addon) return t.skip(SKIP);
  const rng = new Prng(22);
  const xs = rng.normals(5000);
  xs[7] = NaN;
  xs[8] = 0;
  const ws = rng.normals(5000);
  await same('LeakyRelu grad', () => {
    const x = tf.tensor1d(xs);
    const w = tf.tensor1d(ws);
    const f = (v: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(v, 0.2), w));
    const g = tf.grad(f)(x);
    // Second order: d/dx Σ (∂f/∂x)², zero a.e., must exist (WGAN-GP-style penalties differentiate gradients).
    const gg = tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.grad(f)(v))))(tf.tensor1d(Float32Array.from(xs, (v) => (Number.isNaN(v) ? 1 : v))));
    return [g, gg];
  }, 0);
});

test('every convolution and transposed convolution the GAN presets build (kernel, stride, padding): forward and both gradients match cpu', async (t) => {
  if (!addon) return t.skip(SKIP);
  const seen = new Map<string, { op: 'conv' | 'convT'; k: number; s: number; pad: 'same' | 'valid' }>();
  for (const m of MODELS.filter((x) => Object.keys(x.presets).length)) {
    for (const preset of Object.keys(m.presets)) {
      for (const part of modelSummary(m.kind, preset).parts) {
        for (const net of part.nets) {
          for (const r of net.rows) {
            const d = /^(\d+)×\d+ s(\d+) (same|valid)/.exec(r.detail);
            if (!d || (r.type !== 'Conv2D' && r.type !== 'Conv2DTranspose')) continue;
            const c = { op: r.type === 'Conv2D' ? ('conv' as const) : ('convT' as const), k: Number(d[1]), s: Number(d[2]), pad: d[3] as 'same' | 'valid' };
            seen.set(JSON.stringify(c), c);
          }
        }
      }
    }
  }
  assert.ok(seen.size >= 6, `configurations: ${[...seen.keys()].join(' ')}`);
  for (const c of seen.values()) {
    await same(`${c.op} k${c.k} s${c.s} ${c.pad}`, () => {
      const rng = new Prng(c.k * 10 + c.s);
      const inSize = c.op === 'conv' ? 8 : c.pad === 'valid' ? 1 : 4;
      const x = rnd(rng, [3, inSize, inSize, 5]) as tf.Tensor4D;
      const f = rnd(rng, c.op === 'conv' ? [c.k, c.k, 5, 6] : [c.k, c.k, 6, 5]) as tf.Tensor4D;
      const out = c.pad === 'same' ? inSize * c.s : (inSize - 1) * c.s + c.k;
      const fwd = (xx: tf.Tensor4D, ff: tf.Tensor4D) => (c.op === 'conv' ? tf.conv2d(xx, ff, c.s, c.pad) : tf.conv2dTranspose(xx, ff, [3, out, out, 6], c.s, c.pad));
      const y = fwd(x, f);
      const w = rnd(rng, y.shape);
      const [gx, gf] = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.sum(tf.mul(fwd(xx as tf.Tensor4D, ff as tf.Tensor4D), w)))([x, f]);
      return [y, gx, gf];
    }, 5e-5);
  }
});
