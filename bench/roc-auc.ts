/**
 * `npx tsx bench/roc-auc.ts`: exact ROC AUC over 10,000,000 scores, gantry's rocAuc against
 * scikit-learn's roc_auc_score on the same data in the same run (figures only, no assertions;
 * timings on a shared machine vary run to run).
 *
 * Data: seeded, 10 % positives, score = N(0, 1) + 1 for positives, rounded to 1e-4 so that many
 * scores tie (both sides must handle ties exactly). The vectors go to Debian's python
 * (/usr/bin/python3) as raw float64 / uint8 files; the reference times only the roc_auc_score
 * call. Each side runs one untimed warm-up, then BENCH_ROUNDS (default 3) timed calls; the best
 * is reported, with every round. Targets: gantry < 2 s, and ≥ 2.75× faster than sklearn.
 *
 * Options (env): BENCH_ROC_N (default 10000000), BENCH_ROUNDS (3).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Prng } from '../datasets/prng.js';
import { rocAuc } from '../evaluation/roc.js';
import { int, verdict } from './format.js';

const PYTHON = '/usr/bin/python3';

const REFERENCE = `
import json, sys, time
import numpy as np
from sklearn.metrics import roc_auc_score
s = np.fromfile(sys.argv[1], dtype=np.float64)
y = np.fromfile(sys.argv[2], dtype=np.uint8)
rounds = int(sys.argv[3])
roc_auc_score(y, s)  # warm-up
times = []
for _ in range(rounds):
    t = time.perf_counter()
    auc = roc_auc_score(y, s)
    times.append(time.perf_counter() - t)
print(json.dumps({"auc": auc, "times": times}))
`;

export interface RocBenchResult {
  n: number;
  auc: number;
  seconds: number[];
  reference?: { auc: number; seconds: number[] };
  why?: string;
}

function data(n: number): { scores: Float64Array; labels: Uint8Array } {
  const rng = new Prng(20261212);
  const scores = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.uniform() < 0.1 ? 1 : 0;
    scores[i] = Math.round((rng.normal() + labels[i]) * 1e4) / 1e4;
  }
  return { scores, labels };
}

function reference(scores: Float64Array, labels: Uint8Array, rounds: number): { auc: number; seconds: number[] } | { why: string } {
  const probe = spawnSync(PYTHON, ['-c', 'import numpy, sklearn.metrics'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { why: `${PYTHON} with numpy and scikit-learn not available (apt-get install python3-sklearn)` };
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-roc-'));
  try {
    writeFileSync(join(dir, 'scores.f64'), new Uint8Array(scores.buffer, scores.byteOffset, scores.byteLength));
    writeFileSync(join(dir, 'labels.u8'), labels);
    const r = spawnSync(PYTHON, ['-c', REFERENCE, join(dir, 'scores.f64'), join(dir, 'labels.u8'), String(rounds)], { encoding: 'utf8', timeout: 10 * 60_000 });
    if (r.status !== 0) return { why: `reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
    const o = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { auc: number; times: number[] };
    return { auc: o.auc, seconds: o.times };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchRocAuc(): Promise<RocBenchResult> {
  const n = Number(process.env.BENCH_ROC_N ?? 10_000_000);
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
  const { scores, labels } = data(n);
  console.log(`${int(n)} scores (${int(labels.reduce((a, b) => a + b, 0))} positives), rounded to 1e-4 (ties); best of ${rounds} timed calls after a warm-up`);
  rocAuc(scores, labels);
  const seconds: number[] = [];
  let auc = NaN;
  for (let k = 0; k < rounds; k++) {
    const t = performance.now();
    auc = rocAuc(scores, labels);
    seconds.push((performance.now() - t) / 1000);
  }
  const best = Math.min(...seconds);
  const list = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(', ');
  console.log(`gantry rocAuc: ${auc.toFixed(12)} in ${best.toFixed(3)} s (rounds: ${list(seconds)} s; target < 2 s: ${verdict(best, 2)})`);
  const ref = reference(scores, labels, rounds);
  if ('why' in ref) {
    console.log(`sklearn skipped: ${ref.why}`);
    console.log('ratio n/a (no reference)');
    return { n, auc, seconds, why: ref.why };
  }
  const refBest = Math.min(...ref.seconds);
  console.log(`sklearn roc_auc_score: ${ref.auc.toFixed(12)} in ${refBest.toFixed(3)} s (rounds: ${list(ref.seconds)} s)`);
  console.log(`values ${auc === ref.auc ? 'identical' : `differ by ${Math.abs(auc - ref.auc).toExponential(2)}`}`);
  const ratio = refBest / best;
  console.log(`ratio ${ratio.toFixed(2)}× faster than sklearn (target ≥ 2.75×: ${ratio >= 2.75 ? 'ok' : 'UNDER'})`);
  return { n, auc, seconds, reference: ref };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchRocAuc();
}
