/**
 * tfjs runtime setup: which compute backend runs the models, and the gradient functions that
 * tfjs-core alone does not ship.
 *
 * Backend order: GANTRY_BACKEND, else the caller's preference, else auto:
 * `@tensorflow/tfjs-node-gpu` → `@tensorflow/tfjs-node` (optional, not installed on most of
 * our machines) → wasm → cpu. wasm comes before cpu because, for the small dense GANs gantry
 * trains on spectra, it measured 4–7× faster (see models/wgan-gp/README.md, "Backends").
 * Caveat for conv models: the wasm backend has no Conv2DBackpropFilter kernel, so conv training
 * fails there until one is supplied; dense networks are unaffected.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { UserError } from '../infra/errors.js';

export type BackendRequest = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendRequest[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendChoice {
  name: string;
  note?: string;
}

/** The current selection and what was asked for, so a repeated call is a no-op. */
let current: { choice: BackendChoice; request: BackendRequest | 'auto' } | undefined;
/** Serialises concurrent calls: setBackend is global state. */
let queue: Promise<unknown> = Promise.resolve();
let wasmPathsSet = false;

/**
 * Select (once) and initialise the tfjs backend. Later calls return the same choice unless they
 * explicitly ask for a different backend. An explicit request that cannot be met is a UserError.
 */
export function selectBackend(preferred?: string): Promise<BackendChoice> {
  const run = queue.then(() => select(preferred));
  queue = run.catch(() => undefined);
  return run;
}

/** The backend in use, for recording with a trial; 'none' before any is initialised. */
export function backendName(): string {
  // engine().backendName, unlike tf.getBackend(), does not initialise a backend as a side effect.
  return tf.engine().backendName ?? current?.choice.name ?? 'none';
}

async function select(preferred?: string): Promise<BackendChoice> {
  ensureGradients();
  const fromEnv = process.env.GANTRY_BACKEND?.trim() || undefined;
  const raw = fromEnv ?? (preferred?.trim() || undefined);
  if (raw !== undefined && !(BACKENDS as readonly string[]).includes(raw)) {
    throw new UserError(`unknown compute backend '${raw}'${fromEnv ? ' (from GANTRY_BACKEND)' : ''}`, {
      hint: `use one of ${BACKENDS.join(', ')}, or leave it unset for automatic selection`,
    });
  }
  const request = (raw ?? 'auto') as BackendRequest | 'auto';
  if (current && (request === 'auto' || request === current.request) && tf.getBackend() === current.choice.name) {
    return current.choice;
  }

  let choice: BackendChoice;
  if (request === 'auto') {
    const native = await tryNative();
    if (native.name) choice = { name: native.name };
    else if (await tryWasm()) choice = { name: 'wasm', note: native.note };
    else if (await tryCpu()) choice = { name: 'cpu', note: native.note };
    else throw new Error('no tfjs backend could be initialised (cpu and wasm both failed)');
  } else {
    const ok =
      request === 'tensorflow' ? (await tryNative()).name : request === 'wasm' ? await tryWasm() : await tryCpu();
    if (!ok) {
      const others = BACKENDS.filter((b) => b !== request).join(', ');
      throw new UserError(`compute backend '${request}' could not be loaded`, {
        hint:
          request === 'tensorflow'
            ? `install @tensorflow/tfjs-node (or -gpu), or choose ${others}`
            : `choose one of ${others}, or unset GANTRY_BACKEND for automatic selection`,
      });
    }
    choice = { name: typeof ok === 'string' ? ok : request };
  }
  current = { choice, request };
  return choice;
}

async function tryNative(): Promise<{ name?: string; note?: string }> {
  let broken: string | undefined;
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      // A variable specifier: these packages are optional and usually absent, so TS must not resolve them.
      const spec: string = pkg;
      await import(spec);
      if (await tf.setBackend('tensorflow')) {
        await tf.ready();
        return { name: 'tensorflow' };
      }
      broken ??= `${pkg} is installed but its backend did not initialise`;
    } catch (e) {
      // Absence is the normal case; a package that is present but fails (missing libtensorflow,
      // wrong CUDA) is worth naming in the note.
      const code = (e as { code?: string }).code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') {
        broken ??= `${pkg} is installed but failed to load: ${(e as Error).message?.split('\n')[0]}`;
      }
    }
  }
  return {
    note: broken ?? 'native TensorFlow (@tensorflow/tfjs-node[-gpu]) is not installed; install it for native speed',
  };
}

async function tryCpu(): Promise<boolean> {
  try {
    const ok = await tf.setBackend('cpu');
    if (ok) {
      await tf.ready();
      // The cpu backend prints a "install tfjs-node" banner on first use; our note says the same
      // once, where the caller chooses how to show it.
      const b = tf.backend() as unknown as { firstUse?: boolean };
      if (typeof b.firstUse === 'boolean') b.firstUse = false;
    }
    return ok;
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmPathsSet) {
      // Point the loader at the .wasm files inside the installed package: no network in Node.
      const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(path.dirname(entry) + path.sep);
      wasmPathsSet = true;
    }
    const ok = await tf.setBackend('wasm');
    if (ok) await tf.ready();
    return ok;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Gradients. tfjs-core's Node bundle registers no gradient functions (the `@tensorflow/tfjs`
// union package does that), so tf.grad fails with "gradient function not found". These are
// ported from tfjs-core 4.22 (Apache-2.0), for the ops dense networks and their losses use.
// Every gradient here is itself built from ops listed here, so gradients of gradients (WGAN-GP's
// penalty) work; LeakyRelu, Tanh, Sigmoid and Exp differ from the originals for that reason.
// ---------------------------------------------------------------------------------------------

type G = tf.Tensor;
type GradMap = ReturnType<tf.GradConfig['gradFunc']>;
const f32 = (t: G) => tf.cast(t, 'float32');

function reduceTo(res: G, shape: number[], outShape: number[]): G {
  const axes = tf.broadcast_util.getReductionAxes(shape, outShape);
  return tf.reshape(axes.length > 0 ? tf.sum(res, axes) : res, shape);
}

function binary(kernelName: string, da: (dy: G, a: G, b: G) => G, db: (dy: G, a: G, b: G) => G): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const d = dy as G;
      const out = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
      return { a: () => reduceTo(da(d, a, b), a.shape, out), b: () => reduceTo(db(d, a, b), b.shape, out) };
    },
  };
}

function unaryX(kernelName: string, dx: (dy: G, x: G) => G): tf.GradConfig {
  return { kernelName, inputsToSave: ['x'], gradFunc: (dy, saved) => ({ x: () => dx(dy as G, saved[0]) }) };
}

function gradConfigs(): tf.GradConfig[] {
  return [
    {
      kernelName: tf.BatchMatMul,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved;
        const d = dy as G;
        const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
        if (!transposeA && !transposeB) return { a: () => tf.matMul(d, b, false, true), b: () => tf.matMul(a, d, true, false) };
        if (!transposeA && transposeB) return { a: () => tf.matMul(d, b, false, false), b: () => tf.matMul(d, a, true, false) };
        if (transposeA && !transposeB) return { a: () => tf.matMul(b, d, false, true), b: () => tf.matMul(a, d, false, false) };
        return { a: () => tf.matMul(b, d, true, true), b: () => tf.matMul(d, a, true, true) };
      },
    },
    binary(tf.Add, (dy) => dy, (dy) => dy),
    binary(tf.Sub, (dy) => dy, (dy) => tf.neg(dy)),
    binary(tf.Multiply, (dy, _a, b) => tf.mul(dy, f32(b)), (dy, a) => tf.mul(dy, f32(a))),
    binary(
      tf.RealDiv,
      (dy, _a, b) => tf.div(dy, f32(b)),
      (dy, a, b) => tf.neg(tf.div(tf.mul(dy, f32(a)), f32(tf.square(b)))),
    ),
    binary(
      tf.SquaredDifference,
      (dy, a, b) => tf.mul(dy, tf.mul(tf.scalar(2), tf.sub(a, b))),
      (dy, a, b) => tf.mul(dy, tf.mul(tf.scalar(2), tf.sub(b, a))),
    ),
    binary(
      tf.Maximum,
      (dy, a, b) => tf.mul(dy, f32(tf.greaterEqual(a, b))),
      (dy, a, b) => tf.mul(dy, f32(tf.less(a, b))),
    ),
    {
      kernelName: tf.AddN,
      saveAllInputs: true,
      gradFunc: (dy, saved) => {
        const ders: Record<number, () => G> = {};
        saved.forEach((_, i) => (ders[i] = () => tf.clone(dy as G)));
        return ders as unknown as GradMap;
      },
    },
    { kernelName: tf.Neg, gradFunc: (dy) => ({ x: () => tf.neg(dy as G) }) },
    unaryX(tf.Square, (dy, x) => tf.mul(dy, tf.mul(f32(x), 2))),
    unaryX(tf.Sqrt, (dy, x) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
    unaryX(tf.Log, (dy, x) => tf.div(dy, f32(x))),
    unaryX(tf.Abs, (dy, x) => tf.mul(dy, tf.step(f32(x), -1))),
    unaryX(tf.Relu, (dy, x) => tf.mul(dy, f32(tf.step(x)))),
    {
      kernelName: tf.LeakyRelu,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const { alpha } = attrs as unknown as { alpha: number };
        // step(x, alpha) is 1 for x > 0 and alpha elsewhere: the derivative, with a (zero) gradient of its own.
        return { x: () => tf.mul(dy as G, tf.step(saved[0], alpha)) };
      },
    },
    // These three recompute their output from the saved input instead of saving the output (as
    // tfjs does): the engine records the saved output's copy on the tape *before* the op that made
    // it, so a second-order backward pass visits them in the wrong order and drops that path.
    unaryX(tf.Tanh, (dy, x) => tf.mul(tf.sub(tf.scalar(1), tf.square(tf.tanh(x))), dy)),
    unaryX(tf.Sigmoid, (dy, x) => {
      const y = tf.sigmoid(x);
      return tf.mul(dy, tf.mul(y, tf.sub(tf.scalar(1), y)));
    }),
    unaryX(tf.Exp, (dy, x) => tf.mul(dy, tf.exp(x))),
    { kernelName: tf.Step, gradFunc: (dy) => ({ x: () => tf.zerosLike(dy as G) }) },
    { kernelName: tf.ZerosLike, gradFunc: (dy) => ({ x: () => tf.zerosLike(dy as G) }) },
    { kernelName: tf.OnesLike, gradFunc: (dy) => ({ x: () => tf.zerosLike(dy as G) }) },
    { kernelName: tf.Cast, gradFunc: (dy) => ({ x: () => tf.clone(dy as G) }) },
    { kernelName: tf.Identity, gradFunc: (dy) => ({ x: () => f32(dy as G) }) },
    unaryX(tf.Reshape, (dy, x) => tf.reshape(dy, x.shape)),
    {
      kernelName: tf.ExpandDims,
      inputsToSave: ['input'],
      gradFunc: (dy, saved) => ({ input: () => tf.reshape(dy as G, saved[0].shape) }),
    },
    {
      kernelName: tf.Sum,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const axes = tf.util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
        const shape = x.shape.slice();
        for (const a of axes) shape[a] = 1;
        return { x: () => tf.mul(tf.reshape(dy as G, shape), tf.ones(x.shape, 'float32')) };
      },
    },
    {
      kernelName: tf.Mean,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const axes = tf.util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
        const shape = x.shape.slice();
        let size = 1;
        for (const a of axes) {
          size *= x.shape[a];
          shape[a] = 1;
        }
        return { x: () => tf.div(tf.mul(tf.reshape(dy as G, shape), tf.ones(x.shape, 'float32')), size) };
      },
    },
    {
      kernelName: tf.BroadcastTo,
      gradFunc: (dy, _saved, attrs) => {
        const { inputShape, shape } = attrs as unknown as { inputShape: number[]; shape: number[] };
        const axes: number[] = [];
        const lead = shape.length - inputShape.length;
        for (let i = 0; i < shape.length; i++) {
          if (i < lead || (inputShape[i - lead] === 1 && shape[i] !== 1)) axes.push(i);
        }
        return { x: () => tf.reshape(tf.sum(dy as G, axes, true), inputShape) };
      },
    },
    {
      kernelName: tf.Transpose,
      gradFunc: (dy, _saved, attrs) => {
        const { perm } = attrs as unknown as { perm: number[] };
        const undo = perm.map((_, i) => perm.indexOf(i));
        return { x: () => tf.transpose(dy as G, undo) };
      },
    },
    {
      kernelName: tf.Concat,
      saveAllInputs: true,
      gradFunc: (dy, saved, attrs) => {
        const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, saved[0].shape)[0];
        const parts = tf.split(dy as G, saved.map((t) => t.shape[axis]), axis);
        return parts.map((t) => () => t) as unknown as GradMap;
      },
    },
    {
      kernelName: tf.Slice,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const { begin, size } = attrs as unknown as { begin: number[]; size: number[] };
        const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
        return { x: () => tf.pad(dy as G, b.map((bi, i) => [bi, x.shape[i] - bi - s[i]] as [number, number])) };
      },
    },
  ];
}

let gradientsReady = false;

/** Register the gradients above, leaving any already registered (e.g. by @tensorflow/tfjs) alone. */
export function ensureGradients(): void {
  if (gradientsReady) return;
  for (const cfg of gradConfigs()) {
    if (!tf.getGradient(cfg.kernelName)) tf.registerGradient(cfg);
  }
  gradientsReady = true;
}
