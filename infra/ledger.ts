/**
 * The step ledger: one durable record per step key, kept in the artifact store beside the
 * step's outputs (steps/<key>/record.json). It says whether a step is running, done or failed,
 * how many attempts it took and why it ran. No record means the step never started. Records are
 * sealed (infra/sealed.ts): one edited or damaged is never taken for a good one.
 */
import { z } from 'zod';
import { getIfExists, type ArtifactStore } from './store/store.js';
import { isDamagedError, parseStored, putSealed, unseal } from './sealed.js';

export const artifactRefSchema = z.object({ key: z.string(), sha256: z.string(), size: z.number() });

export const stepRecordSchema = z.object({
  key: z.string(),
  kind: z.string(),
  version: z.number(),
  params: z.record(z.string(), z.unknown()),
  inputs: z.record(z.string(), z.string()),
  status: z.enum(['running', 'done', 'failed', 'interrupted']),
  attempt: z.number().int(),
  /** Why the latest attempt ran: 'new', 'retry after: …', 'resumed: previous attempt was interrupted', … */
  reason: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  durationMs: z.number().optional(),
  error: z.string().optional(),
  /** Iteration a training attempt resumed from, when it did. */
  resumedFrom: z.number().optional(),
  /** The step's result: small JSON plus references to its artifacts. */
  output: z.record(z.string(), z.unknown()).optional(),
  artifacts: z.record(z.string(), artifactRefSchema).default({}),
  pid: z.number().optional(),
  host: z.string().optional(),
});
export type StepRecord = z.output<typeof stepRecordSchema>;

export const stepPrefix = (key: string) => `steps/${key}`;
export const recordKey = (key: string) => `${stepPrefix(key)}/record.json`;

/** A record that exists but cannot be read (truncated, edited into invalid JSON, wrong fields, a seal that does not match). */
export class UnreadableRecordError extends Error {
  constructor(readonly stepKey: string, cause: unknown, readonly damaged = false) {
    super(`step record ${stepKey} is ${damaged ? 'damaged' : 'unreadable'}: ${String((cause as Error)?.message ?? cause).split('\n')[0]}`);
    this.name = 'UnreadableRecordError';
  }
}

/** The record, and whether it carries a seal (records written before seals existed do not). */
async function readSealedRecord(store: ArtifactStore, key: string): Promise<{ record: StepRecord; sealed: boolean } | undefined> {
  // An I/O fault (the store away, a timeout) says nothing about the record: it passes as it is, never as damage.
  const bytes = await getIfExists(store, recordKey(key));
  if (!bytes) return undefined;
  let raw: unknown;
  try {
    raw = parseStored(recordKey(key), bytes);
  } catch (e) {
    throw new UnreadableRecordError(key, isDamagedError(e) ? e.what : e);
  }
  let doc: { value: Record<string, unknown>; sealed: boolean };
  try {
    doc = unseal(recordKey(key), raw);
  } catch (e) {
    // Valid JSON whose seal does not match: edited or bit-rotten, never to be trusted.
    throw new UnreadableRecordError(key, isDamagedError(e) ? e.what : e, true);
  }
  try {
    return { record: stepRecordSchema.parse(doc.value), sealed: doc.sealed };
  } catch (e) {
    throw new UnreadableRecordError(key, e);
  }
}

export async function readRecord(store: ArtifactStore, key: string): Promise<StepRecord | undefined> {
  return (await readSealedRecord(store, key))?.record;
}

export interface RecordProbe {
  record?: StepRecord;
  /** Why the record cannot be used, when it exists but cannot be read or its seal does not match. */
  unreadable?: string;
  /** The record is valid JSON whose seal does not match its contents. */
  damaged?: boolean;
  /** A readable record without a seal (written by a gantry before seals). */
  unsealed?: boolean;
}

/**
 * A record, or why it cannot be read. Readers that survey many steps (status, the catalog, the
 * executor deciding what to run) take an unreadable or damaged record as no record: the step runs
 * again and writes a good one, instead of one bad file failing the whole home.
 */
export async function probeRecord(store: ArtifactStore, key: string): Promise<RecordProbe> {
  try {
    const r = await readSealedRecord(store, key);
    return r ? { record: r.record, ...(r.sealed ? {} : { unsealed: true }) } : {};
  } catch (e) {
    if (e instanceof UnreadableRecordError) return { unreadable: e.message, ...(e.damaged ? { damaged: true } : {}) };
    throw e;
  }
}

/** The record when it exists, is readable and its seal (if it has one) matches. */
export async function readableRecord(store: ArtifactStore, key: string): Promise<StepRecord | undefined> {
  return (await probeRecord(store, key)).record;
}

export async function writeRecord(store: ArtifactStore, rec: StepRecord): Promise<void> {
  await putSealed(store, recordKey(rec.key), rec);
}

/** Where a damaged record's bytes are kept when its step runs again: steps/<key>/damaged/<time>.json. */
export const damagedRecordKey = (key: string, at = new Date()) => `${stepPrefix(key)}/damaged/${at.toISOString().replace(/:/g, '-')}.json`;

/** Keep a record's bytes as they are (before a repair replaces them); returns where, or undefined when there was none. */
export async function keepDamagedRecord(store: ArtifactStore, key: string): Promise<string | undefined> {
  const bytes = await getIfExists(store, recordKey(key));
  if (!bytes) return undefined;
  const dest = damagedRecordKey(key);
  await store.put(dest, bytes);
  return dest;
}

export async function listRecords(store: ArtifactStore): Promise<StepRecord[]> {
  const keys = (await store.list('steps')).filter((k) => /^steps\/[^/]+\/record\.json$/.test(k));
  const recs = await Promise.all(keys.map((k) => readableRecord(store, k.split('/')[1])));
  return recs.filter((r): r is StepRecord => r !== undefined);
}
