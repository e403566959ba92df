/**
 * Gradient functions for tfjs-core. Its Node bundle registers none (the `@tensorflow/tfjs` union
 * package does that), so tf.grad fails with "gradient function not found". These are ported from
 * tfjs-core 4.22 (Apache-2.0), for the ops dense networks, 2-D convolutional networks (Conv2D and
 * its transpose, Conv2DBackpropInput), BatchNorm and their losses use. Except for the convolutions, every gradient
 * here is itself built from ops listed here, so gradients of gradients (WGAN-GP's penalty) work;
 * LeakyRelu, Tanh, Sigmoid and Exp differ from the originals for that reason.
 */
import * as tf from '@tensorflow/tfjs-core';

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

/** The kernel native/tfjs-backend.ts registers for LeakyRelu's gradient (one pass instead of step, then multiply). */
const LEAKY_RELU_GRAD = 'GantryLeakyReluGrad';

/** dy · step(x, alpha): LeakyRelu's derivative, fused where the backend has the kernel. */
function leakyReluGrad(dy: G, x: G, alpha: number): G {
  if (tf.getKernel(LEAKY_RELU_GRAD, tf.getBackend())) return tf.engine().runKernel(LEAKY_RELU_GRAD, { dy, x }, { alpha } as unknown as tf.NamedAttrMap) as G;
  // step(x, alpha) is 1 for x > 0 and alpha elsewhere: the derivative, with a (zero) gradient of its own.
  return tf.mul(dy, tf.step(x, alpha));
}

function unaryX(kernelName: string, dx: (dy: G, x: G) => G): tf.GradConfig {
  return { kernelName, inputsToSave: ['x'], gradFunc: (dy, saved) => ({ x: () => dx(dy as G, saved[0]) }) };
}

type ConvAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

// tfjs-core does not export its conv2DBackpropFilter/conv2DBackpropInput ops; these run the
// kernels as those ops do (inputs are rank 4 here: the conv ops reshape before their kernels).
function conv2DBackpropInput(xShape: number[], dy: G, filter: G, a: ConvAttrs): G {
  const { strides, pad, dataFormat, dimRoundingMode } = a;
  const attrs = { strides, pad, dataFormat, dimRoundingMode, inputShape: xShape };
  return tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, attrs as unknown as tf.NamedAttrMap) as G;
}

function conv2DBackpropFilter(x: G, dy: G, filterShape: number[], a: ConvAttrs): G {
  const { strides, pad, dataFormat, dimRoundingMode } = a;
  const attrs = { strides, pad, dataFormat, dimRoundingMode, filterShape };
  return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as G;
}

function gradConfigs(): tf.GradConfig[] {
  return [
    {
      kernelName: tf.Conv2D,
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy, saved, attrs) => {
        const [x, filter] = saved;
        const a = attrs as unknown as ConvAttrs;
        tf.util.assert(
          tf.backend_util.tupleValuesAreOne(a.dilations ?? 1),
          () => `Error in gradient of conv2D: dilation rates greater than 1 are not yet supported in gradients. Got dilations '${a.dilations}'`,
        );
        // As tfjs-core's Conv2D gradient: the forward op's dimRoundingMode is not passed on.
        const b = { ...a, dimRoundingMode: undefined };
        return {
          x: () => conv2DBackpropInput(x.shape, dy as G, filter, b),
          filter: () => conv2DBackpropFilter(x, dy as G, filter.shape, b),
        };
      },
    },
    {
      kernelName: tf.Conv2DBackpropInput,
      inputsToSave: ['dy', 'filter'],
      gradFunc: (ddx, saved, attrs) => {
        const [dy, filter] = saved;
        const a = attrs as unknown as ConvAttrs;
        return {
          dy: () => tf.conv2d(ddx as tf.Tensor4D, filter as tf.Tensor4D, a.strides, a.pad as 'same', a.dataFormat, 1, a.dimRoundingMode),
          filter: () => conv2DBackpropFilter(ddx as G, dy, filter.shape, a),
        };
      },
    },
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
    unaryX(tf.Log1p, (dy, x) => tf.div(dy, tf.add(f32(x), tf.scalar(1)))),
    // d/dx x^(-1/2) = -1/2 · x^(-3/2) (BatchNorm's 1/√(σ² + ε)).
    unaryX(tf.Rsqrt, (dy, x) => tf.div(tf.neg(dy), tf.mul(tf.mul(f32(x), tf.sqrt(f32(x))), 2))),
    unaryX(tf.Abs, (dy, x) => tf.mul(dy, tf.step(f32(x), -1))),
    unaryX(tf.Relu, (dy, x) => tf.mul(dy, f32(tf.step(x)))),
    {
      kernelName: tf.LeakyRelu,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const { alpha } = attrs as unknown as { alpha: number };
        return { x: () => leakyReluGrad(dy as G, saved[0], alpha) };
      },
    },
    {
      // The fused form's own gradient: linear in dy, and zero almost everywhere in x.
      kernelName: LEAKY_RELU_GRAD,
      inputsToSave: ['x'],
      gradFunc: (ddx, saved, attrs) => {
        const { alpha } = attrs as unknown as { alpha: number };
        return { dy: () => leakyReluGrad(ddx as G, saved[0], alpha), x: () => tf.zerosLike(saved[0]) };
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
