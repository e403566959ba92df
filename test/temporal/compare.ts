/** Comparing two stores' results: the same steps, outputs and artifacts (not a test file itself). */
import assert from 'node:assert/strict';
import { listRecords, type StepRecord } from '../../infra/ledger.js';
import { getVerified, type ArtifactStore } from '../../infra/store/store.js';

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
