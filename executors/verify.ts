/**
 * Integrity of a store: `gantry verify` checks every study file, trial file and step record
 * against its seal and every artifact of every done step against its recorded size and sha256;
 * `gantry repair` then recomputes the damaged steps it can from the store alone.
 *
 * What repair can recompute: a step whose record proves its call (its kind, version, params and
 * inputs hash to its key, with this gantry's version of the step) and that reads no dataset file.
 * A record that cannot be read at all, a step made by another version, and the steps that read
 * the dataset (load of a file, scan, screen, extract, embed: only the study file locates the data)
 * are listed instead: `gantry run <study file>` recomputes them, as it repairs every damaged step.
 */
import { studyTrialIds } from '../activities/launches.js';
import { canonicalJson } from '../core/canonical.js';
import { UserError, oneLine } from '../core/errors.js';
import { indexTrial, isDamage, loadStudyFile, loadTrialFile, studyKey, trialKey } from '../activities/record.js';
import type { CheckpointPolicy } from '../activities/context.js';
import { STEP_VERSIONS, type StepCall, type StepKind } from '../experiments/plan.js';
import { Catalog } from '../infra/catalog.js';
import { idHasher } from '../infra/hash.js';
import { probeRecord, recordKey, stepRecordSchema } from '../infra/ledger.js';
import { isDamagedError, parseStored, SEAL_FIELD } from '../infra/sealed.js';
import { NotFoundError, type ArtifactStore } from '../infra/store/store.js';
import { acquireLock } from './lock.js';
import { artifactDamage, runStepAttempt, stepRunner } from './step-attempt.js';
import { StepPool } from './step-pool.js';

export type FindingKind = 'study' | 'trial' | 'record' | 'artifact';

/** Something damaged (or, among warnings, unsealed): what it is, which study, trial or step, its key, and what is wrong. */
export interface Finding {
  kind: FindingKind;
  /** The study's name, the trial's id, or the step's kind (with the artifact's name). */
  name: string;
  /** The file's key (studies, trials) or the step's key (records, artifacts). */
  key: string;
  what: string;
  /** The trials that use the step (records, artifacts). */
  trials?: string[];
}

export interface VerifyReport {
  study: string | null;
  studies: number;
  trials: number;
  steps: number;
  artifacts: number;
  bytes: number;
  ms: number;
  damaged: Finding[];
  /** Documents written before seals existed: read and used, but nothing vouches for them. */
  unsealed: Finding[];
}

export interface VerifyOptions {
  /** One study (its study file, trials and their steps); the whole store when unset. */
  study?: string;
  /** Steps checked so far, of all. */
  progress?(done: number, total: number): void;
  /** Steps checked at once (artifact reads overlap; hashing is one core's work). */
  parallel?: number;
}

const UNSEALED = 'no seal (written by an older gantry): read, but nothing vouches for it';

export async function verifyStore(store: ArtifactStore, o: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const damaged: Finding[] = [];
  const unsealed: Finding[] = [];
  const report = { study: o.study ?? null, studies: 0, trials: 0, steps: 0, artifacts: 0, bytes: 0, ms: 0, damaged, unsealed };

  if (o.study && !(await store.exists(studyKey(o.study)))) throw new UserError(`no study '${o.study}' in ${store.url}`, { hint: 'gantry status lists the studies there' });
  const names = o.study ? [o.study] : (await store.list('studies')).filter((k) => /^studies\/[^/]+\.json$/.test(k)).map((k) => k.slice('studies/'.length, -'.json'.length));
  const trialIds = new Set<string>();
  let studyUnreadable = false;
  let plannedOnly = false;
  for (const name of names) {
    report.studies++;
    try {
      const { file, sealed } = await loadStudyFile(store, name);
      if (!sealed) unsealed.push({ kind: 'study', name, key: studyKey(name), what: UNSEALED });
      if (o.study) for (const id of await studyTrialIds(store, file)) trialIds.add(id);
      // A launch with a plan writes each trial's file as the trial starts: one not there has not started.
      if (o.study && !file.trials) plannedOnly = true;
    } catch (e) {
      if (!isDamagedError(e)) throw e;
      damaged.push({ kind: 'study', name, key: studyKey(name), what: e.what });
      studyUnreadable = true;
    }
  }
  // The whole store: every trial file. A study whose file is damaged: its trials are found by what their files say.
  const everyTrial = !o.study || studyUnreadable;
  if (everyTrial) for (const k of await store.list('trials')) if (/^trials\/[^/]+\.json$/.test(k)) trialIds.add(k.slice('trials/'.length, -'.json'.length));

  const steps = new Map<string, { kind: string; trials: string[] }>();
  for (const id of trialIds) {
    try {
      const { file, sealed } = await loadTrialFile(store, id);
      if (o.study && studyUnreadable && file.study !== o.study) continue;
      report.trials++;
      if (!sealed) unsealed.push({ kind: 'trial', name: id, key: trialKey(id), what: UNSEALED });
      for (const s of file.steps) {
        const entry = steps.get(s.key) ?? steps.set(s.key, { kind: s.kind, trials: [] }).get(s.key)!;
        entry.trials.push(id);
      }
    } catch (e) {
      if (e instanceof NotFoundError && plannedOnly) continue;
      if (e instanceof NotFoundError) {
        report.trials++;
        damaged.push({ kind: 'trial', name: id, key: trialKey(id), what: 'missing (its study lists it)' });
      } else if (isDamagedError(e)) {
        report.trials++;
        damaged.push({ kind: 'trial', name: id, key: trialKey(id), what: e.what });
      } else throw e;
    }
  }
  // The whole store: also the steps no trial lists (gantry gc's business, but still checked).
  if (!o.study) {
    for (const k of await store.list('steps')) {
      const m = /^steps\/([^/]+)\/record\.json$/.exec(k);
      if (m && !steps.has(m[1])) steps.set(m[1], { kind: '', trials: [] });
    }
  }

  const keys = [...steps.keys()];
  let next = 0;
  let done = 0;
  const check = async (key: string): Promise<void> => {
    const entry = steps.get(key)!;
    const probe = await probeRecord(store, key);
    const kind = probe.record?.kind ?? (entry.kind || 'step');
    const base = { name: kind, key, ...(entry.trials.length ? { trials: entry.trials } : {}) };
    if (probe.unreadable) {
      report.steps++;
      damaged.push({ kind: 'record', ...base, what: probe.damaged ? 'its seal does not match its contents (edited or corrupted)' : probe.unreadable.replace(/^step record \S+ is \w+: /, 'unreadable: ') });
      return;
    }
    if (!probe.record) return; // not run yet
    report.steps++;
    if (probe.unsealed) unsealed.push({ kind: 'record', ...base, what: UNSEALED });
    if (probe.record.status !== 'done') return;
    for (const [name, ref] of Object.entries(probe.record.artifacts)) {
      report.artifacts++;
      report.bytes += ref.size;
      const what = await artifactDamage(store, ref);
      if (what) damaged.push({ kind: 'artifact', ...base, name: `${kind} ${name}`, what });
    }
  };
  const lane = async () => {
    while (next < keys.length) {
      await check(keys[next++]);
      o.progress?.(++done, keys.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.parallel ?? 4, keys.length)) }, lane));
  const order: Record<FindingKind, number> = { study: 0, trial: 1, record: 2, artifact: 3 };
  damaged.sort((a, b) => order[a.kind] - order[b.kind] || a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
  report.ms = Date.now() - started;
  return report;
}

/** The steps that read dataset files: only the study file knows where those are (the record holds their content hash, not their path). */
function readsDataFiles(kind: string, params: Record<string, unknown>): boolean {
  return ['scan', 'screen', 'extract', 'embed'].includes(kind) || (kind === 'load' && typeof params.sha256 === 'string');
}

/** A damaged step's call, from its record, when the record proves it; else why not. Its output (what a forgery would change) is not used. */
async function callFromRecord(store: ArtifactStore, key: string): Promise<{ call: StepCall } | { why: string }> {
  let raw: unknown;
  try {
    raw = parseStored(recordKey(key), await store.get(recordKey(key)));
  } catch {
    return { why: 'its record cannot be read' };
  }
  if (raw === null || typeof raw !== 'object') return { why: 'its record cannot be read' };
  const { [SEAL_FIELD]: _, ...doc } = raw as Record<string, unknown>;
  const r = stepRecordSchema.safeParse(doc);
  if (!r.success) return { why: 'its record cannot be read' };
  const { kind, version, params, inputs } = r.data;
  if (!(kind in STEP_VERSIONS)) return { why: `unknown step kind '${kind}'` };
  const current = STEP_VERSIONS[kind as StepKind];
  if (version !== current) return { why: `made by version ${version} of the ${kind} step; this gantry has version ${current}` };
  // The key hashes kind, version, params and inputs: a record whose call hashes to its key holds the call as planned.
  if (r.data.key !== key || idHasher(canonicalJson({ kind, version, params, inputs })) !== key) return { why: 'its params or inputs do not hash to its key' };
  if (readsDataFiles(kind, params)) return { why: `the ${kind} step reads the dataset's files, which only the study file locates` };
  return { call: { kind: kind as StepKind, version, key, params, inputs } };
}

/** Inputs first: a damaged step whose input is damaged too runs after it. */
function inputsFirst(calls: StepCall[]): StepCall[] {
  const byKey = new Map(calls.map((c) => [c.key, c]));
  const out: StepCall[] = [];
  const seen = new Set<string>();
  const visit = (c: StepCall) => {
    if (seen.has(c.key)) return;
    seen.add(c.key);
    for (const k of Object.values(c.inputs)) if (byKey.has(k)) visit(byKey.get(k)!);
    out.push(c);
  };
  calls.forEach(visit);
  return out;
}

export interface RepairOptions {
  study?: string;
  catalogPath: string;
  /** The home's run lock: a repair and a `gantry run` never run steps on one home at once. */
  lockPath: string;
  signal: AbortSignal;
  backend?: string;
  policy?: CheckpointPolicy;
  /** One line per event (a step repaired, failed). */
  log(line: string): void;
  progress?(done: number, total: number): void;
}

export interface RepairReport {
  verify: VerifyReport;
  repaired: { kind: string; key: string; what: string; durationMs: number }[];
  failed: { kind: string; key: string; error: string }[];
  /** Damage repair cannot mend from the store alone, with why: `gantry run <study file>` does. */
  needRun: (Finding & { why: string })[];
  /** Trials indexed again in the catalog. */
  recorded: number;
}

export async function repairStore(store: ArtifactStore, o: RepairOptions): Promise<RepairReport> {
  await store.checkWritable();
  const release = await acquireLock(o.lockPath);
  try {
    const verify = await verifyStore(store, { ...(o.study ? { study: o.study } : {}), ...(o.progress ? { progress: o.progress } : {}) });
    const report: RepairReport = { verify, repaired: [], failed: [], needRun: [], recorded: 0 };
    const calls = new Map<string, StepCall>();
    for (const f of verify.damaged) {
      if (f.kind === 'study' || f.kind === 'trial') {
        report.needRun.push({ ...f, why: `the ${f.kind} file is written by planning the study` });
        continue;
      }
      if (calls.has(f.key) || report.needRun.some((n) => n.key === f.key)) continue;
      const c = await callFromRecord(store, f.key);
      if ('call' in c) calls.set(f.key, c.call);
      else report.needRun.push({ ...f, why: c.why });
    }
    let pool: StepPool | undefined;
    const policy = o.policy ?? { everyIterations: 50, everyMinutes: 5, keep: 2 };
    const run = stepRunner(store, policy, () => (pool ??= new StepPool(1, store.url, o.backend)));
    try {
      for (const call of inputsFirst([...calls.values()])) {
        if (o.signal.aborted) break;
        const what = verify.damaged.filter((f) => f.key === call.key).map((f) => `${f.kind === 'artifact' ? f.name.slice(call.kind.length + 1) : 'record'}: ${f.what}`).join('; ');
        o.log(`repairing ${call.kind} ${call.key.slice(0, 12)} (${what})`);
        try {
          const r = await runStepAttempt(call, {
            store, policy, signal: o.signal, run, backend: o.backend,
            explain: async () => 'repair',
            final: () => true,
          });
          report.repaired.push({ kind: call.kind, key: call.key, what, durationMs: r.record.durationMs ?? 0 });
        } catch (e) {
          report.failed.push({ kind: call.kind, key: call.key, error: oneLine(e) });
          o.log(`  ${call.kind} ${call.key.slice(0, 12)} failed: ${oneLine(e)}`);
        }
      }
    } finally {
      await pool?.close();
    }
    // The catalog mirrors the store: every trial that had something damaged is indexed again.
    const trials = new Set(verify.damaged.flatMap((f) => (f.kind === 'trial' ? [f.name] : f.trials ?? [])));
    if (trials.size && !o.signal.aborted) {
      const cat = await Catalog.open(o.catalogPath);
      try {
        for (const id of trials) {
          try {
            await indexTrial(store, cat, id);
            report.recorded++;
          } catch (e) {
            if (!isDamage(e)) throw e; // its trial file is damaged: listed in needRun
          }
        }
      } finally {
        cat.close();
      }
    }
    return report;
  } finally {
    await release();
  }
}
