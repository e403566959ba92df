/**
 * What the Temporal tests share (not a test file itself): small studies, the embedded executor's
 * results as the reference, and comparing two stores' results (the same steps, outputs and artifacts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defineStudy, type StudyInput as SpecInput } from '../../experiments/spec.js';
import { Catalog } from '../../infra/catalog.js';
import { runEmbedded } from '../../executors/embedded.js';
import { prepareStudy, type PreparedStudy } from '../../executors/prepare.js';
import { listRecords, type StepRecord } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';
import { getJson, getVerified, type ArtifactStore } from '../../infra/store/store.js';
import { tempHome } from '../helpers.js';

/** One WGAN-GP trial long enough to interrupt mid-training. */
export const longStudy = (name: string, iterations: number) => ({
  name,
  base: {
    dataset: { kind: 'synthetic-hsi', rows: 16, cols: 16, bands: 6, anomalies: 4, seed: 1 },
    model: { kind: 'wgan-gp', iterations, hidden: 8, batchSize: 32, criticIters: 1, scoreRestarts: 1, scoreIterations: 3, logEvery: 10 },
  },
  seeds: [0],
});

export async function prepare(spec: Record<string, unknown>): Promise<PreparedStudy> {
  return prepareStudy(defineStudy(spec as SpecInput), {});
}

/** The study run by the embedded executor (cpu backend, checkpoints every 25): the reference results. */
export async function embeddedReference(spec: Record<string, unknown>): Promise<ArtifactStore> {
  return (await embeddedRun(spec)).store;
}

/** The same, with the catalog it wrote. */
export async function embeddedRun(spec: Record<string, unknown>): Promise<{ store: ArtifactStore; catalogPath: string }> {
  const home = await tempHome('gantry-temporal-ref-');
  const store = new LocalStore(join(home, 'store'));
  const catalogPath = join(home, 'catalog.duckdb');
  const s = await runEmbedded(await prepare(spec), { store, catalogPath, lockPath: join(home, 'run.lock'), concurrency: 2, backend: 'cpu', checkpoint: { everyIterations: 25 } });
  assert.ok(s.outcomes.every((o) => o.status === 'done'), JSON.stringify(s.outcomes));
  return { store, catalogPath };
}

export async function query(path: string, sql: string): Promise<unknown[][]> {
  const c = await Catalog.openReadOnly(path);
  try {
    return (await c.query(sql)).rows;
  } finally {
    c.close();
  }
}

/** The iteration of a training step's newest checkpoint (0 when there is none). */
export async function latestCheckpoint(store: ArtifactStore, trainKey: string): Promise<number> {
  try {
    return (await getJson<{ iteration: number }>(store, `steps/${trainKey}/checkpoints/latest.json`)).iteration;
  } catch {
    return 0;
  }
}

export async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 120_000, logs?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${logs ? `\n${logs()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Assert that two stores hold the same step keys, each done with the same output and the same
 * artifacts: identical bytes (sha256), except the training curve's wall-clock stamps
 * (metrics.json points carry the time they were logged), which are compared without them.
 */
export async function assertSameResults(a: ArtifactStore, b: ArtifactStore, what = 'results'): Promise<StepRecord[]> {
  const ra = new Map((await listRecords(a)).map((r) => [r.key, r]));
  const rb = new Map((await listRecords(b)).map((r) => [r.key, r]));
  assert.deepEqual([...rb.keys()].sort(), [...ra.keys()].sort(), `${what}: same step keys`);
  for (const [key, x] of ra) {
    const y = rb.get(key)!;
    assert.equal(y.status, x.status, `${what}: ${x.kind} ${key} status`);
    assert.deepEqual(y.output, x.output, `${what}: ${x.kind} ${key} output`);
    assert.deepEqual(Object.keys(y.artifacts).sort(), Object.keys(x.artifacts).sort(), `${what}: ${x.kind} ${key} artifact names`);
    for (const [name, ref] of Object.entries(x.artifacts)) {
      const other = y.artifacts[name];
      assert.equal(other.key, ref.key, `${what}: ${x.kind} ${key} ${name} key`);
      if (name === 'metrics.json') {
        const strip = async (s: ArtifactStore, r: typeof ref) =>
          (JSON.parse(Buffer.from(await getVerified(s, r)).toString('utf8')) as { time?: number }[]).map(({ time: _t, ...p }) => p);
        assert.deepEqual(await strip(b, other), await strip(a, ref), `${what}: ${x.kind} ${key} training curve`);
      } else {
        assert.equal(other.sha256, ref.sha256, `${what}: ${x.kind} ${key} ${name} bytes`);
      }
    }
  }
  return [...rb.values()];
}
