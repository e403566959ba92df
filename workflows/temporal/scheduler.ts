/**
 * The planning logic of the Temporal study workflow, pure and deterministic (no Temporal API, no
 * I/O, no clock), so it is unit-tested in plain Node and replays identically in workflow code.
 *
 * - Windows and continue-as-new: a workflow run handles one window of at most `batchSize` trials
 *   (the plan order), then continues as new with what is left and the counters so far, so the
 *   history of a grid of thousands of trials stays far below Temporal's limits. A run that is told
 *   its history is large (continueAsNewSuggested) stops starting trials, drains, and hands the
 *   trials it did not start to the next run.
 * - Bounded fan-out: at most `concurrency` trials run at once, started in plan order.
 * - Shared steps run once: a trial that needs a step another running trial has claimed (the same
 *   key: the same data, filter, tiling, or the same training under other scoring settings) waits
 *   until that trial reports the step done, then finds it cached. Later trials that share nothing
 *   with the running ones are started meanwhile (look-ahead), so waiting never idles a slot that
 *   could work.
 */
import type { StudyCarry, StudyCounters, StudyInput, TrialFailure, TrialOutcome, TrialPlan } from './types.js';

export const MAX_FAILURES_KEPT = 100;
/** Trials per planSlice activity call when a plan lives in the store (keeps results far below 2 MB). */
export const PLAN_PAGE = 100;

interface Running {
  trial: TrialPlan;
  claims: Set<string>;
}

export interface StartDecision {
  trial: TrialPlan;
  /** Step keys other pending trials of the window wait for: the trial reports each when done. */
  reportKeys: string[];
}

export class StudyScheduler {
  private pending: TrialPlan[];
  private readonly running = new Map<string, Running>();
  /** Step key → the running trial that will compute it. */
  private readonly claims = new Map<string, string>();
  /** Step keys known to be done (reported, or part of a trial that finished well). */
  private readonly doneKeys = new Set<string>();
  /** Step key → how many pending trials use it. */
  private readonly pendingUse = new Map<string, number>();
  /** Trials set aside for a while (their workflow id is still taken): neither pending nor running. */
  private readonly deferred = new Map<string, TrialPlan>();

  constructor(window: TrialPlan[], private readonly concurrency: number) {
    this.pending = [...window];
    for (const t of this.pending) this.count(t, +1);
  }

  get runningCount(): number {
    return this.running.size;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** The trials not started yet (set-aside ones first), in plan order. */
  pendingTrials(): TrialPlan[] {
    return [...this.deferred.values(), ...this.pending];
  }

  /** Nothing left to start and nothing running. */
  drained(): boolean {
    return this.pending.length === 0 && this.running.size === 0 && this.deferred.size === 0;
  }

  /** A slot is free and some pending trial can start now. */
  canStart(): boolean {
    return this.running.size < Math.max(1, this.concurrency) && this.eligibleIndex() >= 0;
  }

  /** Take the first pending trial (plan order) that can start now, and claim its steps. */
  next(): StartDecision | undefined {
    if (this.running.size >= Math.max(1, this.concurrency)) return undefined;
    const i = this.eligibleIndex();
    if (i < 0) return undefined;
    const [trial] = this.pending.splice(i, 1);
    this.count(trial, -1);
    const claims = new Set<string>();
    for (const s of trial.steps) {
      if (this.doneKeys.has(s.key) || this.claims.has(s.key)) continue;
      this.claims.set(s.key, trial.id);
      claims.add(s.key);
    }
    this.running.set(trial.id, { trial, claims });
    const reportKeys = [...claims].filter((k) => (this.pendingUse.get(k) ?? 0) > 0);
    return { trial, reportKeys };
  }

  /** A running trial finished one of its steps: trials waiting for that key may start. */
  stepDone(trialId: string, key: string): void {
    this.doneKeys.add(key);
    if (this.claims.get(key) === trialId) this.claims.delete(key);
    this.running.get(trialId)?.claims.delete(key);
  }

  /**
   * A running trial ended; when it ended well, all its steps are done. When one of its steps failed
   * for good (`failedKey`), the pending trials that need that step fail with it, as they do under the
   * embedded executor, where a shared step runs once: they are returned, no longer pending.
   */
  finished(trialId: string, ok: boolean, failedKey?: string): TrialPlan[] {
    const r = this.running.get(trialId);
    if (!r) return [];
    this.running.delete(trialId);
    for (const k of r.claims) if (this.claims.get(k) === trialId) this.claims.delete(k);
    if (ok) for (const s of r.trial.steps) this.doneKeys.add(s.key);
    if (ok || failedKey === undefined) return [];
    const needs = (t: TrialPlan) => t.steps.some((s) => s.key === failedKey);
    const doomed = [...this.deferred.values(), ...this.pending].filter(needs);
    for (const t of doomed) {
      if (this.deferred.delete(t.id)) continue;
      this.pending.splice(this.pending.indexOf(t), 1);
      this.count(t, -1);
    }
    return doomed;
  }

  /** A running trial could not be started after all: it goes back to the front of the queue. */
  requeue(trialId: string): void {
    const r = this.running.get(trialId);
    if (!r) return;
    this.finished(trialId, false);
    this.pending.unshift(r.trial);
    this.count(r.trial, +1);
  }

  /**
   * A running trial could not be started yet: set it aside, freeing its slot and the steps it
   * claimed, so that other trials go on meanwhile; `undefer` brings it back to the front.
   */
  defer(trialId: string): void {
    const r = this.running.get(trialId);
    if (!r) return;
    this.finished(trialId, false);
    this.deferred.set(trialId, r.trial);
  }

  undefer(trialId: string): void {
    const t = this.deferred.get(trialId);
    if (!t) return;
    this.deferred.delete(trialId);
    this.pending.unshift(t);
    this.count(t, +1);
  }

  private eligibleIndex(): number {
    return this.pending.findIndex((t) => t.steps.every((s) => this.doneKeys.has(s.key) || !this.claims.has(s.key)));
  }

  private count(t: TrialPlan, d: number): void {
    for (const k of new Set(t.steps.map((s) => s.key))) {
      const n = (this.pendingUse.get(k) ?? 0) + d;
      if (n > 0) this.pendingUse.set(k, n);
      else this.pendingUse.delete(k);
    }
  }
}

/** The trials one workflow run handles. */
export type WindowSpec =
  | { kind: 'inline'; trials: TrialPlan[]; rest: TrialPlan[] }
  | { kind: 'store'; key: string; start: number; end: number; only?: string[] };

export function initialCarry(): StudyCarry {
  return { counters: { done: 0, failed: 0, interrupted: 0, stepsRun: 0, stepsCached: 0 }, cursor: 0, failures: [], paused: false, runs: 1 };
}

export function windowOf(input: StudyInput): WindowSpec {
  const batch = Math.max(1, Math.floor(input.batchSize));
  if (input.plan.kind === 'inline') {
    return { kind: 'inline', trials: input.plan.trials.slice(0, batch), rest: input.plan.trials.slice(batch) };
  }
  const start = Math.max(0, input.carry?.cursor ?? 0);
  const end = Math.min(input.plan.total, start + batch);
  const only = input.carry?.leftover;
  return { kind: 'store', key: input.plan.key, start, end, ...(only ? { only } : {}) };
}

/** The planSlice calls that read a store window, in pages that keep each result small. */
export function windowPages(w: Extract<WindowSpec, { kind: 'store' }>, page = PLAN_PAGE): { offset: number; limit: number }[] {
  const out: { offset: number; limit: number }[] = [];
  for (let o = w.start; o < w.end; o += page) out.push({ offset: o, limit: Math.min(page, w.end - o) });
  return out;
}

/** Keep a store window's trials that the previous run left unstarted (all of them when it left none). */
export function restrictWindow(trials: TrialPlan[], only?: string[]): TrialPlan[] {
  if (!only) return trials;
  const keep = new Set(only);
  return trials.filter((t) => keep.has(t.id));
}

export interface RunState {
  counters: StudyCounters;
  failures: TrialFailure[];
  paused: boolean;
}

/**
 * The input of the next run, or undefined when the study has nothing left. `notStarted` are the
 * window's trials this run did not start (it stopped early because its history grew large).
 */
export function continuation(input: StudyInput, w: WindowSpec, notStarted: TrialPlan[], state: RunState): StudyInput | undefined {
  const runs = (input.carry?.runs ?? 1) + 1;
  const base = { counters: state.counters, failures: state.failures, paused: state.paused, runs };
  if (w.kind === 'inline') {
    const remaining = [...notStarted, ...w.rest];
    if (!remaining.length) return undefined;
    return { ...input, plan: { kind: 'inline', trials: remaining }, carry: { ...base, cursor: 0 } };
  }
  if (input.plan.kind !== 'store') throw new Error('window and plan disagree');
  if (notStarted.length) return { ...input, carry: { ...base, cursor: w.start, leftover: notStarted.map((t) => t.id) } };
  if (w.end >= input.plan.total) return undefined;
  return { ...input, carry: { ...base, cursor: w.end } };
}

/** Fold a finished trial into the counters (and the capped failure list). */
export function countOutcome(state: RunState, o: TrialOutcome): void {
  const c = state.counters;
  if (o.status === 'done') c.done++;
  else if (o.status === 'interrupted') c.interrupted++;
  else c.failed++;
  c.stepsRun += o.stepsRun;
  c.stepsCached += o.stepsCached;
  if (o.status !== 'done' && state.failures.length < MAX_FAILURES_KEPT) state.failures.push({ trialId: o.trialId, status: o.status, error: o.error ?? o.status, ...(o.badInput ? { badInput: true } : {}) });
}

/** Trials of the launch not yet finished (pending or running), from the counters. */
export function remainingTrials(input: StudyInput, counters: StudyCounters): number {
  return Math.max(0, input.total - input.alreadyDone - counters.done - counters.failed - counters.interrupted);
}

/** The innermost application failure type of a Temporal failure chain ('UserError' for bad input), if any. */
export function failureType(e: unknown): string | undefined {
  let cur: unknown = e;
  let type: string | undefined;
  for (let depth = 0; cur && depth < 8; depth++) {
    const t = (cur as { type?: unknown }).type;
    if (typeof t === 'string' && t) type = t;
    cur = (cur as { cause?: unknown }).cause;
  }
  return type;
}

/** The innermost message of a Temporal failure chain (ActivityFailure → ApplicationFailure → …), one line. */
export function failureMessage(e: unknown): string {
  let cur: unknown = e;
  let msg = '';
  for (let depth = 0; cur && depth < 8; depth++) {
    const m = (cur as { message?: unknown }).message;
    if (typeof m === 'string' && m) msg = m;
    cur = (cur as { cause?: unknown }).cause;
  }
  return (msg || String(e)).split('\n')[0];
}
