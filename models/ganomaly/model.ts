/**
 * GANomaly (Akçay et al. 2018) in tfjs ops. One iteration, as the public code orders it:
 * generator forward (z = G_E(x), x̂ = G_D(z), ẑ = E(x̂)), the generator update on
 * w_adv·‖f(x) − f(x̂)‖² + w_con·|x − x̂| + w_enc·‖z − ẑ‖², then `nDis` discriminator updates on
 * ½(BCE(D(x), real) + BCE(D(x̂), fake)) with x̂ fixed. Scores: ‖z − ẑ‖² (mean over the latent),
 * its L1 form, and |x − x̂| (mean over pixels), all in inference mode.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';
import { l1, l2, perSampleMean, bceWithLogits } from '../components/gan-losses.js';
import type { GanDefinition, GanModel } from '../components/gan.js';
import { dLoss, dTrain, ganNetworks, generatorThenDiscriminator, gradientPenalty, INFER, TRAIN, trainingKeys } from '../components/gan-nets.js';
import { ganomalyNets } from './architecture.js';
import type { GanomalyParams } from './params.js';

const SCORES = ['latent', 'latent-l1', 'reconstruction'] as const;

export function buildGanomaly(p: GanomalyParams, shape: readonly number[], rng: Prng): GanModel {
  const specs = ganomalyNets(p, shape);
  const n = ganNetworks([specs.encoder, specs.decoder, specs.encoder2], specs.discriminator, p, rng);
  const [enc, dec, enc2] = n.generators;
  const disc = n.discriminator;

  const generate = (x: tf.Tensor, mode = TRAIN) => {
    const z = enc.apply(x, mode).out;
    const fake = dec.apply(z, mode).out;
    return { z, fake, z2: enc2.apply(fake, mode).out };
  };

  return {
    nets: n.nets,
    optimizers: n.optimizers,
    scoreNames: [p.score, ...SCORES.filter((s) => s !== p.score)],

    iterate(x, ctx) {
      const dOpts = dTrain(ctx.noiseStd, ctx.rng);
      let fake: tf.Tensor | undefined;
      try {
        return generatorThenDiscriminator(
          n,
          p,
          (parts) => {
            const g = generate(x);
            fake = tf.keep(g.fake);
            const real = disc.apply(x, dOpts);
            const rec = disc.apply(g.fake, dOpts);
            let adv = l2(real.taps.features, rec.taps.features);
            if (p.adversarial === 'feature-matching+gan') adv = tf.sub(adv, bceWithLogits(rec.out, 0)); // + log(1 − D(x̂))
            const con = p.contextual === 'l1' ? l1(x, g.fake) : l2(x, g.fake);
            const encLoss = l2(g.z, g.z2);
            const total = tf.addN([tf.mul(adv, p.wAdv), tf.mul(con, p.wCon), tf.mul(encLoss, p.wEnc)]) as tf.Scalar;
            Object.assign(parts, { g_loss: total, g_adv: adv, g_con: con, g_enc: encLoss });
            return total;
          },
          (parts) => {
            const real = dLoss(disc.apply(x, dOpts).out, true, p, ctx.rng);
            const fk = dLoss(disc.apply(fake!, dOpts).out, false, p, ctx.rng);
            const gp = gradientPenalty(disc, x, fake!, p, ctx.rng, dOpts);
            const half = tf.mul(tf.add(real, fk), 0.5) as tf.Scalar;
            const total = gp ? (tf.add(half, gp) as tf.Scalar) : half;
            Object.assign(parts, { d_loss: total, d_real: real, d_fake: fk, ...(gp ? { d_gp: gp } : {}) });
            return total;
          },
        );
      } finally {
        fake?.dispose();
        for (const net of n.nets) net.discard();
      }
    },

    score(x) {
      const g = generate(x, INFER);
      return {
        latent: perSampleMean(tf.squaredDifference(g.z, g.z2)),
        'latent-l1': perSampleMean(tf.abs(tf.sub(g.z, g.z2))),
        reconstruction: perSampleMean(tf.abs(tf.sub(x, g.fake))),
      };
    },

    reconstruct: (x) => generate(x, INFER).fake,

    reinitDiscriminator: (r) => disc.reinitialize(r),
    dispose: n.dispose,
  };
}

export const ganomalyDefinition: GanDefinition<GanomalyParams> = { kind: 'ganomaly', build: buildGanomaly, trainingKeys };
