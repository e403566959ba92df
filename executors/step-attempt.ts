/**
 * One attempt of one step, with its ledger record: skip it when the ledger says done (and the
 * record's seal matches, and every artifact has its recorded size and sha256), else say why it
 * runs (a damaged done step says 'repair: …' and its old record is kept under damaged/), write
 * `running` (attempt n+1), run the step function, and write `done` with its output and artifacts
 * — or, on failure, remove what the attempt wrote and write `interrupted` (cancelled), `failed`
 * (no retry follows) or `running` with the error (a retry follows). Retrying is the caller's
 * business: Temporal's retry policy here.
 *
 * Both executors run every step through here: the embedded executor loops over attempts with its
 * own backoff, a Temporal activity runs one attempt and leaves retrying to the retry policy.
 */
import { hostname } from 'node:os';
import { STEPS } from '../activities/index.js';
import type { CheckpointPolicy } from '../activities/context.js';
import type { StepCall } from '../experiments/plan.js';
import type { MetricPoint } from '../core/metrics.js';
import { CancelledError, isUserError, oneLine } from '../core/errors.js';
import { keepDamagedRecord, probeRecord, readableRecord, stepPrefix, writeRecord, type StepRecord } from '../infra/ledger.js';
import { stepContext, type StepHost } from './step-context.js';
import type { StepPool } from './step-pool.js';
import { ChecksumError, getStreamVerified, isNotFound, type ArtifactRef, type ArtifactStore } from '../infra/store/store.js';

/** What a step runner gets: the host minus the store and policy (it has those). */
export type RunnerHost = Omit<StepHost, 'store' | 'policy'>;
export type StepRunner = (call: StepCall, host: RunnerHost) => Promise<Record<string, unknown>>;

/** Compute-heavy steps run on worker threads, so steps use several cores and the event loop stays free. */
export const HEAVY_KINDS: readonly StepCall['kind'][] = ['train', 'score'];

/** How a step runs: heavy ones on the pool's threads (created on first use), the rest in this thread. */
export function stepRunner(store: ArtifactStore, policy: CheckpointPolicy, pool: () => StepPool): StepRunner {
  return async (call, host) =>
    HEAVY_KINDS.includes(call.kind)
      ? pool().run(call, policy, host)
      : (await STEPS[call.kind](stepContext(call, { ...host, store, policy }), call.params)).output;
}

export interface AttemptOptions {
  store: ArtifactStore;
  policy: CheckpointPolicy;
  signal: AbortSignal;
  run: StepRunner;
  /** Why a step with no record runs ('new', 'params changed: …'). */
  explain(call: StepCall): Promise<string>;
  /** Whether a failure of this attempt is the last (no retry follows). Bad input and cancellation always are. */
  final(e: unknown): boolean;
  /** The attempt starts (its record is written), and why. */
  started?(reason: string): void;
  progress?(done: number, total: number): void;
  resumed?(iteration: number): void;
  log?(points: MetricPoint[]): void;
  /** A done step is damaged (its record's seal, or an artifact) and runs again; its old record is kept under damaged/. */
  damaged?(what: string): void;
  backend?: string;
}

export interface AttemptResult {
  record: StepRecord;
  cached: boolean;
}

/** The step's done record when it and its outputs are intact (seal, and every artifact's size and sha256). */
export async function cachedRecord(store: ArtifactStore, call: StepCall): Promise<StepRecord | undefined> {
  const prev = await readableRecord(store, call.key);
  return prev?.status === 'done' && !(await recordDamage(store, prev)) ? prev : undefined;
}

/**
 * What is damaged among a done record's artifacts, or undefined when every one is there with its
 * recorded size and sha256. Streamed (artifacts can be gigabytes), one artifact at a time.
 */
export async function recordDamage(store: ArtifactStore, rec: StepRecord): Promise<string | undefined> {
  for (const [name, ref] of Object.entries(rec.artifacts)) {
    const what = await artifactDamage(store, ref);
    if (what) return `artifact ${name} (${what})`;
  }
  return undefined;
}

/** 'missing', 'size 10, recorded 12' or 'sha256 mismatch' for an artifact that is not as recorded; undefined when it is. */
export async function artifactDamage(store: ArtifactStore, ref: ArtifactRef): Promise<string | undefined> {
  let size = 0;
  let corrupt = false;
  try {
    for await (const chunk of await getStreamVerified(store, ref)) size += (chunk as Buffer).byteLength;
  } catch (e) {
    if (isNotFound(e)) return 'missing';
    if (!(e instanceof ChecksumError)) throw e; // an I/O fault, not damage
    corrupt = true;
  }
  if (size !== ref.size) return `size ${size}, recorded ${ref.size}`;
  return corrupt ? 'sha256 mismatch' : undefined;
}

/** Why a step that has a record runs again. */
export function rerunReason(prev: StepRecord): string {
  if (prev.status === 'failed') return `previous run failed: ${prev.error ?? ''}`;
  // A failed attempt that was to be retried leaves 'running' with its error.
  if (prev.status === 'running' && prev.error) return `retry after: ${prev.error}`;
  return 'previous attempt was interrupted';
}

/** The reason a step with no record runs when its outputs are in the store: only its record went (deleted by hand). */
const RECORD_MISSING = 'its record is missing (deleted?); it runs again';

export async function runStepAttempt(call: StepCall, o: AttemptOptions): Promise<AttemptResult> {
  const { store } = o;
  const { record: prev, unreadable, damaged: sealBroken } = await probeRecord(store, call.key);
  // A done step is reused only when its record and every artifact are as recorded; else it is repaired.
  let damage = sealBroken ? 'record seal does not match' : undefined;
  if (prev?.status === 'done') {
    damage = await recordDamage(store, prev);
    if (!damage) return { record: prev, cached: true };
  }
  if (damage || unreadable) {
    // History is kept, not overwritten: the damaged record goes to steps/<key>/damaged/ first.
    await keepDamagedRecord(store, call.key);
    o.damaged?.(damage ?? `record unreadable (${unreadable!.replace(/^step record \S+ is \w+: /, '')})`);
  }
  const reason = damage
    ? `repair: ${damage}`
    : prev
      ? rerunReason(prev)
      : unreadable
        ? `its record was unreadable, so it runs again (${unreadable.replace(/^step record \S+ is \w+: /, '')})`
        : (await store.list(`${stepPrefix(call.key)}/out`)).length
          ? RECORD_MISSING
          : await o.explain(call);
  const started = Date.now();
  const rec: StepRecord = {
    key: call.key, kind: call.kind, version: call.version, params: call.params, inputs: call.inputs,
    status: 'running', attempt: (prev?.attempt ?? 0) + 1, reason, startedAt: new Date(started).toISOString(), artifacts: {}, pid: process.pid, host: hostname(),
  };
  await writeRecord(store, rec);
  o.started?.(reason);
  const written: Record<string, ArtifactRef> = {};
  const resumeWrites: Promise<void>[] = [];
  const host: RunnerHost = {
    signal: o.signal,
    backend: o.backend,
    progress: (done, total) => o.progress?.(done, total),
    resumed: (iteration) => {
      rec.resumedFrom = iteration;
      rec.reason = `resumed from checkpoint at iteration ${iteration}`;
      resumeWrites.push(writeRecord(store, { ...rec }));
      o.resumed?.(iteration);
    },
    wrote: (name, ref) => {
      written[name] = ref;
    },
    log: (points) => o.log?.(points),
  };
  try {
    const output = await o.run(call, host);
    await Promise.all(resumeWrites);
    const done: StepRecord = { ...rec, status: 'done', output, artifacts: written, finishedAt: new Date().toISOString(), durationMs: Date.now() - started };
    await writeRecord(store, done);
    return { record: done, cached: false };
  } catch (e) {
    // No partial output stays visible: what this attempt wrote goes, the record says why.
    for (const ref of Object.values(written)) await store.delete(ref.key).catch(() => {});
    await Promise.allSettled(resumeWrites);
    const cancelled = e instanceof CancelledError || (e as Error)?.name === 'CancelledError' || o.signal.aborted;
    const final = cancelled || isUserError(e) || o.final(e);
    await writeRecord(store, {
      ...rec, status: cancelled ? 'interrupted' : final ? 'failed' : 'running', error: oneLine(e),
      artifacts: {}, finishedAt: new Date().toISOString(), durationMs: Date.now() - started,
    });
    throw e;
  }
}
