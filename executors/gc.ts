/**
 * Garbage collection of the store: step folders (record, outputs, checkpoints, damaged copies)
 * whose key no trial file and no study's latest launch plan lists, and, on a local store, temp
 * files left by interrupted writes.
 *
 * A step key stops being referenced when a trial's plan changes under the same trial id — a
 * dataset file's contents changed, or a step kind's version was bumped — and the trial file is
 * rewritten with the new keys. Every trial file in the store counts, not only the latest launch's
 * trials: an earlier launch's results (another --set, another profile) stay.
 *
 * Never removed: a step whose record is running with an owner that may be alive (this host's pid
 * alive, or another host's, which cannot be checked), or that started less than `minAgeMs` ago (a
 * concurrent launch may be registering its trials); on stores that cannot say a file's age, a step
 * folder without a record. References are read again just before anything is deleted, and a
 * record is deleted before the files it names, so a reader never trusts a half-removed step.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isDamage, readStudyFile, readTrialFile } from '../activities/record.js';
import { readLaunchById } from '../activities/launches.js';
import { openPlan } from '../activities/launch-plan.js';
import { leaseKey } from './step-lease.js';
import { ZodError } from 'zod';
import { probeRecord, recordKey, stepPrefix, type StepRecord } from '../infra/ledger.js';
import { LocalStore, TMP_PREFIX } from '../infra/store/local.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { pidAlive } from '../infra/process.js';

export const GC_MIN_AGE_MS = 60 * 60 * 1000;

export interface GcEntry {
  /** `steps/<key>` for a step folder; the file's key for a temp file. */
  key: string;
  kind: 'step' | 'temp';
  /** The step's kind and state when its record is readable. */
  step?: string;
  status?: string;
  files: number;
  /** Bytes known (a local store knows every size; others know the sizes the record lists). */
  bytes: number;
  /** Files whose size is unknown (not on a local store, not named by the record). */
  unsized: number;
}

export interface GcResult {
  /** Trial files read, and the distinct step keys they reference. */
  trials: number;
  referenced: number;
  /** What no trial references and may go (removed when `delete`). */
  garbage: GcEntry[];
  /** Unreferenced, but kept, with why. */
  kept: { key: string; why: string }[];
  /** Trial files that cannot be read: their steps are unknown, so nothing is removed while any exists. */
  damagedTrials: { key: string; error: string }[];
  deleted: boolean;
  /** Step keys whose folders were removed (for the catalog). */
  removedSteps: string[];
}

export interface GcOptions {
  /** Remove the garbage (default: only list it). */
  delete?: boolean;
  minAgeMs?: number;
  now?: number;
}

export async function collectGarbage(store: ArtifactStore, opts: GcOptions = {}): Promise<GcResult> {
  const now = opts.now ?? Date.now();
  const minAge = opts.minAgeMs ?? GC_MIN_AGE_MS;
  const local = store instanceof LocalStore ? store : undefined;
  const refs = await references(store);

  // Files per step key, from one listing.
  const folders = new Map<string, string[]>();
  for (const k of await store.list('steps')) {
    const key = k.split('/')[1];
    if (!key) continue;
    const files = folders.get(key);
    if (files) files.push(k);
    else folders.set(key, [k]);
  }

  const garbage: GcEntry[] = [];
  const kept: GcResult['kept'] = [];
  for (const [key, files] of folders) {
    if (refs.keys.has(key)) continue;
    const { record, unreadable } = await probeRecord(store, key);
    const sizes: { bytes: number; unsized: number; newest?: number } = local ? await localSizes(local, files) : recordSizes(record, files);
    const newest = sizes.newest;
    const why = keepReason(record, unreadable, newest, now, minAge);
    if (why) {
      kept.push({ key: stepPrefix(key), why });
      continue;
    }
    garbage.push({
      key: stepPrefix(key), kind: 'step', files: files.length, bytes: sizes.bytes, unsized: sizes.unsized,
      ...(record ? { step: record.kind, status: record.status } : { status: unreadable ? 'record unreadable' : 'no record' }),
    });
  }
  if (local) for (const t of await localTempFiles(local.root, now - minAge)) garbage.push({ key: t.key, kind: 'temp', files: 1, bytes: t.bytes, unsized: 0 });

  const result: GcResult = { trials: refs.trials, referenced: refs.keys.size, garbage, kept, damagedTrials: refs.damaged, deleted: false, removedSteps: [] };
  if (!opts.delete || refs.damaged.length) return result;

  // A launch may have registered trials since: read the references again, and spare what they name now.
  const again = await references(store);
  for (const g of garbage) {
    if (g.kind === 'temp') {
      await rm(join(local!.root, ...g.key.split('/')), { force: true });
      continue;
    }
    const key = g.key.slice('steps/'.length);
    if (again.keys.has(key)) {
      kept.push({ key: g.key, why: 'a trial registered during gc references it' });
      continue;
    }
    // The record first: without it, no reader takes the rest for a done step.
    await store.delete(recordKey(key));
    for (const f of folders.get(key) ?? []) if (f !== recordKey(key)) await store.delete(f);
    await store.deleteVersioned(leaseKey(key)); // its lease document, the last trace of it
    if (local) await rm(join(local.root, 'steps', key), { recursive: true, force: true });
    result.removedSteps.push(key);
  }
  const removed = new Set(result.removedSteps);
  result.garbage = garbage.filter((g) => g.kind === 'temp' || removed.has(g.key.slice('steps/'.length)));
  result.deleted = true;
  return result;
}

/**
 * Every step key that any trial file in the store lists, and that any study's latest launch plans:
 * a trial writes its file when it starts, so the steps of one not started yet (data steps run
 * before any trial, a launch interrupted early) are referenced by the plan alone.
 */
async function references(store: ArtifactStore): Promise<{ trials: number; keys: Set<string>; damaged: { key: string; error: string }[] }> {
  const keys = new Set<string>();
  const damaged: { key: string; error: string }[] = [];
  for (const k of (await store.list('studies')).filter((k) => /^studies\/[^/]+\.json$/.test(k))) {
    const name = k.slice('studies/'.length, -'.json'.length);
    try {
      const file = await readStudyFile(store, name);
      if (!file.launch) continue;
      const launch = await readLaunchById(store, name, file.launch);
      if (!launch.plan) continue;
      const plan = await openPlan(store, launch.plan);
      for (let i = 0; i < plan.count; i++) for (const [, key] of plan.entry(i).steps) keys.add(key);
    } catch (e) {
      if (!isDamage(e) && !(e instanceof ZodError)) throw e;
      damaged.push({ key: k, error: (e as Error).message.split('\n')[0] });
    }
  }
  const files = (await store.list('trials')).filter((k) => /^trials\/[^/]+\.json$/.test(k));
  for (const k of files) {
    try {
      for (const s of (await readTrialFile(store, k.slice('trials/'.length, -'.json'.length))).steps) keys.add(s.key);
    } catch (e) {
      if (!isDamage(e)) throw e;
      damaged.push({ key: k, error: (e as Error).message.split('\n')[0] });
    }
  }
  return { trials: files.length, keys, damaged };
}

/** Why an unreferenced step must stay, or undefined when it may go. */
function keepReason(r: StepRecord | undefined, unreadable: string | undefined, newestFileMs: number | undefined, now: number, minAge: number): string | undefined {
  const recent = (ms: number) => now - ms < minAge;
  const ago = (ms: number) => `${Math.max(0, Math.round((now - ms) / 60_000))} min ago`;
  if (r) {
    if (r.status === 'running') {
      if (r.host && r.host !== hostname()) return `running on ${r.host} (pid ${r.pid ?? '?'}), which cannot be checked from here`;
      if (r.pid && pidAlive(r.pid)) return `running (pid ${r.pid}, alive)`;
    }
    const started = Date.parse(r.startedAt);
    if (Number.isFinite(started) && recent(started)) return `started ${ago(started)} (a launch may be registering it)`;
  }
  if (newestFileMs !== undefined && recent(newestFileMs)) return `written ${ago(newestFileMs)} (a launch may be registering it)`;
  // No record: on a store that cannot say how old the files are, they may be a step starting now.
  if (!r && !unreadable && newestFileMs === undefined) return 'no record, and this store cannot say how old its files are';
  return undefined;
}

async function localSizes(store: LocalStore, keys: string[]): Promise<{ bytes: number; unsized: number; newest: number }> {
  let bytes = 0;
  let newest = 0;
  for (const k of keys) {
    const st = await stat(join(store.root, ...k.split('/'))).catch(() => undefined);
    if (!st) continue;
    bytes += st.size;
    newest = Math.max(newest, st.mtimeMs);
  }
  return { bytes, unsized: 0, newest };
}

/** Sizes a record knows (its artifacts'); the other files' are unknown without reading them. */
function recordSizes(r: StepRecord | undefined, keys: string[]): { bytes: number; unsized: number } {
  const known = new Map(Object.values(r?.artifacts ?? {}).map((a) => [a.key, a.size]));
  let bytes = 0;
  let unsized = 0;
  for (const k of keys) {
    const size = known.get(k);
    if (size === undefined) unsized++;
    else bytes += size;
  }
  return { bytes, unsized };
}

/** A local store's temp files (interrupted writes) last modified before `before`. */
async function localTempFiles(root: string, before: number): Promise<{ key: string; bytes: number }[]> {
  const out: { key: string; bytes: number }[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(dir, e.name), r);
      else if (e.isFile() && e.name.startsWith(TMP_PREFIX)) {
        const st = await stat(join(dir, e.name)).catch(() => undefined);
        if (st && st.mtimeMs < before) out.push({ key: r, bytes: st.size });
      }
    }
  };
  await walk(root, '');
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}
