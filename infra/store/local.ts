/** The default store: a directory on the local filesystem. */
import { mkdir, open, readFile, readdir, rename, rm, stat, access, constants, link, writeFile, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { EnvironmentError, UserError, isMachineFault } from '../../core/errors.js';
import { sha256Hex } from '../hash.js';
import { checkKey, ConditionalWritesUnsupportedError, NotFoundError, type ArtifactRef, type ArtifactStore, type CasResult, type Versioned } from './store.js';

export const TMP_PREFIX = '.tmp-';
/** Versioned documents live under <root>/.gantry-versioned/<key>/ (no key starts with '.', so list() never shows them). */
const VERSIONED_DIR = '.gantry-versioned';
/** A version of a versioned document: g<generation>, zero-padded so names sort as numbers. */
const GENERATION = /^g(\d{12})$/;
const generationName = (gen: number) => `g${String(gen).padStart(12, '0')}`;

export class LocalStore implements ArtifactStore {
  readonly url: string;
  private readonly versionKeepMs: number;
  /** `versionKeepMs`: how long a replaced version of a versioned document stays (tests shorten it). */
  constructor(readonly root: string, opts: { versionKeepMs?: number } = {}) {
    this.url = `file://${root}`;
    this.versionKeepMs = opts.versionKeepMs ?? VERSION_KEEP_MS;
  }

  private path(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  async checkWritable(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
      const probe = join(this.root, `${TMP_PREFIX}probe-${process.pid}`);
      const fh = await open(probe, 'w');
      await fh.close();
      await rm(probe, { force: true });
    } catch (e) {
      // A path through a file is the user's to fix (exit 2); permissions or a full disk are the machine's (exit 1).
      const Fault = isMachineFault(e) ? EnvironmentError : UserError;
      throw new Fault(`artifact store ${this.root} is not writable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'make it writable or free space, or set GANTRY_HOME (or GANTRY_STORE) to a writable directory',
        cause: e,
      });
    }
  }

  async put(key: string, data: Uint8Array | string): Promise<ArtifactRef> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.writeAtomically(key, (fh) => fh.writeFile(bytes));
    return { key, sha256: sha256Hex(bytes), size: bytes.byteLength };
  }

  async putFile(key: string, path: string): Promise<ArtifactRef> {
    const hash = createHash('sha256');
    let size = 0;
    await this.writeAtomically(key, async (fh) => {
      // Chunk by chunk, so a file of any size costs one read buffer; the checksum is of what was written.
      for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.byteLength;
        await fh.write(chunk);
      }
    });
    return { key, sha256: hash.digest('hex'), size };
  }

  /** Temp file in the same directory + fsync + rename: readers see the old object or the new one, never half. */
  private async writeAtomically(key: string, write: (fh: FileHandle) => Promise<unknown>): Promise<void> {
    const target = this.path(key);
    const tmp = join(dirname(target), `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(dirname(target), { recursive: true });
      const fh = await open(tmp, 'wx');
      try {
        await write(fh);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      await syncDir(dirname(target)); // the rename itself must survive a power loss
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => {});
      // The machine's faults, not bad input (exit 1): nothing of this write stays, and running again once fixed resumes.
      const code = (e as NodeJS.ErrnoException).code;
      const where = `cannot write '${key}' to artifact store ${this.root}`;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new EnvironmentError(`${where}: ${code === 'ENOSPC' ? 'no space left on device' : 'disk quota exceeded'} (${code})`, { hint: `free space on the disk holding ${this.root}, then run again: finished steps are kept`, cause: e });
      }
      if (code === 'EFBIG') {
        throw new EnvironmentError(`${where}: file too large (EFBIG)`, { hint: 'raise the file-size limit (ulimit -f), or set GANTRY_STORE to a folder on another file system', cause: e });
      }
      if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
        throw new EnvironmentError(`${where}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'} (${code})`, { hint: `make ${dirname(target)} writable, or set GANTRY_STORE (or GANTRY_HOME) to a writable folder`, cause: e });
      }
      throw e;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await readFile(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(key, this.root);
      throw e;
    }
  }

  async getStream(key: string): Promise<Readable> {
    let fh: FileHandle;
    try {
      fh = await open(this.path(key), 'r'); // opened now: a missing key fails here, and a later replace cannot tear the read
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(key, this.root);
      throw e;
    }
    return fh.createReadStream();
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch {
      return false;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = prefix ? this.path(prefix.replace(/\/$/, '')) : this.root;
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw e;
      }
      for (const ent of entries) {
        if (ent.name.startsWith('.')) continue; // an interrupted write (.tmp-…) or the versioned documents: never keys
        const full = join(dir, ent.name);
        if (ent.isDirectory()) await walk(full);
        else if (ent.isFile()) out.push(relative(this.root, full).split(sep).join('/'));
      }
    };
    await walk(base);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  /*
   * Versioned documents, compare-and-swap on a plain filesystem (NFS included). Each version is a
   * file g<n> in the document's folder: a header line {nonce, prev} (prev: the nonce of the version
   * it replaced), then the data; it is written whole to a temp file first. The current version is
   * the highest n, and its etag is `<n>-<nonce>`. Writing version n+1 is link(temp, g<n+1>), which
   * fails when that name exists (atomic, like O_EXCL): of all writers of one version exactly one
   * links it. Versions below the current one are pruned once a minute old, so a writer holding a
   * stale etag may re-create a pruned name; hence, after linking, a writer checks its standing:
   * - no higher version exists: it won (a stale one always sees one: the highest is never pruned);
   * - else the next version names its nonce as prev: it won, and another has replaced it since;
   * - else it lost (a stale write, or, after a stall of over a minute, a win it can no longer
   *   prove), and it withdraws its file.
   * So two writers never both win one version. Readers take the highest, so they never read a
   * stale or withdrawn file. Not fsynced: a lease, the one use, need not outlive a power loss
   * (its owner did not either).
   */
  async getVersioned(key: string): Promise<Versioned | undefined> {
    const dir = this.versionedDir(key);
    for (;;) {
      const gen = (await generations(dir)).at(-1);
      if (gen === undefined) return undefined;
      const v = await readVersion(dir, gen);
      if (v) return { data: v.data, etag: `${gen}-${v.nonce}` };
      // Gone: replaced and pruned since, so read the newer one.
    }
  }

  async createExclusive(key: string, data: Uint8Array | string): Promise<CasResult> {
    return this.installVersion(key, 1, '', data);
  }

  async replaceIfMatch(key: string, data: Uint8Array | string, etag: string): Promise<CasResult> {
    const m = /^(\d{1,12})-([0-9a-f]{24})$/.exec(etag);
    if (!m) return { ok: false };
    return this.installVersion(key, Number(m[1]) + 1, m[2], data);
  }

  async deleteVersioned(key: string): Promise<void> {
    await rm(this.versionedDir(key), { recursive: true, force: true });
  }

  private versionedDir(key: string): string {
    return join(this.root, VERSIONED_DIR, ...checkKey(key).split('/'));
  }

  private async installVersion(key: string, gen: number, prev: string, data: Uint8Array | string): Promise<CasResult> {
    const dir = this.versionedDir(key);
    await mkdir(dir, { recursive: true });
    const nonce = randomBytes(12).toString('hex');
    const tmp = join(dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
    const target = join(dir, generationName(gen));
    await writeFile(tmp, Buffer.concat([Buffer.from(`${JSON.stringify({ nonce, prev })}\n`), typeof data === 'string' ? Buffer.from(data, 'utf8') : data]), { flag: 'wx' });
    try {
      await link(tmp, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return { ok: false };
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        throw new ConditionalWritesUnsupportedError(`the file system of artifact store ${this.root} has no hard links (${code})`);
      }
      throw e;
    } finally {
      await rm(tmp, { force: true });
    }
    const gens = await generations(dir);
    const won = !gens.some((g) => g > gen) || (await readVersion(dir, gen + 1))?.prev === nonce;
    if (!won) {
      await rm(target, { force: true });
      return { ok: false };
    }
    const now = Date.now();
    for (const g of gens) {
      if (g >= gen) break;
      const old = join(dir, generationName(g));
      const st = await stat(old).catch(() => undefined);
      if (st && now - st.mtimeMs >= this.versionKeepMs) await rm(old, { force: true });
    }
    return { ok: true, etag: `${gen}-${nonce}` };
  }
}

/** How long a replaced version stays (see getVersioned): longer than any writer takes between linking and checking. */
const VERSION_KEEP_MS = 60_000;

/**
 * A version's header and data, or undefined when it is gone (pruned, withdrawn). A file torn by a
 * power loss has no header: its bytes come back with a nonce of zeros, so it can be replaced.
 */
async function readVersion(dir: string, gen: number): Promise<{ nonce: string; prev: string; data: Uint8Array } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, generationName(gen)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const nl = bytes.indexOf(10);
  try {
    const h = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as { nonce: unknown; prev: unknown };
    if (nl > 0 && typeof h.nonce === 'string' && typeof h.prev === 'string') return { nonce: h.nonce, prev: h.prev, data: bytes.subarray(nl + 1) };
  } catch {
    // torn
  }
  return { nonce: TORN_NONCE, prev: '', data: bytes };
}

const TORN_NONCE = '0'.repeat(24);

/** The versions in a versioned document's folder, ascending. */
async function generations(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.flatMap((n) => {
    const m = GENERATION.exec(n);
    return m ? [Number(m[1])] : [];
  }).sort((a, b) => a - b);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
