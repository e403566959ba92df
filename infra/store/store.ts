/**
 * The artifact store: the source of truth for everything gantry computes. Keys are relative,
 * '/'-separated paths; values are immutable bytes written atomically (a reader sees the whole
 * object or nothing). The local store implements it on a directory; the S3 store on a bucket prefix.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { UserError } from '../../core/errors.js';
import { sha256Hex } from '../hash.js';

export interface ArtifactRef {
  key: string;
  sha256: string;
  size: number;
}

export interface ArtifactStore {
  /** Where the store lives, for messages and the catalog (never holds credentials). */
  readonly url: string;
  /** Fail early, with a clear error, when the store cannot be written. */
  checkWritable(): Promise<void>;
  /** Write bytes atomically; returns the checksum recorded for later verification. */
  put(key: string, data: Uint8Array | string): Promise<ArtifactRef>;
  /** Write a (large) file's contents atomically, streamed: never held whole in memory. */
  putFile(key: string, path: string): Promise<ArtifactRef>;
  /** Read bytes; throws NotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  /** Read as a stream (for large objects); throws NotFoundError when absent. Verify with getStreamVerified. */
  getStream(key: string): Promise<Readable>;
  exists(key: string): Promise<boolean>;
  /** All keys under a prefix (recursive), sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * Versioned documents: small mutable objects (step leases) kept apart from the artifacts — the
   * methods above never list, read or delete them — and changed only by compare-and-swap, so of
   * processes racing on one key (on one machine or many) exactly one wins each change.
   * The current version and its etag, or undefined when there is none.
   */
  getVersioned(key: string): Promise<Versioned | undefined>;
  /** Create `key` unless it exists: of concurrent creators, exactly one gets ok. */
  createExclusive(key: string, data: Uint8Array | string): Promise<CasResult>;
  /** Replace `key` only if its current version is `etag`: of concurrent replacers of one version, exactly one gets ok. */
  replaceIfMatch(key: string, data: Uint8Array | string, etag: string): Promise<CasResult>;
  /**
   * Remove a versioned document, every version (`gantry gc`, with the step whose lease it was).
   * Unconditional: only for documents no process can be using (their step is being removed).
   */
  deleteVersioned(key: string): Promise<void>;
}

/** One version of a versioned document; `etag` names it for replaceIfMatch. */
export interface Versioned {
  data: Uint8Array;
  etag: string;
}

export type CasResult = { ok: true; etag: string } | { ok: false };

/**
 * The store cannot do compare-and-swap: an S3 server that ignores If-None-Match / If-Match
 * (s3rver, older MinIO and Ceph releases), a file system without hard links. Writing
 * unconditionally instead would let two processes both win, so callers get this and decide (the
 * embedded executor runs without step leases and says so).
 */
export class ConditionalWritesUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConditionalWritesUnsupportedError';
  }
}

export class NotFoundError extends Error {
  constructor(readonly key: string, where: string) {
    super(`no artifact '${key}' in ${where}`);
    this.name = 'NotFoundError';
  }
}

export class ChecksumError extends Error {
  constructor(readonly key: string, expected: string, actual: string) {
    super(`artifact '${key}' is corrupt: sha256 ${actual.slice(0, 12)}… does not match the recorded ${expected.slice(0, 12)}…`);
    this.name = 'ChecksumError';
  }
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._=-]*$/;

/** Validate a key: relative, '/'-separated, no '..' or empty segments, no odd characters. */
export function checkKey(key: string): string {
  const parts = key.split('/');
  if (!key || key.length > 1024 || parts.some((p) => !SEGMENT.test(p) || p === '.' || p === '..')) {
    throw new UserError(`invalid artifact key '${key}'`, { hint: 'keys are relative paths of letters, digits, . _ = - (no .., no leading /)' });
  }
  return key;
}

/** Read an artifact and verify it against its recorded checksum. */
export async function getVerified(store: ArtifactStore, ref: ArtifactRef): Promise<Uint8Array> {
  const data = await store.get(ref.key);
  const actual = sha256Hex(data);
  if (actual !== ref.sha256) throw new ChecksumError(ref.key, ref.sha256, actual);
  return data;
}

/**
 * Stream an artifact, checking it against its recorded checksum: the stream errors with a
 * ChecksumError at its end (before 'end' is emitted) when the bytes do not match.
 */
export async function getStreamVerified(store: ArtifactStore, ref: ArtifactRef): Promise<Readable> {
  const source = await store.getStream(ref.key);
  const hash = createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const actual = hash.digest('hex');
      done(actual === ref.sha256 ? null : new ChecksumError(ref.key, ref.sha256, actual));
    },
  });
  source.on('error', (e) => check.destroy(e));
  check.on('close', () => source.destroy()); // a consumer that stops early must not leak the source
  return source.pipe(check);
}

/** A NotFoundError, also one from another copy of this module (a worker thread's, a test's build). */
export function isNotFound(e: unknown): boolean {
  return e instanceof NotFoundError || (e instanceof Error && e.name === 'NotFoundError');
}

/** The bytes at `key`, or undefined when there are none (other faults pass as they are). */
export async function getIfExists(store: ArtifactStore, key: string): Promise<Uint8Array | undefined> {
  try {
    return await store.get(key);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

export async function putJson(store: ArtifactStore, key: string, value: unknown): Promise<ArtifactRef> {
  return store.put(key, JSON.stringify(value, null, 1));
}

export async function getJson<T = unknown>(store: ArtifactStore, key: string): Promise<T> {
  return JSON.parse(Buffer.from(await store.get(key)).toString('utf8')) as T;
}
