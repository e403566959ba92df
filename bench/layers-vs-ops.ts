/**
 * Why the image GANs are written in tfjs ops (models/components/network.ts), not tfjs-layers:
 * the reference step's network both ways, on the same backend and kernels, timed in one process.
 * tfjs-layers is not a dependency: install it for this measurement only —
 *   npm install --no-save @tensorflow/tfjs-layers@4.22.0 && npm run build && node dist/bench/layers-vs-ops.js
 * Without it, the bench says so and exits 0.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../datasets/prng.js';
import { backendName, selectBackend } from '../models/backend.js';
import { initRefNet, refOptimizer, refTrainStep } from '../models/components/reference-net.js';

/** tfjs-layers, untyped: it is not a dependency, so its types are not there to check against. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Layers = any;

export async function benchLayersVsOps(): Promise<void> {
  let tfl: Layers;
  try {
    const spec: string = '@tensorflow/tfjs-layers';
    tfl = (await import(spec)) as Layers;
  } catch {
    console.log('layers vs ops: skipped: @tensorflow/tfjs-layers is not installed (npm install --no-save @tensorflow/tfjs-layers@4.22.0)');
    return;
  }
  await selectBackend();
  const x = tf.tensor4d(new Prng(1).normals(64 * 32 * 32 * 3), [64, 32, 32, 3]);
  const steps = 8;
  const net = initRefNet(0);
  const opt = refOptimizer();
  for (let i = 0; i < 2; i++) refTrainStep(net, opt, x);
  let t0 = performance.now();
  for (let i = 0; i < steps; i++) refTrainStep(net, opt, x);
  const ops = (performance.now() - t0) / steps;

  const init = tfl.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: 1 });
  const conv = (filters: number, strides: number, padding: 'same' | 'valid', first = false) =>
    tfl.layers.conv2d({ ...(first ? { inputShape: [32, 32, 3] } : {}), filters, kernelSize: 4, strides, padding, useBias: false, kernelInitializer: init });
  const up = (filters: number, strides: number, padding: 'same' | 'valid', activation?: 'tanh') =>
    tfl.layers.conv2dTranspose({ filters, kernelSize: 4, strides, padding, useBias: false, kernelInitializer: init, ...(activation ? { activation } : {}) });
  const m = tfl.sequential({
    layers: [
      conv(64, 2, 'same', true), tfl.layers.leakyReLU({ alpha: 0.2 }),
      conv(128, 2, 'same'), tfl.layers.leakyReLU({ alpha: 0.2 }),
      conv(256, 2, 'same'), tfl.layers.leakyReLU({ alpha: 0.2 }),
      conv(100, 1, 'valid'),
      up(256, 1, 'valid'), tfl.layers.reLU(),
      up(128, 2, 'same'), tfl.layers.reLU(),
      up(64, 2, 'same'), tfl.layers.reLU(),
      up(3, 2, 'same', 'tanh'),
    ],
  });
  m.compile({ optimizer: tf.train.adam(2e-4, 0.5, 0.999), loss: 'meanAbsoluteError' });
  for (let i = 0; i < 2; i++) await m.trainOnBatch(x, x);
  t0 = performance.now();
  for (let i = 0; i < steps; i++) await m.trainOnBatch(x, x);
  const layers = (performance.now() - t0) / steps;
  console.log(`layers vs ops on ${backendName()}, batch 64, the reference network (${m.countParams()} weights): ops ${ops.toFixed(1)} ms/step, tfjs-layers ${layers.toFixed(1)} ms/step`);
  console.log(`ratio ${(layers / ops).toFixed(2)} (tfjs-layers time / ops time; its Adam is tf.train.adam, unfused)`);
  x.dispose();
  opt.dispose();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchLayersVsOps().catch((e) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
  });
}
