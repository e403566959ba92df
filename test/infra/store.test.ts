import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../infra/store/local.js';
import { getVerified, ChecksumError, NotFoundError } from '../../infra/store/store.js';
import { UserError } from '../../core/errors.js';

test('put/get round-trips, lists keys, and records a checksum that read verification checks', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gantry-store-'));
  const s = new LocalStore(root);
  const ref = await s.put('steps/abc/out/x.bin', new Uint8Array([1, 2, 3]));
  assert.equal(ref.size, 3);
  assert.deepEqual([...(await getVerified(s, ref))], [1, 2, 3]);
  assert.deepEqual(await s.list('steps'), ['steps/abc/out/x.bin']);
  await writeFile(join(root, 'steps/abc/out/x.bin'), new Uint8Array([9, 9, 9]));
  await assert.rejects(getVerified(s, ref), ChecksumError);
  await assert.rejects(s.get('nope'), NotFoundError);
  // Atomic write: no temp files remain beside the object.
  assert.deepEqual(await readdir(join(root, 'steps/abc/out')), ['x.bin']);
});

test('keys cannot escape the store', async () => {
  const s = new LocalStore(await mkdtemp(join(tmpdir(), 'gantry-store-')));
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', 'a/./b', 'a\\b']) {
    await assert.rejects(s.put(bad, 'x'), UserError, bad);
  }
});

test('an unwritable store location is a clear UserError', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-store-'));
  await writeFile(join(dir, 'file'), 'x');
  const s = new LocalStore(join(dir, 'file', 'store')); // parent is a regular file
  await assert.rejects(s.checkWritable(), (e: unknown) => e instanceof UserError && /not writable/.test((e as Error).message));
  assert.equal(await readFile(join(dir, 'file'), 'utf8'), 'x');
});
