/** The ledger tells damage from faults: a record that cannot be fetched is not an unreadable record. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../../core/errors.js';
import { LocalStore } from '../../infra/store/local.js';
import { probeRecord, readRecord, recordKey, writeRecord, type StepRecord } from '../../infra/ledger.js';

const record: StepRecord = { key: 'k1', kind: 'load', version: 1, params: {}, inputs: {}, status: 'done', attempt: 1, reason: 'new', startedAt: '2026-12-01T00:00:00.000Z', artifacts: {} };

test('a store that cannot be reached makes reading a record fail with that fault, never "unreadable" (which would run the step again)', async () => {
  const store = new LocalStore(await mkdtemp(join(tmpdir(), 'gantry-ledger-')));
  await writeRecord(store, record);
  assert.equal((await readRecord(store, 'k1'))?.status, 'done');
  // Found by the soak test: with MinIO restarting, "step record … is unreadable: cannot reach S3 endpoint".
  const away = Object.assign(Object.create(store) as LocalStore, {
    get: async () => {
      throw new EnvironmentError('cannot reach S3 endpoint 127.0.0.1:9 (ECONNREFUSED after 5 attempts)');
    },
  });
  await assert.rejects(readRecord(away, 'k1'), (e: Error) => e.name === 'EnvironmentError');
  await assert.rejects(probeRecord(away, 'k1'), (e: Error) => e.name === 'EnvironmentError');
  // Bytes that are not a record are damage, and probing says so.
  await store.put(recordKey('k1'), '{"key": "k1", "kind": ');
  assert.match((await probeRecord(store, 'k1')).unreadable ?? '', /step record k1 is unreadable: .*not valid JSON/);
});
