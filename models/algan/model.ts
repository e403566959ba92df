/**
 * ALGAN (Murase 2022) in tfjs ops: a GAN whose discriminator learns normal data against
 * fake-normal G(z), z ~ N(0, I), fake-anomalous G(z_a), z_a ~ N(0, σ²I), and a buffer of past fakes;
 * the anomaly score is −logit D(x). One iteration follows Algorithm 1: `nDis` discriminator
 * updates on eq. 4.3 — BCE(D(x), real) + ξ[α·fake-normal + (1 − α)·fake-anomalous]
 * + (1 − ξ)[α·buffered-normal + (1 − α)·buffered-anomalous], each term a mean over its samples;
 * before the buffer holds anything the fresh fakes weigh ξ = 1 — then the buffer takes the newest
 * fakes, then one generator update on fake-normal data. The latents z_d (a fraction α normal, the
 * rest anomalous) and z_g are drawn when an epoch starts, every n_z epochs, and reused in between.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';
import { bceWithLogits, bceWithLogitsPerSample, targets } from '../components/gan-losses.js';
import type { GanDefinition, GanModel } from '../components/gan.js';
import { dLoss, dTrain, ganNetworks, gradientPenalty, INFER, TRAIN, trainingKeys, update } from '../components/gan-nets.js';
import type { Packed } from '../components/packed.js';
import { alganNets } from './architecture.js';
import type { AlganParams } from './params.js';

/** One latent value of the anomalous or normal kind under the chosen scheme (Table 5.14). */
function latentValue(p: AlganParams, anomalous: boolean, rng: Prng): number {
  if (p.latentScheme === 'uniform-trunc') {
    if (!anomalous) return 2 * rng.uniform() - 1;
    const v = 1 + rng.uniform(); // U(−2, 2) without (−1, 1)
    return rng.uniform() < 0.5 ? -v : v;
  }
  if (!anomalous) return rng.normal();
  if (p.latentScheme === 'gauss') return p.sigma * rng.normal();
  for (;;) {
    const v = p.sigma * rng.normal();
    if (Math.abs(v) >= p.truncation) return v;
  }
}

export function buildAlgan(p: AlganParams, shape: readonly number[], rng: Prng): GanModel {
  const specs = alganNets(p, shape);
  const n = ganNetworks([specs.generator], specs.discriminator, p, rng);
  const [gen] = n.generators;
  const disc = n.discriminator;
  const [gVars, dVars] = n.optimizers.map((o) => o.vars);
  const B = p.batchSize;
  const dim = shape.reduce((a, b) => a * b, 1);
  const nNormal = p.useAnomalous ? Math.round(p.alpha * B) : B;
  const cap = p.bufferBatches * B;

  let zD: Float32Array = new Float32Array(B * p.nz);
  let zG: Float32Array = new Float32Array(B * p.nz);
  let buffer: Float32Array = new Float32Array(p.useBuffer ? cap * dim : 0);
  let bufferTags: Uint8Array = new Uint8Array(p.useBuffer ? cap : 0); // 1 = from an anomalous latent
  let bufferCount = 0;

  const drawLatents = (r: Prng) => {
    for (let i = 0; i < B; i++) for (let j = 0; j < p.nz; j++) zD[i * p.nz + j] = latentValue(p, i >= nNormal, r);
    for (let i = 0; i < zG.length; i++) zG[i] = latentValue(p, false, r);
  };

  /** The newest fakes into the buffer: fill it first, then replace a random `bufferReplace` of its slots. */
  const remember = (fakes: Float32Array, r: Prng) => {
    let next = 0;
    while (bufferCount < cap && next < B) {
      buffer.set(fakes.subarray(next * dim, (next + 1) * dim), bufferCount * dim);
      bufferTags[bufferCount++] = next >= nNormal ? 1 : 0;
      next++;
    }
    if (next > 0) return;
    const slots = Int32Array.from({ length: cap }, (_, i) => i);
    const k = Math.min(B, Math.round(p.bufferReplace * cap));
    for (let i = 0; i < k; i++) {
      const j = i + r.int(cap - i); // partial Fisher–Yates: k distinct slots
      [slots[i], slots[j]] = [slots[j], slots[i]];
      const src = r.int(B);
      buffer.set(fakes.subarray(src * dim, (src + 1) * dim), slots[i] * dim);
      bufferTags[slots[i]] = src >= nNormal ? 1 : 0;
    }
  };

  /** Σ over groups of weight · mean BCE(D(sample), fake target) of the group's samples. */
  const weightedFakeLoss = (logits: tf.Tensor, groupOf: Uint8Array, weights: number[], r: Prng): tf.Scalar => {
    const n = groupOf.length;
    const counts = weights.map((_, g) => groupOf.reduce((a, x) => a + (x === g ? 1 : 0), 0));
    const w = Float32Array.from(groupOf, (g) => (counts[g] ? weights[g] / counts[g] : 0));
    const t = targets(n, false, p, r);
    return tf.sum(tf.mul(bceWithLogitsPerSample(logits, tf.tensor1d(t)), tf.tensor1d(w)));
  };

  return {
    nets: n.nets,
    optimizers: n.optimizers,
    scoreNames: ['logit'],

    onEpoch(epoch, r) {
      if (epoch % p.nZ === 0) drawLatents(r);
    },

    iterate(x, ctx) {
      const dOpts = dTrain(ctx.noiseStd, ctx.rng);
      const losses: Record<string, number> = {};
      let fresh: Float32Array | undefined;
      try {
        for (let k = 0; k < p.nDis; k++) {
          const fakes = tf.tidy(() => gen.apply(tf.tensor2d(zD, [B, p.nz]), TRAIN).out);
          gen.commit();
          const buffered = p.useBuffer && bufferCount > 0;
          const xi = buffered ? p.xi : 1;
          const alpha = p.useAnomalous ? p.alpha : 1;
          let past: tf.Tensor | undefined;
          let pastTags: Uint8Array | undefined;
          if (buffered) {
            const idx = Array.from({ length: B }, () => ctx.rng.int(bufferCount));
            const data = new Float32Array(B * dim);
            idx.forEach((s, i) => data.set(buffer.subarray(s * dim, (s + 1) * dim), i * dim));
            past = tf.tensor(data, [B, ...shape]);
            pastTags = Uint8Array.from(idx, (s) => bufferTags[s]);
          }
          try {
            Object.assign(
              losses,
              update(n.d, dVars, (parts) => {
                const real = dLoss(disc.apply(x, dOpts).out, true, p, ctx.rng);
                const groups = Uint8Array.from({ length: B }, (_, i) => (i >= nNormal ? 1 : 0));
                const fake = weightedFakeLoss(disc.apply(fakes, dOpts).out, groups, [xi * alpha, xi * (1 - alpha)], ctx.rng);
                const terms = [real, fake];
                if (past) {
                  const old = weightedFakeLoss(disc.apply(past, dOpts).out, pastTags!, [(1 - xi) * alpha, (1 - xi) * (1 - alpha)], ctx.rng);
                  terms.push(old);
                  parts.d_buffer = old;
                }
                const gp = gradientPenalty(disc, x, fakes, p, ctx.rng, dOpts);
                if (gp) terms.push(gp);
                const total = tf.addN(terms) as tf.Scalar;
                Object.assign(parts, { d_loss: total, d_real: real, d_fake: fake, ...(gp ? { d_gp: gp } : {}) });
                return total;
              }),
            );
            disc.commit();
            if (k === p.nDis - 1) fresh = fakes.dataSync() as Float32Array;
          } finally {
            fakes.dispose();
            past?.dispose();
          }
        }
        if (p.useBuffer) remember(fresh!, ctx.rng);
        Object.assign(
          losses,
          update(n.g, gVars, (parts) => {
            const logits = disc.apply(gen.apply(tf.tensor2d(zG, [B, p.nz]), TRAIN).out, dOpts).out;
            parts.g_loss = p.generatorLoss === 'non-saturating' ? bceWithLogits(logits, 1) : tf.neg(bceWithLogits(logits, 0));
            return parts.g_loss;
          }),
        );
        for (const net of n.nets) net.commit();
      } finally {
        for (const net of n.nets) net.discard();
      }
      return losses;
    },

    score(x) {
      return { logit: tf.neg(tf.reshape(disc.apply(x, INFER).out, [-1])) as tf.Tensor1D };
    },

    reinitDiscriminator: (r) => disc.reinitialize(r),

    extraState(): Packed[] {
      return [
        { name: 'algan.zD', data: zD, shape: [B, p.nz] },
        { name: 'algan.zG', data: zG, shape: [B, p.nz] },
        { name: 'algan.buffer', data: buffer, shape: [buffer.length] },
        { name: 'algan.bufferTags', data: bufferTags, shape: [bufferTags.length] },
        { name: 'algan.bufferCount', data: Int32Array.of(bufferCount), shape: [1] },
      ];
    },

    restoreExtra(arrays, what) {
      const get = (name: string) => {
        const a = arrays.get(name);
        if (!a) throw new Error(`${what}: missing ${name}`);
        return a.data;
      };
      zD = get('algan.zD') as Float32Array;
      zG = get('algan.zG') as Float32Array;
      buffer = get('algan.buffer') as Float32Array;
      bufferTags = get('algan.bufferTags') as Uint8Array;
      bufferCount = (get('algan.bufferCount') as Int32Array)[0];
      if (zD.length !== B * p.nz || buffer.length !== (p.useBuffer ? cap * dim : 0)) throw new Error(`${what}: ALGAN state of the wrong size`);
    },

    dispose: n.dispose,
  };
}

export const alganDefinition: GanDefinition<AlganParams> = { kind: 'algan', build: buildAlgan, trainingKeys };
