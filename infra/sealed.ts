/**
 * Sealed JSON: a document stored with a `sha256` field holding the hash of the canonical JSON of
 * its other fields, checked on every read, as artifacts are checked against their recorded
 * checksums. Step records, trial files and study files are sealed.
 *
 * The seal catches edits and bit rot, not forgery: anyone who can write the store can recompute
 * the hash of an edited document. It is integrity, not authenticity (that would need a key).
 *
 * Documents written before seals existed have no `sha256` field: they are read, and said to be
 * unsealed, so `gantry verify` can list them as warnings rather than damage.
 */
import { canonicalJson } from '../core/canonical.js';
import { sha256Hex } from './hash.js';
import type { ArtifactRef, ArtifactStore } from './store/store.js';

export const SEAL_FIELD = 'sha256';

/** A stored document that cannot be trusted: its seal does not match, or it is not valid JSON. */
export class DamagedError extends Error {
  readonly hint = 'gantry verify lists what is damaged; gantry repair, or running the study again, recomputes it';
  constructor(readonly key: string, readonly what: string) {
    super(`${key} is damaged: ${what}`);
    this.name = 'DamagedError';
  }
}

export function isDamagedError(e: unknown): e is DamagedError {
  return e instanceof DamagedError || (e instanceof Error && e.name === 'DamagedError');
}

/** The seal of a document: what reading gives back (a JSON round trip), minus the seal field, hashed canonically. */
function sealOf(plain: Record<string, unknown>): string {
  const { [SEAL_FIELD]: _, ...rest } = plain;
  return sha256Hex(canonicalJson(rest));
}

/** The document as it will be stored: a JSON round trip (so NaN, undefined and Dates are what readers get) plus its seal. */
export function seal(doc: object): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  delete plain[SEAL_FIELD];
  return { ...plain, [SEAL_FIELD]: sealOf(plain) };
}

/** Check parsed JSON against its seal: the document without the seal field, and whether it had one. Throws DamagedError on a mismatch. */
export function unseal(key: string, raw: unknown): { value: Record<string, unknown>; sealed: boolean } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new DamagedError(key, 'not a JSON object');
  const doc = raw as Record<string, unknown>;
  const { [SEAL_FIELD]: stored, ...value } = doc;
  if (stored === undefined) return { value, sealed: false };
  let actual: string | undefined;
  try {
    actual = sealOf(doc);
  } catch {
    /* a number JSON cannot round-trip (1e999): not what gantry wrote */
  }
  if (typeof stored !== 'string' || stored !== actual) throw new DamagedError(key, 'its seal does not match its contents (edited or corrupted)');
  return { value, sealed: true };
}

/** Parse stored bytes as JSON; bytes that are not JSON are damage. */
export function parseStored(key: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new DamagedError(key, `not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

export async function putSealed(store: ArtifactStore, key: string, doc: object): Promise<ArtifactRef> {
  return store.put(key, JSON.stringify(seal(doc), null, 1));
}

/** Read a sealed document; NotFoundError when absent, DamagedError when it is not JSON or its seal does not match. */
export async function getSealed(store: ArtifactStore, key: string): Promise<{ value: Record<string, unknown>; sealed: boolean }> {
  return unseal(key, parseStored(key, await store.get(key)));
}
