import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { canonicalJson, type Hasher } from '../core/canonical.js';

/** sha256 of the canonical JSON of a value, hex, cut to `length` characters (ids) or whole (checksums). */
export function hashValue(value: unknown, length = 16): string {
  return sha256Hex(canonicalJson(value)).slice(0, length);
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The hasher the planner uses for ids and step keys (16 hex chars = 64 bits). */
export const idHasher: Hasher = (text) => sha256Hex(text).slice(0, 16);

/** sha256 of a file's bytes, hex, read as a stream (files of any size). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
