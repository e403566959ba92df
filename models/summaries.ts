/**
 * What `gantry models list` and `gantry models summary` print: every detector with its presets,
 * and the layer tables of the networks a preset builds, with Keras-convention parameter counts.
 * Pure (no tfjs): a summary needs no compute backend.
 */
import { ZodError } from 'zod';
import { UserError } from '../core/errors.js';
import { formatPart, summarizePart, type PartSummary } from './components/net-spec.js';
import { ganomalyNets } from './ganomaly/architecture.js';
import { GANOMALY_PRESET_VALUES, ganomalyParams, resolveGanomaly } from './ganomaly/params.js';
import { skipGanomalyNets } from './skip-ganomaly/architecture.js';
import { SKIP_GANOMALY_PRESET_VALUES, resolveSkipGanomaly, skipGanomalyParams } from './skip-ganomaly/params.js';
import { alganNets } from './algan/architecture.js';
import { ALGAN_PRESET_VALUES, alganParams, resolveAlgan } from './algan/params.js';

export interface ModelInfo {
  kind: string;
  description: string;
  presets: Record<string, string>;
  defaultPreset?: string;
}

type Presets = Record<string, { isize: number; nc: number }>;

interface Networked {
  presets: Presets;
  defaultPreset: string;
  parts(preset: string, shape: number[], overrides: Record<string, unknown>): PartSummary[];
}

const NETWORKED: Record<string, Networked> = {
  ganomaly: {
    presets: GANOMALY_PRESET_VALUES,
    defaultPreset: 'akcay2018',
    parts: (preset, shape, o) => {
      const n = ganomalyNets(resolveGanomaly(ganomalyParams.parse({ ...o, preset })), shape);
      return [summarizePart('generator', [n.encoder, n.decoder, n.encoder2]), summarizePart('discriminator', [n.discriminator])];
    },
  },
  'skip-ganomaly': {
    presets: SKIP_GANOMALY_PRESET_VALUES,
    defaultPreset: 'akcay2019',
    parts: (preset, shape, o) => {
      const n = skipGanomalyNets(resolveSkipGanomaly(skipGanomalyParams.parse({ ...o, preset })), shape);
      return [summarizePart('generator', [n.generator]), summarizePart('discriminator', [n.discriminator])];
    },
  },
  algan: {
    presets: ALGAN_PRESET_VALUES,
    defaultPreset: 'murase2022',
    parts: (preset, shape, o) => {
      const n = alganNets(resolveAlgan(alganParams.parse({ ...o, preset })), shape);
      return [summarizePart('generator', [n.generator]), summarizePart('discriminator', [n.discriminator])];
    },
  },
};

const PRESET_NOTES: Record<string, string> = {
  akcay2018: 'Akçay et al. 2018, the public code (isize 32, nz 100, ngf 64)',
  'mammadova-m1': 'Mammadova 2022 method 1: 256×256, 7 blocks, kernel 4, latent 100',
  'mammadova-m2': 'method 2: kernel 5, latent 512, 4×4×512 body, soft/flipped labels, D noise, TTUR, eq. 3.6',
  'mammadova-m3': 'method 3: method 2 + spectral normalisation on D',
  'ozgumus-a4': 'Özgümüş 2019 Table A4 (32×32×1, dense latent 256)',
  akcay2019: 'Akçay et al. 2019, the public code (isize 32, U-Net ngf 64)',
  'mammadova-m4': 'Mammadova 2022 method 4: 256×256 U-Net, D latent 100',
  'mammadova-m5': 'method 5: method 4 + 128×128 masked inpainting',
  'ozgumus-a5': 'Özgümüş 2019 Table A5 (32×32×1, k5 U-Net)',
  murase2022: 'Murase 2022: DCGAN-like, SN on D, σ 4, α = ξ = 0.75, n_z 2, n_dis 2',
};

export const MODELS: ModelInfo[] = [
  { kind: 'rx', description: 'Reed–Xiaoli: Mahalanobis distance to the training mean and covariance', presets: {} },
  { kind: 'wgan-gp', description: 'WGAN-GP on spectra (Eide 2018): generator reconstruction cost by latent search, critic score', presets: {} },
  { kind: 'pca', description: 'PCA reconstruction error', presets: {} },
  { kind: 'knn', description: 'distance to the k nearest training samples', presets: {} },
  { kind: 'ganomaly', description: 'GANomaly (Akçay 2018): encoder–decoder–encoder generator, latent-distance score', presets: {} },
  { kind: 'skip-ganomaly', description: 'Skip-GANomaly (Akçay 2019): U-Net generator, reconstruction + D-feature score', presets: {} },
  { kind: 'algan', description: 'ALGAN (Murase 2022): fake-anomalous latents and a buffer of past fakes, score −logit D(x)', presets: {} },
].map((m) => {
  const n = NETWORKED[m.kind];
  if (!n) return m;
  return { ...m, defaultPreset: n.defaultPreset, presets: Object.fromEntries(Object.keys(n.presets).map((p) => [p, PRESET_NOTES[p] ?? ''])) };
});

export interface ModelSummary {
  model: string;
  preset: string;
  input: number[];
  parts: PartSummary[];
}

/** The networks of `model` under `preset`, for samples of `shape` (default: the preset's own size). */
export function modelSummary(model: string, preset?: string, shape?: number[], overrides: Record<string, unknown> = {}): ModelSummary {
  const n = NETWORKED[model];
  if (!n) {
    const known = MODELS.map((m) => m.kind);
    if (!known.includes(model)) throw new UserError(`unknown model '${model}' (known: ${known.join(', ')})`);
    throw new UserError(`${model} has no neural network to summarise (models with networks: ${Object.keys(NETWORKED).join(', ')})`);
  }
  const p = preset ?? n.defaultPreset;
  const values = n.presets[p];
  if (!values) throw new UserError(`${model} has no preset '${p}' (presets: ${Object.keys(n.presets).join(', ')})`);
  const input = shape ?? [values.isize, values.isize, values.nc];
  try {
    return { model, preset: p, input, parts: n.parts(p, input, overrides) };
  } catch (e) {
    if (e instanceof ZodError) {
      throw new UserError(`${model}: ${e.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}`);
    }
    throw e;
  }
}

export function formatModelSummary(s: ModelSummary): string {
  const head = `${s.model}, preset ${s.preset}, input [${s.input.join(', ')}] (Keras counting: BatchNorm moving mean and variance are non-trainable weights)`;
  return [head, '', ...s.parts.map(formatPart).join('\n\n').split('\n')].join('\n');
}
