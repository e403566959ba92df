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
import { latestLaunch, readLaunchTrials, type LaunchDoc } from '../activities/launches.js';
import { label } from '../experiments/grid.js';
import { UserError } from '../core/errors.js';
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
  trials: TrialReport[];
}

export interface StatusReport {
  store: string;
  studies: StudyReport[];
}

export async function collectStatus(store: ArtifactStore, study?: string): Promise<StatusReport> {
  const names = study ? [study] : (await store.list('studies')).filter((k) => k.endsWith('.json')).map((k) => k.slice('studies/'.length, -'.json'.length));
  if (study && !(await store.exists(studyKey(study)))) throw new UserError(`no study '${study}' in ${store.url}`);
  const studies: StudyReport[] = [];
  for (const name of names) studies.push(await studyReport(store, name));
  return { store: store.url, studies };
}

const verifyHint = (study: string) => `run: gantry verify ${study}`;

async function studyReport(store: ArtifactStore, name: string): Promise<StudyReport> {
  const s = await readStudyFile(store, name).catch((e: unknown) => {
    if (!isDamage(e)) throw e;
    return message(e);
  });
  if (typeof s === 'string') return { study: name, profile: null, updatedAt: null, damaged: `${naming(studyKey(name), s)}; ${verifyHint(name)}`, latestLaunch: null, counts: {}, trials: [] };
  const launch = await latestLaunch(store, name).catch(() => undefined);
  // Which trials the latest launch had; an unreadable list only means no step is called cached.
  const inLaunch = launch ? new Set(await readLaunchTrials(store, launch).catch(() => [] as string[])) : new Set<string>();
  const launchStart = launch ? Date.parse(launch.startedAt) : NaN;
  const counts: Record<string, number> = {};
  const trials: TrialReport[] = [];
  for (const id of s.trials) {
    const t = await readTrialFile(store, id).catch((e: unknown) => {
      if (!isDamage(e)) throw e;
      return message(e);
    });
    if (typeof t === 'string') {
      counts.damaged = (counts.damaged ?? 0) + 1;
      trials.push({ id, model: null, cell: null, cellId: null, seed: null, status: 'damaged', error: `${naming(trialKey(id), t)}; ${verifyHint(name)}`, steps: [] });
      continue;
    }
    const probes = await Promise.all(t.steps.map((x) => probeRecord(store, x.key)));
    const st = trialStatus(probes.map((p) => p.record));
    counts[st.status] = (counts[st.status] ?? 0) + 1;
    const reused = (r: StepRecord) => inLaunch.has(id) && Date.parse(r.finishedAt ?? r.startedAt) < launchStart;
    trials.push({
      id, model: (t.config.model as { kind?: string } | undefined)?.kind ?? null, cell: label(t.cell), cellId: t.cellId, seed: (t.config.seed as number | undefined) ?? null,
      status: st.status, error: st.error,
      steps: t.steps.map((x, i): StepReport => {
        const { record: r, unreadable } = probes[i];
        const base = { kind: x.kind, key: x.key, reason: null, error: null, attempt: null, durationMs: null, startedAt: null, finishedAt: null, selection: null };
        if (unreadable) return { ...base, status: 'unreadable', error: unreadable };
        if (!r) return { ...base, status: 'pending' };
        const selection = r.status === 'done' ? ((r.output?.selection as Selection | undefined) ?? null) : null;
        return {
          kind: x.kind, key: x.key, status: r.status === 'done' && reused(r) ? 'cached' : r.status, reason: r.reason, error: r.error ?? null,
          attempt: r.attempt, durationMs: r.durationMs ?? null, startedAt: r.startedAt, finishedAt: r.finishedAt ?? null, selection,
        };
      }),
    });
  }
  return { study: s.study, profile: s.profile, updatedAt: s.updatedAt, damaged: null, latestLaunch: launch ? withoutTrialIds(launch) : null, counts, trials };
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
    const launch = l ? `; latest launch ${when(l.startedAt)}${sets.length ? ` with --set ${sets.join(' ')}` : ''}${cached ? `, which reused ${cached} step${cached === 1 ? '' : 's'} done before` : ''}` : '';
    const head = `study ${s.study} (profile ${s.profile ?? 'none'}, updated ${s.updatedAt}): ` + Object.entries(s.counts).map(([k, v]) => `${v} ${k}`).join(', ') + launch;
    out.push(...(opts.width ? wrapText(head, opts.width) : [head]));
    out.push(renderWrappedTable(['trial', 'model', 'cell', 'seed', 'status', 'error'], rows, { width: opts.width, wrap: [2, 4, 5] }));
  }
  return out.join('\n');
}

/** `gantry status [study] [--steps] [--json]`. */
export async function studyStatus(store: ArtifactStore, study: string | undefined, steps: boolean, opts: { json?: boolean; width?: number } = {}): Promise<string> {
  const report = await collectStatus(store, study);
  return opts.json ? JSON.stringify(report, null, 1) : formatStatus(report, { steps, width: opts.width });
}
