/**
 * Networks as data: a network is a list of layer specs run in order (with `save`/`concat` for
 * U-Net skips and `tap` for the intermediate outputs losses need, such as a discriminator's
 * features). Pure — no tfjs — so shapes, parameter counts and the Keras-style summary table are
 * computed without a compute backend (`gantry models summary`), and the tfjs realisation
 * (./network.ts) interprets the same list, so the table always describes what is trained.
 *
 * Parameter counts follow Keras: a BatchNormalization layer holds 4 weights per channel, γ and β
 * trainable, the moving mean and variance non-trainable. Spectral normalisation's power-iteration
 * vector is a buffer, not a weight (Mammadova's Table 3.2 reports Method 3 with Method 2's counts).
 */

export type Activation = 'lrelu' | 'relu' | 'tanh' | 'sigmoid' | 'linear';
export type Padding = 'same' | 'valid';

export type LayerSpec =
  /** Convolution, NHWC, filter [k, k, in, out]; `sn` wraps the kernel in spectral normalisation. */
  | { op: 'conv'; k: number; s: number; pad: Padding; out: number; bias?: boolean; sn?: boolean }
  /** Transposed convolution; 'same' gives in·s, 'valid' (in − 1)·s + k. Filter [k, k, out, in]. */
  | { op: 'convT'; k: number; s: number; pad: Padding; out: number; bias?: boolean; sn?: boolean }
  | { op: 'dense'; out: number; bias?: boolean; sn?: boolean }
  | { op: 'bn' }
  | { op: 'act'; fn: Activation; alpha?: number }
  | { op: 'flatten' }
  | { op: 'reshape'; to: number[] }
  /** Gaussian noise added in training only (Keras GaussianNoise); its σ is a training setting. */
  | { op: 'noise' }
  /** Remember the current activation under `tag` (a U-Net skip)… */
  | { op: 'save'; tag: string }
  /** …and concatenate it on the channel axis, after the current one. */
  | { op: 'concat'; tag: string }
  /** Expose the current activation as a named output (it keeps flowing on). */
  | { op: 'tap'; name: string };

export interface NetSpec {
  name: string;
  /** Per-sample input shape: [h, w, c] or [features]. */
  input: number[];
  layers: LayerSpec[];
}

export interface LayerRow {
  /** Keras-style layer name, e.g. conv2d_3. */
  name: string;
  type: string;
  output: number[];
  trainable: number;
  nonTrainable: number;
  detail: string;
}

export interface NetSummary {
  name: string;
  input: number[];
  output: number[];
  rows: LayerRow[];
  total: number;
  trainable: number;
  nonTrainable: number;
  /** Values held outside the weights (spectral-norm vectors), for the record. */
  buffers: number;
  /** The input shape of every layer of the spec, by index (markers included). */
  inputs: number[][];
}

const KERAS_TYPE: Record<LayerSpec['op'], string> = {
  conv: 'Conv2D',
  convT: 'Conv2DTranspose',
  dense: 'Dense',
  bn: 'BatchNormalization',
  act: 'Activation',
  flatten: 'Flatten',
  reshape: 'Reshape',
  noise: 'GaussianNoise',
  save: 'Skip',
  concat: 'Concatenate',
  tap: 'Output',
};

const ACT_TYPE: Record<Activation, string> = { lrelu: 'LeakyReLU', relu: 'ReLU', tanh: 'Tanh', sigmoid: 'Sigmoid', linear: 'Linear' };

/** Keras's default layer names (conv2d, conv2d_transpose, batch_normalization, leaky_re_lu, …). */
const snake = (s: string) => s.replace(/2D/g, '2d').replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();

export function convOut(size: number, k: number, s: number, pad: Padding): number {
  return pad === 'same' ? Math.ceil(size / s) : Math.floor((size - k) / s) + 1;
}

export function convTOut(size: number, k: number, s: number, pad: Padding): number {
  return pad === 'same' ? size * s : (size - 1) * s + k;
}

/** Shapes and parameter counts layer by layer; throws on a spec whose shapes do not fit together. */
export function summarize(spec: NetSpec): NetSummary {
  let shape = [...spec.input];
  const saved = new Map<string, number[]>();
  const rows: LayerRow[] = [];
  const seen = new Map<string, number>();
  let buffers = 0;
  const inputs: number[][] = [];
  const fail = (i: number, why: string): never => {
    throw new Error(`network ${spec.name}, layer ${i} (${spec.layers[i].op}): ${why} (input [${shape}])`);
  };
  spec.layers.forEach((l, i) => {
    inputs.push([...shape]);
    let trainable = 0;
    let nonTrainable = 0;
    let detail = '';
    switch (l.op) {
      case 'conv':
      case 'convT': {
        if (shape.length !== 3) fail(i, 'needs an [h, w, c] input');
        const [h, w, c] = shape;
        const f = l.op === 'conv' ? convOut : convTOut;
        const oh = f(h, l.k, l.s, l.pad);
        const ow = f(w, l.k, l.s, l.pad);
        if (oh < 1 || ow < 1) fail(i, `a ${l.k}×${l.k} kernel does not fit`);
        trainable = l.k * l.k * c * l.out + (l.bias ? l.out : 0);
        if (l.sn) buffers += l.out;
        detail = `${l.k}×${l.k} s${l.s} ${l.pad}${l.bias ? ', bias' : ''}${l.sn ? ', spectral norm' : ''}`;
        shape = [oh, ow, l.out];
        break;
      }
      case 'dense': {
        if (shape.length !== 1) fail(i, 'needs a flat input');
        trainable = shape[0] * l.out + (l.bias ? l.out : 0);
        if (l.sn) buffers += l.out;
        detail = `${l.bias ? 'bias' : 'no bias'}${l.sn ? ', spectral norm' : ''}`;
        shape = [l.out];
        break;
      }
      case 'bn': {
        const c = shape[shape.length - 1];
        trainable = 2 * c;
        nonTrainable = 2 * c;
        break;
      }
      case 'act':
        detail = l.fn === 'lrelu' ? `α ${l.alpha ?? 0.2}` : '';
        break;
      case 'flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'reshape':
        if (l.to.reduce((a, b) => a * b, 1) !== shape.reduce((a, b) => a * b, 1)) fail(i, `cannot reshape to [${l.to}]`);
        shape = [...l.to];
        break;
      case 'save':
        saved.set(l.tag, shape);
        detail = l.tag;
        break;
      case 'concat': {
        const other = saved.get(l.tag);
        if (!other) fail(i, `no saved activation '${l.tag}'`);
        if (other!.length !== shape.length || other!.slice(0, -1).some((d, k) => d !== shape[k])) fail(i, `cannot concatenate [${other}]`);
        shape = [...shape.slice(0, -1), shape[shape.length - 1] + other![other!.length - 1]];
        detail = `+ ${l.tag}`;
        break;
      }
      case 'tap':
        detail = l.name;
        break;
      case 'noise':
        break;
    }
    if (l.op === 'save' || l.op === 'tap') return; // markers, not layers
    const type = l.op === 'act' ? ACT_TYPE[l.fn] : KERAS_TYPE[l.op];
    const base = snake(type);
    const k = seen.get(base) ?? 0;
    seen.set(base, k + 1);
    rows.push({ name: k === 0 ? base : `${base}_${k}`, type, output: [...shape], trainable, nonTrainable, detail });
  });
  const trainable = rows.reduce((a, r) => a + r.trainable, 0);
  const nonTrainable = rows.reduce((a, r) => a + r.nonTrainable, 0);
  return { name: spec.name, input: [...spec.input], output: shape, rows, total: trainable + nonTrainable, trainable, nonTrainable, buffers, inputs };
}

/** Several networks counted as one model part (GANomaly's generator is encoder + decoder + encoder). */
export interface PartSummary {
  name: string;
  nets: NetSummary[];
  total: number;
  trainable: number;
  nonTrainable: number;
}

export function summarizePart(name: string, specs: NetSpec[]): PartSummary {
  const nets = specs.map(summarize);
  const sum = (k: 'total' | 'trainable' | 'nonTrainable') => nets.reduce((a, n) => a + n[k], 0);
  return { name, nets, total: sum('total'), trainable: sum('trainable'), nonTrainable: sum('nonTrainable') };
}

/** A Keras-like text table of one part. */
export function formatPart(p: PartSummary): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const lines: string[] = [];
  for (const net of p.nets) {
    lines.push(`${net.name}: input [${net.input.join(', ')}]`);
    const w = Math.max(24, ...net.rows.map((r) => r.name.length + r.type.length + 4));
    lines.push(`  ${'Layer (type)'.padEnd(w)}${'Output shape'.padEnd(20)}${'Param #'.padStart(12)}  notes`);
    for (const r of net.rows) {
      lines.push(`  ${`${r.name} (${r.type})`.padEnd(w)}${`[${r.output.join(', ')}]`.padEnd(20)}${n(r.trainable + r.nonTrainable).padStart(12)}  ${r.detail}`);
    }
    lines.push(`  total ${n(net.total)} (trainable ${n(net.trainable)}, non-trainable ${n(net.nonTrainable)})${net.buffers ? `; ${n(net.buffers)} spectral-norm buffer values` : ''}`);
  }
  const torch = p.nonTrainable ? ` (PyTorch counts ${n(p.trainable)} parameters: BatchNorm statistics are buffers there)` : '';
  lines.push(`${p.name}: total ${n(p.total)}, trainable ${n(p.trainable)}, non-trainable ${n(p.nonTrainable)}${torch}`);
  return lines.join('\n');
}
