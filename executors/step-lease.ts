/**
 * Step leases: one process at a time runs a given step, across homes and machines that share one
 * store. Two `gantry run`s on one store then never run a step twice or overwrite each other's
 * artifacts; one waits for the other's step and takes its result as cached.
 *
 * A lease is a versioned document in the store (`leases/<step key>`, ArtifactStore.getVersioned:
 * a file per version on a local store, conditional writes on S3) naming its owner (host, pid, a
 * random token) and when it expires. Every change is a compare-and-swap, so of two processes
 * taking one lease exactly one wins; the other reads it again and waits.
 * - Held: the owner renews it every ttl/6 while the step runs and marks it released once the
 *   step's done or failed record is written.
 * - Waiting: a live lease held elsewhere is polled (the waiter is told who holds it). Once it is
 *   released the waiter takes it and finds the record done (cached: not run again) or failed or
 *   interrupted (it runs the step, as any relaunch would).
 * - Dead, and taken over: its owner was a process of this machine that is gone (kill -9: seen at
 *   once); or it did not change for its whole duration, timed by the waiter's own clock (a dead or
 *   stalled machine; no clock skew enters); or it expired more than a whole duration ago by the
 *   wall clock (its owner died before anyone looked; this trusts clocks to agree within a duration).
 * - Lost: an owner that finds its lease taken over (it stalled past it: SIGSTOP, an event loop
 *   blocked, a partitioned machine), or could not reach the store to renew it for 3/4 of the
 *   duration, has lost it: the step is aborted, and the fenced store (fencedStore) refuses the
 *   attempt's further writes — its record, removals, main-thread outputs — so the new owner's work
 *   is never overwritten. Within 3/4 of a duration of its last renewal an owner may write without
 *   asking (no taker acts before a whole duration); past that it renews first. Worker-thread steps
 *   (train, score) write through their own store: they are stopped by the abort, not the fence.
 * Duration: GANTRY_LEASE_SECONDS (default 60).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { CancelledError, UserError } from '../core/errors.js';
import { sha256Hex } from '../infra/hash.js';
import { ConditionalWritesUnsupportedError, type ArtifactStore } from '../infra/store/store.js';
import { pidAlive } from '../infra/process.js';

export const leaseKey = (stepKey: string) => `leases/${stepKey}`;

const ownerSchema = z.object({ host: z.string(), machine: z.string(), pid: z.number().int(), token: z.string() });
export type LeaseOwner = z.output<typeof ownerSchema>;

const leaseSchema = z.object({
  step: z.string(),
  kind: z.string(),
  owner: ownerSchema,
  state: z.enum(['held', 'released']),
  /** Counts the owner's writes, so it can recognise its own write whose answer was lost. */
  seq: z.number().int().nonnegative(),
  ttlMs: z.number().positive(),
  renewedAt: z.string(),
  expiresAt: z.number(),
});
type LeaseDoc = z.output<typeof leaseSchema>;

export interface LeaseSettings {
  /** How long a lease lives without renewal. */
  ttlMs: number;
  renewMs: number;
  /** How often a waiter looks again. */
  pollMs: number;
}

const blankIsUnset = (v: unknown) => (v === '' ? undefined : v);
const envSchema = z.object({ GANTRY_LEASE_SECONDS: z.preprocess(blankIsUnset, z.coerce.number().min(0.5).max(86_400).optional()) });

/** The settings for a lease duration: `ttlMs`, else GANTRY_LEASE_SECONDS, else 60 s. */
export function leaseSettings(env: NodeJS.ProcessEnv = process.env, ttlMs?: number): LeaseSettings {
  if (ttlMs === undefined) {
    const r = envSchema.safeParse(env);
    if (!r.success) throw new UserError(`invalid environment variable GANTRY_LEASE_SECONDS: ${r.error.issues[0].message}`, { hint: 'seconds a step lease lives without renewal (default 60)' });
    ttlMs = (r.data.GANTRY_LEASE_SECONDS ?? 60) * 1000;
  }
  return { ttlMs, renewMs: ttlMs / 6, pollMs: Math.min(1000, ttlMs / 4) };
}

/**
 * Which pid namespace a pid belongs to: the host name, and on Linux the boot and the pid
 * namespace (two containers on one kernel share a boot id but not their pids).
 */
const MACHINE = (() => {
  const parts = [hostname()];
  try {
    parts.push(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), readlinkSync('/proc/self/ns/pid'));
  } catch {
    // not Linux: the host name alone
  }
  return sha256Hex(parts.join('\0')).slice(0, 16);
})();

/** The tokens of the leases this process holds now: a lease of this pid with another token is a leftover (a lost lease, an earlier process with the same pid). */
const HELD = new Set<string>();

/**
 * Whether the process `pid` on `machine` (an id from this module) is gone: true or false when it
 * is on this machine (in this pid namespace), undefined when that cannot be told from here.
 */
export function processGone(machine: string, pid: number): boolean | undefined {
  return machine === MACHINE ? !pidAlive(pid) : undefined;
}

/** This process's machine id (host, boot and pid namespace; see processGone). */
export function thisMachine(): string {
  return MACHINE;
}

export function describeOwner(o: LeaseOwner): string {
  return `${o.host} pid ${o.pid}`;
}

/** This process no longer holds the step's lease; nothing more of its attempt may be written. */
export class LeaseLostError extends Error {
  constructor(stepKey: string, why: string) {
    super(`lost the lease of step ${stepKey.slice(0, 12)}: ${why}`);
    this.name = 'LeaseLostError';
  }
}

/** A write was tried without the step's lease: take it, then try again. */
export class LeaseNeededError extends Error {
  constructor() {
    super('a step lease is needed before writing');
    this.name = 'LeaseNeededError';
  }
}

/** `store`, with every write and removal first passing `guard`, which throws (or rejects) to refuse it. */
export function fencedStore(store: ArtifactStore, guard: () => void | Promise<void>): ArtifactStore {
  return {
    url: store.url,
    checkWritable: () => store.checkWritable(),
    put: async (key, data) => (await guard(), store.put(key, data)),
    putFile: async (key, path) => (await guard(), store.putFile(key, path)),
    delete: async (key) => (await guard(), store.delete(key)),
    get: (key) => store.get(key),
    getStream: (key) => store.getStream(key),
    exists: (key) => store.exists(key),
    list: (prefix) => store.list(prefix),
    getVersioned: (key) => store.getVersioned(key),
    createExclusive: (key, data) => store.createExclusive(key, data),
    replaceIfMatch: (key, data, etag) => store.replaceIfMatch(key, data, etag),
    deleteVersioned: async (key) => (await guard(), store.deleteVersioned(key)),
  };
}

export interface LeasedAttemptOptions extends AcquireOptions {
  /** The store cannot lease (ConditionalWritesUnsupportedError): told once per store; attempts then run unleased. */
  unleased?(why: string): void;
}

/** Stores found unable to lease, in this process. */
const UNLEASED = new WeakSet<ArtifactStore>();

/**
 * Run one attempt of a step so that it writes only while this process holds the step's lease.
 * It first runs without the lease on a store that refuses writes: a done step is found cached and
 * nothing more happens (a relaunch of a finished grid takes no lease). Its first write (the
 * `running` record) fails with LeaseNeededError instead; then the lease is taken — after waiting
 * for any live process that holds it — and the attempt runs again, from the start, on a store
 * fenced by the lease, so a step another process has just finished is found done, not run again.
 * The lease is released when the attempt ends (its done or failed record written). An attempt
 * stopped because the lease was lost rejects with the LeaseLostError. Both executors use this.
 */
export async function leasedAttempt<T>(
  store: ArtifactStore,
  step: { key: string; kind: string },
  o: LeasedAttemptOptions,
  attempt: (store: ArtifactStore, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const signal = o.signal ?? new AbortController().signal;
  if (UNLEASED.has(store)) return attempt(store, signal);
  try {
    return await attempt(fencedStore(store, () => { throw new LeaseNeededError(); }), signal);
  } catch (e) {
    if (!(e instanceof LeaseNeededError) || signal.aborted) throw e;
  }
  let lease: StepLease;
  try {
    lease = await StepLease.acquire(store, step, o);
  } catch (e) {
    if (!(e instanceof ConditionalWritesUnsupportedError)) throw e;
    if (!UNLEASED.has(store)) {
      UNLEASED.add(store);
      o.unleased?.(e.message);
    }
    return attempt(store, signal);
  }
  try {
    return await attempt(fencedStore(store, () => lease.ensureHeld()), AbortSignal.any([signal, lease.lost]));
  } catch (e) {
    // Stopped because the lease went: say that, not what the abort made of it (a cancelled step).
    if (lease.lost.aborted && !signal.aborted) throw lease.lost.reason;
    throw e;
  } finally {
    await lease.release();
  }
}

export interface AcquireOptions {
  /** Default: leaseSettings(). */
  settings?: LeaseSettings;
  signal?: AbortSignal;
  /** A live lease is held elsewhere and this process waits for it: told once per holder. */
  waiting?(holder: LeaseOwner): void;
}

export class StepLease {
  private readonly lostCtl = new AbortController();
  private lostWhy?: string;
  private timer?: NodeJS.Timeout;
  private renewing?: Promise<void>;
  private released = false;

  private constructor(
    private readonly store: ArtifactStore,
    private readonly key: string,
    private doc: LeaseDoc,
    private etag: string,
    /** performance.now() when the last successful write of it began: the lease is ours for 3/4 of its duration from then. */
    private validFrom: number,
    private readonly settings: LeaseSettings,
  ) {
    HELD.add(doc.owner.token);
    this.schedule();
  }

  /** Take the lease of a step, waiting while another live process holds it. */
  static async acquire(store: ArtifactStore, step: { key: string; kind: string }, o: AcquireOptions = {}): Promise<StepLease> {
    const settings = o.settings ?? leaseSettings();
    const key = leaseKey(step.key);
    const owner: LeaseOwner = { host: hostname(), machine: MACHINE, pid: process.pid, token: randomBytes(8).toString('hex') };
    const mine = (): LeaseDoc => ({ step: step.key, kind: step.kind, owner, state: 'held', seq: 0, ttlMs: settings.ttlMs, renewedAt: new Date().toISOString(), expiresAt: Date.now() + settings.ttlMs });
    let watched: { etag: string; since: number } | undefined;
    let toldOf: string | undefined;
    let wrote: number | undefined; // when our latest take began (its answer may have been lost)
    for (;;) {
      if (o.signal?.aborted) throw new CancelledError();
      const cur = await store.getVersioned(key);
      const seenAt = performance.now();
      const held = cur && parseLease(cur.data);
      if (cur && held?.owner.token === owner.token && held.state === 'held' && wrote !== undefined) return new StepLease(store, key, held, cur.etag, wrote, settings);
      if (cur && watched?.etag !== cur.etag) watched = { etag: cur.etag, since: seenAt };
      if (!cur || held?.state === 'released' || isDead(held, watched!.since, settings)) {
        const doc = mine();
        const started = performance.now();
        wrote = started;
        const r = cur ? await store.replaceIfMatch(key, JSON.stringify(doc), cur.etag) : await store.createExclusive(key, JSON.stringify(doc));
        if (r.ok) return new StepLease(store, key, doc, r.etag, started, settings);
        continue; // another process changed it first (or the answer to ours was lost): look again
      }
      if (held && toldOf !== held.owner.token) {
        toldOf = held.owner.token;
        o.waiting?.(held.owner);
      }
      try {
        await sleep(settings.pollMs, undefined, { signal: o.signal });
      } catch {
        throw new CancelledError();
      }
    }
  }

  /** Aborted when the lease is lost. */
  get lost(): AbortSignal {
    return this.lostCtl.signal;
  }

  /**
   * Resolves while this process holds the lease, rejects with LeaseLostError once it does not:
   * the fence of the attempt's writes. Within 3/4 of a duration of its last renewal it holds it
   * (no taker acts before a whole duration); past that (an event loop blocked by a long
   * computation, a store that did not answer) it renews first, and holds it still if nobody took
   * it over meanwhile.
   */
  async ensureHeld(): Promise<void> {
    if (!this.lostWhy && !this.released && performance.now() - this.validFrom > this.validMs) await this.renewOnce();
    if (this.lostWhy) throw new LeaseLostError(this.doc.step, this.lostWhy);
  }

  /** Mark it released (after the step's record is written); a lease that cannot be released expires. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.timer);
    await this.renewing;
    HELD.delete(this.doc.owner.token);
    if (this.lostWhy) return;
    const doc: LeaseDoc = { ...this.doc, state: 'released', seq: this.doc.seq + 1, renewedAt: new Date().toISOString(), expiresAt: Date.now() };
    await this.store.replaceIfMatch(this.key, JSON.stringify(doc), this.etag).catch(() => undefined);
  }

  private get validMs(): number {
    return this.settings.ttlMs * 0.75;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.renewOnce().then(() => {
        if (!this.released && !this.lostWhy) this.schedule();
      });
    }, this.settings.renewMs);
    this.timer.unref(); // a lease never keeps the process alive on its own
  }

  /** One renewal at a time (the timer's and a fence's share it). */
  private renewOnce(): Promise<void> {
    this.renewing ??= this.renew().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renew(): Promise<void> {
    if (this.released || this.lostWhy) return;
    const started = performance.now();
    const next: LeaseDoc = { ...this.doc, seq: this.doc.seq + 1, renewedAt: new Date().toISOString(), expiresAt: Date.now() + this.settings.ttlMs };
    try {
      const r = await this.store.replaceIfMatch(this.key, JSON.stringify(next), this.etag);
      if (r.ok) return this.renewed(next, r.etag, started);
      // Taken over, or our own write whose answer was lost (a retried S3 request gets 412).
      const cur = await this.store.getVersioned(this.key);
      const held = cur && parseLease(cur.data);
      if (cur && held?.owner.token === next.owner.token && held.seq === next.seq) return this.renewed(next, cur.etag, started);
      this.lose(held ? `taken over by ${describeOwner(held.owner)}` : 'its lease document is gone');
    } catch {
      // The store did not answer: the lease stands while it is valid; past that nobody can tell.
      if (performance.now() - this.validFrom > this.validMs) this.lose(`could not renew it for ${Math.round(this.validMs / 1000)} s`);
    }
  }

  private renewed(doc: LeaseDoc, etag: string, started: number): void {
    this.doc = doc;
    this.etag = etag;
    this.validFrom = started;
  }

  private lose(why: string): void {
    if (this.lostWhy) return;
    this.lostWhy = why;
    clearTimeout(this.timer);
    HELD.delete(this.doc.owner.token);
    this.lostCtl.abort(new LeaseLostError(this.doc.step, why));
  }
}

function parseLease(data: Uint8Array): LeaseDoc | undefined {
  try {
    const r = leaseSchema.safeParse(JSON.parse(Buffer.from(data).toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a held lease's owner is gone. `unchangedSince`: when this waiter first saw its current
 * version (performance.now()); an unreadable document counts as held, for this waiter's duration.
 */
function isDead(held: LeaseDoc | undefined, unchangedSince: number, settings: LeaseSettings): boolean {
  if (!held) return performance.now() - unchangedSince >= settings.ttlMs;
  const o = held.owner;
  if (o.machine === MACHINE && (o.pid === process.pid ? !HELD.has(o.token) : !pidAlive(o.pid))) return true;
  if (performance.now() - unchangedSince >= held.ttlMs) return true;
  return Date.now() > held.expiresAt + held.ttlMs;
}
