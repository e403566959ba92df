/**
 * Executor overhead per memoized step (target < 5 ms): run a study of RX trials once to fill the
 * ledger, then time a second run of the same study in which every step is cached.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defineStudy } from '../experiments/spec.js';
import { prepareStudy } from '../executors/prepare.js';
import { runEmbedded } from '../executors/embedded.js';
import { LocalStore } from '../infra/store/local.js';
import { verdict } from './format.js';

const TARGET_MS = 5;
const CELLS = 50;

export async function benchExecutorOverhead(): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'gantry-bench-exec-'));
  try {
    const spec = defineStudy({
      name: 'bench-rx',
      base: {
        dataset: { kind: 'synthetic-hsi', rows: 16, cols: 16, bands: 6, anomalies: 4, seed: 1 },
        model: { kind: 'rx' },
        split: { train: 'all' },
      },
      grid: [{ cartesian: { 'dataset.seed': Array.from({ length: CELLS }, (_, i) => i) } }],
      seeds: [0],
    });
    const opts = {
      store: new LocalStore(join(home, 'store')),
      catalogPath: join(home, 'catalog.duckdb'),
      lockPath: join(home, 'run.lock'),
      concurrency: 1,
    };

    const t0 = performance.now();
    const first = await runEmbedded(await prepareStudy(spec, {}), opts);
    const coldMs = performance.now() - t0;
    const failed = first.outcomes.filter((o) => o.status !== 'done');
    if (failed.length) throw new Error(`first run: ${failed.length} trial(s) not done: ${failed[0].error}`);

    const t1 = performance.now();
    const second = await runEmbedded(await prepareStudy(spec, {}), opts);
    const warmMs = performance.now() - t1;
    if (second.stepsRun !== 0) throw new Error(`second run executed ${second.stepsRun} step(s); expected all cached`);
    if (second.stepsCached === 0) throw new Error('second run reported no cached steps');

    const perStep = warmMs / second.stepsCached;
    console.log(`executor (first run): ${first.outcomes.length} trials, ${first.stepsRun} steps run + ${first.stepsCached} cached in ${coldMs.toFixed(0)} ms`);
    console.log(
      `executor: ${second.stepsCached} memoized steps (${second.outcomes.length} trials) in ${warmMs.toFixed(0)} ms = ${perStep.toFixed(2)} ms/step ` +
        `(target < ${TARGET_MS} ms: ${verdict(perStep, TARGET_MS)})`,
    );
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
