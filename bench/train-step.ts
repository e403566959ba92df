/**
 * `npm run bench:train` (issue 5): the reference GAN training step side by side with PyTorch.
 *
 *  1. PyTorch: ../shared/reference/torch_step_bench.py, when `/usr/bin/python3 -c 'import torch'` works.
 *  2. gantry's default CPU path (automatic backend choice, or GANTRY_BACKEND): the same network in
 *     tfjs ops (models/components/reference-net.ts), batch 64, Adam, L1; warm-up, then timed steps.
 *  3. Scoring throughput, native vs wasm: batch inference of the same network, and the WGAN-GP's
 *     latent-optimisation score (restarts × iterations per pixel, models/wgan-gp/score.ts).
 *
 * The last line is the ratio: `ratio 1.12 (gantry 347 img/s, pytorch 310 img/s)`.
 * Options (env): BENCH_STEPS (timed steps, default 10), BENCH_SKIP_SCORING=1, BENCH_SKIP_GAN=1 (the image GANs after it).
 * No assertions: figures only. Timings on a shared or busy machine vary run to run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../datasets/prng.js';
import { backendName, selectBackend } from '../models/backend.js';
import { disposeRefNet, initRefNet, refForward, refOptimizer, refTrainStep } from '../models/components/reference-net.js';
import { disposeNets, initNets } from '../models/wgan-gp/network.js';
import { generatorScores } from '../models/wgan-gp/score.js';
import { wganGpParams } from '../models/wgan-gp/params.js';
import { loadAddon } from '../native/addon.js';
import { benchGanTraining } from './train-gan.js';

const BATCH = 64;
const PYTHON = '/usr/bin/python3';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REFERENCE = process.env.GANTRY_TORCH_REFERENCE ?? path.resolve(ROOT, '..', 'shared', 'reference', 'torch_step_bench.py');

export interface TrainBenchResult {
  pytorch?: number;
  gantry: number;
  backend: string;
}

function pytorch(steps: number): { imgPerS?: number; why?: string } {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return { why: `PyTorch not available (${PYTHON} -c 'import torch' failed); install it with: apt-get install -y python3-torch libopenblas0-pthread` };
  }
  if (!fs.existsSync(REFERENCE)) return { why: `reference script not found at ${REFERENCE} (set GANTRY_TORCH_REFERENCE)` };
  const r = spawnSync(PYTHON, [REFERENCE, '--batch', String(BATCH), '--steps', String(steps), '--threads', '2'], {
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  if (r.status !== 0) return { why: `reference script failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const out = JSON.parse(line) as { img_per_s: number; ms_per_step: number; torch: string; threads: number };
  console.log(`pytorch ${out.torch} (${out.threads} threads): ${out.ms_per_step} ms/step = ${out.img_per_s.toFixed(0)} img/s`);
  return { imgPerS: out.img_per_s };
}

function images(n: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(new Prng(seed).normals(n * 32 * 32 * 3), [n, 32, 32, 3]);
}

/** img/s of the training step on the current backend. */
function trainThroughput(steps: number): { imgPerS: number; msPerStep: number; loss: number } {
  const net = initRefNet(0);
  const opt = refOptimizer();
  const x = images(BATCH, 1);
  try {
    for (let i = 0; i < 2; i++) refTrainStep(net, opt, x); // warm-up: kernel setup, allocator, JIT
    let loss = NaN;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) loss = refTrainStep(net, opt, x);
    const ms = (performance.now() - t0) / steps;
    return { imgPerS: (BATCH * 1000) / ms, msPerStep: ms, loss };
  } finally {
    opt.dispose();
    disposeRefNet(net);
    x.dispose();
  }
}

/** Batch inference img/s of the reference network (forward only). */
function inferenceThroughput(batch: number, reps: number): number {
  const net = initRefNet(0);
  const x = images(batch, 2);
  try {
    // Read the output back inside the tidy, but return nothing: tidy walks whatever it returns.
    const once = () => tf.tidy(() => void refForward(net, x).dataSync());
    once();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) once();
    return (batch * reps * 1000) / (performance.now() - t0);
  } finally {
    disposeRefNet(net);
    x.dispose();
  }
}

/** Pixels/s of the WGAN-GP generator score (restarts × iterations of latent search per pixel). */
async function latentScoreThroughput(dim: number, hidden: number, pixels: number): Promise<{ perS: number; label: string }> {
  const p = wganGpParams.parse({ hidden, depth: 2, noiseDim: 4, outputActivation: 'tanh' });
  const nets = initNets({ dim, noiseDim: p.noiseDim, hidden, depth: p.depth, outputActivation: 'tanh' }, new Prng(5));
  const data = new Prng(6).normals(pixels * dim, 0.3);
  const x = tf.tensor2d(data, [pixels, dim]);
  try {
    await generatorScores(nets, tf.slice(x, [0, 0], [Math.min(pixels, 32), dim]) as tf.Tensor2D, { ...p, scoreIterations: 2 }, new Prng(7));
    const t0 = performance.now();
    await generatorScores(nets, x, p, new Prng(7));
    const s = (performance.now() - t0) / 1000;
    return { perS: pixels / s, label: `${p.scoreRestarts}×${p.scoreIterations}, dim ${dim}, hidden ${hidden}×${p.depth}, ${pixels} pixels in one batch` };
  } finally {
    x.dispose();
    disposeNets(nets);
  }
}

async function useBackend(name: string): Promise<boolean> {
  try {
    await selectBackend(name);
    return true;
  } catch (e) {
    console.log(`${name}: unavailable (${(e as Error).message})`);
    return false;
  }
}

export async function benchTrainStep(): Promise<TrainBenchResult> {
  const steps = Math.max(1, Number(process.env.BENCH_STEPS ?? 10) || 10);
  const torch = pytorch(steps);
  if (torch.why) console.log(`pytorch: skipped: ${torch.why}`);

  const choice = await selectBackend();
  const addon = loadAddon();
  const detail =
    choice.name === 'native' && addon.addon
      ? ` (${addon.addon.info().isa} GEMM, ${addon.addon.info().threads} threads)`
      : choice.note
        ? ` (${choice.note})`
        : '';
  const g = trainThroughput(steps);
  console.log(
    `gantry, backend ${backendName()}${detail}: ${g.msPerStep.toFixed(1)} ms/step = ${g.imgPerS.toFixed(0)} img/s ` +
      `(batch ${BATCH}, ${steps} steps after 2 warm-up; loss ${g.loss.toFixed(4)})`,
  );

  if (process.env.BENCH_SKIP_SCORING !== '1') {
    // Explicit backends for the comparison, whatever GANTRY_BACKEND says.
    const saved = process.env.GANTRY_BACKEND;
    delete process.env.GANTRY_BACKEND;
    try {
      for (const backend of ['native', 'wasm']) {
        if (!(await useBackend(backend))) continue;
        const inf = inferenceThroughput(256, backend === 'native' ? 10 : 2);
        console.log(`scoring, ${backend}: batch inference ${inf.toFixed(0)} img/s (reference network, batch 256)`);
        for (const hidden of [64, 256]) {
          const s = await latentScoreThroughput(24, hidden, 1024);
          console.log(`scoring, ${backend}: wgan-gp latent search ${s.perS.toFixed(0)} pixels/s (${s.label})`);
        }
      }
    } finally {
      if (saved !== undefined) process.env.GANTRY_BACKEND = saved;
    }
  }

  const result: TrainBenchResult = { pytorch: torch.imgPerS, gantry: g.imgPerS, backend: choice.name };
  if (torch.imgPerS) {
    console.log(`ratio ${(g.imgPerS / torch.imgPerS).toFixed(2)} (gantry ${g.imgPerS.toFixed(0)} img/s, pytorch ${torch.imgPerS.toFixed(0)} img/s)`);
  } else {
    console.log(`ratio n/a (gantry ${g.imgPerS.toFixed(0)} img/s on ${choice.name}; no PyTorch figure to compare with)`);
  }
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // `npm run bench:train`: the reference step, then the image GANs (bench/train-gan.ts); BENCH_SKIP_GAN=1 skips those.
  benchTrainStep()
    .then(async () => {
      if (process.env.BENCH_SKIP_GAN !== '1') await benchGanTraining();
    })
    .catch((e) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exitCode = 1;
    });
}
