/**
 * The artifact store: the source of truth for everything gantry computes. Keys are relative,
 * '/'-separated paths; values are immutable bytes written atomically (a reader sees the whole
 * object or nothing). The local store implements it on a directory; the S3 store on a bucket prefix.
 */
import { UserError } from '../errors.js';
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
  /** Read bytes; throws NotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  exists(key: string): Promise<boolean>;
  /** All keys under a prefix (recursive), sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
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

export async function putJson(store: ArtifactStore, key: string, value: unknown): Promise<ArtifactRef> {
  return store.put(key, JSON.stringify(value, null, 1));
}

export async function getJson<T = unknown>(store: ArtifactStore, key: string): Promise<T> {
  return JSON.parse(Buffer.from(await store.get(key)).toString('utf8')) as T;
}
