/**
 * The S3 store against a real S3 server (MinIO on loopback, or the s3rver stand-in where there is
 * no minio binary: see s3-server.ts) reached through a fault proxy, and against servers that
 * fail: stopped mid-upload, hung, answering 5xx, refusing credentials.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Store, S3UnavailableError, type S3StoreOptions } from '../../infra/store/s3.js';
import { LocalStore } from '../../infra/store/local.js';
import { openStore } from '../../infra/config.js';
import { ChecksumError, ConditionalWritesUnsupportedError, getStreamVerified, getVerified, NotFoundError } from '../../infra/store/store.js';
import { EnvironmentError, oneLine, UserError } from '../../core/errors.js';
import { S3TestServer, startBlackholeServer, startErrorServer } from './s3-server.js';
import { startS3rver } from './s3rver.js';

const MIB = 1024 * 1024;
let server: S3TestServer;
let tmp: string;

before(async () => {
  server = await S3TestServer.start({ buckets: ['gantry-test', 'other-bucket'] });
  tmp = await mkdtemp(join(tmpdir(), 'gantry-s3-test-'));
});

after(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Fast-failing settings for tests: a few attempts, short timeouts. */
const FAST: S3StoreOptions = { maxAttempts: 3, connectionTimeoutMs: 1000, socketTimeoutMs: 1500 };

function store(prefix: string, opts: S3StoreOptions = {}): S3Store {
  return new S3Store(`s3://${server.bucket}/${prefix}`, { ...server.storeOptions(), ...FAST, env: {}, ...opts });
}

function sdkClient(): S3Client {
  return new S3Client({ ...server.storeOptions(), forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

async function randomFile(name: string, size: number): Promise<{ path: string; sha256: string }> {
  const data = randomBytes(size);
  const path = join(tmp, name);
  await writeFile(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}

async function streamSha(stream: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: h.digest('hex'), size };
}

/** Await a rejection, returning it and how long it took. */
async function failure(p: Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const t0 = performance.now();
  try {
    await p;
  } catch (e) {
    return { error: e as Error, ms: performance.now() - t0 };
  }
  assert.fail('expected a rejection');
}

function timing(name: string, ms: number): void {
  process.stdout.write(`# timing: ${name}: ${(ms / 1000).toFixed(2)} s\n`);
}

test('openStore(s3://…) gives an S3Store whose url round-trips and holds no credentials', async () => {
  const s = openStore('s3://bucket/pre/fix');
  assert.ok(s instanceof S3Store);
  assert.equal(s.url, 's3://bucket/pre/fix');
  assert.equal(openStore(s.url).url, s.url);
  assert.equal(openStore('s3://bucket/pre/fix/').url, 's3://bucket/pre/fix');
  assert.equal(openStore('s3://bucket').url, 's3://bucket');
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY123', AWS_SECRET_ACCESS_KEY: 'env-secret-value' };
  const withEnv = new S3Store('s3://bucket/pre/fix', { env });
  assert.doesNotMatch(withEnv.url + inspect(withEnv.url), /AKIA|env-secret/);
  // Credentials in the URL are refused without being echoed.
  const e = (await failure((async () => openStore('s3://AKIAXYZ:url-secret-123@bucket/p'))())).error;
  assert.ok(e instanceof UserError);
  assert.doesNotMatch(oneLine(e), /url-secret-123|AKIAXYZ/);
  for (const bad of ['s3://', 's3://Bad_Bucket/x', 's3://bucket/../x', 's3://bucket/a//b', 's3://bucket/p?x=1']) {
    assert.throws(() => openStore(bad), UserError, bad);
  }
});

test('a local store never loads the AWS SDK; an S3 store loads it on first use', () => {
  const config = fileURLToPath(new URL('../../infra/config.js', import.meta.url));
  const script = `
    import { createRequire } from 'node:module';
    const M = createRequire(import.meta.url)('node:module');
    const sdk = () => Object.keys(M._cache).filter((k) => k.includes('@aws-sdk')).length;
    const { openStore } = await import(${JSON.stringify(config)});
    const local = openStore(${JSON.stringify(join(tmp, 'lazy-local'))});
    await local.put('a/b', 'x');
    await local.get('a/b');
    const s3 = openStore('s3://bucket/p');
    const before = sdk();
    await s3.exists('a').catch(() => {});
    console.log(JSON.stringify({ before, after: sdk() }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_MAX_ATTEMPTS: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number; after: number };
  assert.equal(before, 0);
  assert.ok(after > 0);
});

test('put/get/exists/list/delete round-trip under the prefix, with sha256 metadata and verified reads', async () => {
  const s = store('rt/pre');
  await s.checkWritable();
  const ref = await s.put('steps/abc/out/x.bin', new Uint8Array([1, 2, 3]));
  assert.deepEqual(ref, { key: 'steps/abc/out/x.bin', sha256: createHash('sha256').update(new Uint8Array([1, 2, 3])).digest('hex'), size: 3 });
  await s.put('steps/abc/out/y.json', '{"a":1}');
  await s.put('steps/abd/record.json', '{}');
  await s.put('stepsx/not-under-steps', 'x');
  assert.deepEqual([...(await getVerified(s, ref))], [1, 2, 3]);
  assert.equal(Buffer.from(await s.get('steps/abc/out/y.json')).toString(), '{"a":1}');
  assert.equal(await s.exists('steps/abc/out/x.bin'), true);
  assert.equal(await s.exists('steps/abc/out/nope'), false);
  assert.deepEqual(await s.list('steps'), ['steps/abc/out/x.bin', 'steps/abc/out/y.json', 'steps/abd/record.json']);
  assert.deepEqual(await s.list('steps/abc/'), ['steps/abc/out/x.bin', 'steps/abc/out/y.json']);
  assert.deepEqual(await s.list(''), ['steps/abc/out/x.bin', 'steps/abc/out/y.json', 'steps/abd/record.json', 'stepsx/not-under-steps']);
  assert.deepEqual(await s.list('nothing/here'), []);
  // Same layout as the local store, under the prefix; the checksum is in x-amz-meta-sha256.
  const head = await sdkClient().send(new HeadObjectCommand({ Bucket: server.bucket, Key: 'rt/pre/steps/abc/out/x.bin' }));
  assert.equal(head.Metadata?.sha256, ref.sha256);
  // A changed object fails verification against the recorded ref; a missing one is NotFoundError.
  await s.put('steps/abc/out/x.bin', new Uint8Array([9, 9, 9]));
  await assert.rejects(getVerified(s, ref), ChecksumError);
  await assert.rejects(s.get('steps/abc/out/nope'), NotFoundError);
  await assert.rejects(s.getStream('steps/abc/out/nope'), NotFoundError);
  await s.delete('steps/abc/out/x.bin');
  await s.delete('steps/abc/out/x.bin'); // idempotent, like the local store
  assert.equal(await s.exists('steps/abc/out/x.bin'), false);
  // Another prefix in the same bucket is another store; the probe of checkWritable left nothing.
  assert.deepEqual(await store('rt/other').list(''), []);
  assert.deepEqual(await store('rt').list(''), ['pre/steps/abc/out/y.json', 'pre/steps/abd/record.json', 'pre/stepsx/not-under-steps']);
  await s.close();
});

test('list pages through ListObjectsV2 continuation tokens', async () => {
  const s = store('paged', { listPageSize: 7 });
  const keys = Array.from({ length: 40 }, (_, i) => `steps/k${String(i).padStart(3, '0')}/out/m`);
  await Promise.all(keys.map((k) => s.put(k, k)));
  const before = server.requests.length;
  assert.deepEqual(await s.list('steps'), keys);
  const pages = server.requests.slice(before).filter((r) => r.method === 'GET' && r.query['list-type'] === '2');
  assert.equal(pages.length, 6); // 40 keys, 7 a page
  assert.ok(pages.slice(1).every((r) => typeof r.query['continuation-token'] === 'string'));
  await s.close();
});

test('list returns more than 1000 keys (S3 pages at 1000)', async () => {
  const s = store('many');
  const keys = Array.from({ length: 1005 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, '')));
  const before = server.requests.length;
  assert.deepEqual(await s.list('k'), keys);
  assert.equal(server.requests.slice(before).filter((r) => r.query['list-type'] === '2').length, 2);
  await s.close();
});

test('keys are checked as in the local store', async () => {
  const s = store('keys');
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', 'a/./b', 'a\\b', '.hidden']) {
    await assert.rejects(s.put(bad, 'x'), UserError, bad);
    await assert.rejects(s.get(bad), UserError, bad);
    await assert.rejects(s.putFile(bad, '/dev/null'), UserError, bad);
  }
  await assert.rejects(s.list('../up'), UserError);
  await s.close();
});

test('putFile streams a large file as a multipart upload; getStream reads it back with the same sha256', async () => {
  const s = store('big', { partSize: 5 * MIB });
  const { path, sha256 } = await randomFile('big.bin', 12 * MIB + 12345);
  const before = server.requests.length;
  const ref = await s.putFile('steps/big/out/model', path);
  assert.deepEqual(ref, { key: 'steps/big/out/model', sha256, size: 12 * MIB + 12345 });
  const reqs = server.requests.slice(before);
  assert.equal(reqs.filter((r) => r.method === 'PUT' && r.query.partNumber).length, 3, 'three 5 MiB parts');
  assert.equal(reqs.filter((r) => r.method === 'POST' && 'uploadId' in r.query).length, 1, 'one CompleteMultipartUpload');
  assert.deepEqual(await streamSha(await s.getStream('steps/big/out/model')), { sha256, size: ref.size });
  assert.deepEqual(await streamSha(await getStreamVerified(s, ref)), { sha256, size: ref.size });
  const head = await sdkClient().send(new HeadObjectCommand({ Bucket: server.bucket, Key: 'big/steps/big/out/model' }));
  assert.equal(head.Metadata?.sha256, sha256);
  assert.deepEqual(await server.pendingUploads(), []);
  assert.deepEqual((await server.keys('big/')).map((o) => o.key), ['big/steps/big/out/model'], 'the upload record is gone');
  // Small and empty files go up in one PutObject.
  const small = await randomFile('small.bin', 1000);
  assert.equal((await s.putFile('steps/small/out/x', small.path)).sha256, small.sha256);
  await writeFile(join(tmp, 'empty.bin'), '');
  const empty = await s.putFile('steps/empty/out/x', join(tmp, 'empty.bin'));
  assert.equal(empty.size, 0);
  assert.equal((await s.get('steps/empty/out/x')).byteLength, 0);
  // A stream that does not match its ref fails at its end.
  await s.putFile('steps/big/out/model', small.path);
  await assert.rejects(streamSha(await getStreamVerified(s, ref)), ChecksumError);
  await s.close();
});

test('LocalStore putFile/getStream: atomic, streamed, checksummed like put', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gantry-local-'));
  const s = new LocalStore(root);
  const { path, sha256 } = await randomFile('local.bin', 3 * MIB + 7);
  const ref = await s.putFile('steps/a/out/model', path);
  assert.deepEqual(ref, { key: 'steps/a/out/model', sha256, size: 3 * MIB + 7 });
  assert.deepEqual(await readdir(join(root, 'steps/a/out')), ['model']); // no temp files left
  assert.deepEqual(await streamSha(await getStreamVerified(s, ref)), { sha256, size: ref.size });
  assert.equal((await getVerified(s, ref)).byteLength, ref.size);
  await assert.rejects(s.getStream('steps/a/out/none'), NotFoundError);
  await assert.rejects(s.putFile('steps/a/out/bad', join(tmp, 'does-not-exist')), /ENOENT/);
  assert.deepEqual(await readdir(join(root, 'steps/a/out')), ['model']);
});

test('a part that keeps failing aborts the multipart upload: no object, no upload left', async () => {
  const s = store('fail-part', { partSize: 5 * MIB, queueSize: 1 });
  const { path } = await randomFile('fail.bin', 11 * MIB);
  const heal = server.failRequests((r) => r.method === 'PUT' && r.query.partNumber === '2', 500, 'InternalError');
  const before = server.requests.length;
  const { error, ms } = await failure(s.putFile('steps/f/out/model', path));
  heal();
  timing('part answered 500 on every attempt', ms);
  assert.ok(error instanceof S3UnavailableError, inspect(error));
  assert.match(error.message, /HTTP 500 InternalError after 3 attempts/);
  const reqs = server.requests.slice(before);
  assert.equal(reqs.filter((r) => r.method === 'PUT' && r.query.partNumber === '2').length, 3, 'the part was retried');
  assert.equal(reqs.filter((r) => r.method === 'DELETE' && 'uploadId' in r.query).length, 1, 'the upload was aborted');
  assert.equal(await s.exists('steps/f/out/model'), false);
  assert.deepEqual(await s.list(''), []);
  assert.deepEqual(await server.pendingUploads(), []);
  assert.deepEqual(await server.keys('fail-part/'), [], 'nothing in the bucket, not even the upload record');
  await s.close();
});

test('a file that changes during putFile fails the upload before it completes', async () => {
  const s = store('changed', { partSize: 5 * MIB, queueSize: 1 });
  const { path } = await randomFile('changing.bin', 11 * MIB);
  let changed: Promise<void> | undefined;
  const stop = server.onRequest((r) => {
    // Rewrite the file once the first part is on its way.
    if (!changed && r.method === 'PUT' && r.query.partNumber === '1') changed = writeFile(path, randomBytes(11 * MIB));
  });
  const { error } = await failure(s.putFile('steps/c/out/model', path));
  stop();
  await changed;
  assert.match(error.message, /changed while it was being uploaded/);
  assert.equal(await s.exists('steps/c/out/model'), false);
  assert.deepEqual(await server.pendingUploads(), []);
  assert.deepEqual(await server.keys('changed/'), []);
  await s.close();
});

test('the server stopped mid-upload: putFile fails in bounded time, and nothing of it remains visible', async () => {
  const s = store('crash', { partSize: 5 * MIB, queueSize: 1 });
  const { path } = await randomFile('crash.bin', 16 * MIB);
  const held = server.holdRequests((r) => r.method === 'PUT' && r.query.partNumber === '2').reached;
  const upload = failure(s.putFile('steps/crash/out/model', path));
  await held; // part 1 is stored, part 2 is on the wire
  await server.stop();
  const { error, ms } = await upload;
  timing('server stopped mid-upload', ms);
  assert.ok(error instanceof EnvironmentError, inspect(error));
  assert.match(error.message, new RegExp(`cannot reach S3 endpoint 127\\.0\\.0\\.1:${server.port} \\(E[A-Z]+ after 3 attempts\\)`));
  assert.ok(ms < 15_000, `${ms} ms`);
  await server.restart();
  assert.equal(await s.exists('steps/crash/out/model'), false);
  assert.deepEqual(await s.list(''), []);
  // The abort could not reach the dead server: the upload is still there, invisible…
  const pending = await server.pendingUploads();
  assert.deepEqual(pending.map((u) => u.key), ['crash/steps/crash/out/model']);
  // …until the store's next check (every run starts with one) aborts it, and drops its record.
  await s.checkWritable();
  assert.deepEqual(await server.pendingUploads(), []);
  assert.deepEqual(await server.keys('crash/'), []);
  assert.equal(await s.exists('steps/crash/out/model'), false);
  await s.close();
});

test('an upload left by a process that died mid-upload is found and swept once stale (MinIO lists uploads only by exact key)', async () => {
  const { path } = await randomFile('abandoned.bin', 11 * MIB);
  const held = server.holdRequests((r) => r.method === 'PUT' && r.query.partNumber === '2' && r.path.startsWith(`/${server.bucket}/swept/`));
  const s3 = fileURLToPath(new URL('../../infra/store/s3.js', import.meta.url));
  const code = `
    const { workerData: d } = require('node:worker_threads');
    import(d.s3).then(({ S3Store }) => new S3Store(d.url, d.opts).putFile('steps/x/out/model', d.path));`;
  const opts: S3StoreOptions = { ...server.storeOptions(), partSize: 5 * MIB, queueSize: 1, env: {} };
  const w = new Worker(code, { eval: true, workerData: { s3, url: `s3://${server.bucket}/swept`, opts, path } });
  await held.reached; // part 1 is stored, part 2 is on the wire
  await w.terminate(); // the process dies: nobody aborts its upload
  held.release();
  assert.deepEqual((await server.pendingUploads()).map((u) => u.key), ['swept/steps/x/out/model']);
  const s = store('swept');
  await s.checkWritable(); // default: only uploads older than a day
  assert.equal((await server.pendingUploads()).length, 1);
  assert.equal(await s.abortIncompleteUploads(0), 1);
  assert.deepEqual(await server.pendingUploads(), []);
  assert.deepEqual(await server.keys('swept/'), [], 'the upload record went with it');
  assert.equal(await s.abortIncompleteUploads(0), 0);
  await s.close();
});

test('a server that accepts and never answers fails in bounded time with a clear message', async () => {
  const hole = await startBlackholeServer();
  const s = new S3Store('s3://bucket/p', { endpoint: hole.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 3, connectionTimeoutMs: 1000, socketTimeoutMs: 500 });
  try {
    const put = await failure(s.put('steps/a/out/x', 'data'));
    timing('hung server, put (3 attempts × 0.5 s idle timeout)', put.ms);
    assert.ok(put.error instanceof EnvironmentError, inspect(put.error));
    assert.match(oneLine(put.error), new RegExp(`cannot reach S3 endpoint ${new URL(hole.endpoint).host} \\(TimeoutError after 3 attempts\\)`));
    assert.ok(put.ms < 5000, `${put.ms} ms`);
    assert.equal(hole.connections(), 3, 'one connection per attempt');
    const get = await failure(s.get('steps/a/out/x'));
    timing('hung server, get', get.ms);
    assert.match(get.error.message, /cannot reach S3 endpoint/);
  } finally {
    await s.close();
    await hole.stop();
  }
});

test('an endpoint nobody listens on: cannot reach, after retries', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const s = new S3Store('s3://bucket/p', { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 3 });
  const { error, ms } = await failure(s.checkWritable());
  timing('connection refused, checkWritable', ms);
  assert.ok(error instanceof EnvironmentError);
  assert.match(error.message, new RegExp(`cannot reach S3 endpoint 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED after 3 attempts\\)`));
  assert.match(oneLine(error), /AWS_ENDPOINT_URL/);
  await s.close();
});

test('a transient 5xx is retried until the server takes the request', async () => {
  const s = store('transient');
  const object = `/${server.bucket}/transient/steps/t/out/x`;
  const heal = server.failRequests((r) => r.method === 'PUT' && r.path === object, 500, 'InternalError', 2);
  const before = server.requests.length;
  const ref = await s.put('steps/t/out/x', 'data');
  heal();
  assert.equal(server.requests.slice(before).filter((r) => r.method === 'PUT' && r.path === object).length, 3, 'two failures, then the real server');
  assert.equal(Buffer.from(await getVerified(s, ref)).toString(), 'data');
  await s.close();
});

test('5xx answers are retried, then reported clearly', async () => {
  for (const [status, code] of [[503, 'ServiceUnavailable'], [500, 'InternalError']] as const) {
    const bad = await startErrorServer(status, code);
    const s = new S3Store('s3://bucket/p', { endpoint: bad.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 4 });
    try {
      const { error, ms } = await failure(s.put('steps/a/out/x', 'data'));
      timing(`HTTP ${status} on every attempt, put`, ms);
      assert.ok(error instanceof S3UnavailableError, inspect(error));
      assert.match(error.message, new RegExp(`S3 endpoint ${new URL(bad.endpoint).host} failed to write 'steps/a/out/x': HTTP ${status} ${code} after 4 attempts`));
      assert.equal(bad.requests(), 4, 'maxAttempts requests reached the server');
      const probe = (await failure(s.checkWritable())).error;
      assert.match(probe.message, new RegExp(`S3 endpoint ${new URL(bad.endpoint).host} failed to write a probe object: HTTP ${status} ${code} after 4 attempts$`));
    } finally {
      await s.close();
      await bad.stop();
    }
  }
});

test('wrong credentials are a UserError that names neither the secret nor the key', async () => {
  const secret = 'wrong-secret-4f9c2e71';
  const wrongSecret = store('creds', { credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: secret } });
  for (const op of [() => wrongSecret.put('a/b', 'x'), () => wrongSecret.get('a/b'), () => wrongSecret.list(''), () => wrongSecret.checkWritable()]) {
    const { error } = await failure(op());
    assert.ok(error instanceof UserError, inspect(error));
    assert.match(oneLine(error), /S3 rejected the credentials for bucket 'gantry-test' \(SignatureDoesNotMatch\).*AWS_ACCESS_KEY_ID/);
    assert.ok(!inspect(error, { depth: 10 }).includes(secret));
  }
  const wrongKey = store('creds', { credentials: { accessKeyId: 'AKIAWRONGKEY0042', secretAccessKey: secret } });
  const { error } = await failure(wrongKey.put('a/b', 'x'));
  assert.ok(error instanceof UserError);
  assert.match(error.message, /rejected the credentials.*InvalidAccessKeyId/);
  const shown = inspect(error, { depth: 10 });
  assert.ok(!shown.includes(secret) && !shown.includes('AKIAWRONGKEY0042'), shown);
  // exists() answers through HEAD (no error body): a 403 there is the same outcome.
  assert.match((await failure(wrongSecret.exists('a/b'))).error.message, /rejected the credentials/);
  await wrongSecret.close();
  await wrongKey.close();
});

test('a missing bucket is a UserError naming it', async () => {
  const s = new S3Store('s3://no-such-bucket/p', { ...server.storeOptions(), ...FAST, env: {} });
  for (const op of [() => s.checkWritable(), () => s.put('a/b', 'x'), () => s.list('a'), () => s.get('a/b')]) {
    const { error } = await failure(op());
    assert.ok(error instanceof UserError, inspect(error));
    assert.match(error.message, /S3 bucket 'no-such-bucket' does not exist/);
  }
  await s.close();
});

test('worker threads reopen the store from store.url (settings from the shared environment)', async () => {
  const parent = store('workers');
  const config = fileURLToPath(new URL('../../infra/config.js', import.meta.url));
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.config).then(async ({ openStore }) => {
      const s = openStore(workerData.url);
      const ref = await s.put('steps/w/out/x', 'from a worker');
      parentPort.postMessage({ url: s.url, ref, back: Buffer.from(await s.get('steps/w/out/x')).toString() });
    }).catch((e) => parentPort.postMessage({ error: String(e) }));`;
  const env = { ...process.env, ...server.env('workers') };
  const w = new Worker(code, { eval: true, workerData: { config, url: parent.url }, env });
  const msg = await new Promise<{ url: string; back: string; error?: string; ref: { sha256: string } }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  assert.equal(msg.error, undefined);
  assert.equal(msg.url, parent.url);
  assert.equal(msg.back, 'from a worker');
  assert.equal(Buffer.from(await getVerified(parent, { key: 'steps/w/out/x', sha256: msg.ref.sha256, size: 13 })).toString(), 'from a worker');
  await parent.close();
});

/** MinIO honours conditional writes; the s3rver stand-in ignores them (its cases are the next test's). */
const casServer = () => server.backend.name.startsWith('MinIO');

test('versioned documents: If-None-Match creates once, If-Match replaces only the current version, never listed', async (t) => {
  if (!casServer()) return t.skip(`${server.backend.name} ignores conditional writes (the next test covers that)`);
  const s = store('cas');
  assert.equal(await s.getVersioned('leases/k'), undefined);
  const a = await s.createExclusive('leases/k', 'a');
  assert.ok(a.ok);
  assert.deepEqual(await s.createExclusive('leases/k', 'again'), { ok: false });
  const b = await s.replaceIfMatch('leases/k', 'b', a.etag);
  assert.ok(b.ok);
  assert.deepEqual(await s.replaceIfMatch('leases/k', 'stale', a.etag), { ok: false });
  assert.deepEqual(await s.replaceIfMatch('leases/nothing', 'x', a.etag), { ok: false });
  const cur = await s.getVersioned('leases/k');
  assert.equal(Buffer.from(cur!.data).toString(), 'b');
  assert.equal(cur!.etag, b.etag);
  // Apart from the artifacts, under the prefix; the probe left nothing.
  await s.put('steps/x/record.json', '{}');
  assert.deepEqual(await s.list(''), ['steps/x/record.json']);
  assert.equal(await s.exists('leases/k'), false);
  assert.deepEqual((await server.keys('cas/')).map((k) => k.key).sort(), ['cas/.gantry-versioned/leases/k', 'cas/steps/x/record.json']);
  // deleteVersioned removes it (gc does, with its step); the artifacts stay; it can be created afresh.
  await s.deleteVersioned('leases/k');
  assert.equal(await s.getVersioned('leases/k'), undefined);
  assert.deepEqual((await server.keys('cas/')).map((k) => k.key).sort(), ['cas/steps/x/record.json']);
  assert.ok((await s.createExclusive('leases/k', 'new')).ok);
  await s.close();
});

test('versioned documents: of many clients racing on one key, exactly one wins each version', { timeout: 120_000 }, async (t) => {
  if (!casServer()) return t.skip(`${server.backend.name} ignores conditional writes`);
  const clients = Array.from({ length: 6 }, () => store('cas-race'));
  const creators = await Promise.all(clients.map((c, i) => c.createExclusive('leases/k', JSON.stringify({ n: 0, by: i }))));
  assert.equal(creators.filter((r) => r.ok).length, 1, 'one creator wins');
  const ROUNDS = 15;
  const won = (
    await Promise.all(
      clients.map(async (c, id) => {
        const mine: number[] = [];
        while (mine.length < ROUNDS) {
          const cur = (await c.getVersioned('leases/k'))!;
          const n = (JSON.parse(Buffer.from(cur.data).toString()) as { n: number }).n + 1;
          if ((await c.replaceIfMatch('leases/k', JSON.stringify({ n, by: id }), cur.etag)).ok) mine.push(n);
        }
        return mine;
      }),
    )
  ).flat().sort((a, b) => a - b);
  assert.deepEqual(won, Array.from({ length: clients.length * ROUNDS }, (_, i) => i + 1));
  await Promise.all(clients.map((c) => c.close()));
});

test('a server that ignores conditional writes (s3rver) is found out: ConditionalWritesUnsupportedError, and nothing is written unconditionally', async () => {
  const backend = await startS3rver(['cas-check']);
  try {
    const s = new S3Store('s3://cas-check/p', { endpoint: backend.endpoint, region: 'us-east-1', credentials: backend.credentials, ...FAST, env: {} });
    for (const op of [() => s.createExclusive('leases/k', 'x'), () => s.replaceIfMatch('leases/k', 'x', '"abc"')]) {
      const { error } = await failure(op());
      assert.ok(error instanceof ConditionalWritesUnsupportedError, inspect(error));
      assert.match(error.message, /ignores conditional writes/);
    }
    assert.equal(await s.getVersioned('leases/k'), undefined, 'no lease was written unconditionally');
    const c = new S3Client({ endpoint: backend.endpoint, region: 'us-east-1', credentials: backend.credentials, forcePathStyle: true });
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    assert.deepEqual((await c.send(new ListObjectsV2Command({ Bucket: 'cas-check' }))).Contents ?? [], [], 'the probe was removed');
    c.destroy();
    await s.close();
  } finally {
    await backend.close();
  }
});
