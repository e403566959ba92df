/**
 * Eide's two anomaly scores for a trained WGAN-GP.
 *  - generator: the reconstruction cost min_z ‖x − G(z)‖²/dim (+ 10^-noiseWeight·‖z‖²/noiseDim),
 *    searched by Momentum gradient descent on z from `scoreRestarts` random starts of
 *    `scoreIterations` steps each; the lowest final cost over the restarts is the score.
 *  - critic: −D(x) (Eide also shifts it to min 0; a shift changes no ranking, so we don't).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../../datasets/prng.js';
import { CancelledError, UserError } from '../../core/errors.js';
import { ensureGradients } from '../backend.js';
import type { Samples, ScoreSet, TrainHooks } from '../detector.js';
import { criticValue, decodeModel, disposeNets, generate, type Nets } from './network.js';
import { zPenaltyWeight, type WganGpParams } from './params.js';
import { validateSamples } from './train.js';

type ScoreParams = Pick<WganGpParams, 'scoreRestarts' | 'scoreIterations' | 'scoreLr' | 'scoreMomentum' | 'noiseWeight' | 'scoreBatch'>;

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Per-sample cost [n] of reconstructing x [n, dim] from z [n, noiseDim]. */
export function reconstructionCost(nets: Nets, x: tf.Tensor2D, z: tf.Tensor2D, zWeight: number): tf.Tensor1D {
  const err = tf.mean(tf.square(tf.sub(x, generate(nets, z))), 1) as tf.Tensor1D;
  return zWeight > 0 ? (tf.add(err, tf.mul(tf.mean(tf.square(z), 1), zWeight)) as tf.Tensor1D) : err;
}

/**
 * Lowest final reconstruction cost per row of x over the restarts. The cost is separable, so the
 * gradient of its sum is each sample's own gradient and a sample's score does not depend on its
 * batch-mates (only on the z draws, which come from `rng`).
 */
export async function generatorScores(
  nets: Nets,
  x: tf.Tensor2D,
  p: ScoreParams,
  rng: Prng,
  signal?: AbortSignal,
): Promise<Float64Array> {
  const b = x.shape[0];
  const k = nets.config.noiseDim;
  const zWeight = zPenaltyWeight(p);
  const best = new Float64Array(b).fill(Infinity);
  const costOf = (z: tf.Tensor) => tf.sum(reconstructionCost(nets, x, z as tf.Tensor2D, zWeight));
  const gradOf = tf.grad(costOf);
  for (let r = 0; r < p.scoreRestarts; r++) {
    if (signal?.aborted) throw new CancelledError('wgan-gp scoring cancelled');
    // Each restart: fresh z ~ N(0, I) and fresh momentum, as in Eide's code (TF MomentumOptimizer:
    // v ← μ·v + g, z ← z − lr·v).
    let z = tf.tensor2d(rng.normals(b * k), [b, k]);
    let v: tf.Tensor = tf.zerosLike(z);
    for (let i = 0; i < p.scoreIterations; i++) {
      const [z2, v2] = tf.tidy(() => {
        const g = gradOf(z);
        const vNext = tf.add(tf.mul(v, p.scoreMomentum), g);
        return [tf.sub(z, tf.mul(vNext, p.scoreLr)) as tf.Tensor2D, vNext];
      });
      tf.dispose([z, v]);
      z = z2;
      v = v2;
    }
    const cost = tf.tidy(() => reconstructionCost(nets, x, z, zWeight));
    const c = cost.dataSync();
    tf.dispose([cost, z, v]);
    for (let j = 0; j < b; j++) {
      // NaN (a diverged search) never wins; a sample whose every restart diverged scores +Infinity.
      if (c[j] < best[j]) best[j] = c[j];
    }
    await tick();
  }
  return best;
}

export async function scoreWganGp(
  model: Uint8Array,
  samples: Samples,
  params: ScoreParams,
  seed: number,
  hooks?: Pick<TrainHooks, 'progress' | 'signal'>,
): Promise<ScoreSet[]> {
  ensureGradients();
  validateSamples(samples, 'wgan-gp samples to score');
  const nets = decodeModel(model);
  try {
    const { n, dim } = samples;
    if (dim !== nets.config.dim) {
      throw new UserError(`wgan-gp: the model was trained on ${nets.config.dim} features, the samples have ${dim}`);
    }
    const rng = new Prng(seed).fork('score');
    const gen = new Float64Array(n);
    const crit = new Float64Array(n);
    const batch = params.scoreBatch;
    hooks?.progress(0, n);
    for (let start = 0; start < n; start += batch) {
      if (hooks?.signal?.aborted) throw new CancelledError('wgan-gp scoring cancelled');
      const end = Math.min(n, start + batch);
      const x = tf.tensor2d(samples.data.subarray(start * dim, end * dim), [end - start, dim]);
      try {
        gen.set(await generatorScores(nets, x, params, rng, hooks?.signal), start);
        const d = tf.tidy(() => tf.neg(criticValue(nets, x)));
        crit.set(d.dataSync(), start);
        d.dispose();
      } finally {
        x.dispose();
      }
      hooks?.progress(end, n);
    }
    return [
      { name: 'generator', scores: gen },
      { name: 'critic', scores: crit },
    ];
  } finally {
    disposeNets(nets);
  }
}
