/**
 * Pieces every GAN model's build uses: its networks and two Adams (TTUR when the rates differ),
 * one optimiser update with its losses read back in one sync, the encoder–decoder iteration,
 * D's targets with the label tricks, the D input noise options, the gradient penalty, and the
 * training-keys rule.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';
import { Adam } from './adam.js';
import { bceWithLogits, hardTargets, targets } from './gan-losses.js';
import type { GanCommon } from './gan-params.js';
import { Network, type ApplyOptions, type NetOptions } from './network.js';
import type { NetSpec } from './net-spec.js';
import type { Optimised } from './gan.js';

export function netOptions(p: GanCommon): NetOptions {
  return { bnEpsilon: p.bnEpsilon, bnMomentum: p.bnMomentum, bnUnbiased: p.bnUnbiased, initStd: p.initStd };
}

/** A GAN's networks (generator parts, then the discriminator, weights drawn in that order) and its two Adams (TTUR when the rates differ). */
export interface GanNetworks {
  generators: Network[];
  discriminator: Network;
  g: Adam;
  d: Adam;
  nets: Network[];
  optimizers: Optimised[];
  dispose(): void;
}

export function ganNetworks(generators: NetSpec[], discriminator: NetSpec, p: GanCommon, rng: Prng): GanNetworks {
  const o = netOptions(p);
  const gens = generators.map((s) => new Network(s, o, rng));
  const disc = new Network(discriminator, { ...o, secondOrder: p.gradientPenalty > 0 }, rng);
  const g = new Adam(p.lrG, p.beta1, p.beta2);
  const d = new Adam(p.lrD, p.beta1, p.beta2);
  const nets = [...gens, disc];
  return {
    generators: gens,
    discriminator: disc,
    g,
    d,
    nets,
    optimizers: [
      { name: 'g', opt: g, vars: gens.flatMap((n) => n.trainable()) },
      { name: 'd', opt: d, vars: disc.trainable() },
    ],
    dispose() {
      for (const n of nets) n.dispose();
      g.dispose();
      d.dispose();
    },
  };
}

/**
 * One optimiser update: `loss` builds the scalar to minimise and puts the named terms to log in
 * `parts`; they come back read, with one sync.
 */
export function update(opt: Adam, vars: tf.Variable[], loss: (parts: Record<string, tf.Scalar>) => tf.Scalar): Record<string, number> {
  return tf.tidy(() => {
    const parts: Record<string, tf.Scalar> = {};
    const { grads } = tf.variableGrads(() => {
      const total = loss(parts);
      for (const k of Object.keys(parts)) parts[k] = tf.keep(parts[k]);
      return total;
    }, vars);
    opt.applyGradients(grads as Record<string, tf.Variable>);
    return readScalars(parts);
  });
}

export const TRAIN: ApplyOptions = { training: true };
export const INFER: ApplyOptions = { training: false };

/** Training mode for the discriminator: its GaussianNoise layer (if any) draws from `rng`. */
export const dTrain = (noiseStd: number, rng: Prng): ApplyOptions => ({ training: true, noiseStd, rng });

/** BCE of D's logits against the class's targets (hard, soft or flipped as the parameters say). */
export function dLoss(logits: tf.Tensor, real: boolean, p: GanCommon, rng: Prng): tf.Scalar {
  const n = logits.shape[0];
  if (hardTargets(p)) return bceWithLogits(logits, real ? p.realLabel[0] : p.fakeLabel[0]);
  return bceWithLogits(logits, tf.tensor1d(targets(n, real, p, rng)));
}

/**
 * One iteration of an encoder–decoder GAN (GANomaly, Skip-GANomaly): a generator update, the
 * statistics of its forwards applied, then `nDis` discriminator updates, each applying its own.
 */
export function generatorThenDiscriminator(
  n: GanNetworks,
  p: GanCommon,
  gLoss: (parts: Record<string, tf.Scalar>) => tf.Scalar,
  dLoss: (parts: Record<string, tf.Scalar>) => tf.Scalar,
): Record<string, number> {
  const losses = update(n.g, n.optimizers[0].vars, gLoss);
  for (const net of n.nets) net.commit();
  for (let k = 0; k < p.nDis; k++) {
    Object.assign(losses, update(n.d, n.optimizers[1].vars, dLoss));
    n.discriminator.commit();
  }
  return losses;
}

/**
 * λ·mean (‖∇ₓ D(x̃)‖₂ − 1)² over random interpolates x̃ = εx + (1 − ε)x̂, ε ~ U[0, 1] per sample
 * (WGAN-GP's penalty on D's logit); 0 when λ is. Call inside the discriminator's loss.
 */
export function gradientPenalty(disc: Network, real: tf.Tensor, fake: tf.Tensor, p: GanCommon, rng: Prng, opts: ApplyOptions): tf.Scalar | undefined {
  if (p.gradientPenalty === 0) return undefined;
  const b = real.shape[0];
  const eps = tf.tensor(Float32Array.from({ length: b }, () => rng.uniform()), [b, ...real.shape.slice(1).map(() => 1)]);
  const mixed = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake));
  const g = tf.grad((v: tf.Tensor) => tf.sum(disc.apply(v, opts).out))(mixed);
  const norms = tf.sqrt(tf.add(tf.sum(tf.square(tf.reshape(g, [b, -1])), 1), 1e-12));
  return tf.mul(tf.mean(tf.square(tf.sub(norms, 1))), p.gradientPenalty) as tf.Scalar;
}

/** Named scalars (kept out of a gradient scope) read back with one sync, then freed. */
function readScalars(named: Record<string, tf.Scalar>): Record<string, number> {
  const names = Object.keys(named);
  const values = tf.tidy(() => tf.stack(names.map((k) => named[k])).dataSync());
  tf.dispose(Object.values(named));
  return Object.fromEntries(names.map((k, i) => [k, values[i]]));
}

/** Parameters that shape training (the primary score too: validation selects on it); not the scoring batch or logging. */
export function trainingKeys(p: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'scoreBatch' && k !== 'logEvery'));
}
