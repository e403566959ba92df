/**
 * tfjs runtime setup: which compute backend runs the models (and, through ensureGradients,
 * the gradient functions that tfjs-core alone does not ship).
 *
 * Backend order: GANTRY_BACKEND, else the caller's preference, else auto:
 * `@tensorflow/tfjs-node-gpu` → `@tensorflow/tfjs-node` (optional, not installed on most of
 * our machines) → native (gantry's C++ addon, built at npm install; see native/README.md) →
 * wasm → cpu. wasm comes before cpu because, for the small dense GANs gantry trains on spectra,
 * it measured 4–7× faster (see models/wgan-gp/README.md, "Backends").
 * Caveat for conv models: the wasm backend has no Conv2DBackpropFilter kernel, so conv training
 * fails there until one is supplied; dense networks are unaffected.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BACKEND_NAMES, type BackendName } from '../infra/config.js';
import { UserError } from '../core/errors.js';
import { NATIVE_BACKEND, registerNativeBackend } from '../native/tfjs-backend.js';
import { ensureGradients } from './components/tfjs-gradients.js';

export { ensureGradients };

export type BackendRequest = BackendName;
export const BACKENDS: readonly BackendRequest[] = BACKEND_NAMES;

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

/**
 * Convolutional GANs train only where Conv2DBackpropFilter exists, which wasm lacks: under
 * automatic selection they move to cpu (slow, with a note); a backend asked for by name that
 * cannot train them is an error that says what to do.
 */
export async function ensureConvTraining(): Promise<BackendChoice> {
  const choice = await selectBackend();
  if (tf.getKernel('Conv2DBackpropFilter', tf.getBackend())) return choice;
  if (current?.request !== 'auto') {
    throw new UserError(`compute backend '${tf.getBackend()}' cannot train convolutional networks (it has no Conv2DBackpropFilter kernel)`, {
      hint: 'build the native addon (`npm run build:native`, needs a C++ compiler), or choose --backend cpu (slow)',
    });
  }
  const note = `${choice.name} cannot train convolutions, so cpu is used${choice.note ? `; ${choice.note}` : ''}`;
  await selectBackend('cpu');
  process.stderr.write(`gantry: ${note}\n`);
  return { name: 'cpu', note };
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
    const tfNode = await tryTensorflow();
    const addon = tfNode.name ? {} : await tryAddon();
    const note = [tfNode.note, addon.note].filter(Boolean).join('; ') || undefined;
    if (tfNode.name) choice = { name: tfNode.name };
    else if (addon.name) choice = { name: addon.name };
    else if (await tryWasm()) choice = { name: 'wasm', note };
    else if (await tryCpu()) choice = { name: 'cpu', note };
    else throw new Error('no tfjs backend could be initialised (cpu and wasm both failed)');
  } else {
    let why: string | undefined;
    let ok: string | boolean | undefined;
    if (request === 'tensorflow') ok = (await tryTensorflow()).name;
    else if (request === 'native') ({ name: ok, note: why } = await tryAddon());
    else ok = request === 'wasm' ? await tryWasm() : await tryCpu();
    if (!ok) {
      const others = BACKENDS.filter((b) => b !== request).join(', ');
      throw new UserError(`compute backend '${request}' could not be loaded${why ? `: ${why}` : ''}`, {
        hint:
          request === 'tensorflow'
            ? `install @tensorflow/tfjs-node (or -gpu), or choose ${others}`
            : request === 'native'
              ? `rebuild it with \`npm run build:native\` (needs a C++ compiler), or choose ${others}`
              : `choose one of ${others}, or unset GANTRY_BACKEND for automatic selection`,
      });
    }
    choice = { name: typeof ok === 'string' ? ok : request };
  }
  current = { choice, request };
  return choice;
}

async function tryTensorflow(): Promise<{ name?: string; note?: string }> {
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

/** gantry's own C++ kernels (native/), registered as the tfjs backend 'native'. */
async function tryAddon(): Promise<{ name?: string; note?: string }> {
  const reg = registerNativeBackend();
  if (!reg.info) return { note: `gantry's native addon is unavailable: ${reg.reason}` };
  try {
    if (await tf.setBackend(NATIVE_BACKEND)) {
      await tf.ready();
      return { name: NATIVE_BACKEND };
    }
    return { note: 'the native backend did not initialise' };
  } catch (e) {
    return { note: `the native backend failed: ${(e as Error).message?.split('\n')[0]}` };
  }
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
