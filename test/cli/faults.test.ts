/**
 * Faults of the machine, not of the input (issue 13, row 13): a read-only catalog file or folder,
 * a catalog folder that cannot be made, a full disk under the catalog (at open and at commit) and
 * under the store. Each is one line naming the path and what to do, exit 1, no stack, no
 * "--verbose" line; nothing partial stays; a run after the fault is gone succeeds, with the
 * results a fault-free run has.
 *
 * How the faults are made without root: permissions by chmod (as root, which chmod does not stop,
 * the CLI runs as user nobody over files it owns); a full disk by /dev/full (the catalog itself,
 * or its WAL, a symlink to it: every write gets ENOSPC from the kernel); a store write refused by
 * RLIMIT_FSIZE (prlimit: EFBIG from the kernel) and, for ENOSPC itself, by a preloaded module that
 * fails the store's artifact writes with ENOSPC (no tmpfs or loop device can be mounted here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Catalog, type TrialRows } from '../../infra/catalog.js';
import { EnvironmentError, isEnvironmentError, isUserError, oneLine } from '../../core/errors.js';
import { listRecords } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';
import { S3Store } from '../../infra/store/s3.js';
import { CLI, tempHome, toyStudy, writeStudy, type CliResult } from '../helpers.js';
import { startErrorServer } from '../infra/s3-server.js';

const rxOnly = (name: string, dataset: Record<string, unknown> = {}) =>
  toyStudy({ name, base: { ...(toyStudy().base as { dataset: object }), dataset: { ...(toyStudy().base as { dataset: object }).dataset, ...dataset } }, grid: [{ set: { model: { kind: 'rx' } } }] });

/** As root, chmod stops nobody: the CLI then runs as user nobody (65534), over files it owns. */
const ROOT = process.getuid?.() === 0;
const AS = ROOT ? { uid: 65534, gid: 65534 } : {};

function cli(args: string[], env: Record<string, string>, opts: { as?: boolean; prefix?: string[]; nodeArgs?: string[] } = {}): Promise<CliResult> {
  const cmd = [...(opts.prefix ?? []), process.execPath, ...(opts.nodeArgs ?? []), CLI, ...args];
  const child = spawn(cmd[0], cmd.slice(1), { env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.as ? AS : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    child.on('error', (e) => resolve({ code: -1, signal: null, stdout, stderr: String(e) }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Why the permission tests cannot run here, or undefined when they can. */
async function permissionsSkip(): Promise<string | undefined> {
  if (!ROOT) return undefined;
  const r = await cli(['--help'], {}, { as: true });
  return r.code === 0 ? undefined : `running as root, and the CLI cannot run as user nobody here (${r.stderr.trim().split('\n')[0]}): chmod stops no root process, so there is nothing to test`;
}

/** A home the CLI (as whoever it runs as) owns. */
async function home(): Promise<string> {
  const dir = await tempHome('gantry-faults-');
  await handOver(dir);
  return dir;
}

async function handOver(path: string): Promise<void> {
  if (!ROOT) return;
  await chown(path, 65534, 65534);
  const s = await stat(path);
  if (s.isDirectory()) for (const e of await readdir(path)) await handOver(join(path, e));
}

/** The fault's one line: exit 1, 'error: …' and nothing more on stderr, no stack, no '--verbose' line. */
function assertOneLine(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |--verbose|IO Error|TransactionContext/);
}

async function trialCount(env: Record<string, string>, as = true): Promise<string> {
  const q = await cli(['query', "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'done') AS done FROM trials", '--format', 'csv'], env, { as });
  assert.equal(q.code, 0, q.stderr);
  return q.stdout.trim();
}

test('a read-only catalog file: run stops before any step with one line naming it (exit 1); query still reads it; writable again, the next run records', async (t) => {
  const why = await permissionsSkip();
  if (why) return t.skip(why);
  const dir = await home();
  const env = { GANTRY_HOME: dir };
  const a = await writeStudy(dir, rxOnly('faults-a'));
  const b = await writeStudy(dir, rxOnly('faults-b', { seed: 2 }), 'b.json');
  await handOver(dir);
  const ok = await cli(['run', a], env, { as: true });
  assert.equal(ok.code, 0, ok.stderr);
  const catalog = join(dir, 'catalog.duckdb');
  await chmod(catalog, 0o444);

  const r = await cli(['run', b], env, { as: true });
  assertOneLine(r, new RegExp(`cannot write the catalog ${catalog}: permission denied \\(make it and ${dir} writable, or set GANTRY_CATALOG to a writable path\\)`));
  assert.equal(r.stdout, '', 'nothing ran');
  assert.equal(await trialCount(env), 'n,done\n1,1', 'gantry query reads a read-only catalog');

  await chmod(catalog, 0o644);
  const again = await cli(['run', b], env, { as: true });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await trialCount(env), 'n,done\n2,2');
});

test('a read-only catalog folder: run and catalog rebuild say so in one line (exit 1), query reads; a folder that cannot be made is named too', async (t) => {
  const why = await permissionsSkip();
  if (why) return t.skip(why);
  const dir = await home();
  const folder = join(dir, 'catalogs');
  await mkdir(folder);
  await handOver(folder);
  const env = { GANTRY_HOME: dir, GANTRY_CATALOG: join(folder, 'catalog.duckdb') };
  const a = await writeStudy(dir, rxOnly('faults-a'));
  const b = await writeStudy(dir, rxOnly('faults-b', { seed: 2 }), 'b.json');
  await handOver(dir);
  assert.equal((await cli(['run', a], env, { as: true })).code, 0);
  await chmod(folder, 0o555); // the file stays writable, its WAL cannot be made
  try {
    const r = await cli(['run', b], env, { as: true });
    assertOneLine(r, new RegExp(`cannot write the catalog ${folder}/catalog.duckdb: permission denied \\(make it and ${folder} writable`));
    assert.equal(await trialCount(env), 'n,done\n1,1');
    const rebuild = await cli(['catalog', 'rebuild'], env, { as: true });
    assertOneLine(rebuild, new RegExp(`cannot write the catalog ${folder}/catalog.duckdb.rebuild: permission denied`));
    const sub = await cli(['run', b], { ...env, GANTRY_CATALOG: join(folder, 'sub', 'catalog.duckdb') }, { as: true });
    assertOneLine(sub, new RegExp(`cannot create the catalog's folder ${folder}/sub: permission denied \\(make its parent writable, or set GANTRY_CATALOG to a writable path\\)`));
  } finally {
    await chmod(folder, 0o755);
  }
  const again = await cli(['run', b], env, { as: true });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await trialCount(env), 'n,done\n2,2');
  assert.deepEqual((await readdir(folder)).filter((f) => f !== 'catalog.duckdb' && f !== 'catalog.duckdb.wal'), [], 'no rebuild file left');
});

test('unreadable catalog: gantry query says it cannot read it (exit 1), not that there is none', async (t) => {
  const why = await permissionsSkip();
  if (why) return t.skip(why);
  const dir = await home();
  const env = { GANTRY_HOME: dir };
  const a = await writeStudy(dir, rxOnly('faults-a'));
  await handOver(dir);
  assert.equal((await cli(['run', a], env, { as: true })).code, 0);
  await chmod(join(dir, 'catalog.duckdb'), 0o000);
  const q = await cli(['query', 'SELECT count(*) FROM trials'], env, { as: true });
  assertOneLine(q, new RegExp(`cannot read the catalog ${dir}/catalog.duckdb: permission denied \\(make it readable`));
});

test('a catalog under a file is bad input (exit 2), whoever runs it', async () => {
  const dir = await tempHome('gantry-faults-');
  await writeFile(join(dir, 'a-file'), 'x');
  const r = await cli(['run', await writeStudy(dir, rxOnly('faults-a'))], { GANTRY_HOME: dir, GANTRY_CATALOG: join(dir, 'a-file', 'catalog.duckdb') });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /the catalog's folder .*a-file cannot be made: part of that path is a file/);
});

const DEV_FULL = existsSync('/dev/full') ? undefined : 'no /dev/full on this machine (the full-disk stand-in)';

test('a full disk under the catalog at commit (its WAL on /dev/full): one line, exit 1; once there is space the next run records the trial', { skip: DEV_FULL }, async () => {
  const dir = await tempHome('gantry-faults-');
  const env = { GANTRY_HOME: dir };
  const a = await writeStudy(dir, rxOnly('faults-a'));
  const b = await writeStudy(dir, rxOnly('faults-b', { seed: 2 }), 'b.json');
  assert.equal((await cli(['run', a], env)).code, 0);
  const catalog = join(dir, 'catalog.duckdb');
  await rm(`${catalog}.wal`, { force: true }); // checkpointed at close
  await symlink('/dev/full', `${catalog}.wal`);
  const r = await cli(['run', b], env);
  assertOneLine(r, new RegExp(`cannot write the catalog ${catalog}: no space left on device \\(free space on the disk holding ${dir}, or set GANTRY_CATALOG`));
  await rm(`${catalog}.wal`);
  assert.equal(await trialCount(env, false), 'n,done\n1,1', 'the catalog is as it was');
  const again = await cli(['run', b], env);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await trialCount(env, false), 'n,done\n2,2');
});

test('a full disk where the catalog is made (GANTRY_CATALOG on /dev/full): one line naming it, exit 1', { skip: DEV_FULL }, async () => {
  const dir = await tempHome('gantry-faults-');
  const catalog = join(dir, 'catalog.duckdb');
  await symlink('/dev/full', catalog);
  const r = await cli(['run', await writeStudy(dir, rxOnly('faults-a'))], { GANTRY_HOME: dir });
  assertOneLine(r, new RegExp(`cannot write the catalog ${catalog}: no space left on device`));
});

const row = (id: string, auc: number): TrialRows => ({
  trial: { trialId: id, study: 's', cellId: 'c', cell: '', seed: 0, model: 'rx', dataset: 'd', status: 'done', backend: null, error: null, config: {}, createdAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:01Z' },
  params: [{ key: 'model.kind', value: 'rx', valueNum: null, isAxis: false }],
  metrics: [{ name: 'auc', step: 0, value: auc, time: null }],
  steps: [],
  scores: [{ set: 'rx', values: Float64Array.from({ length: 5000 }, (_, i) => i / 5000), labels: new Uint8Array(5000) }],
});

test('replaceTrial is one transaction: a commit the disk refuses leaves the old rows whole, and the next write records the trial', { skip: DEV_FULL }, async () => {
  const dir = await tempHome('gantry-faults-');
  const path = join(dir, 'catalog.duckdb');
  const state = async () => {
    const c = await Catalog.openReadOnly(path);
    try {
      return (await c.query("SELECT (SELECT value FROM metrics WHERE trial_id = 't1'), (SELECT count(*) FROM scores WHERE trial_id = 't1'), (SELECT count(*) FROM params WHERE trial_id = 't1')")).rows[0].map(Number);
    } finally {
      c.close();
    }
  };
  let cat = await Catalog.open(path);
  await cat.replaceTrial(row('t1', 0.5));
  await cat.conn.run('CHECKPOINT'); // the WAL goes; the next commit makes it anew, on /dev/full
  await symlink('/dev/full', `${path}.wal`);
  await assert.rejects(cat.replaceTrial(row('t1', 0.9)), (e: unknown) => {
    assert.ok(isEnvironmentError(e), String(e));
    assert.match(oneLine(e), new RegExp(`^cannot write the catalog ${path}: no space left on device \\(free space`));
    return true;
  });
  cat.close();
  await rm(`${path}.wal`);
  assert.deepEqual(await state(), [0.5, 5000, 1], 'the old rows, all of them');
  cat = await Catalog.open(path);
  await cat.replaceTrial(row('t1', 0.9));
  cat.close();
  assert.deepEqual(await state(), [0.9, 5000, 1]);
});

/** Every artifact in the store belongs to a step whose record says done, and no temp file is left. */
async function assertNothingPartial(store: string): Promise<void> {
  const s = new LocalStore(store);
  const done = new Set((await listRecords(s)).filter((r) => r.status === 'done').map((r) => r.key));
  for (const k of await s.list('steps')) if (k.includes('/out/')) assert.ok(done.has(k.split('/')[1]), `partial artifact visible: ${k}`);
  const walk = async (d: string): Promise<string[]> =>
    (await Promise.all((await readdir(d, { withFileTypes: true })).map((e) => (e.isDirectory() ? walk(join(d, e.name)) : [e.name])))).flat();
  assert.deepEqual((await walk(store)).filter((n) => n.startsWith('.tmp-')), [], 'temp files left');
}

async function aucs(env: Record<string, string>): Promise<string> {
  const q = await cli(['query', 'SELECT study, cell, auc, logauc FROM trial_summary ORDER BY study', '--format', 'csv'], env);
  assert.equal(q.code, 0, q.stderr);
  return q.stdout.replace(/^[^\n]*\n/, '').replace(/^faults-[a-z]+/gm, '');
}

/** A run the store's disk refuses, then the same run with the fault gone: the results of a run that never met it. */
async function storeFault(fault: { prefix?: string[]; nodeArgs?: string[]; env?: Record<string, string> }, error: RegExp, dataset: Record<string, unknown>, compare = true) {
  const dir = await tempHome('gantry-faults-');
  const env = { GANTRY_HOME: dir };
  const study = await writeStudy(dir, rxOnly('faults-store', dataset));
  const r = await cli(['run', study], { ...env, ...fault.env }, fault);
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], error);
  assert.doesNotMatch(r.stderr, /\n\s+at |--verbose/);
  await assertNothingPartial(join(dir, 'store'));
  const failed = (await listRecords(new LocalStore(join(dir, 'store')))).find((x) => x.kind === 'load');
  assert.equal(failed?.status, 'failed', 'the record says the step failed');
  assert.match(failed?.error ?? '', error, 'and why');

  const again = await cli(['run', study], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /load +\w+ ran: previous run failed: cannot write/);
  if (!compare) return;
  const clean = await tempHome('gantry-faults-');
  assert.equal((await cli(['run', await writeStudy(clean, rxOnly('faults-clean', dataset))], { GANTRY_HOME: clean })).code, 0);
  assert.equal(await aucs(env), await aucs({ GANTRY_HOME: clean }), 'the results of a run that met no fault');
}

const PROC_FD = existsSync('/proc/self/fd') ? undefined : 'no /proc/self/fd to tell which file a write goes to';

test('a full disk under the store (ENOSPC on every artifact write): one error line naming the store, exit 1, nothing partial; the next run resumes to the right results', { skip: PROC_FD }, async () => {
  const dir = await tempHome('gantry-faults-preload-');
  const preload = join(dir, 'enospc.mjs');
  // Node's FileHandle writes are where LocalStore writes artifacts; a file's path is read back from /proc/self/fd.
  await writeFile(preload, `
    import { open } from 'node:fs/promises';
    import { readlinkSync } from 'node:fs';
    const fh = await open(process.execPath, 'r');
    const proto = Object.getPrototypeOf(fh);
    await fh.close();
    const match = new RegExp(process.env.GANTRY_TEST_ENOSPC);
    for (const name of ['write', 'writeFile', 'writev']) {
      const real = proto[name];
      proto[name] = async function (...args) {
        let path = '';
        try { path = readlinkSync('/proc/self/fd/' + this.fd); } catch {}
        if (match.test(path)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
        return real.apply(this, args);
      };
    }
  `);
  await storeFault(
    { nodeArgs: ['--import', preload], env: { GANTRY_TEST_ENOSPC: '/store/steps/[^/]+/out/\\.tmp-' } },
    /cannot write 'steps\/\w+\/out\/cube' to artifact store .*\/store: no space left on device \(ENOSPC\) \(free space on the disk holding .*\/store, then run again: finished steps are kept\)/,
    {},
  );
});

const PRLIMIT = spawnSync('prlimit', ['--version']).status === 0 ? undefined : 'no prlimit (util-linux) to set RLIMIT_FSIZE';

test('a store write past the file-size limit (RLIMIT_FSIZE, EFBIG from the kernel): one error line, exit 1, nothing partial; the next run resumes', { skip: PRLIMIT }, async () => {
  // A 12.6 MB cube against a 9 MB limit; the catalog (about 5 MB) stays under it.
  await storeFault({ prefix: ['prlimit', '--fsize=9000000', '--'] }, /cannot write 'steps\/\w+\/out\/cube' to artifact store .*: file too large \(EFBIG\) \(raise the file-size limit/, { rows: 256, cols: 256, bands: 48 }, false);
});

test('LocalStore: ENOSPC, EDQUOT, EROFS and EACCES on write are EnvironmentErrors naming the key and store; no temp file stays', async () => {
  const root = await tempHome('gantry-faults-store-');
  const s = new LocalStore(root);
  await s.put('steps/a/out/ok', 'fine');
  const probe = await (await import('node:fs/promises')).open(join(root, 'steps/a/out/ok'), 'r');
  const proto = Object.getPrototypeOf(probe) as { writeFile: (...a: unknown[]) => Promise<void> };
  await probe.close();
  const real = proto.writeFile;
  try {
    for (const [code, what] of [['ENOSPC', /no space left on device \(ENOSPC\) \(free space/], ['EDQUOT', /disk quota exceeded \(EDQUOT\)/], ['EROFS', /read-only file system \(EROFS\) \(make .* writable, or set GANTRY_STORE/], ['EACCES', /permission denied \(EACCES\)/]] as const) {
      proto.writeFile = async () => {
        throw Object.assign(new Error(`${code}: fault, write`), { code });
      };
      await assert.rejects(s.put('steps/b/out/x', 'data'), (e: unknown) => {
        assert.ok(e instanceof EnvironmentError, String(e));
        assert.ok(!isUserError(e));
        assert.match(oneLine(e), new RegExp(`^cannot write 'steps/b/out/x' to artifact store ${root}: `));
        assert.match(oneLine(e), what);
        return true;
      });
    }
  } finally {
    proto.writeFile = real;
  }
  assert.deepEqual(await readdir(join(root, 'steps/b/out')), [], 'no temp file, no object');
  await s.put('steps/b/out/x', 'data');
  assert.equal(Buffer.from(await s.get('steps/b/out/x')).toString(), 'data');
});

test('S3: a full server or a bucket quota, and AccessDenied, are EnvironmentErrors; a missing bucket stays bad input', async () => {
  for (const [status, code, kind, text] of [
    [507, 'XMinioStorageFull', 'env', /S3 store s3:\/\/bucket\/p is full: it refused to write 'steps\/a\/out\/x' \(XMinioStorageFull, HTTP 507\) \(free space or raise/],
    [400, 'XMinioAdminBucketQuotaExceeded', 'env', /is full: .*XMinioAdminBucketQuotaExceeded/],
    [403, 'QuotaExceeded', 'env', /is full: .*QuotaExceeded, HTTP 403/],
    [403, 'AccessDenied', 'env', /S3 denied access to s3:\/\/bucket\/p \(AccessDenied\)/],
    [404, 'NoSuchBucket', 'user', /S3 bucket 'bucket' does not exist/],
  ] as const) {
    const server = await startErrorServer(status, code);
    const s = new S3Store('s3://bucket/p', { endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1, env: {} });
    try {
      await assert.rejects(s.put('steps/a/out/x', 'data'), (e: unknown) => {
        assert.ok(kind === 'env' ? isEnvironmentError(e) : isUserError(e), `${code}: ${String(e)}`);
        assert.match(oneLine(e), text);
        return true;
      });
    } finally {
      await s.close();
      await server.stop();
    }
  }
});
