/**
 * Skip-GANomaly (Akçay et al. 2019) in tfjs ops. One iteration, as the public code orders it:
 * x̂ = G(x) (of the masked x with inpainting on), the generator update on
 * w_adv·adv(D(x̂)) + w_con·|x − x̂| + w_lat·‖f(x) − f(x̂)‖², then `nDis` discriminator updates on
 * BCE(D(x), real) + BCE(D(x̂), fake) (+ the latent loss, eq. 3.8). Score:
 * λ·mean (x − x̂)² + (1 − λ)·mean (f(x) − f(x̂))², or either term; inference mode. With masks, the
 * reconstruction scored is assembled from one pass per mask position, each filling its square.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';
import { bceWithLogits, l1, l2, perSampleMean } from '../components/gan-losses.js';
import type { GanDefinition, GanModel } from '../components/gan.js';
import { dLoss, dTrain, ganNetworks, generatorThenDiscriminator, gradientPenalty, INFER, TRAIN, trainingKeys } from '../components/gan-nets.js';
import { skipGanomalyNets } from './architecture.js';
import type { SkipGanomalyParams } from './params.js';

const SCORES = ['combined', 'reconstruction', 'latent'] as const;

/** A [b, h, w, 1] mask, 1 where pixels are kept, one square of `size` at (top, left) per sample. */
function squareMask(b: number, side: number, size: number, corners: [number, number][]): tf.Tensor4D {
  const m = new Float32Array(b * side * side).fill(1);
  corners.forEach(([top, left], i) => {
    for (let y = top; y < top + size; y++) m.fill(0, i * side * side + y * side + left, i * side * side + y * side + left + size);
  });
  return tf.tensor4d(m, [b, side, side, 1]);
}

export function buildSkipGanomaly(p: SkipGanomalyParams, shape: readonly number[], rng: Prng): GanModel {
  const specs = skipGanomalyNets(p, shape);
  const n = ganNetworks([specs.generator], specs.discriminator, p, rng);
  const [gen] = n.generators;
  const disc = n.discriminator;
  const side = shape[0];
  const tap = specs.latentTap;

  const masked = (x: tf.Tensor, mask: tf.Tensor) => tf.add(tf.mul(x, mask), tf.mul(tf.sub(1, mask), p.maskFill));

  /** Inference-mode reconstruction; with masks, each square is filled by the pass that masked it. */
  const reconstruct = (x: tf.Tensor): tf.Tensor => {
    if (p.maskSize === 0) return gen.apply(x, INFER).out;
    const b = x.shape[0];
    let out: tf.Tensor = tf.zerosLike(x);
    for (let top = 0; top < side; top += p.maskSize) {
      for (let left = 0; left < side; left += p.maskSize) {
        const mask = squareMask(b, side, p.maskSize, Array.from({ length: b }, () => [top, left] as [number, number]));
        out = tf.add(out, tf.mul(gen.apply(masked(x, mask), INFER).out, tf.sub(1, mask)));
      }
    }
    return out;
  };

  return {
    nets: n.nets,
    optimizers: n.optimizers,
    scoreNames: [p.score, ...SCORES.filter((s) => s !== p.score)],

    iterate(x, ctx) {
      const b = x.shape[0];
      const dOpts = dTrain(ctx.noiseStd, ctx.rng);
      let fake: tf.Tensor | undefined;
      let input: tf.Tensor = x;
      try {
        if (p.maskSize > 0) {
          const corners = Array.from({ length: b }, () => [ctx.rng.int(side - p.maskSize + 1), ctx.rng.int(side - p.maskSize + 1)] as [number, number]);
          input = tf.tidy(() => masked(x, squareMask(b, side, p.maskSize, corners)));
        }
        return generatorThenDiscriminator(
          n,
          p,
          (parts) => {
            const f = gen.apply(input, TRAIN).out;
            fake = tf.keep(f);
            const real = disc.apply(x, dOpts);
            const rec = disc.apply(f, dOpts);
            const adv = p.adversarial === 'non-saturating' ? bceWithLogits(rec.out, 1) : tf.neg(bceWithLogits(rec.out, 0));
            const con = l1(x, f);
            const lat = l2(real.taps[tap], rec.taps[tap]);
            const total = tf.addN([tf.mul(adv, p.wAdv), tf.mul(con, p.wCon), tf.mul(lat, p.wLat)]) as tf.Scalar;
            Object.assign(parts, { g_loss: total, g_adv: adv, g_con: con, g_lat: lat });
            return total;
          },
          (parts) => {
            const realOut = disc.apply(x, dOpts);
            const fakeOut = disc.apply(fake!, dOpts);
            const real = dLoss(realOut.out, true, p, ctx.rng);
            const fk = dLoss(fakeOut.out, false, p, ctx.rng);
            const terms = [real, fk];
            if (p.dLatentLoss) terms.push(tf.mul(l2(realOut.taps[tap], fakeOut.taps[tap]), p.wLat));
            const gp = gradientPenalty(disc, x, fake!, p, ctx.rng, dOpts);
            if (gp) terms.push(gp);
            const total = tf.addN(terms) as tf.Scalar;
            Object.assign(parts, { d_loss: total, d_real: real, d_fake: fk, ...(gp ? { d_gp: gp } : {}) });
            return total;
          },
        );
      } finally {
        fake?.dispose();
        if (input !== x) input.dispose();
        for (const net of n.nets) net.discard();
      }
    },

    score(x) {
      const f = reconstruct(x);
      const rec = perSampleMean(tf.squaredDifference(x, f));
      const lat = perSampleMean(tf.squaredDifference(disc.apply(x, INFER).taps[tap], disc.apply(f, INFER).taps[tap]));
      return { combined: tf.add(tf.mul(rec, p.scoreLambda), tf.mul(lat, 1 - p.scoreLambda)), reconstruction: rec, latent: lat };
    },

    reconstruct: (x) => reconstruct(x),

    reinitDiscriminator: (r) => disc.reinitialize(r),
    dispose: n.dispose,
  };
}

export const skipGanomalyDefinition: GanDefinition<SkipGanomalyParams> = { kind: 'skip-ganomaly', build: buildSkipGanomaly, trainingKeys };
