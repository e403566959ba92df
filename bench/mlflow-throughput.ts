/**
 * Points per second to MLflow: log-batch (≤1000 metrics per request) against one request per
 * point, over loopback to the contract server (or the live server when MLFLOW_TRACKING_URI is
 * set). Both send through the same client; only the batching differs.
 */
import { MlflowClient, mlflowConfigFromEnv, type Metric } from '../infra/mlflow/client.js';
import { MlflowContractServer } from '../test/infra/mlflow-contract-server.js';
import { int, rate } from './format.js';

export async function benchMlflowThroughput(): Promise<void> {
  const live = mlflowConfigFromEnv();
  const server = live ? undefined : await MlflowContractServer.create();
  const client = new MlflowClient(live ?? { trackingUri: server!.url });
  try {
    const exp = await client.getOrCreateExperiment(`gantry-bench-${Date.now()}`);
    const points = (n: number): Metric[] => Array.from({ length: n }, (_, i) => ({ key: `loss/${i % 4}`, value: Math.sin(i), timestamp: Date.now(), step: Math.floor(i / 4) }));

    const batched = 20_000;
    const runA = (await client.createRun(exp, { runName: 'batched' })).info.run_id;
    let t0 = performance.now();
    const { requests } = await client.logBatch(runA, { metrics: points(batched) });
    const batchedRate = batched / ((performance.now() - t0) / 1000);

    const single = 1_000;
    const runB = (await client.createRun(exp, { runName: 'per-point' })).info.run_id;
    const ps = points(single);
    t0 = performance.now();
    for (const p of ps) await client.logBatch(runB, { metrics: [p] });
    const singleRate = single / ((performance.now() - t0) / 1000);

    const where = live ? 'live MLflow' : 'contract server on loopback';
    console.log(`mlflow (${where}): log-batch ${int(batched)} points in ${requests} requests = ${rate(batchedRate)} points/s`);
    console.log(`mlflow (${where}): one request per point, ${int(single)} points = ${rate(singleRate)} points/s`);
    console.log(`mlflow: batching is ${(batchedRate / singleRate).toFixed(0)}× faster`);
  } finally {
    await client.close();
    await server?.close();
  }
}
