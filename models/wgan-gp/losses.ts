/**
 * WGAN-GP losses (Gulrajani et al. 2017, as in Eide's code):
 *   critic:    mean D(fake) − mean D(real) + λ·mean((‖∇x̂ D(x̂)‖₂ − 1)²),  x̂ = real + α(fake − real), α ~ U[0,1]
 *   generator: −mean D(G(z))
 * The penalty differentiates a gradient: every op here must have a second-order gradient
 * (models/backend.ts registers such gradients for matMul, add, relu, tanh, square, sqrt, sum, mean…).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Keeps the penalty's gradient finite where ∇D = 0 (dead ReLUs): d√s/ds is infinite at s = 0. */
const NORM_EPS = 1e-12;

/** λ·mean((‖∇x̂ D(x̂)‖₂ − 1)²) at the interpolates of real and fake with weights alpha [n, 1]. */
export function gradientPenalty(
  critic: (x: tf.Tensor2D) => tf.Tensor1D,
  real: tf.Tensor2D,
  fake: tf.Tensor2D,
  alpha: tf.Tensor2D,
  lambda: number,
): tf.Scalar {
  const xHat = tf.add(real, tf.mul(alpha, tf.sub(fake, real))) as tf.Tensor2D;
  // Samples are independent, so the gradient of the sum is each sample's own gradient.
  const g = tf.grad((x: tf.Tensor) => tf.sum(critic(x as tf.Tensor2D)))(xHat);
  const norm = tf.sqrt(tf.add(tf.sum(tf.square(g), 1), NORM_EPS));
  return tf.mul(tf.mean(tf.square(tf.sub(norm, 1))), lambda) as tf.Scalar;
}

export interface CriticLoss {
  /** The full loss that is minimised. */
  loss: tf.Scalar;
  /** The penalty term alone (already multiplied by λ). */
  gp: tf.Scalar;
}

export function criticLoss(
  critic: (x: tf.Tensor2D) => tf.Tensor1D,
  real: tf.Tensor2D,
  fake: tf.Tensor2D,
  alpha: tf.Tensor2D,
  lambda: number,
): CriticLoss {
  const wGap = tf.sub(tf.mean(critic(fake)), tf.mean(critic(real)));
  const gp = lambda > 0 ? gradientPenalty(critic, real, fake, alpha, lambda) : tf.scalar(0);
  return { loss: tf.add(wGap, gp) as tf.Scalar, gp };
}

export function generatorLoss(critic: (x: tf.Tensor2D) => tf.Tensor1D, fake: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(critic(fake))) as tf.Scalar;
}
