/**
 * Loader for gantry's native addon (native/src, built at install by scripts/build-native.mjs).
 * A missing or unloadable addon is not an error here: loadAddon says why, and the backend
 * selection moves on to the next backend.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AddonInfo {
  /** Instruction set of the GEMM micro-kernel: avx512, avx2 or generic. */
  isa: string;
  /** Threads in the addon's pool, counting the calling thread. */
  threads: number;
  mr: number;
  nr: number;
}

export interface NativeAddon {
  info(): AddonInfo;
  /** p: [batchA, batchB, batchOut, M, N, K, transA, transB] */
  matMul(a: Float32Array, b: Float32Array, out: Float32Array, p: Int32Array): void;
  /** p: [n, h, w, c, kh, kw, f, oh, ow, sh, sw, padTop, padLeft, dh, dw] (NHWC, filter [kh, kw, c, f]) */
  conv2d(x: Float32Array, filter: Float32Array, out: Float32Array, p: Int32Array): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, out: Float32Array, p: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, out: Float32Array, p: Int32Array): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  /** layouts: [a, b], each 0 full, 1 scalar, 2 row (repeats along leading dims), 3 column (repeats along trailing dims) */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, layouts: Int32Array): void;
  /** One fused Adam step (tfjs's formula, float32 op by op); h = [b1, 1-b1, b2, 1-b2, 1-b1^t, 1-b2^t, eps, -lr]. */
  adam(value: Float32Array, m: Float32Array, v: Float32Array, grad: Float32Array, outValue: Float32Array, outM: Float32Array, outV: Float32Array, h: Float32Array): void;
  /** p: [outer, mid, inner]; sums x viewed as [outer, mid, inner] over mid. */
  sum(x: Float32Array, out: Float32Array, p: Int32Array): void;
  /** out = dy · step(x, alpha): LeakyRelu's gradient in one pass. */
  leakyReluGrad(dy: Float32Array, x: Float32Array, out: Float32Array, alpha: number): void;
  /** p: [rows, c]; per-channel mean and biased variance of x viewed as [rows, c]. */
  batchNormStats(x: Float32Array, mean: Float32Array, variance: Float32Array, p: Int32Array): void;
  /** y = (x − mean)·(gamma·invstd) + beta per channel. */
  batchNormApply(x: Float32Array, mean: Float32Array, invstd: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, p: Int32Array): void;
  /** The training-mode gradient: dx, dgamma, dbeta. */
  batchNormBackward(x: Float32Array, dy: Float32Array, mean: Float32Array, invstd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, p: Int32Array): void;
}

/** Op codes of native/src/elementwise.h. */
export const UNARY = { Relu: 0, LeakyRelu: 1, Tanh: 2, Abs: 3, Neg: 4, Square: 5, Sqrt: 6, Step: 7, Sigmoid: 8, Exp: 9 } as const;
export const BINARY = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 } as const;

const FILE = path.join('native', 'build', 'Release', 'gantry_native.node');

/** The package root: the nearest directory above this module that holds native/binding.gyp. */
function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'native', 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

let cached: { addon?: NativeAddon; reason?: string } | undefined;

/** The addon, or why there is none (a phrase to follow "native addon not built: "). Loaded once per thread. */
export function loadAddon(): { addon?: NativeAddon; reason?: string } {
  if (cached) return cached;
  if (process.env.GANTRY_NATIVE === '0') return (cached = { reason: 'disabled by GANTRY_NATIVE=0' });
  const root = packageRoot();
  const file = root ? path.join(root, FILE) : undefined;
  if (!file || !fs.existsSync(file)) {
    return (cached = {
      reason: 'no native/build/Release/gantry_native.node (it builds at npm install with node-gyp and a C++ compiler; retry with `npm run build:native`, see native/build.log)',
    });
  }
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    addon.info();
    return (cached = { addon });
  } catch (e) {
    return (cached = { reason: `it failed to load: ${(e as Error).message?.split('\n')[0]}` });
  }
}
