/** `npm run bench`: runs each benchmark in turn and prints its figures against targets (no assertions). */
import { benchExecutorOverhead } from './executor-overhead.js';
import { benchMetricsIngest } from './metrics-ingest.js';
import { benchMlflowThroughput } from './mlflow-throughput.js';
import { benchTrainStep } from './train-step.js';
import { benchGanTraining } from './train-gan.js';
import { benchLayersVsOps } from './layers-vs-ops.js';
import { benchPatches } from './patches.js';
import { benchLoaders } from './loaders.js';
import { benchBaselines } from './baselines.js';
import { benchPipelineMemory } from './pipeline-memory.js';
import { benchRocAuc } from './roc-auc.js';
import { benchQuery } from './query.js';
import { benchGridScale } from './grid-scale.js';

const BENCHES: [string, () => Promise<void>][] = [
  ['executor overhead', benchExecutorOverhead],
  ['metrics ingest + queries', benchMetricsIngest],
  ['mlflow throughput', benchMlflowThroughput],
  ['training step vs pytorch (issue 5)', async () => void (await benchTrainStep())],
  ['GANomaly training vs pytorch, image GAN scoring (issue 11)', benchGanTraining],
  ['tfjs-layers vs tfjs ops for the GAN networks (skipped without tfjs-layers)', benchLayersVsOps],
  ['MTD decode + 32x32 patches vs numpy/PIL', async () => void (await benchPatches())],
  ['.mat and ENVI load MB/s vs numpy/scipy', benchLoaders],
  ['PCA over 300,000 streamed patches (peak RSS), kNN throughput', benchBaselines],
  ['the item pipeline over 300,000 training patches: peak RSS', benchPipelineMemory],
  ['ROC AUC over 10,000,000 scores vs sklearn roc_auc_score (issue 12)', async () => void (await benchRocAuc())],
  ['gantry query over 1,000,000 rows in table, csv and json: time and peak RSS', benchQuery],
  ['grids of 10³…10⁵ trials (BENCH_GRID_MAX): time to ask, to plan, and gantry status; peak RSS (issue 13)', benchGridScale],
];

let crashed = 0;
for (const [name, fn] of BENCHES) {
  console.log(`— ${name}`);
  try {
    await fn();
  } catch (e) {
    crashed++;
    console.error(`${name}: crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}
process.exitCode = crashed ? 1 : 0;
