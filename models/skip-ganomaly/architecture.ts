/**
 * Skip-GANomaly's networks as NetSpecs: a U-Net generator, and a discriminator whose tap
 * 'latent' (a 1×1 layer, Mammadova) or 'features' (the public code, Özgümüş) feeds the latent
 * loss and score. Pure.
 */
import { UserError } from '../../core/errors.js';
import { dcganEncoder, unet } from '../components/architectures.js';
import type { LayerSpec, NetSpec } from '../components/net-spec.js';
import { imageShape } from '../ganomaly/architecture.js';
import type { SkipGanomalyParams } from './params.js';

export interface SkipGanomalyNets {
  generator: NetSpec;
  discriminator: NetSpec;
  /** The discriminator tap the latent loss compares. */
  latentTap: 'latent' | 'features';
}

export function skipGanomalyNets(p: SkipGanomalyParams, shape: readonly number[]): SkipGanomalyNets {
  const { isize, nc } = imageShape('skip-ganomaly', shape, 8);
  if (p.maskSize > 0 && (p.maskSize >= isize || isize % p.maskSize !== 0)) {
    throw new UserError(`skip-ganomaly: maskSize ${p.maskSize} must divide the image side ${isize} and be smaller than it`, {
      hint: `method 5 masks 128 of 256 pixels; at ${isize} px try maskSize ${isize / 2}`,
    });
  }
  const generator = unet('generator', {
    isize,
    nc,
    ngf: p.ngf,
    kernel: p.kernel,
    bnFirst: p.bnFirst,
    bnInnermost: p.bnInnermost,
    upActivation: p.upActivation,
    outputActivation: p.outputActivation,
    outputBias: p.outputBias,
  });
  const sn = p.spectralNorm || undefined;
  if (p.discriminator === 'ozgumus-a5') {
    if (isize !== 32) throw new UserError(`skip-ganomaly preset ozgumus-a5 is defined for 32×32 samples (Table A5); these are ${isize}×${isize}`);
    const down = (out: number): LayerSpec[] => [{ op: 'conv', k: 5, s: 2, pad: 'same', out, sn }, { op: 'bn' }, { op: 'act', fn: 'lrelu', alpha: 0.2 }];
    return {
      generator,
      discriminator: {
        name: 'discriminator',
        input: [isize, isize, nc],
        layers: [...(p.dInputNoise > 0 ? [{ op: 'noise' } as LayerSpec] : []), ...down(64), ...down(128), ...down(256), { op: 'flatten' }, { op: 'tap', name: 'features' }, { op: 'dense', out: 1, bias: true, sn }],
      },
      latentTap: 'features',
    };
  }
  const o = { isize, nc, ngf: p.ngf, maxChannels: 0, kernel: 4, extraLayers: 0, batchNorm: true, spectralNorm: p.spectralNorm, inputNoise: p.dInputNoise > 0 };
  if (p.dLatent === 0) return { generator, discriminator: dcganEncoder('discriminator', o, 1), latentTap: 'features' };
  // Mammadova's Table 3.3: the encoder body, a 4×4 valid layer to the 1×1×dLatent latent, then a 4×4 'same' classifier (1,600 weights at 100).
  const d = dcganEncoder('discriminator', o, p.dLatent);
  d.layers.push({ op: 'tap', name: 'latent' }, { op: 'conv', k: 4, s: 1, pad: 'same', out: 1, sn });
  return { generator, discriminator: d, latentTap: 'latent' };
}
