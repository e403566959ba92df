/**
 * Where a report goes besides its folder: the store, as artifacts of the study
 * (reports/<study>/<time>-<format>/, with reports/<study>/latest.json naming the newest, written
 * last), and MLflow when it is on: one run per study tagged gantry.report, its artifacts replaced
 * by each new report under report/<format>/.
 */
import type { MlflowClient } from '../infra/mlflow/client.js';
import { experimentFor } from '../infra/mlflow/mirror.js';
import { putJson, type ArtifactStore } from '../infra/store/store.js';
import type { Report } from './report.js';
import type { ReportFiles, ReportFormat } from './render.js';

export const REPORT_TAG = 'gantry.report';

export async function storeReport(store: ArtifactStore, r: Report, format: ReportFormat, files: ReportFiles): Promise<string> {
  const prefix = `reports/${r.study.study}/${r.generatedAt.replace(/[:.]/g, '-')}-${format}`;
  const refs: Record<string, { key: string; sha256: string; size: number }> = {};
  for (const [rel, bytes] of files) refs[rel] = await store.put(`${prefix}/${rel}`, bytes);
  await putJson(store, `reports/${r.study.study}/latest.json`, { format, generatedAt: r.generatedAt, prefix, files: refs });
  return prefix;
}

/** Upload the report's files to the study's report run (made once, found again by its tag); returns the run id. */
export async function uploadReport(client: MlflowClient, r: Report, format: ReportFormat, files: ReportFiles): Promise<string> {
  const study = r.study.study;
  const experimentId = await client.getOrCreateExperiment(experimentFor(study), { 'gantry.study': study });
  const run = (await client.findRunByTag(experimentId, REPORT_TAG, study)) ?? (await client.createRun(experimentId, { runName: `report: ${study}`, tags: { [REPORT_TAG]: study, 'gantry.study': study } }));
  const uri = run.info.artifact_uri;
  if (!uri) throw new Error(`MLflow gave the report run ${run.info.run_id} no artifact URI`);
  for (const [rel, bytes] of files) await client.uploadArtifact(uri, `report/${format}/${rel}`, bytes);
  await client.setTag(run.info.run_id, 'gantry.report_generated_at', r.generatedAt);
  await client.setTerminated(run.info.run_id, 'FINISHED');
  return run.info.run_id;
}
