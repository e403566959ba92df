/**
 * Losses and discriminator targets shared by the GAN detectors: binary cross-entropy on logits
 * (stable for any logit), L1/L2 means, and the stabilisation tricks on D's targets — soft labels
 * drawn uniformly from a range, and a fraction of labels flipped to the other class.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';

/** mean over the batch of BCE(sigmoid(logits), targets) = max(l, 0) − l·y + log(1 + e^−|l|). */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor | number): tf.Scalar {
  return tf.mean(bceWithLogitsPerSample(logits, targets));
}

/** Per-sample BCE on logits, for weighted sums. */
export function bceWithLogitsPerSample(logits: tf.Tensor, targets: tf.Tensor | number): tf.Tensor1D {
  const l = tf.reshape(logits, [-1]) as tf.Tensor1D;
  const y = typeof targets === 'number' ? targets : tf.reshape(targets, [-1]);
  return tf.add(tf.sub(tf.relu(l), tf.mul(l, y)), tf.log1p(tf.exp(tf.neg(tf.abs(l)))));
}

export const l1 = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.mean(tf.abs(tf.sub(a, b)));
export const l2 = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.mean(tf.squaredDifference(a, b));

/** Per-sample means over all but the batch axis. */
export function perSampleMean(x: tf.Tensor): tf.Tensor1D {
  return tf.mean(tf.reshape(x, [x.shape[0], -1]), 1) as tf.Tensor1D;
}

export interface TargetOptions {
  /** Real targets drawn from U[lo, hi]; [1, 1] is a hard label. */
  realLabel: readonly [number, number];
  fakeLabel: readonly [number, number];
  /** Probability that a target is drawn from the other class's range (label flipping). */
  labelFlip: number;
}

/** D's targets for n samples of one class. Draws n uniforms for flips (when on) and n for soft labels (when on). */
export function targets(n: number, real: boolean, o: TargetOptions, rng: Prng): Float32Array {
  const out = new Float32Array(n);
  const own = real ? o.realLabel : o.fakeLabel;
  const other = real ? o.fakeLabel : o.realLabel;
  const soft = own[0] !== own[1] || other[0] !== other[1];
  for (let i = 0; i < n; i++) {
    const flipped = o.labelFlip > 0 && rng.uniform() < o.labelFlip;
    const [lo, hi] = flipped ? other : own;
    out[i] = soft ? lo + (hi - lo) * rng.uniform() : lo;
  }
  return out;
}

export const hardTargets = (o: TargetOptions): boolean =>
  o.labelFlip === 0 && o.realLabel[0] === o.realLabel[1] && o.fakeLabel[0] === o.fakeLabel[1];
