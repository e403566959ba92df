/**
 * The step ledger: one durable record per step key, kept in the artifact store beside the
 * step's outputs (steps/<key>/record.json). It says whether a step is running, done or failed,
 * how many attempts it took and why it ran. No record means the step never started.
 */
import { z } from 'zod';
import { getJson, putJson, NotFoundError, type ArtifactStore } from './store/store.js';

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

/** A record that exists but cannot be read (truncated, edited into invalid JSON, wrong fields). */
export class UnreadableRecordError extends Error {
  constructor(readonly stepKey: string, cause: unknown) {
    super(`step record ${stepKey} is unreadable: ${String((cause as Error)?.message ?? cause).split('\n')[0]}`);
    this.name = 'UnreadableRecordError';
  }
}

export async function readRecord(store: ArtifactStore, key: string): Promise<StepRecord | undefined> {
  try {
    return stepRecordSchema.parse(await getJson(store, recordKey(key)));
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw new UnreadableRecordError(key, e);
  }
}

/**
 * A record, or why it cannot be read. Readers that survey many steps (status, the catalog, the
 * executor deciding what to run) take an unreadable record as no record: the step runs again and
 * writes a good one, instead of one bad file failing the whole home.
 */
export async function probeRecord(store: ArtifactStore, key: string): Promise<{ record?: StepRecord; unreadable?: string }> {
  try {
    return { record: await readRecord(store, key) };
  } catch (e) {
    if (e instanceof UnreadableRecordError) return { unreadable: e.message };
    throw e;
  }
}

/** The record when it exists and is readable. */
export async function readableRecord(store: ArtifactStore, key: string): Promise<StepRecord | undefined> {
  return (await probeRecord(store, key)).record;
}

export async function writeRecord(store: ArtifactStore, rec: StepRecord): Promise<void> {
  await putJson(store, recordKey(rec.key), rec);
}

export async function listRecords(store: ArtifactStore): Promise<StepRecord[]> {
  const keys = (await store.list('steps')).filter((k) => k.endsWith('/record.json'));
  const recs = await Promise.all(keys.map((k) => readableRecord(store, k.split('/')[1])));
  return recs.filter((r): r is StepRecord => r !== undefined);
}
