/**
 * The tfjs realisation of a NetSpec (./net-spec.ts): variables created in layer order from a
 * seeded generator, a forward pass in training or inference mode, and the arrays a checkpoint
 * needs. tfjs ops rather than tfjs-layers: BatchNorm's mode, its moving statistics, spectral
 * normalisation's power iteration and the exact order of every random draw are then explicit,
 * which is what bit-identical resume and honest inference-mode scoring need (see the GAN models'
 * READMEs).
 *
 * BatchNorm: training mode normalises with the batch's statistics and queues the moving-average
 * update (`moving = momentum·moving + (1 − momentum)·batch`, Keras's meaning of momentum), applied
 * by `commit()` after the optimiser step — every training-mode forward updates them, as in
 * PyTorch and Keras. Inference mode uses the moving statistics.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';
import type { Packed } from './packed.js';
import { summarize, type LayerSpec, type NetSpec } from './net-spec.js';

export interface NetOptions {
  bnEpsilon: number;
  /** Keras convention: the weight on the old moving average (PyTorch's momentum 0.1 is 0.9 here). */
  bnMomentum: number;
  /** Update the moving variance with the unbiased batch variance (PyTorch) instead of the biased one (Keras). */
  bnUnbiased: boolean;
  /** Standard deviation of the N(0, σ) kernel initialisation (DCGAN's 0.02). */
  initStd: number;
  /**
   * Whether gradients of gradients must flow through this network (a gradient penalty): then
   * BatchNorm runs as tfjs ops, whose gradients are differentiable, not as the fused kernels.
   */
  secondOrder?: boolean;
}

export interface ApplyOptions {
  training: boolean;
  /** σ of the GaussianNoise layers in training mode (0: none). */
  noiseStd?: number;
  rng?: Prng;
}

interface Weight {
  name: string;
  variable: tf.Variable;
  /** Updated by the optimiser (BatchNorm statistics and spectral-norm vectors are not). */
  trainable: boolean;
}

interface LayerVars {
  w?: tf.Variable;
  b?: tf.Variable;
  u?: tf.Variable;
  gamma?: tf.Variable;
  beta?: tf.Variable;
  mean?: tf.Variable;
  variance?: tf.Variable;
}

let uid = 0;

/** An identity whose gradient is zero: spectral norm's u and v are constants to the optimiser. */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: x.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]) as (
  x: tf.Tensor,
) => tf.Tensor;

/** The kernel names of native/tfjs-backend.ts (models talk to tfjs, not to the addon). */
const BATCH_NORM_TRAIN = 'GantryBatchNormTrain';
const BATCH_NORM_GRAD = 'GantryBatchNormGrad';

/**
 * Training-mode BatchNorm in two kernels (forward, backward) where the backend has them, instead
 * of the dozen elementwise ops and reductions autodiff makes of it; the batch statistics come
 * out too, for the moving averages.
 */
function fusedBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  let stats: tf.Tensor[] = [];
  const f = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, variance, invstd] = tf.engine().runKernel(BATCH_NORM_TRAIN, { x: xi, gamma: g, beta: b }, { epsilon } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    stats = [tf.keep(mean), tf.keep(variance)];
    save([xi, mean, invstd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, smean, sinv, sg] = saved;
        return tf.engine().runKernel(BATCH_NORM_GRAD, { x: sx, dy, mean: smean, invstd: sinv, gamma: sg }, {}) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  const y = f(x, gamma, beta);
  return { y, mean: stats[0], variance: stats[1] };
}

function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.add(tf.sqrt(tf.sum(tf.square(x))), 1e-12));
}

export class Network {
  readonly weights: Weight[] = [];
  private readonly layerVars: LayerVars[] = [];
  /**
   * Moving-statistic and power-iteration updates from training-mode forwards, not yet applied:
   * the newest value per variable (each forward continues from the one before, as PyTorch's and
   * Keras's in-place updates do), and every kept tensor, freed at commit.
   */
  private pending = new Map<tf.Variable, tf.Tensor>();
  private held: tf.Tensor[] = [];

  /** The value a variable has once the queued updates are applied. */
  private latest(v: tf.Variable): tf.Tensor {
    return this.pending.get(v) ?? v;
  }

  private queue(v: tf.Variable, value: tf.Tensor): void {
    const kept = tf.keep(value);
    this.pending.set(v, kept);
    this.held.push(kept);
  }

  constructor(
    readonly spec: NetSpec,
    readonly options: NetOptions,
    rng: Prng,
  ) {
    const { inputs } = summarize(spec); // also fails on a malformed spec before creating anything
    const id = ++uid;
    const add = (layer: number, key: keyof LayerVars, t: () => tf.Tensor, trainable: boolean): tf.Variable => {
      const name = `${spec.name}.${layer}.${key}`;
      const variable = tf.tidy(() => tf.variable(t(), trainable, `${name}#${id}`));
      this.weights.push({ name, variable, trainable });
      (this.layerVars[layer] ??= {})[key] = variable;
      return variable;
    };
    const normal = (n: number, std: number, mean = 0) => {
      const a = rng.normals(n, std);
      if (mean) for (let k = 0; k < n; k++) a[k] += mean;
      return a;
    };
    spec.layers.forEach((l, i) => {
      this.layerVars[i] = {};
      const input = inputs[i];
      const channels = input[input.length - 1];
      switch (l.op) {
        case 'conv':
        case 'convT':
        case 'dense': {
          const fanIn = l.op === 'dense' ? input[0] : l.k * l.k * channels;
          const shape = l.op === 'conv' ? [l.k, l.k, channels, l.out] : l.op === 'convT' ? [l.k, l.k, l.out, channels] : [input[0], l.out];
          add(i, 'w', () => tf.tensor(normal(fanIn * l.out, options.initStd), shape), true);
          if (l.bias) add(i, 'b', () => tf.zeros([l.out]), true);
          if (l.sn) add(i, 'u', () => tf.tensor(normal(l.out, 1), [1, l.out]), false);
          break;
        }
        case 'bn':
          add(i, 'gamma', () => tf.tensor(normal(channels, options.initStd, 1)), true);
          add(i, 'beta', () => tf.zeros([channels]), true);
          add(i, 'mean', () => tf.zeros([channels]), false);
          add(i, 'variance', () => tf.ones([channels]), false);
          break;
        default:
          break;
      }
    });
  }

  trainable(): tf.Variable[] {
    return this.weights.filter((w) => w.trainable).map((w) => w.variable);
  }

  /** x [b, ...input] → the output, and the tapped activations by name. */
  apply(x: tf.Tensor, opts: ApplyOptions): { out: tf.Tensor; taps: Record<string, tf.Tensor> } {
    const taps: Record<string, tf.Tensor> = {};
    const saved = new Map<string, tf.Tensor>();
    let h = x;
    this.spec.layers.forEach((l, i) => {
      const v = this.layerVars[i];
      switch (l.op) {
        case 'conv': {
          const w = this.kernel(v, l.op, l.out, opts.training) as tf.Tensor4D;
          h = tf.conv2d(h as tf.Tensor4D, w, l.s, l.pad);
          if (v.b) h = tf.add(h, v.b);
          break;
        }
        case 'convT': {
          const w = this.kernel(v, l.op, l.out, opts.training) as tf.Tensor4D;
          const [b, hh, ww] = h.shape;
          const size = (n: number) => (l.pad === 'same' ? n * l.s : (n - 1) * l.s + l.k);
          h = tf.conv2dTranspose(h as tf.Tensor4D, w, [b, size(hh!), size(ww!), l.out], l.s, l.pad);
          if (v.b) h = tf.add(h, v.b);
          break;
        }
        case 'dense':
          h = tf.matMul(h as tf.Tensor2D, this.kernel(v, l.op, l.out, opts.training) as tf.Tensor2D);
          if (v.b) h = tf.add(h, v.b);
          break;
        case 'bn':
          h = this.batchNorm(h, v, opts.training);
          break;
        case 'act':
          h = l.fn === 'lrelu' ? tf.leakyRelu(h, l.alpha ?? 0.2) : l.fn === 'relu' ? tf.relu(h) : l.fn === 'tanh' ? tf.tanh(h) : l.fn === 'sigmoid' ? tf.sigmoid(h) : h;
          break;
        case 'flatten':
          h = tf.reshape(h, [h.shape[0], -1]);
          break;
        case 'reshape':
          h = tf.reshape(h, [h.shape[0], ...l.to]);
          break;
        case 'noise':
          if (opts.training && opts.noiseStd && opts.rng) h = tf.add(h, tf.tensor(opts.rng.normals(h.size, opts.noiseStd), h.shape));
          break;
        case 'save':
          saved.set(l.tag, h);
          break;
        case 'concat':
          h = tf.concat([h, saved.get(l.tag)!], -1);
          break;
        case 'tap':
          taps[l.name] = h;
          break;
      }
    });
    return { out: h, taps };
  }

  /** The kernel, divided by its largest singular value (one power iteration) when spectrally normalised. */
  private kernel(v: LayerVars, op: 'conv' | 'convT' | 'dense', out: number, training: boolean): tf.Tensor {
    const w = v.w!;
    if (!v.u) return w;
    // One row per input connection, one column per output unit (convT filters are [k, k, out, in]).
    const wm = (op === 'convT' ? tf.reshape(tf.transpose(w, [0, 1, 3, 2]), [-1, out]) : tf.reshape(w, [-1, out])) as tf.Tensor2D;
    const u0 = this.latest(v.u) as tf.Tensor2D;
    const vv = stopGradient(l2normalize(tf.matMul(u0, wm, false, true))) as tf.Tensor2D; // [1, K]
    const u1 = stopGradient(l2normalize(tf.matMul(vv, wm))) as tf.Tensor2D; // [1, out]
    const sigma = tf.sum(tf.mul(tf.matMul(vv, wm), u1));
    if (training) this.queue(v.u, u1);
    return tf.div(w, sigma);
  }

  private batchNorm(x: tf.Tensor, v: LayerVars, training: boolean): tf.Tensor {
    const axes = x.shape.map((_, i) => i).slice(0, -1);
    const { bnEpsilon: eps, bnMomentum: m, bnUnbiased } = this.options;
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    let y: tf.Tensor | undefined;
    if (training) {
      if (!this.options.secondOrder && tf.getKernel(BATCH_NORM_TRAIN, tf.getBackend())) ({ y, mean, variance } = fusedBatchNorm(x, v.gamma!, v.beta!, eps));
      else ({ mean, variance } = tf.moments(x, axes));
      const n = x.size / x.shape[x.shape.length - 1];
      const forStats = bnUnbiased && n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      this.queue(v.mean!, tf.add(tf.mul(this.latest(v.mean!), m), tf.mul(mean, 1 - m)));
      this.queue(v.variance!, tf.add(tf.mul(this.latest(v.variance!), m), tf.mul(forStats, 1 - m)));
      if (y) tf.dispose([mean, variance]); // kept out of the fused kernel's scope; the updates above hold what they need
    } else {
      mean = v.mean!;
      variance = v.variance!;
    }
    if (y) return y;
    const scale = tf.mul(v.gamma!, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(tf.sub(x, mean), scale), v.beta!);
  }

  /** Apply the queued moving-statistic and power-iteration updates (after the optimiser step). */
  commit(): void {
    for (const [variable, value] of this.pending) variable.assign(value);
    this.discard();
  }

  /** Drop queued updates (a forward whose statistics must not count). */
  discard(): void {
    for (const t of this.held) t.dispose();
    this.held = [];
    this.pending.clear();
  }

  arrays(prefix = this.spec.name): Packed[] {
    return this.weights.map((w) => ({ name: `${prefix}:${w.name}`, data: w.variable.dataSync() as Float32Array, shape: w.variable.shape }));
  }

  restore(arrays: Map<string, Packed>, what: string, prefix = this.spec.name): void {
    tf.tidy(() => {
      for (const w of this.weights) {
        const a = arrays.get(`${prefix}:${w.name}`);
        if (!a || !(a.data instanceof Float32Array) || a.data.length !== w.variable.size) throw new Error(`${what}: missing or mis-sized array ${prefix}:${w.name}`);
        w.variable.assign(tf.tensor(a.data, w.variable.shape));
      }
    });
  }

  /** Fresh weights from `rng` (GANomaly re-initialises a collapsed discriminator). */
  reinitialize(rng: Prng): void {
    const fresh = new Network(this.spec, this.options, rng);
    tf.tidy(() => this.weights.forEach((w, i) => w.variable.assign(fresh.weights[i].variable)));
    fresh.dispose();
  }

  dispose(): void {
    this.discard();
    for (const w of this.weights) w.variable.dispose();
  }
}

export type { LayerSpec, NetSpec };
