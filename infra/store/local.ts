/** The default store: a directory on the local filesystem. */
import { mkdir, open, readFile, readdir, rename, rm, stat, access, constants, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { UserError } from '../../core/errors.js';
import { sha256Hex } from '../hash.js';
import { checkKey, NotFoundError, type ArtifactRef, type ArtifactStore } from './store.js';

const TMP_PREFIX = '.tmp-';

export class LocalStore implements ArtifactStore {
  readonly url: string;
  constructor(readonly root: string) {
    this.url = `file://${root}`;
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
      throw new UserError(`artifact store ${this.root} is not writable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'set GANTRY_HOME to a writable directory',
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
    await mkdir(dirname(target), { recursive: true });
    const tmp = join(dirname(target), `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
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
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM' || code === 'ENOSPC') {
        throw new UserError(`cannot write '${key}' to artifact store ${this.root}: ${code}`, { hint: 'check permissions and free space, or set GANTRY_HOME', cause: e });
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
        if (ent.name.startsWith(TMP_PREFIX)) continue; // an interrupted write: never visible
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
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
