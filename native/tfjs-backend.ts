/**
 * The 'native' tfjs backend: tfjs's cpu backend (MathBackendCPU: same tensor storage, every cpu
 * kernel registered again under this name) with the hot kernels replaced by gantry's C++ addon —
 * convolution forward and both backward passes and (batched, transposed) matmul as
 * multithreaded SIMD GEMMs, and the large elementwise ops. A kernel falls back to the cpu
 * implementation for anything the addon does not cover (non-float32 dtypes, NCHW, dilated
 * backward passes, general broadcasting, empty tensors), so results follow tfjs semantics.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { BINARY, loadAddon, UNARY, type AddonInfo, type NativeAddon } from './addon.js';

export const NATIVE_BACKEND = 'native';
/**
 * A kernel only this backend has: one Adam step for one variable in a single pass, inputs
 * {value, m, v, grad}, attrs {hyper: [b1, 1-b1, b2, 1-b2, 1-b1^t, 1-b2^t, eps, -lr]} (float32
 * values), outputs [value, m, v]. models/components/adam.ts uses it where it is registered.
 */
export const FUSED_ADAM = 'GantryFusedAdam';
/**
 * Kernels only this backend has: BatchNorm in training mode over the channel (last) axis.
 * GantryBatchNormTrain {x, gamma, beta}, attrs {epsilon} → [y, mean, variance (biased), invstd];
 * GantryBatchNormGrad {x, dy, mean, invstd, gamma} → [dx, dgamma, dbeta].
 * models/components/network.ts uses them where they are registered.
 */
export const BATCH_NORM_TRAIN = 'GantryBatchNormTrain';
export const BATCH_NORM_GRAD = 'GantryBatchNormGrad';
/** GantryLeakyReluGrad {dy, x}, attrs {alpha} → dy · step(x, alpha) (models/components/tfjs-gradients.ts). */
export const LEAKY_RELU_GRAD = 'GantryLeakyReluGrad';
/** The kernels only this backend registers (the cpu backend has none of them). */
export const NATIVE_ONLY_KERNELS: readonly string[] = [FUSED_ADAM, BATCH_NORM_TRAIN, BATCH_NORM_GRAD, LEAKY_RELU_GRAD];

type Args = Parameters<tf.KernelFunc>[0];
type Result = tf.TensorInfo | tf.TensorInfo[];
/** A kernel that returns null where it does not apply; the cpu kernel then runs instead. */
type Override = (args: Args, addon: NativeAddon) => Result | null;

class NativeBackend extends MathBackendCPU {
  constructor() {
    super();
    // MathBackendCPU prints an "install tfjs-node" banner on first use; not useful here.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
}

const f32 = (b: MathBackendCPU, t: tf.TensorInfo) => b.data.get(t.dataId).values as Float32Array;

/**
 * An output array for the addon to fill. Zeroed, although every native kernel writes every
 * element: uninitialised memory (Buffer.allocUnsafeSlow) measured no faster on the reference step.
 */
const output = (n: number) => new Float32Array(n);
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const allF32 = (...ts: (tf.TensorInfo | undefined)[]) => ts.every((t) => !t || t.dtype === 'float32');

function convParams(c: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    c.batchSize, c.inHeight, c.inWidth, c.inChannels,
    c.filterHeight, c.filterWidth, c.outChannels,
    c.outHeight, c.outWidth, c.strideHeight, c.strideWidth,
    c.padInfo.top, c.padInfo.left, c.dilationHeight, c.dilationWidth,
  ]);
}

function usable(c: tf.backend_util.Conv2DInfo): boolean {
  return (
    c.dataFormat === 'channelsLast' &&
    c.batchSize > 0 && c.inHeight > 0 && c.inWidth > 0 && c.inChannels > 0 &&
    c.outHeight > 0 && c.outWidth > 0 && c.outChannels > 0 && c.filterHeight > 0 && c.filterWidth > 0 &&
    c.padInfo.top >= 0 && c.padInfo.left >= 0
  );
}

type ConvAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

const conv2D: Override = ({ inputs, backend, attrs }, addon) => {
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as ConvAttrs;
  if (!allF32(x, filter) || x.shape.length !== 4) return null;
  const fmt = tf.backend_util.convertConv2DDataFormat(a.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    a.strides, a.dilations, a.pad, a.dimRoundingMode, false, fmt,
  );
  if (!usable(info)) return null;
  const b = backend as MathBackendCPU;
  const out = output(size(info.outShape));
  addon.conv2d(f32(b, x), f32(b, filter), out, convParams(info));
  return b.makeTensorInfo(info.outShape, 'float32', out);
};

const conv2DBackpropInput: Override = ({ inputs, backend, attrs }, addon) => {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  if (!allF32(dy, filter) || dy.shape.length !== 4) return null;
  const fmt = tf.backend_util.convertConv2DDataFormat(a.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    a.inputShape, filter.shape as [number, number, number, number], a.strides, 1, a.pad, a.dimRoundingMode, false, fmt,
  );
  if (!usable(info) || !sameShape(dy.shape, info.outShape)) return null;
  const b = backend as MathBackendCPU;
  const out = output(size(info.inShape));
  addon.conv2dBackpropInput(f32(b, dy), f32(b, filter), out, convParams(info));
  return b.makeTensorInfo(info.inShape, 'float32', out);
};

const conv2DBackpropFilter: Override = ({ inputs, backend, attrs }, addon) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  if (!allF32(x, dy) || x.shape.length !== 4 || dy.shape.length !== 4) return null;
  const fmt = tf.backend_util.convertConv2DDataFormat(a.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, fmt,
  );
  if (!usable(info) || !sameShape(dy.shape, info.outShape)) return null;
  const b = backend as MathBackendCPU;
  const out = output(size(a.filterShape));
  addon.conv2dBackpropFilter(f32(b, x), f32(b, dy), out, convParams(info));
  return b.makeTensorInfo(a.filterShape, 'float32', out);
};

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** tfjs BatchMatMul semantics: [..., M, K]·[..., K, N]; batch i uses a[i % batchA], b[i % batchB]. */
const batchMatMul: Override = ({ inputs, backend, attrs }, addon) => {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (!allF32(a, b) || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length, rb = b.shape.length;
  const kA = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kB = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (kA !== kB) return null; // the cpu kernel raises tfjs's own error
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = outer.concat([m, n]);
  const batchA = size(a.shape.slice(0, -2)), batchB = size(b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  // Equal batches, or one side shared by all; other broadcasts go to the cpu kernel.
  if (m === 0 || n === 0 || kA === 0 || batch === 0 || size(outer) !== batch || (batchA !== batchB && Math.min(batchA, batchB) !== 1)) return null;
  const be = backend as MathBackendCPU;
  const out = output(size(outShape));
  addon.matMul(f32(be, a), f32(be, b), out, Int32Array.from([batchA, batchB, batch, m, n, kA, transposeA ? 1 : 0, transposeB ? 1 : 0]));
  return be.makeTensorInfo(outShape, 'float32', out);
};

/** Bias and activation after a native matmul/conv, through this backend's own kernels. */
function biasAndActivation(backend: MathBackendCPU, current: tf.TensorInfo, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const { bias, preluActivationWeights } = inputs as { bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  const { activation, leakyreluAlpha } = attrs as unknown as { activation?: string; leakyreluAlpha?: number };
  const run = (name: string, ins: tf.NamedTensorInfoMap, at?: tf.NamedAttrMap) =>
    tf.getKernel(name, NATIVE_BACKEND)!.kernelFunc({ inputs: ins, backend, attrs: at }) as tf.TensorInfo;
  if (bias) {
    const next = run(tf.Add, { a: current, b: bias });
    backend.disposeIntermediateTensorInfo(current);
    current = next;
  }
  if (activation && activation !== 'linear') {
    const kernels: Record<string, [string, tf.NamedTensorInfoMap, tf.NamedAttrMap?]> = {
      relu: [tf.Relu, { x: current }],
      relu6: [tf.Relu6, { x: current }],
      elu: [tf.Elu, { x: current }],
      sigmoid: [tf.Sigmoid, { x: current }],
      leakyrelu: [tf.LeakyRelu, { x: current }, { alpha: leakyreluAlpha ?? 0.2 }],
      prelu: [tf.Prelu, { x: current, alpha: preluActivationWeights! }],
    };
    const k = kernels[activation];
    if (!k) throw new Error(`Activation ${activation} has not been implemented for the native backend.`);
    const next = run(k[0], k[1], k[2]);
    backend.disposeIntermediateTensorInfo(current);
    current = next;
  }
  return current;
}

const fusedMatMul: Override = (args, addon) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const mm = batchMatMul({ inputs: { a, b }, backend: args.backend, attrs: args.attrs }, addon) as tf.TensorInfo | null;
  return mm && biasAndActivation(args.backend as MathBackendCPU, mm, args.inputs, args.attrs ?? {});
};

const fusedConv2D: Override = (args, addon) => {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const y = conv2D({ inputs: { x, filter }, backend: args.backend, attrs: args.attrs }, addon) as tf.TensorInfo | null;
  return y && biasAndActivation(args.backend as MathBackendCPU, y, args.inputs, args.attrs ?? {});
};

/** Elementwise ops over float32 arrays large enough for the native call to pay off. */
const NATIVE_MIN_ELEMENTS = 512;

/** Sum over a contiguous block of axes: x as [outer, mid, inner], mid reduced. */
const sum: Override = ({ inputs, backend, attrs }, addon) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
  if (x.dtype !== 'float32' || size(x.shape) < NATIVE_MIN_ELEMENTS) return null;
  const axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((p, q) => p - q);
  if (axes.length === 0 || axes.some((a, i) => i > 0 && a !== axes[i - 1] + 1)) return null;
  const first = axes[0], last = axes[axes.length - 1];
  const outer = size(x.shape.slice(0, first)), mid = size(x.shape.slice(first, last + 1)), inner = size(x.shape.slice(last + 1));
  let outShape = x.shape.filter((_, i) => i < first || i > last);
  if (keepDims) outShape = x.shape.map((d, i) => (i >= first && i <= last ? 1 : d));
  const b = backend as MathBackendCPU;
  const out = output(outer * inner);
  addon.sum(f32(b, x), out, Int32Array.from([outer, mid, inner]));
  return b.makeTensorInfo(outShape, 'float32', out);
};

function unary(name: keyof typeof UNARY, alphaOf: (attrs: tf.NamedAttrMap | undefined) => number = () => 0): Override {
  const op = UNARY[name];
  return ({ inputs, backend, attrs }, addon) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const n = size(x.shape);
    if (x.dtype !== 'float32' || n < NATIVE_MIN_ELEMENTS) return null;
    const b = backend as MathBackendCPU;
    const out = output(n);
    addon.unary(op, f32(b, x), out, alphaOf(attrs));
    return b.makeTensorInfo(x.shape, 'float32', out);
  };
}

/** Operand layouts of native/src/elementwise.h. */
const FULL = 0, SCALAR = 1, ROW = 2, COL = 3;

/** How an operand of `shape` maps onto the broadcast output `out`, if the addon handles it. */
function layoutOf(shape: number[], out: number[]): number | null {
  const n = size(out), m = size(shape);
  if (m === 1) return SCALAR;
  if (m === n) return FULL;
  const padded = [...Array<number>(out.length - shape.length).fill(1), ...shape];
  // ROW: leading 1s, then the output's trailing dims (a bias repeated along the batch).
  let i = 0;
  while (i < padded.length && padded[i] === 1) i++;
  if (padded.slice(i).every((d, k) => d === out[i + k])) return ROW;
  // COL: the output's leading dims, then 1s (a [n, 1] column repeated along the features).
  let j = padded.length;
  while (j > 0 && padded[j - 1] === 1) j--;
  if (padded.slice(0, j).every((d, k) => d === out[k])) return COL;
  return null;
}

function binary(name: keyof typeof BINARY): Override {
  const op = BINARY[name];
  return ({ inputs, backend }, addon) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (!allF32(a, b)) return null;
    const outShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const n = size(outShape);
    if (n < NATIVE_MIN_ELEMENTS) return null;
    const la = layoutOf(a.shape, outShape), lb = layoutOf(b.shape, outShape);
    // Anything else (both sides broadcast, or a general pattern) is left to the cpu kernel.
    if (la === null || lb === null || (la > SCALAR && lb !== FULL) || (lb > SCALAR && la !== FULL)) return null;
    const be = backend as MathBackendCPU;
    const out = output(n);
    addon.binary(op, f32(be, a), f32(be, b), out, Int32Array.from([la, lb]));
    return be.makeTensorInfo(outShape, 'float32', out);
  };
}

/** Mean as the cpu kernel computes it (x / count, then summed), with the native div and sum. */
const mean: Override = (args, addon) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis } = args.attrs as unknown as { axis: number | number[] };
  if (x.dtype !== 'float32' || size(x.shape) < NATIVE_MIN_ELEMENTS) return null;
  const b = args.backend as MathBackendCPU;
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const count = size(tf.backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
  const scalar = b.makeTensorInfo([], 'float32', new Float32Array([count]));
  const divided = binary('RealDiv')({ inputs: { a: x, b: scalar }, backend: b }, addon) as tf.TensorInfo;
  b.disposeIntermediateTensorInfo(scalar);
  const result = tf.getKernel(tf.Sum, NATIVE_BACKEND)!.kernelFunc({ inputs: { x: divided }, backend: b, attrs: args.attrs }) as tf.TensorInfo;
  b.disposeIntermediateTensorInfo(divided);
  return result;
};

const OVERRIDES: Record<string, Override> = {
  [tf.Conv2D]: conv2D,
  [tf.Conv2DBackpropInput]: conv2DBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2DBackpropFilter,
  [tf.BatchMatMul]: batchMatMul,
  [tf._FusedMatMul]: fusedMatMul,
  [tf.FusedConv2D]: fusedConv2D,
  [tf.Relu]: unary('Relu'),
  [tf.LeakyRelu]: unary('LeakyRelu', (a) => (a as unknown as { alpha: number }).alpha),
  [tf.Tanh]: unary('Tanh'),
  [tf.Abs]: unary('Abs'),
  [tf.Neg]: unary('Neg'),
  [tf.Square]: unary('Square'),
  [tf.Sqrt]: unary('Sqrt'),
  [tf.Step]: unary('Step', (a) => (a as unknown as { alpha: number }).alpha),
  [tf.Sigmoid]: unary('Sigmoid'),
  [tf.Exp]: unary('Exp'),
  [tf.Sum]: sum,
  [tf.Mean]: mean,
  [tf.Add]: binary('Add'),
  [tf.Sub]: binary('Sub'),
  [tf.Multiply]: binary('Multiply'),
  [tf.RealDiv]: binary('RealDiv'),
  [tf.Maximum]: binary('Maximum'),
  [tf.Minimum]: binary('Minimum'),
  [tf.SquaredDifference]: binary('SquaredDifference'),
};

/** Kernel names the addon implements (for tests and the README). */
export const NATIVE_KERNELS: readonly string[] = Object.keys(OVERRIDES);

let registered: { info?: AddonInfo; reason?: string } | undefined;

/**
 * Register the 'native' backend (once per thread) if the addon loads. Returns the addon's info,
 * or the reason it is unavailable. Registration does not select the backend.
 */
export function registerNativeBackend(): { info?: AddonInfo; reason?: string } {
  if (registered) return registered;
  const { addon, reason } = loadAddon();
  if (!addon) return (registered = { reason });
  const cpuKernels = tf.getKernelsForBackend('cpu');
  if (cpuKernels.length === 0) return (registered = { reason: 'the tfjs cpu backend has no kernels registered' });
  // Priority 0: never picked implicitly by tfjs; gantry's selectBackend chooses it explicitly.
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0);
  for (const k of cpuKernels) {
    const override = OVERRIDES[k.kernelName];
    const fallback = k.kernelFunc;
    const kernelFunc: tf.KernelFunc = override
      ? (args) => override(args, addon) ?? fallback(args)
      : fallback;
    tf.registerKernel({ ...k, backendName: NATIVE_BACKEND, kernelFunc });
  }
  tf.registerKernel({
    kernelName: FUSED_ADAM,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { value, m, v, grad } = inputs as Record<'value' | 'm' | 'v' | 'grad', tf.TensorInfo>;
      const b = backend as MathBackendCPU;
      if (!allF32(value, m, v, grad)) throw new Error(`${FUSED_ADAM}: float32 tensors only`);
      const n = size(value.shape);
      for (const t of [m, v, grad]) if (size(t.shape) !== n) throw new Error(`${FUSED_ADAM}: shapes differ`);
      const [ov, om, ow] = [output(n), output(n), output(n)];
      addon.adam(f32(b, value), f32(b, m), f32(b, v), f32(b, grad), ov, om, ow, Float32Array.from((attrs as unknown as { hyper: number[] }).hyper));
      return [b.makeTensorInfo(value.shape, 'float32', ov), b.makeTensorInfo(value.shape, 'float32', om), b.makeTensorInfo(value.shape, 'float32', ow)];
    },
  });
  tf.registerKernel({
    kernelName: LEAKY_RELU_GRAD,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x } = inputs as Record<'dy' | 'x', tf.TensorInfo>;
      const b = backend as MathBackendCPU;
      if (!allF32(dy, x) || size(dy.shape) !== size(x.shape)) throw new Error(`${LEAKY_RELU_GRAD}: float32 tensors of one shape only`);
      const out = output(size(x.shape));
      addon.leakyReluGrad(f32(b, dy), f32(b, x), out, (attrs as unknown as { alpha: number }).alpha);
      return b.makeTensorInfo(x.shape, 'float32', out);
    },
  });
  const bnShape = (x: tf.TensorInfo) => {
    const c = x.shape[x.shape.length - 1];
    return { rows: size(x.shape) / c, c, p: Int32Array.of(size(x.shape) / c, c) };
  };
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAIN,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, gamma, beta } = inputs as Record<'x' | 'gamma' | 'beta', tf.TensorInfo>;
      const b = backend as MathBackendCPU;
      if (!allF32(x, gamma, beta)) throw new Error(`${BATCH_NORM_TRAIN}: float32 tensors only`);
      const { rows, c, p } = bnShape(x);
      const [mean, variance, y] = [output(c), output(c), output(rows * c)];
      addon.batchNormStats(f32(b, x), mean, variance, p);
      const eps = (attrs as unknown as { epsilon: number }).epsilon;
      const invstd = Float32Array.from(variance, (v) => 1 / Math.sqrt(Math.fround(v + eps)));
      addon.batchNormApply(f32(b, x), mean, invstd, f32(b, gamma), f32(b, beta), y, p);
      return [b.makeTensorInfo(x.shape, 'float32', y), b.makeTensorInfo([c], 'float32', mean), b.makeTensorInfo([c], 'float32', variance), b.makeTensorInfo([c], 'float32', invstd)];
    },
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_GRAD,
    backendName: NATIVE_BACKEND,
    kernelFunc: ({ inputs, backend }) => {
      const { x, dy, mean, invstd, gamma } = inputs as Record<'x' | 'dy' | 'mean' | 'invstd' | 'gamma', tf.TensorInfo>;
      const b = backend as MathBackendCPU;
      if (!allF32(x, dy, mean, invstd, gamma)) throw new Error(`${BATCH_NORM_GRAD}: float32 tensors only`);
      const { rows, c, p } = bnShape(x);
      const [dx, dgamma, dbeta] = [output(rows * c), output(c), output(c)];
      addon.batchNormBackward(f32(b, x), f32(b, dy), f32(b, mean), f32(b, invstd), f32(b, gamma), dx, dgamma, dbeta, p);
      return [b.makeTensorInfo(x.shape, 'float32', dx), b.makeTensorInfo([c], 'float32', dgamma), b.makeTensorInfo([c], 'float32', dbeta)];
    },
  });
  return (registered = { info: addon.info() });
}
