/**
 * GANomaly's networks as NetSpecs: generator = encoder G_E → decoder G_D → encoder E (its own
 * weights), discriminator = the encoder body, tap 'features' (f(x) of the adversarial loss), and
 * a 4×4 valid convolution to one logit. Pure.
 */
import { UserError } from '../../core/errors.js';
import { dcganDecoder, dcganEncoder, isPowerOfTwo, type DcganOptions } from '../components/architectures.js';
import type { LayerSpec, NetSpec } from '../components/net-spec.js';
import type { GanomalyParams } from './params.js';

export interface GanomalyNets {
  encoder: NetSpec;
  decoder: NetSpec;
  encoder2: NetSpec;
  discriminator: NetSpec;
}

/** [h, w, c] → square side and channels, or a clear error. */
export function imageShape(kind: string, shape: readonly number[], min = 8): { isize: number; nc: number } {
  if (shape.length !== 3 || shape[0] !== shape[1] || !isPowerOfTwo(shape[0]) || shape[0] < min) {
    throw new UserError(`${kind} needs square images whose side is a power of two, at least ${min} (samples here are [${shape.join(', ')}])`, {
      hint: "resize them in the study's tiling, e.g. tiling: { mode: 'resize', size: 32 }",
    });
  }
  return { isize: shape[0], nc: shape[2] };
}

export function ganomalyNets(p: GanomalyParams, shape: readonly number[]): GanomalyNets {
  const { isize, nc } = imageShape('ganomaly', shape, p.architecture === 'ozgumus-a4' ? 32 : 8);
  if (p.architecture === 'ozgumus-a4') return ozgumusA4(p, isize, nc);
  const o: DcganOptions = { isize, nc, ngf: p.ngf, maxChannels: p.maxChannels, kernel: p.kernel, extraLayers: p.extraLayers, batchNorm: true, spectralNorm: false, inputNoise: false };
  return {
    encoder: dcganEncoder('encoder', o, p.nz),
    decoder: dcganDecoder('decoder', o, p.nz, p.finalKernel),
    encoder2: dcganEncoder('encoder2', o, p.nz),
    discriminator: dcganEncoder('discriminator', { ...o, spectralNorm: p.spectralNorm, inputNoise: p.dInputNoise > 0 }, 1),
  };
}

/**
 * Özgümüş's Table A4 at 32×32: encoder k5 s2 64 (no BN) / 128 / 256 (BN), Dense latent; decoder
 * from 1×1 by five k4 s2 transposed convolutions (256 … 16, BN) and a k4 s1 one to the image
 * with Tanh; discriminator k4 s2 64/128/256 (all BN), Dense 1. LeakyReLU 0.2 everywhere.
 */
function ozgumusA4(p: GanomalyParams, isize: number, nc: number): GanomalyNets {
  if (isize !== 32) throw new UserError(`ganomaly preset ozgumus-a4 is defined for 32×32 samples (Table A4); these are ${isize}×${isize}`);
  const lrelu: LayerSpec = { op: 'act', fn: 'lrelu', alpha: 0.2 };
  const encoder = (name: string): NetSpec => ({
    name,
    input: [32, 32, nc],
    layers: [
      { op: 'conv', k: 5, s: 2, pad: 'same', out: 64 }, lrelu,
      { op: 'conv', k: 5, s: 2, pad: 'same', out: 128 }, { op: 'bn' }, lrelu,
      { op: 'conv', k: 5, s: 2, pad: 'same', out: 256 }, { op: 'bn' }, lrelu,
      { op: 'flatten' }, { op: 'dense', out: p.nz, bias: true }, { op: 'reshape', to: [1, 1, p.nz] },
    ],
  });
  const up = (out: number): LayerSpec[] => [{ op: 'convT', k: 4, s: 2, pad: 'same', out }, { op: 'bn' }, lrelu];
  const decoder: NetSpec = {
    name: 'decoder',
    input: [1, 1, p.nz],
    layers: [...up(256), ...up(128), ...up(64), ...up(32), ...up(16), { op: 'convT', k: 4, s: 1, pad: 'same', out: nc }, { op: 'act', fn: 'tanh' }],
  };
  const sn = p.spectralNorm || undefined;
  const down = (out: number): LayerSpec[] => [{ op: 'conv', k: 4, s: 2, pad: 'same', out, sn }, { op: 'bn' }, lrelu];
  const discriminator: NetSpec = {
    name: 'discriminator',
    input: [32, 32, nc],
    layers: [
      ...(p.dInputNoise > 0 ? [{ op: 'noise' } as LayerSpec] : []),
      ...down(64), ...down(128), ...down(256),
      { op: 'flatten' }, { op: 'tap', name: 'features' }, { op: 'dense', out: 1, bias: true, sn },
    ],
  };
  return { encoder: encoder('encoder'), decoder, encoder2: encoder('encoder2'), discriminator };
}
