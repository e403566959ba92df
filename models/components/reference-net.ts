/**
 * The reference convolutional network of issue 5 in tfjs ops: a GANomaly-style encoder–decoder on
 * 32×32×3 images (DCGAN blocks, 4×4 kernels, no bias), as in ../shared/reference/torch_step_bench.py:
 *   Conv2d 3→64→128→256 (stride 2, pad 1, LeakyReLU 0.2), Conv2d 256→100 (4×4 valid: the latent),
 *   ConvTranspose2d 100→256 (4×4 valid), 256→128→64→3 (stride 2, pad 1), ReLU between, Tanh last.
 * One training step = forward, L1 reconstruction loss, backward, Adam(2e-4, 0.5, 0.999).
 * Used by the training benchmark (bench/train-step.ts) and the native backend's gradient tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../../datasets/prng.js';
import { Adam } from './adam.js';

export interface RefNet {
  /** Encoder filters [4, 4, in, out]. */
  enc: tf.Variable[];
  /** Decoder (transposed-conv) filters [4, 4, out, in], tfjs's conv2dTranspose layout. */
  dec: tf.Variable[];
}

const ENC: [number, number][] = [[3, 64], [64, 128], [128, 256], [256, 100]];
const DEC: [number, number][] = [[100, 256], [256, 128], [128, 64], [64, 3]];
/** PyTorch's padding=1 on both sides, as tfjs explicit padding. */
const PAD1: tf.backend_util.ExplicitPadding = [[0, 0], [1, 1], [1, 1], [0, 0]];

let uid = 0;

/** DCGAN-style N(0, 0.02) weights from a seeded generator; `width` scales every channel count but the image's. */
export function initRefNet(seed = 0, width = 1): RefNet {
  const rng = new Prng(seed);
  const ch = (c: number) => (c === 3 || c === 100 ? c : Math.max(1, Math.round(c * width)));
  const make = (shape: number[], name: string) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tidy(() => tf.variable(tf.tensor(rng.normals(n, 0.02), shape), true, `refnet/${name}_${++uid}`));
  };
  return {
    enc: ENC.map(([i, o], k) => make([4, 4, ch(i), ch(o)], `enc${k}`)),
    dec: DEC.map(([i, o], k) => make([4, 4, ch(o), ch(i)], `dec${k}`)),
  };
}

export function refNetVars(net: RefNet): tf.Variable[] {
  return [...net.enc, ...net.dec];
}

export function disposeRefNet(net: RefNet): void {
  for (const v of refNetVars(net)) v.dispose();
}

/** x [b, 32, 32, 3] → reconstruction [b, 32, 32, 3]. */
export function refForward(net: RefNet, x: tf.Tensor4D): tf.Tensor4D {
  const b = x.shape[0];
  let h: tf.Tensor4D = x;
  for (let i = 0; i < 3; i++) h = tf.leakyRelu(tf.conv2d(h, net.enc[i] as tf.Tensor4D, 2, PAD1), 0.2);
  h = tf.conv2d(h, net.enc[3] as tf.Tensor4D, 1, 'valid'); // [b, 1, 1, 100]
  const size = [4, 8, 16, 32];
  for (let i = 0; i < 4; i++) {
    const f = net.dec[i] as tf.Tensor4D;
    const shape: [number, number, number, number] = [b, size[i], size[i], f.shape[2]];
    h = i === 0 ? tf.conv2dTranspose(h, f, shape, 1, 'valid') : tf.conv2dTranspose(h, f, shape, 2, PAD1);
    h = i < 3 ? tf.relu(h) : tf.tanh(h);
  }
  return h;
}

/** mean |G(x) − x|: the step's loss. */
export function refLoss(net: RefNet, x: tf.Tensor4D): tf.Scalar {
  return tf.mean(tf.abs(tf.sub(refForward(net, x), x)));
}

/** Adam(2e-4, 0.5, 0.999): tf.train.adam's update, fused where the backend allows (./adam.ts). */
export function refOptimizer(): tf.AdamOptimizer {
  return new Adam(2e-4, 0.5, 0.999);
}

/** One training step; returns the loss before the update (read back, so the step has finished). */
export function refTrainStep(net: RefNet, opt: tf.Optimizer, x: tf.Tensor4D): number {
  return tf.tidy(() => {
    const loss = opt.minimize(() => refLoss(net, x), true, refNetVars(net))!;
    return loss.dataSync()[0];
  });
}
