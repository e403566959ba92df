/**
 * The pure networks: generator z → x and critic x → scalar, as MLPs on single spectra.
 * (Eide's 3-D-conv ResNet is not ported yet; see README.) Also the byte layout of weights,
 * shared by the model file and the training checkpoint.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prng } from '../../datasets/prng.js';
import { pack, unpack, type Packed } from '../components/packed.js';

export { pack, unpack, type Packed };

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
