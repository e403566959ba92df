/**
 * The pure networks: generator z → x and critic x → scalar, as MLPs on single spectra.
 * (Eide's 3-D-conv ResNet is not ported yet; see README.) Also the byte layout of weights,
 * shared by the model file and the training checkpoint.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';
import { decodeNd, dtypeOf, encodeNd, type DType, type TypedArray } from '../../datasets/tensor-file.js';

export interface NetConfig {
  dim: number;
  noiseDim: number;
  hidden: number;
  depth: number;
  outputActivation: 'linear' | 'tanh';
}

export interface Dense {
  w: tf.Variable;
  b: tf.Variable;
}

export interface Nets {
  config: NetConfig;
  gen: Dense[];
  critic: Dense[];
}

function widths(inDim: number, hidden: number, depth: number, outDim: number): number[] {
  return [inDim, ...Array<number>(depth).fill(hidden), outDim];
}

/** Glorot-uniform weights and zero biases (TF's defaults, which Eide's layers used), drawn from `rng`. */
function initMlp(sizes: number[], rng: Prng, prefix: string): Dense[] {
  const layers: Dense[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const [fanIn, fanOut] = [sizes[i], sizes[i + 1]];
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const w = new Float32Array(fanIn * fanOut);
    for (let k = 0; k < w.length; k++) w[k] = (2 * rng.uniform() - 1) * limit;
    layers.push({
      w: newVariable(() => tf.tensor2d(w, [fanIn, fanOut]), true, `${prefix}/w${i}_${uid()}`),
      b: newVariable(() => tf.zeros([fanOut]), true, `${prefix}/b${i}_${uid()}`),
    });
  }
  return layers;
}

/** A variable from a fresh tensor; the tidy frees the initial tensor, which tf.variable copies. */
export function newVariable(init: () => tf.Tensor, trainable = true, name?: string): tf.Variable {
  return tf.tidy(() => tf.variable(init(), trainable, name));
}

let counter = 0;
/** Variable names are global in tfjs; several models may live in one process (tests, grids). */
function uid(): number {
  return ++counter;
}

export function initNets(config: NetConfig, rng: Prng): Nets {
  const gen = initMlp(widths(config.noiseDim, config.hidden, config.depth, config.dim), rng, 'gen');
  const critic = initMlp(widths(config.dim, config.hidden, config.depth, 1), rng, 'critic');
  return { config, gen, critic };
}

function mlp(layers: Dense[], x: tf.Tensor2D): tf.Tensor2D {
  let h = x;
  for (let i = 0; i < layers.length; i++) {
    h = tf.add(tf.matMul(h, layers[i].w), layers[i].b);
    if (i + 1 < layers.length) h = tf.relu(h);
  }
  return h;
}

/** [n, noiseDim] → [n, dim]. */
export function generate(nets: Nets, z: tf.Tensor2D): tf.Tensor2D {
  const out = mlp(nets.gen, z);
  return nets.config.outputActivation === 'tanh' ? tf.tanh(out) : out;
}

/** [n, dim] → [n] critic values (higher = more "real"). */
export function criticValue(nets: Nets, x: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(mlp(nets.critic, x), [-1]) as tf.Tensor1D;
}

export function genVars(nets: Nets): tf.Variable[] {
  return nets.gen.flatMap((l) => [l.w, l.b]);
}

export function criticVars(nets: Nets): tf.Variable[] {
  return nets.critic.flatMap((l) => [l.w, l.b]);
}

export function disposeNets(nets: Nets): void {
  for (const v of [...genVars(nets), ...criticVars(nets)]) v.dispose();
}

// ---------------------------------------------------------------------------------------------
// Byte layout: one gantry array file (datasets/tensor-file) of dtype uint8 whose meta lists the
// named arrays packed in its body at 8-byte-aligned offsets. Self-describing, and every value is
// stored exactly (float32 as float32), which is what bit-identical resume needs.
// ---------------------------------------------------------------------------------------------

export interface Packed {
  name: string;
  data: TypedArray;
  shape: number[];
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
}

export function pack(meta: Record<string, unknown>, arrays: Packed[]): Uint8Array {
  const entries: Entry[] = [];
  let size = 0;
  for (const a of arrays) {
    size = Math.ceil(size / 8) * 8;
    entries.push({ name: a.name, dtype: dtypeOf(a.data), shape: a.shape, offset: size });
    size += a.data.byteLength;
  }
  const body = new Uint8Array(size);
  arrays.forEach((a, i) => body.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), entries[i].offset));
  return encodeNd({ dtype: 'uint8', shape: [size], data: body, meta: { ...meta, arrays: entries } });
}

const CTOR = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array };

export function unpack(bytes: Uint8Array, what: string): { meta: Record<string, unknown>; arrays: Map<string, Packed> } {
  const nd = decodeNd(bytes, what);
  const meta = nd.meta ?? {};
  const entries = meta.arrays as Entry[] | undefined;
  if (nd.dtype !== 'uint8' || !Array.isArray(entries)) throw new Error(`${what}: not a packed array file`);
  const body = nd.data as Uint8Array;
  const arrays = new Map<string, Packed>();
  for (const e of entries) {
    const Ctor = CTOR[e.dtype];
    if (!Ctor) throw new Error(`${what}: array ${e.name} has unknown dtype ${e.dtype}`);
    const n = e.shape.reduce((x, y) => x * y, 1);
    const end = e.offset + n * Ctor.BYTES_PER_ELEMENT;
    if (end > body.length) throw new Error(`${what}: array ${e.name} is truncated`);
    // slice() copies into a fresh, aligned buffer.
    const data = new Ctor(body.slice(e.offset, end).buffer);
    arrays.set(e.name, { name: e.name, data, shape: e.shape });
  }
  return { meta, arrays };
}

/** The weights of both networks, in a fixed order. */
export function weightArrays(nets: Nets): Packed[] {
  const out: Packed[] = [];
  for (const [prefix, layers] of [['gen', nets.gen], ['critic', nets.critic]] as const) {
    layers.forEach((l, i) => {
      out.push({ name: `${prefix}.${i}.w`, data: l.w.dataSync() as Float32Array, shape: l.w.shape });
      out.push({ name: `${prefix}.${i}.b`, data: l.b.dataSync() as Float32Array, shape: l.b.shape });
    });
  }
  return out;
}

/** Rebuild networks from arrays written by weightArrays. */
export function netsFromArrays(config: NetConfig, arrays: Map<string, Packed>, what: string): Nets {
  const load = (prefix: string, n: number): Dense[] =>
    Array.from({ length: n }, (_, i) => {
      const get = (k: 'w' | 'b') => {
        const a = arrays.get(`${prefix}.${i}.${k}`);
        if (!a || !(a.data instanceof Float32Array)) throw new Error(`${what}: missing weights ${prefix}.${i}.${k}`);
        return newVariable(() => tf.tensor(a.data, a.shape), true, `${prefix}/${k}${i}_${uid()}`);
      };
      return { w: get('w'), b: get('b') };
    });
  return { config, gen: load('gen', config.depth + 1), critic: load('critic', config.depth + 1) };
}

export const MODEL_FORMAT = 'gantry.wgan-gp.model';

export function encodeModel(nets: Nets, extra: Record<string, unknown> = {}): Uint8Array {
  return pack({ format: MODEL_FORMAT, version: 1, config: nets.config, ...extra }, weightArrays(nets));
}

export function decodeModel(bytes: Uint8Array): Nets {
  const { meta, arrays } = unpack(bytes, 'wgan-gp model');
  if (meta.format !== MODEL_FORMAT) throw new Error(`wgan-gp model: unexpected format ${String(meta.format)}`);
  return netsFromArrays(meta.config as NetConfig, arrays, 'wgan-gp model');
}
