/**
 * ALGAN's networks as NetSpecs. ALGAN-image: "DCGAN-like", seven transposed convolutions in G and
 * seven convolutions in D at 256×256 — the DCGAN decoder and encoder rules (G: BatchNorm + ReLU,
 * Tanh out; D: spectral normalisation + LeakyReLU 0.2, no BatchNorm). ALGAN-feature: three dense
 * layers each, for vector samples (features computed beforehand). Pure.
 */
import { dcganDecoder, dcganEncoder, mlp } from '../components/architectures.js';
import type { NetSpec } from '../components/net-spec.js';
import { imageShape } from '../ganomaly/architecture.js';
import type { AlganParams } from './params.js';

export interface AlganNets {
  generator: NetSpec;
  discriminator: NetSpec;
}

export function alganNets(p: AlganParams, shape: readonly number[]): AlganNets {
  if (shape.length === 1) {
    return {
      generator: mlp('generator', p.nz, [p.ngf, p.ngf], shape[0], { batchNorm: true, activation: 'relu', spectralNorm: false }),
      discriminator: mlp('discriminator', shape[0], [p.ngf, p.ngf], 1, { batchNorm: p.dBatchNorm, activation: 'lrelu', spectralNorm: p.spectralNorm, inputNoise: p.dInputNoise > 0 }),
    };
  }
  const { isize, nc } = imageShape('algan', shape, 8);
  const o = { isize, nc, ngf: p.ngf, maxChannels: 0, kernel: 4, extraLayers: 0, batchNorm: p.dBatchNorm, spectralNorm: p.spectralNorm, inputNoise: p.dInputNoise > 0 };
  const generator = dcganDecoder('generator', { ...o, batchNorm: true, spectralNorm: false }, p.nz, 4);
  generator.input = [p.nz];
  generator.layers.unshift({ op: 'reshape', to: [1, 1, p.nz] });
  return { generator, discriminator: dcganEncoder('discriminator', o, 1) };
}
