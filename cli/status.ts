/**
 * `gantry status`: what the store says about a study's trials and steps (no catalog needed).
 *
 * A step the latest launch found done and reused is "cached": its record finished before that
 * launch started (the launch documents, activities/launches.ts, say when each launch began and
 * which trials it had). A damaged study or trial file is one line naming the file and
 * `gantry verify`, never a failure of the whole command.
 */
import { probeRecord, type StepRecord } from '../infra/ledger.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { isDamage, readStudyFile, readTrialFile, studyKey, trialKey, trialStatus, type TrialStatus } from '../activities/record.js';
import { latestLaunch, readLaunchById, readLaunchTrials, type LaunchDoc } from '../activities/launches.js';
import { entryLabel, openPlan, planEntry, type PlanEntry } from '../activities/launch-plan.js';
import { progressCounts, readProgress, stateAt } from '../activities/launch-progress.js';
import { UserError } from '../core/errors.js';
import { isNotFound } from '../infra/store/store.js';
import { isDataStep } from '../workflows/trial.js';
import { renderWrappedTable, duration, wrapText } from './format.js';

export type StepState = 'done' | 'cached' | 'pending' | 'running' | 'failed' | 'interrupted' | 'unreadable';

export interface Selection {
  criterion: string;
  iteration: number;
  value: number | null;
}

export interface StepReport {
  kind: string;
  key: string;
  status: StepState;
  /** Why its latest attempt ran. */
  reason: string | null;
  error: string | null;
  attempt: number | null;
  durationMs: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Which weights a training kept, and why (model selection on the validation split). */
  selection: Selection | null;
}

export interface TrialReport {
  id: string;
  model: string | null;
  cell: string | null;
  cellId: string | null;
  seed: number | null;
  status: TrialStatus | 'damaged';
  error: string | null;
  steps: StepReport[];
}

export interface StudyReport {
  study: string;
  profile: string | null;
  updatedAt: string | null;
  /** Set when the study file cannot be read: what is wrong with it (no trials then). */
  damaged: string | null;
  latestLaunch: Omit<LaunchDoc, 'trialIds'> | null;
  counts: Record<string, number>;
  /** Trials of the study's latest launch. */
  total: number;
  /** The trials listed (at most the limit: those that need a look — failed, interrupted, running — first, then in plan order). */
  trials: TrialReport[];
  /** Where the states came from: the launch's progress document (fast), or every trial's step records. */
  source: 'progress' | 'records';
}

export interface StatusReport {
  store: string;
  studies: StudyReport[];
}

/** Trials listed per study unless --limit says otherwise (0: all). */
export const STATUS_LIMIT = 100;

export async function collectStatus(store: ArtifactStore, study?: string, opts: { limit?: number } = {}): Promise<StatusReport> {
  const names = study ? [study] : (await store.list('studies')).filter((k) => k.endsWith('.json')).map((k) => k.slice('studies/'.length, -'.json'.length));
  if (study && !(await store.exists(studyKey(study)))) throw new UserError(`no study '${study}' in ${store.url}`);
  const studies: StudyReport[] = [];
  for (const name of names) studies.push(await studyReport(store, name, opts.limit ?? STATUS_LIMIT));
  return { store: store.url, studies };
}

const verifyHint = (study: string) => `run: gantry verify ${study}`;

async function studyReport(store: ArtifactStore, name: string, limit: number): Promise<StudyReport> {
  const s = await readStudyFile(store, name).catch((e: unknown) => {
    if (!isDamage(e)) throw e;
    return message(e);
  });
  if (typeof s === 'string') return { study: name, profile: null, updatedAt: null, damaged: `${naming(studyKey(name), s)}; ${verifyHint(name)}`, latestLaunch: null, counts: {}, total: 0, trials: [], source: 'records' };
  const launch = await (s.launch ? readLaunchById(store, name, s.launch) : latestLaunch(store, name)).catch(() => undefined);
  const launchStart = launch ? Date.parse(launch.startedAt) : NaN;
  const plan = launch?.plan && !s.trials ? await openPlan(store, launch.plan) : undefined;
  const progress = plan ? await readProgress(store, name, launch!.launchId).catch(() => undefined) : undefined;

  const probeSteps = stepProber(store);
  const counts: Record<string, number> = {};
  const states = new Map<number, TrialState>();
  const damagedIds = new Map<number, string>();
  let total: number;
  let entryAt: (i: number) => PlanEntry | undefined;
  if (plan && progress) {
    // Fast: the states from one document, and step records only where it may be behind: the trials
    // it calls running, and (a launch still running, or killed) those started since its last write,
    // which are the next ones in plan order after the last it marked.
    total = plan.count;
    entryAt = (i) => plan.entry(i);
    for (const [k, v] of Object.entries(progressCounts(progress))) counts[k] = v;
    const recheck: number[] = [];
    let marked = -1;
    for (let i = 0; i < progress.states.length; i++) {
      const st = stateAt(progress, i);
      if (st === 'running') recheck.push(i);
      if (st !== 'pending') marked = i;
    }
    const probe = async (i: number) => {
      const probes = await probeSteps(plan.entry(i).steps);
      const st = { ...trialStatus(probes.map((p) => p.record)), probes };
      const was = stateAt(progress, i);
      if (st.status !== was) {
        counts[was]--;
        if (!counts[was]) delete counts[was];
        counts[st.status] = (counts[st.status] ?? 0) + 1;
      }
      states.set(i, st);
      return st.status;
    };
    for (const i of recheck) await probe(i);
    if (!progress.final) for (let i = marked + 1, quiet = 0; i < total && quiet < AHEAD; i++) quiet = (await probe(i)) === 'pending' ? quiet + 1 : 0;
    for (const [k, error] of Object.entries(progress.errors)) if (!states.has(Number(k))) states.set(Number(k), { status: stateAt(progress, Number(k)), error });
  } else {
    // Every trial's step records: a launch with no progress document (Temporal, or an older gantry's).
    const listed: (PlanEntry | string)[] = [];
    if (plan) for (let i = 0; i < plan.count; i++) listed.push(plan.entry(i));
    else {
      const ids = s.trials ?? (launch ? await readLaunchTrials(store, launch).catch(() => [] as string[]) : []);
      await forEachLimited(ids, 32, async (id, i) => {
        const t = await readTrialFile(store, id).catch((e: unknown) => {
          if (!isDamage(e)) throw e;
          return message(e);
        });
        listed[i] = typeof t === 'string' ? `${naming(trialKey(id), t)}; ${verifyHint(name)}` : planEntry({ ...t, config: { model: { kind: (t.config.model as { kind?: string } | undefined)?.kind ?? '' }, seed: (t.config.seed as number | undefined) ?? NaN } });
        if (typeof t === 'string') damagedIds.set(i, id);
      });
    }
    total = listed.length;
    entryAt = (i) => (typeof listed[i] === 'string' ? undefined : (listed[i] as PlanEntry));
    // Several trials at once; only the states are kept (the listed trials' records are read again below).
    await forEachLimited(listed, 16, async (e, i) => {
      if (typeof e === 'string') {
        states.set(i, { status: 'damaged', error: e });
        counts.damaged = (counts.damaged ?? 0) + 1;
        return;
      }
      const st = trialStatus((await probeSteps(e.steps)).map((p) => p.record));
      states.set(i, st);
      counts[st.status] = (counts[st.status] ?? 0) + 1;
    });
  }
  const stateOf = (i: number): TrialState => states.get(i) ?? { status: progress ? stateAt(progress, i) : 'pending', error: null };
  const picked = pick(total, limit, (i) => attention(stateOf(i).status));
  const reused = (r: StepRecord) => !!launch && Date.parse(r.finishedAt ?? r.startedAt) < launchStart;
  const trials: TrialReport[] = [];
  for (const i of [...picked].sort((a, b) => a - b)) {
    const e = entryAt(i);
    const st = stateOf(i);
    if (!e) {
      trials.push({ id: damagedIds.get(i) ?? '', model: null, cell: null, cellId: null, seed: null, status: 'damaged', error: st.error, steps: [] });
      continue;
    }
    // A listed trial's file is read too when the plan named it (a legacy list read them all above): damage is said, not skipped.
    const fileDamage = plan ? await readTrialFile(store, e.id).then(() => undefined, (err: unknown) => {
      if (isNotFound(err)) return undefined; // not started yet
      if (!isDamage(err)) throw err;
      return `${naming(trialKey(e.id), message(err))}; ${verifyHint(name)}`;
    }) : undefined;
    const row = { id: e.id, model: e.model || null, cell: entryLabel(e), cellId: e.cellId, seed: Number.isFinite(e.seed) ? e.seed : null };
    if (fileDamage) {
      counts[st.status]--;
      if (!counts[st.status]) delete counts[st.status];
      counts.damaged = (counts.damaged ?? 0) + 1;
      trials.push({ ...row, status: 'damaged', error: fileDamage, steps: [] });
      continue;
    }
    const probes = st.probes ?? (await probeSteps(e.steps));
    trials.push({ ...row, status: st.status, error: st.error, steps: e.steps.map(([kind, key], k): StepReport => stepReport(kind, key, probes[k], reused)) });
  }
  // A partial list keeps the trials that need a look first; a whole one is in plan order.
  if (trials.length < total) trials.sort((a, b) => Number(attention(b.status)) - Number(attention(a.status)));
  return { study: s.study, profile: s.profile, updatedAt: s.updatedAt, damaged: null, latestLaunch: launch ? withoutTrialIds(launch) : null, counts, total, trials, source: progress ? 'progress' : 'records' };
}

type TrialState = { status: TrialStatus | 'damaged'; error: string | null; probes?: Probe[] };

/** Trials past the last one a progress document marked that status probes before it believes the rest pending. */
const AHEAD = 8;

const attention = (status: string) => !['done', 'pending'].includes(status);

/** Which of `total` trials to list: all when they fit in `limit` (0: no limit); else those `needsLook` says first, then in order. */
function pick(total: number, limit: number, needsLook: (i: number) => boolean): Set<number> {
  const out = new Set<number>();
  if (!limit || total <= limit) {
    for (let i = 0; i < total; i++) out.add(i);
    return out;
  }
  for (let i = 0; i < total && out.size < limit; i++) if (needsLook(i)) out.add(i);
  for (let i = 0; i < total && out.size < limit; i++) out.add(i);
  return out;
}

/** `fn` over `items` with at most `lanes` at once (a store of 10⁵ trial files is not asked 10⁵ times at once). */
async function forEachLimited<T>(items: readonly T[], lanes: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

type Probe = Awaited<ReturnType<typeof probeRecord>>;
/**
 * A trial's step records, each data step's read once per status call: trials share them (a grid
 * over one scene has three data steps for every trial), so a study of 10⁵ trials reads them once.
 */
function stepProber(store: ArtifactStore): (steps: readonly (readonly [string, string])[]) => Promise<Probe[]> {
  const shared = new Map<string, Promise<Probe>>();
  return (steps) => Promise.all(steps.map(([kind, key]) => {
    if (!isDataStep(kind)) return probeRecord(store, key);
    let p = shared.get(key);
    if (!p) shared.set(key, (p = probeRecord(store, key)));
    return p;
  }));
}

function stepReport(kind: string, key: string, { record: r, unreadable }: Probe, reused: (r: StepRecord) => boolean): StepReport {
  const base = { kind, key, reason: null, error: null, attempt: null, durationMs: null, startedAt: null, finishedAt: null, selection: null };
  if (unreadable) return { ...base, status: 'unreadable', error: unreadable };
  if (!r) return { ...base, status: 'pending' };
  const selection = r.status === 'done' ? ((r.output?.selection as Selection | undefined) ?? null) : null;
  return {
    kind, key, status: r.status === 'done' && reused(r) ? 'cached' : r.status, reason: r.reason, error: r.error ?? null,
    attempt: r.attempt, durationMs: r.durationMs ?? null, startedAt: r.startedAt, finishedAt: r.finishedAt ?? null, selection,
  };
}

function withoutTrialIds({ trialIds: _, ...rest }: LaunchDoc): Omit<LaunchDoc, 'trialIds'> {
  return rest;
}

/** What is wrong with a damaged file, without the error's own hint (the line names `gantry verify`). */
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];
/** The file's key, then what is wrong (once: most messages start with the key already). */
const naming = (key: string, what: string) => (what.includes(key) ? what : `${key}: ${what}`);

/** `2025-01-02T03:04:05.678Z` → `2025-01-02 03:04:05 UTC`. */
const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');

/** What a step row says: its state and, in full, why it ran or what went wrong. */
export function stepText(s: StepReport): string {
  const took = `attempt ${s.attempt}, ${duration(s.durationMs ?? 0)}`;
  switch (s.status) {
    case 'unreadable':
      return `record unreadable, the next run repeats the step (${s.error})`;
    case 'pending':
      return 'pending';
    case 'done':
      return `done (${took}; ran: ${s.reason})`;
    case 'cached':
      return `cached (done by an earlier launch at ${when(s.finishedAt ?? s.startedAt ?? '')}; ${took}; ran then: ${s.reason})`;
    default:
      return `${s.status}: ${s.error ?? s.reason}`;
  }
}

/**
 * The report as text. `width`: the terminal's columns, to wrap long reasons and errors to; none
 * (not a terminal) prints every cell whole on one line, for grep and logs.
 */
export function formatStatus(report: StatusReport, opts: { steps: boolean; width?: number }): string {
  if (!report.studies.length) return `no studies in ${report.store} yet; try: gantry run quickstart`;
  const out: string[] = [];
  for (const s of report.studies) {
    if (s.damaged) {
      const line = `study ${s.study}: ${s.damaged}`;
      out.push(...(opts.width ? wrapText(line, opts.width) : [line]));
      continue;
    }
    const rows: unknown[][] = [];
    let cached = 0;
    for (const t of s.trials) {
      rows.push([t.id.slice(0, 8), t.model ?? '', t.cell ?? '', t.seed ?? '', t.status, t.error ?? '']);
      cached += t.steps.filter((x) => x.status === 'cached').length;
      if (!opts.steps) continue;
      for (const x of t.steps) {
        rows.push(['', `  ${x.kind}`, x.key, '', stepText(x), '']);
        if (x.selection) rows.push(['', '', '', '', `  model: iteration ${x.selection.iteration}, by ${x.selection.criterion}${x.selection.value === null ? '' : ` ${x.selection.value.toPrecision(4)}`}`, '']);
      }
    }
    const l = s.latestLaunch;
    const sets = l ? Object.entries(l.overrides).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`) : [];
    const launch = l ? `; latest launch ${when(l.startedAt)}${sets.length ? ` with --set ${sets.join(' ')}` : ''}${cached ? `, which reused ${cached} step${cached === 1 ? '' : 's'} done before${s.trials.length < s.total ? ` in the ${s.trials.length} trials listed` : ''}` : ''}` : '';
    const head = `study ${s.study} (profile ${s.profile ?? 'none'}, updated ${s.updatedAt}): ` + Object.entries(s.counts).map(([k, v]) => `${v} ${k}`).join(', ') + launch;
    out.push(...(opts.width ? wrapText(head, opts.width) : [head]));
    out.push(renderWrappedTable(['trial', 'model', 'cell', 'seed', 'status', 'error'], rows, { width: opts.width, wrap: [2, 4, 5] }));
    if (s.trials.length < s.total) out.push(`(${s.trials.length} of ${s.total} trials listed, those that need a look first; --limit 0 lists every one)`);
  }
  return out.join('\n');
}

/** `gantry status [study] [--steps] [--json] [--limit n]`. */
export async function studyStatus(store: ArtifactStore, study: string | undefined, steps: boolean, opts: { json?: boolean; width?: number; limit?: number } = {}): Promise<string> {
  const report = await collectStatus(store, study, { limit: opts.limit });
  return opts.json ? JSON.stringify(report, null, 1) : formatStatus(report, { steps, width: opts.width });
}
