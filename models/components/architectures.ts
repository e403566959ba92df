/**
 * The network families the image GAN detectors are built from, as NetSpecs (pure):
 * the DCGAN encoder and decoder of GANomaly's public code (and ALGAN's "DCGAN-like" networks),
 * the pix2pix U-Net of Skip-GANomaly, and small MLPs for vector samples (ALGAN-feature).
 * Sizes follow the rules of the original code, so one builder serves every image size; the
 * presets in each model's folder pick the widths, kernels and normalisation the papers give.
 */
import type { Activation, LayerSpec, NetSpec } from './net-spec.js';

export interface DcganOptions {
  /** Square image side, a power of two ≥ 8. */
  isize: number;
  /** Image channels. */
  nc: number;
  /** Width of the first layer; doubled at each halving. */
  ngf: number;
  /** Channel cap (Mammadova's methods 2–3 stop at 512); 0 for none. */
  maxChannels: number;
  /** Kernel of the stride-2 layers (4 in GANomaly, 5 in Mammadova's methods 2–3). */
  kernel: number;
  /** Extra 3×3 stride-1 layers at the widest resolution (GANomaly's `extralayers`). */
  extraLayers: number;
  /** BatchNorm on the hidden layers (DCGAN), off for spectral-norm-only discriminators. */
  batchNorm: boolean;
  spectralNorm: boolean;
  /** GaussianNoise at the input (a discriminator's input noise). */
  inputNoise: boolean;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Channel widths of the encoder's stride-2 layers, 2·isize down to 4×4. */
export function dcganWidths(o: Pick<DcganOptions, 'isize' | 'ngf' | 'maxChannels'>): number[] {
  const out = [o.ngf];
  for (let size = o.isize / 2; size > 4; size /= 2) {
    const next = out[out.length - 1] * 2;
    out.push(o.maxChannels > 0 ? Math.min(next, o.maxChannels) : next);
  }
  return out;
}

/**
 * isize → 4×4 by stride-2 convolutions (LeakyReLU 0.2, BatchNorm but on the first), tap
 * 'features' (a discriminator's f(x)), then a 4×4 valid convolution to `out` channels at 1×1.
 */
export function dcganEncoder(name: string, o: DcganOptions, out: number, outKernel = 4): NetSpec {
  const widths = dcganWidths(o);
  const layers: LayerSpec[] = [];
  if (o.inputNoise) layers.push({ op: 'noise' });
  const sn = o.spectralNorm || undefined;
  layers.push({ op: 'conv', k: o.kernel, s: 2, pad: 'same', out: widths[0], sn }, { op: 'act', fn: 'lrelu', alpha: 0.2 });
  for (let e = 0; e < o.extraLayers; e++) {
    layers.push({ op: 'conv', k: 3, s: 1, pad: 'same', out: widths[0], sn });
    if (o.batchNorm) layers.push({ op: 'bn' });
    layers.push({ op: 'act', fn: 'lrelu', alpha: 0.2 });
  }
  for (const w of widths.slice(1)) {
    layers.push({ op: 'conv', k: o.kernel, s: 2, pad: 'same', out: w, sn });
    if (o.batchNorm) layers.push({ op: 'bn' });
    layers.push({ op: 'act', fn: 'lrelu', alpha: 0.2 });
  }
  layers.push({ op: 'tap', name: 'features' }, { op: 'conv', k: outKernel, s: 1, pad: 'valid', out, sn });
  return { name, input: [o.isize, o.isize, o.nc], layers };
}

/**
 * 1×1×nz → isize: a 4×4 valid transposed convolution, stride-2 ones mirroring the encoder's
 * widths (BatchNorm, ReLU), and a last stride-2 one to `nc` channels with Tanh.
 */
export function dcganDecoder(name: string, o: DcganOptions, nz: number, finalKernel: number, hidden: Activation = 'relu'): NetSpec {
  const widths = dcganWidths(o).reverse();
  const act = (): LayerSpec => ({ op: 'act', fn: hidden, alpha: 0.2 });
  const layers: LayerSpec[] = [{ op: 'convT', k: 4, s: 1, pad: 'valid', out: widths[0] }, { op: 'bn' }, act()];
  for (const w of widths.slice(1)) layers.push({ op: 'convT', k: o.kernel, s: 2, pad: 'same', out: w }, { op: 'bn' }, act());
  for (let e = 0; e < o.extraLayers; e++) layers.push({ op: 'conv', k: 3, s: 1, pad: 'same', out: widths[widths.length - 1] }, { op: 'bn' }, act());
  layers.push({ op: 'convT', k: finalKernel, s: 2, pad: 'same', out: o.nc }, { op: 'act', fn: 'tanh' });
  return { name, input: [1, 1, nz], layers };
}

export interface UnetOptions {
  isize: number;
  nc: number;
  ngf: number;
  kernel: number;
  /** BatchNorm on the first and on the innermost down layer (pix2pix has neither; Özgümüş's Table A5 has both). */
  bnFirst: boolean;
  bnInnermost: boolean;
  /** Activation of the up path (ReLU in pix2pix; Özgümüş lists LeakyReLU throughout). */
  upActivation: Activation;
  outputActivation: Activation;
  outputBias: boolean;
}

/**
 * The pix2pix U-Net (Skip-GANomaly's generator): log2(isize) stride-2 convolutions down to 1×1
 * with widths ngf·min(2^i, 8), then transposed convolutions back up, each followed by the
 * concatenation of the down layer of the same size.
 */
export function unet(name: string, o: UnetOptions): NetSpec {
  const depth = Math.round(Math.log2(o.isize));
  const widths = Array.from({ length: depth }, (_, i) => o.ngf * Math.min(2 ** i, 8));
  const layers: LayerSpec[] = [];
  widths.forEach((w, i) => {
    layers.push({ op: 'conv', k: o.kernel, s: 2, pad: 'same', out: w });
    if ((i > 0 || o.bnFirst) && (i < depth - 1 || o.bnInnermost)) layers.push({ op: 'bn' });
    layers.push({ op: 'act', fn: 'lrelu', alpha: 0.2 });
    if (i < depth - 1) layers.push({ op: 'save', tag: `d${i + 1}` });
  });
  for (let i = depth - 2; i >= 0; i--) {
    layers.push({ op: 'convT', k: o.kernel, s: 2, pad: 'same', out: widths[i] }, { op: 'bn' }, { op: 'act', fn: o.upActivation, alpha: 0.2 });
    layers.push({ op: 'concat', tag: `d${i + 1}` });
  }
  layers.push({ op: 'convT', k: o.kernel, s: 2, pad: 'same', out: o.nc, bias: o.outputBias || undefined });
  if (o.outputActivation !== 'linear') layers.push({ op: 'act', fn: o.outputActivation });
  return { name, input: [o.isize, o.isize, o.nc], layers };
}

/** Dense layers: hidden widths with BatchNorm (optional) and an activation, then a linear output. */
export function mlp(name: string, input: number, hidden: number[], out: number, o: { batchNorm: boolean; activation: Activation; spectralNorm: boolean; inputNoise?: boolean; bias?: boolean }): NetSpec {
  const layers: LayerSpec[] = [];
  if (o.inputNoise) layers.push({ op: 'noise' });
  const sn = o.spectralNorm || undefined;
  const bias = o.bias ?? true;
  hidden.forEach((h, i) => {
    layers.push({ op: 'dense', out: h, bias, sn });
    if (o.batchNorm) layers.push({ op: 'bn' });
    layers.push({ op: 'act', fn: o.activation, alpha: 0.2 });
    if (i === hidden.length - 1) layers.push({ op: 'tap', name: 'features' });
  });
  layers.push({ op: 'dense', out, bias, sn });
  return { name, input: [input], layers };
}
