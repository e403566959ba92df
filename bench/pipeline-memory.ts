/**
 * Bounded memory through the whole item pipeline: a study whose training split holds over
 * 300,000 32×32 patches (1.2 GB as float32; 1.6 GB of patches in all) — synthetic textures →
 * screen → extract (sharded) → split → PCA train → score → evaluate — in this process, printing
 * the peak RSS against the size of the patches. Shards are written and read one at a time, so
 * the peak stays far below the data. Figures, not a test. BENCH_NORMALS scales it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defineStudy } from '../experiments/spec.js';
import { prepareStudy } from '../executors/prepare.js';
import { runEmbedded } from '../executors/embedded.js';
import { LocalStore } from '../infra/store/local.js';
import { listRecords } from '../infra/ledger.js';

const MB = 2 ** 20;

export async function benchPipelineMemory(): Promise<void> {
  const normals = Number(process.env.BENCH_NORMALS) || 15_000;
  const home = await mkdtemp(join(tmpdir(), 'gantry-bench-mem-'));
  try {
    const spec = defineStudy({
      name: 'bench-memory',
      base: {
        dataset: { kind: 'synthetic-textures', normals, anomalies: 500, size: 64, seed: 1 },
        tiling: { kind: 'patches', size: 32, stride: 8, threshold: 0 },
        split: { protocol: 'fractions', normal: [0.8, 0.1, 0.1], anomalous: [0, 0.5, 0.5] },
        model: { kind: 'pca', components: 16 },
      },
    });
    const store = new LocalStore(join(home, 'store'));
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const summary = await runEmbedded(await prepareStudy(spec, {}), { store, catalogPath: join(home, 'catalog.duckdb'), lockPath: join(home, 'run.lock'), concurrency: 1 });
    const seconds = (performance.now() - t0) / 1000;
    const peak = (process.resourceUsage().maxRSS * 1024) / MB;
    const records = await listRecords(store);
    const extract = records.find((r) => r.kind === 'extract')!;
    const train = records.find((r) => r.kind === 'train')!;
    const n = Number(extract.output?.n);
    const dataMb = (n * 32 * 32 * 4) / MB;
    const trained = Number(train.output?.trainSamples);
    const bound = 1024;
    console.log(`  ${n.toLocaleString('en')} patches of 32×32 (${dataMb.toFixed(0)} MB as float32, ${extract.output?.shards} shards), ${trained.toLocaleString('en')} trained on; ${summary.outcomes[0].status} in ${seconds.toFixed(0)} s; auc ${summary.outcomes[0].metrics.auc?.toFixed(4)}`);
    console.log(`  peak RSS ${peak.toFixed(0)} MB (${(rssBefore / MB).toFixed(0)} MB at the start), ${(peak / dataMb).toFixed(2)}× the patches; bound ${bound} MB: ${peak < bound ? 'within' : 'EXCEEDED'}`);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPipelineMemory();
