/**
 * The WGAN-GP training loop with exact resume. Per generator iteration: `criticIters` critic steps
 * on shuffled real batches, then one generator step; Adam for both networks.
 *
 * Everything that influences the next iteration goes into a checkpoint: weights, both Adams'
 * moments and step counts, the Prng state (which drives shuffles, z, α), the epoch permutation and
 * position, and the iteration counter. Adam is written here on tf.variables, not taken from
 * tf.train, so that its state (including the bias-correction step count) is explicit and a
 * restored run computes exactly what the uninterrupted one would have.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { Prng, type PrngState } from '../../datasets/prng.js';
import { CancelledError, UserError } from '../../core/errors.js';
import { ensureGradients } from '../backend.js';
import type { MetricPoint, Samples, TrainHooks } from '../detector.js';
import { criticLoss, generatorLoss } from './losses.js';
import {
  criticValue,
  criticVars,
  disposeNets,
  encodeModel,
  generate,
  genVars,
  initNets,
  netsFromArrays,
  newVariable,
  pack,
  unpack,
  weightArrays,
  type NetConfig,
  type Nets,
  type Packed,
} from './network.js';
import { TRAINING_KEYS, type WganGpParams } from './params.js';

export const CHECKPOINT_FORMAT = 'gantry.wgan-gp.checkpoint';
const ADAM_EPS = 1e-8;

/** Adam (Kingma & Ba), in the form TF1 used: lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ), θ −= lr_t·m/(√v + ε). */
export class Adam {
  readonly m: tf.Variable[];
  readonly v: tf.Variable[];
  t = 0;

  constructor(
    vars: tf.Variable[],
    private readonly lr: number,
    private readonly beta1: number,
    private readonly beta2: number,
  ) {
    this.m = vars.map((x) => newVariable(() => tf.zerosLike(x), false));
    this.v = vars.map((x) => newVariable(() => tf.zerosLike(x), false));
  }

  apply(vars: tf.Variable[], grads: tf.NamedTensorMap): void {
    this.t += 1;
    const { beta1: b1, beta2: b2 } = this;
    // In float64 on the host from t alone, so a resumed run gets the very same value.
    const lrT = (this.lr * Math.sqrt(1 - Math.pow(b2, this.t))) / (1 - Math.pow(b1, this.t));
    tf.tidy(() => {
      vars.forEach((x, i) => {
        const g = grads[x.name];
        if (!g) throw new Error(`adam: no gradient for ${x.name}`);
        const m = tf.add(tf.mul(this.m[i], b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.v[i], b2), tf.mul(tf.square(g), 1 - b2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        x.assign(tf.sub(x, tf.mul(tf.div(m, tf.add(tf.sqrt(v), ADAM_EPS)), lrT)));
      });
    });
  }

  arrays(prefix: string): Packed[] {
    return [
      ...this.m.map((x, i) => ({ name: `${prefix}.m.${i}`, data: x.dataSync() as Float32Array, shape: x.shape })),
      ...this.v.map((x, i) => ({ name: `${prefix}.v.${i}`, data: x.dataSync() as Float32Array, shape: x.shape })),
    ];
  }

  restore(prefix: string, t: number, arrays: Map<string, Packed>): void {
    this.t = t;
    const set = (list: tf.Variable[], k: 'm' | 'v') =>
      list.forEach((x, i) => {
        const a = arrays.get(`${prefix}.${k}.${i}`);
        if (!a || !(a.data instanceof Float32Array) || a.data.length !== x.size) {
          throw new Error(`wgan-gp checkpoint: missing optimizer state ${prefix}.${k}.${i}`);
        }
        x.assign(tf.tensor(a.data, x.shape));
      });
    // tf.tensor inside assign would leak one handle per call without tidy.
    tf.tidy(() => {
      set(this.m, 'm');
      set(this.v, 'v');
    });
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

/** What a checkpoint must agree on to be resumed by this training. */
interface Fingerprint {
  n: number;
  dim: number;
  seed: number;
  data: string;
  params: Record<string, unknown>;
}

interface CheckpointMeta {
  format: string;
  version: 1;
  config: NetConfig;
  fingerprint: Fingerprint;
  iteration: number;
  epoch: number;
  cursor: number;
  rng: { words: PrngState; spare: number | null };
  adam: { gen: number; critic: number };
}

export function validateSamples(s: Samples, what: string): void {
  if (!Number.isInteger(s.n) || !Number.isInteger(s.dim) || s.n < 1 || s.dim < 1) {
    throw new UserError(`${what}: need at least one sample of at least one feature (got n=${s.n}, dim=${s.dim})`);
  }
  if (s.data.length !== s.n * s.dim) {
    throw new UserError(`${what}: ${s.n}×${s.dim} samples need ${s.n * s.dim} values, got ${s.data.length}`);
  }
  for (let i = 0; i < s.data.length; i++) {
    if (!Number.isFinite(s.data[i])) {
      throw new UserError(`${what}: sample ${Math.floor(i / s.dim)}, feature ${i % s.dim} is ${s.data[i]}`, {
        hint: 'filter or impute non-finite values before training',
      });
    }
  }
}

function dataDigest(a: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
}

function uniforms(rng: Prng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform();
  return out;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function trainWganGp(train: Samples, params: WganGpParams, seed: number, hooks: TrainHooks): Promise<Uint8Array> {
  ensureGradients();
  validateSamples(train, 'wgan-gp training samples');
  const { n, dim } = train;
  const B = params.batchSize;
  if (n < B) {
    throw new UserError(`wgan-gp: ${n} training samples are fewer than one batch (batchSize ${B})`, {
      hint: 'lower batchSize or provide more samples',
    });
  }
  const config: NetConfig = {
    dim,
    noiseDim: params.noiseDim,
    hidden: params.hidden,
    depth: params.depth,
    outputActivation: params.outputActivation,
  };
  const fingerprint: Fingerprint = {
    n,
    dim,
    seed,
    data: dataDigest(train.data),
    params: Object.fromEntries(TRAINING_KEYS.map((k) => [k, params[k]])),
  };

  // Fresh state; replaced below when a checkpoint exists.
  const root = new Prng(seed);
  const initRng = root.fork('init');
  let rng = root.fork('train');
  let nets: Nets | undefined;
  let adamG: Adam | undefined;
  let adamC: Adam | undefined;
  let perm: Int32Array = new Int32Array(n);
  let epoch = 0;
  let cursor = 0;
  let iteration = 0;

  const saved = await hooks.restore();
  try {
    if (saved) {
      const { meta, arrays } = unpack(saved, 'wgan-gp checkpoint');
      const m = meta as unknown as CheckpointMeta;
      if (m.format !== CHECKPOINT_FORMAT || m.version !== 1) {
        throw new Error(`wgan-gp checkpoint: unexpected format ${String(m.format)} v${String(m.version)}`);
      }
      if (JSON.stringify(m.fingerprint) !== JSON.stringify(fingerprint)) {
        throw new UserError('wgan-gp: the checkpoint to resume was written for other data, seed or parameters', {
          hint: `checkpoint ${JSON.stringify(m.fingerprint)} vs this run ${JSON.stringify(fingerprint)}`,
        });
      }
      if (m.iteration > params.iterations) {
        throw new UserError(`wgan-gp: the checkpoint is at iteration ${m.iteration}, past iterations=${params.iterations}`);
      }
      nets = netsFromArrays(config, arrays, 'wgan-gp checkpoint');
      adamG = new Adam(genVars(nets), params.lr, params.beta1, params.beta2);
      adamC = new Adam(criticVars(nets), params.lr, params.beta1, params.beta2);
      adamG.restore('adam.gen', m.adam.gen, arrays);
      adamC.restore('adam.critic', m.adam.critic, arrays);
      const p = arrays.get('perm');
      if (!p || !(p.data instanceof Int32Array) || p.data.length !== n) throw new Error('wgan-gp checkpoint: bad permutation');
      perm = p.data;
      rng = Prng.fromState(m.rng);
      ({ epoch, cursor, iteration } = m);
    } else {
      nets = initNets(config, initRng);
      adamG = new Adam(genVars(nets), params.lr, params.beta1, params.beta2);
      adamC = new Adam(criticVars(nets), params.lr, params.beta1, params.beta2);
      for (let i = 0; i < n; i++) perm[i] = i;
      rng.shuffle(perm);
    }
    const net = nets;
    const [optG, optC] = [adamG, adamC];
    const gVars = genVars(net);
    const cVars = criticVars(net);
    const critic = (x: tf.Tensor2D) => criticValue(net, x);

    const nextBatch = (): Float32Array => {
      if (cursor + B > n) {
        // New epoch: the partial tail is dropped, as a fixed batch shape keeps steps comparable.
        rng.shuffle(perm);
        epoch += 1;
        cursor = 0;
      }
      const out = new Float32Array(B * dim);
      for (let r = 0; r < B; r++) {
        const src = perm[cursor + r] * dim;
        out.set(train.data.subarray(src, src + dim), r * dim);
      }
      cursor += B;
      return out;
    };

    const checkpointBytes = (): Uint8Array => {
      const meta: CheckpointMeta = {
        format: CHECKPOINT_FORMAT,
        version: 1,
        config,
        fingerprint,
        iteration,
        epoch,
        cursor,
        rng: rng.state(),
        adam: { gen: optG.t, critic: optC.t },
      };
      return pack(meta as unknown as Record<string, unknown>, [
        ...weightArrays(net),
        ...optG.arrays('adam.gen'),
        ...optC.arrays('adam.critic'),
        { name: 'perm', data: perm, shape: [n] },
      ]);
    };

    const criticStep = (): { loss: tf.Scalar; gp: tf.Scalar } => {
      // Draw order (batch, z, α) is part of the format: changing it changes every run.
      const real = tf.tensor2d(nextBatch(), [B, dim]);
      const z = tf.tensor2d(rng.normals(B * params.noiseDim), [B, params.noiseDim]);
      const alpha = tf.tensor2d(uniforms(rng, B), [B, 1]);
      let gp: tf.Scalar | undefined;
      const loss = tf.tidy(() => {
        const fake = generate(net, z);
        const { value, grads } = tf.variableGrads(() => {
          const l = criticLoss(critic, real, fake, alpha, params.gpLambda);
          gp = tf.keep(l.gp);
          return l.loss;
        }, cVars);
        optC.apply(cVars, grads);
        return value;
      });
      tf.dispose([real, z, alpha]);
      return { loss, gp: gp! };
    };

    const generatorStep = (): tf.Scalar => {
      const z = tf.tensor2d(rng.normals(B * params.noiseDim), [B, params.noiseDim]);
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => generatorLoss(critic, generate(net, z)), gVars);
        optG.apply(gVars, grads);
        return value;
      });
      z.dispose();
      return loss;
    };

    const total = params.iterations;
    let lastSaved = saved ? iteration : -1;
    hooks.progress(iteration, total);
    while (iteration < total) {
      if (hooks.signal?.aborted) {
        if (lastSaved !== iteration) await hooks.checkpoint(iteration, checkpointBytes());
        throw new CancelledError(`wgan-gp training cancelled at iteration ${iteration}/${total}`);
      }
      let c: { loss: tf.Scalar; gp: tf.Scalar } | undefined;
      for (let k = 0; k < params.criticIters; k++) {
        if (c) tf.dispose([c.loss, c.gp]);
        c = criticStep();
      }
      const g = generatorStep();
      iteration += 1;

      if (iteration % params.logEvery === 0 || iteration === total) {
        const [cl, gp, gl] = [c!.loss.dataSync()[0], c!.gp.dataSync()[0], g.dataSync()[0]];
        if (![cl, gp, gl].every(Number.isFinite)) {
          throw new UserError(`wgan-gp training diverged at iteration ${iteration} (non-finite loss)`, {
            hint: 'lower lr or raise gpLambda',
          });
        }
        const points: MetricPoint[] = [
          { name: 'train/critic_loss', step: iteration, value: cl },
          { name: 'train/gen_loss', step: iteration, value: gl },
          { name: 'train/gp', step: iteration, value: gp },
        ];
        hooks.log(points);
      }
      tf.dispose([c!.loss, c!.gp, g]);

      hooks.progress(iteration, total);
      if (hooks.checkpointDue(iteration)) {
        await hooks.checkpoint(iteration, checkpointBytes());
        lastSaved = iteration;
      }
      // Keep the event loop turning (signals, heartbeats, other steps) between iterations.
      await tick();
    }
    return encodeModel(net, { iterations: iteration });
  } finally {
    if (nets) disposeNets(nets);
    adamG?.dispose();
    adamC?.dispose();
  }
}
