/**
 * GANomaly training (issue 11), part of `npm run bench:train`: the akcay2018 preset at isize 32 and
 * 64 (3 channels, batch 64, one generator and one discriminator update per iteration, Adam)
 * side by side in one run with ../shared/reference/torch_ganomaly_bench.py (the same
 * architecture and losses), and scoring throughput (img/s, inference mode) of each image GAN.
 *
 * Options (env): BENCH_GAN_STEPS (timed iterations, default 5), BENCH_GAN_SIZES (default 32,64).
 * No assertions: figures only; a shared machine moves them run to run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Prng } from '../datasets/prng.js';
import { backendName, ensureConvTraining, selectBackend } from '../models/backend.js';
import { loadAddon } from '../native/addon.js';
import { buildGanomaly } from '../models/ganomaly/model.js';
import { ganomalyParams, resolveGanomaly } from '../models/ganomaly/params.js';
import { buildSkipGanomaly } from '../models/skip-ganomaly/model.js';
import { resolveSkipGanomaly, skipGanomalyParams } from '../models/skip-ganomaly/params.js';
import { buildAlgan } from '../models/algan/model.js';
import { alganParams, resolveAlgan } from '../models/algan/params.js';
import type { GanModel } from '../models/components/gan.js';

const BATCH = 64;
const PYTHON = '/usr/bin/python3';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REFERENCE = process.env.GANTRY_TORCH_GANOMALY ?? path.resolve(ROOT, '..', 'shared', 'reference', 'torch_ganomaly_bench.py');

function torchGanomaly(isize: number, steps: number): { imgPerS?: number; params?: [number, number]; why?: string } {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { why: `PyTorch not available; install it with: apt-get install -y python3-torch libopenblas0-pthread` };
  if (!fs.existsSync(REFERENCE)) return { why: `reference script not found at ${REFERENCE} (set GANTRY_TORCH_GANOMALY)` };
  const r = spawnSync(PYTHON, [REFERENCE, '--isize', String(isize), '--batch', String(BATCH), '--steps', String(steps), '--threads', '2'], { encoding: 'utf8', timeout: 20 * 60_000 });
  if (r.status !== 0) return { why: `reference script failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { img_per_s: number; params_g: number; params_d: number };
  return { imgPerS: out.img_per_s, params: [out.params_g, out.params_d] };
}

const batch = (isize: number, nc: number, seed: number) => tf.tensor4d(Float32Array.from(new Prng(seed).normals(BATCH * isize * isize * nc), (v) => Math.max(-1, Math.min(1, v))), [BATCH, isize, isize, nc]);

/** img/s of training iterations (after one warm-up) of a built model. */
function trainThroughput(model: GanModel, isize: number, steps: number): number {
  const x = batch(isize, 3, 1);
  const rng = new Prng(2);
  try {
    model.iterate(x, { rng, iteration: 0, epoch: 0, noiseStd: 0 });
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) model.iterate(x, { rng, iteration: i + 1, epoch: 0, noiseStd: 0 });
    return (BATCH * steps * 1000) / (performance.now() - t0);
  } finally {
    x.dispose();
  }
}

function scoreThroughput(model: GanModel, isize: number, reps: number): number {
  const x = batch(isize, 3, 3);
  try {
    const once = () => tf.tidy(() => void Object.values(model.score(x)).forEach((t) => t.dataSync()));
    once();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) once();
    return (BATCH * reps * 1000) / (performance.now() - t0);
  } finally {
    x.dispose();
  }
}

export async function benchGanTraining(): Promise<void> {
  const steps = Math.max(1, Number(process.env.BENCH_GAN_STEPS ?? 5) || 5);
  const sizes = (process.env.BENCH_GAN_SIZES ?? '32,64').split(',').map(Number);
  // The default CPU path (the train-step bench may have left wasm selected for its comparison).
  await selectBackend(process.env.GANTRY_BACKEND ?? (loadAddon().addon ? 'native' : 'cpu'));
  const choice = await ensureConvTraining();
  console.log(`gantry image GANs on ${backendName()}${choice.note ? ` (${choice.note})` : ''}, batch ${BATCH}, ${steps} timed iterations after one warm-up`);
  for (const isize of sizes) {
    const torch = torchGanomaly(isize, steps);
    const model = buildGanomaly(resolveGanomaly(ganomalyParams.parse({ preset: 'akcay2018' })), [isize, isize, 3], new Prng(0));
    try {
      const ours = trainThroughput(model, isize, steps);
      const counts = model.nets.map((n) => n.trainable().reduce((a, v) => a + v.size, 0));
      const g = counts[0] + counts[1] + counts[2];
      if (torch.imgPerS) {
        console.log(`ganomaly akcay2018 isize ${isize}: pytorch ${torch.imgPerS.toFixed(1)} img/s (params G ${torch.params![0]}, D ${torch.params![1]}), gantry ${ours.toFixed(1)} img/s (params G ${g}, D ${counts[3]})`);
        console.log(`ratio ${(ours / torch.imgPerS).toFixed(2)} at isize ${isize} (gantry ${ours.toFixed(1)} img/s, pytorch ${torch.imgPerS.toFixed(1)} img/s)`);
      } else {
        console.log(`ganomaly akcay2018 isize ${isize}: gantry ${ours.toFixed(1)} img/s; pytorch skipped: ${torch.why}`);
      }
    } finally {
      model.dispose();
    }
  }
  const isize = 32;
  const builds: [string, () => GanModel][] = [
    ['ganomaly akcay2018', () => buildGanomaly(resolveGanomaly(ganomalyParams.parse({ preset: 'akcay2018' })), [isize, isize, 3], new Prng(0))],
    ['skip-ganomaly akcay2019', () => buildSkipGanomaly(resolveSkipGanomaly(skipGanomalyParams.parse({ preset: 'akcay2019' })), [isize, isize, 3], new Prng(0))],
    ['algan murase2022', () => buildAlgan(resolveAlgan(alganParams.parse({ preset: 'murase2022', batchSize: BATCH })), [isize, isize, 3], new Prng(0))],
  ];
  for (const [name, build] of builds) {
    const m = build();
    try {
      console.log(`scoring ${name} at ${isize}×${isize}×3: ${scoreThroughput(m, isize, 5).toFixed(0)} img/s (batch ${BATCH}, every score variant)`);
    } finally {
      m.dispose();
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchGanTraining().catch((e) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
  });
}
