import { existsSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../infra/store/local.js';
import { getVerified, ChecksumError, NotFoundError } from '../../infra/store/store.js';
import { UserError } from '../../core/errors.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

test('versioned documents: create once, replace only the current version, never listed as artifacts', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gantry-store-'));
  const s = new LocalStore(root);
  assert.equal(await s.getVersioned('leases/k'), undefined);
  const a = await s.createExclusive('leases/k', 'a');
  assert.ok(a.ok);
  assert.deepEqual(await s.createExclusive('leases/k', 'again'), { ok: false });
  const b = await s.replaceIfMatch('leases/k', 'b', a.etag);
  assert.ok(b.ok);
  assert.deepEqual(await s.replaceIfMatch('leases/k', 'stale', a.etag), { ok: false });
  let etag = b.etag;
  for (const v of ['c', 'd', 'e']) {
    const r = await s.replaceIfMatch('leases/k', v, etag);
    assert.ok(r.ok);
    etag = r.etag;
  }
  // Once older versions are pruned, a stale etag may re-create one of their names: it must still lose, as must a creator.
  const dir = join(root, '.gantry-versioned', 'leases', 'k');
  const versions = (await readdir(dir)).sort();
  assert.equal(versions.length, 5, 'replaced versions stay a while');
  for (const v of versions.slice(0, -1)) await rm(join(dir, v));
  assert.deepEqual(await s.replaceIfMatch('leases/k', 'stale', a.etag), { ok: false });
  assert.deepEqual(await s.replaceIfMatch('leases/k', 'stale', b.etag), { ok: false });
  assert.deepEqual(await s.createExclusive('leases/k', 'again'), { ok: false });
  assert.deepEqual(await s.replaceIfMatch('leases/k', 'junk', 'not-an-etag'), { ok: false });
  const cur = await s.getVersioned('leases/k');
  assert.equal(Buffer.from(cur!.data).toString(), 'e');
  assert.equal(cur!.etag, etag);
  assert.deepEqual(await readdir(dir), versions.slice(-1), 'the losers withdrew their files');
  // A version torn by a power loss (no fsync) reads back as its bytes and can be replaced.
  await writeFile(join(dir, 'g000000000009'), '{"nonce":');
  const torn = await s.getVersioned('leases/k');
  assert.equal(Buffer.from(torn!.data).toString(), '{"nonce":');
  assert.ok((await s.replaceIfMatch('leases/k', 'f', torn!.etag)).ok);
  assert.equal(Buffer.from((await s.getVersioned('leases/k'))!.data).toString(), 'f');
  // Apart from the artifacts: not listed, not readable or removable as one.
  await s.put('steps/x/record.json', '{}');
  assert.deepEqual(await s.list(''), ['steps/x/record.json']);
  assert.equal(await s.exists('leases/k'), false);
  await s.delete('leases/k');
  assert.ok(await s.getVersioned('leases/k'));
  await assert.rejects(s.createExclusive('../k', 'x'), UserError);
  // deleteVersioned removes every version; the key can be created afresh.
  await s.deleteVersioned('leases/k');
  assert.equal(await s.getVersioned('leases/k'), undefined);
  assert.ok(!existsSync(dir));
  assert.ok((await s.createExclusive('leases/k', 'new')).ok);
  assert.deepEqual(await s.list(''), ['steps/x/record.json'], 'the artifacts untouched');
});

/** A process that races on one versioned document: `rounds` times, read it and replace it by its successor. */
const RACER = `
  const [storeModule, root, key, rounds, id, keepMs] = process.argv.slice(1);
  const { LocalStore } = await import(storeModule);
  const s = new LocalStore(root, { versionKeepMs: Number(keepMs) });
  const won = [];
  let created = false;
  if (key.endsWith('create')) created = (await s.createExclusive(key, id)).ok;
  else for (let i = 0; i < Number(rounds); ) {
    const cur = await s.getVersioned(key);
    const n = JSON.parse(Buffer.from(cur.data).toString()).n + 1;
    const r = await s.replaceIfMatch(key, JSON.stringify({ n, by: id }), cur.etag);
    if (r.ok) { won.push(n); i++; }
  }
  process.stdout.write(JSON.stringify({ won, created }));`;

async function race(root: string, key: string, processes: number, rounds: number, keepMs = 60_000): Promise<{ won: number[]; created: boolean }[]> {
  const storeModule = fileURLToPath(new URL('../../infra/store/local.js', import.meta.url));
  return Promise.all(
    Array.from({ length: processes }, (_, id) =>
      new Promise<{ won: number[]; created: boolean }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', RACER, storeModule, root, key, String(rounds), String(id), String(keepMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { won: number[]; created: boolean }) : reject(new Error(`racer ${id} exited ${code}`))));
      }),
    ),
  );
}

test('versioned documents: of many processes racing on one key, exactly one wins each version', { timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'gantry-store-'));
  const s = new LocalStore(root);
  const creators = await race(root, 'leases/create', 8, 0);
  assert.equal(creators.filter((r) => r.created).length, 1, 'one creator wins');

  assert.ok((await s.createExclusive('leases/k', JSON.stringify({ n: 0 }))).ok);
  const PROCS = 6;
  const ROUNDS = 40;
  const results = await race(root, 'leases/k', PROCS, ROUNDS);
  const won = results.flatMap((r) => r.won).sort((a, b) => a - b);
  // Every successor was written by exactly one process: no version was won twice, none lost.
  assert.deepEqual(won, Array.from({ length: PROCS * ROUNDS }, (_, i) => i + 1));
  const last = JSON.parse(Buffer.from((await s.getVersioned('leases/k'))!.data).toString()) as { n: number };
  assert.equal(last.n, PROCS * ROUNDS);
  const left = await readdir(join(root, '.gantry-versioned', 'leases', 'k'));
  assert.ok(!left.some((n) => n.startsWith('.tmp-')), `left behind: ${left.join(', ')}`);

  // Pruning at once, stale writers re-create pruned names all the time: still never two winners of one version.
  assert.ok((await s.createExclusive('leases/pruned', JSON.stringify({ n: 0 }))).ok);
  const pruned = (await race(root, 'leases/pruned', PROCS, ROUNDS, 0)).flatMap((r) => r.won);
  assert.equal(new Set(pruned).size, pruned.length, 'a version won twice');
  assert.equal(JSON.parse(Buffer.from((await s.getVersioned('leases/pruned'))!.data).toString()).n, Math.max(...pruned));
});
