/**
 * The study workflow: one child workflow per trial, at most `concurrency` at once, in plan order;
 * trials that share a step with a running trial wait until it is done (then find it cached).
 * A run handles one window of `batchSize` trials, then continues as new with the rest and its
 * counters, so grids of thousands of trials keep a small history (see scheduler.ts).
 *
 * Query `progress`; signals `pause` (start no new trials), `resume`, `cancel` (cancel the
 * running trials — training saves a checkpoint first — and end). Cancelling the workflow itself
 * (Temporal's cancel, `gantry cancel`) does the same and ends it as cancelled.
 */
import {
  ApplicationFailure, CancellationScope, CancelledFailure, ChildWorkflowFailure,
  condition, continueAsNew, isCancellation, log, proxyActivities, setHandler, sleep, startChild, workflowInfo,
} from '@temporalio/workflow';
import { trialWorkflowId } from './ids.js';
import { cancelSignal, pauseSignal, resumeSignal, stepDoneSignal, studyProgressQuery } from './messages.js';
import { activityOptions } from './options.js';
import {
  continuation, countOutcome, failureMessage, initialCarry, remainingTrials, restrictWindow, StudyScheduler, windowOf, windowPages,
  type RunState, type StartDecision,
} from './scheduler.js';
import { gantryTrial } from './trial.js';
import type { GantryActivities, StudyInput, StudyProgressInfo, StudyResult, TrialOutcome, TrialPlan } from './types.js';

/** How long to wait before starting a trial again whose previous workflow is still closing. */
const BUSY_RETRY = '15 seconds';
const BUSY_TRIES = 40;
/** Trials per catalog `record` call. */
const RECORD_BATCH = 50;

export async function gantryStudy(input: StudyInput): Promise<StudyResult> {
  const carry = input.carry ?? initialCarry();
  const state: RunState = { counters: { ...carry.counters }, failures: [...carry.failures], paused: carry.paused };
  const info = workflowInfo();
  const running = new Map<string, { workflowId: string; scope: CancellationScope }>();
  const busyTries = new Map<string, number>();
  let sched: StudyScheduler | undefined;
  let cancelRequested = false;
  let cancelling = false;

  const result = (cancelled: boolean): StudyResult => ({
    study: input.study, total: input.total, alreadyDone: input.alreadyDone, ...state.counters,
    cancelled, runs: carry.runs, failures: state.failures,
  });
  setHandler(studyProgressQuery, (): StudyProgressInfo => {
    const runningTrials = [...running].map(([trialId, r]) => ({ trialId, workflowId: r.workflowId }));
    return {
      ...result(cancelRequested || cancelling),
      running: runningTrials,
      pending: Math.max(0, remainingTrials(input, state.counters) - runningTrials.length),
      paused: state.paused,
      cancelling,
    };
  });
  setHandler(pauseSignal, () => void (state.paused = true));
  setHandler(resumeSignal, () => void (state.paused = false));
  setHandler(cancelSignal, () => {
    cancelRequested = true;
    cancelling = true;
    for (const r of running.values()) r.scope.cancel();
  });
  setHandler(stepDoneSignal, ({ trialId, key }) => sched?.stepDone(trialId, key));

  const acts = (cls: 'record' | 'plan') => proxyActivities<GantryActivities>(activityOptions(cls, input.queues, input.tuning));

  // The catalog follows the trials: each finished trial (done, failed or interrupted) is recorded,
  // in batches, by the single-writer catalog queue, while the next trials run. The first batch of
  // the first run also records the study's row.
  const toRecord: string[] = [];
  let recording = false;
  let studyRowSent = !!input.carry;
  const flushCatalog = (): void => {
    if (recording || (!toRecord.length && studyRowSent)) return;
    recording = true;
    const trialIds = toRecord.splice(0, RECORD_BATCH);
    const withStudy = !studyRowSent;
    studyRowSent = true;
    void CancellationScope.nonCancellable(() => acts('record').record({ study: input.study, trialIds, withStudy }))
      .catch((e) => log.warn('the catalog did not record these trials; `gantry catalog rebuild` will', { trialIds, error: failureMessage(e) }))
      .finally(() => {
        recording = false;
        if (toRecord.length) flushCatalog();
      });
  };
  /** Before the run ends: everything recorded (or given up on). */
  const catalogSettled = () => CancellationScope.nonCancellable(async () => {
    flushCatalog();
    await condition(() => !recording && toRecord.length === 0);
  });

  const finish = (o: TrialOutcome) => {
    running.delete(o.trialId);
    busyTries.delete(o.trialId);
    const doomed = sched?.finished(o.trialId, o.status === 'done', o.failedKey) ?? [];
    // Trials that need the step that just failed for good fail with it, without running it again.
    const outcomes = [o, ...doomed.map((t): TrialOutcome => ({ trialId: t.id, status: 'failed', error: o.error, metrics: {}, stepsRun: 0, stepsCached: 0, ...(o.badInput ? { badInput: true } : {}) }))];
    for (const x of outcomes) {
      countOutcome(state, x);
      toRecord.push(x.trialId);
    }
    flushCatalog();
  };

  const runChild = async (d: StartDecision, workflowId: string): Promise<void> => {
    const { trial } = d;
    try {
      const handle = await startChild(gantryTrial, {
        workflowId,
        taskQueue: input.queues.main,
        args: [{
          trialId: trial.id, study: input.study, steps: trial.steps, queues: input.queues, checkpoint: input.checkpoint,
          tuning: input.tuning, launchedAt: input.launchedAt, reportKeys: d.reportKeys,
        }],
        // A trial is never left running without its study: closing the study asks it to stop (after a checkpoint).
        parentClosePolicy: 'REQUEST_CANCEL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        cancellationType: 'WAIT_CANCELLATION_COMPLETED',
      });
      finish(await handle.result());
    } catch (e) {
      const tries = (busyTries.get(trial.id) ?? 0) + 1;
      if (isAlreadyStarted(e) && tries < BUSY_TRIES && !cancelRequested) {
        // An earlier run's workflow for this trial is still closing (saving a checkpoint after a cancel):
        // set the trial aside — its slot and its shared steps go to other trials — and try again later.
        busyTries.set(trial.id, tries);
        running.delete(trial.id);
        sched?.defer(trial.id);
        try {
          await sleep(BUSY_RETRY);
          sched?.undefer(trial.id);
          return;
        } catch (e2) {
          e = e2; // cancelled while waiting
        }
      }
      finish(outcomeOfFailure(trial.id, e));
    }
  };

  const start = (d: StartDecision) => {
    const workflowId = trialWorkflowId(info.workflowId, d.trial.id);
    const scope = new CancellationScope();
    running.set(d.trial.id, { workflowId, scope });
    void scope.run(() => runChild(d, workflowId));
  };

  const w = windowOf(input);
  let cancelledByServer = false;
  let stopStarting = false;
  let startedHere = 0;
  // Told its history is large, a run that has started trials stops starting more and hands the rest on.
  const suggested = () => startedHere > 0 && workflowInfo().continueAsNewSuggested;
  try {
    let trials: TrialPlan[];
    if (w.kind === 'inline') trials = w.trials;
    else {
      trials = [];
      for (const page of windowPages(w)) trials.push(...(await acts('plan').planSlice({ key: w.key, ...page })));
      trials = restrictWindow(trials, w.only);
    }
    const s = (sched = new StudyScheduler(trials, input.concurrency));
    for (;;) {
      await condition(() =>
        cancelRequested || s.drained() || (stopStarting ? s.runningCount === 0 : suggested() || (!state.paused && s.canStart())),
      );
      if (cancelRequested || s.drained()) break;
      if (stopStarting) break; // and nothing runs: hand the rest to the next run
      if (suggested()) {
        stopStarting = true;
        continue;
      }
      const d = s.next();
      if (d) {
        startedHere++;
        start(d);
      }
    }
  } catch (e) {
    if (!isCancellation(e)) throw e;
    cancelledByServer = true;
  }

  if (cancelRequested || cancelledByServer) {
    cancelling = true;
    // Running trials were asked to stop; wait for them to save their checkpoints and close.
    await CancellationScope.nonCancellable(() => condition(() => running.size === 0));
    await catalogSettled();
    if (cancelledByServer) throw new CancelledFailure(`study ${input.study} cancelled`);
    return result(true);
  }

  await catalogSettled();
  const next = continuation(input, w, sched?.pendingTrials() ?? [], state);
  if (next) return continueAsNew<typeof gantryStudy>(next);
  return result(false);
}

/** What a trial workflow that did not complete tells its study. */
export function outcomeOfFailure(trialId: string, e: unknown): TrialOutcome {
  const base = { trialId, metrics: {}, stepsRun: 0, stepsCached: 0 };
  if (isCancellation(e)) return { ...base, status: 'interrupted', error: 'interrupted' };
  const cause = e instanceof ChildWorkflowFailure ? e.cause : e;
  if (cause instanceof ApplicationFailure && cause.type === 'TrialFailed') {
    const d = cause.details?.[0] as TrialOutcome | undefined;
    if (d && typeof d === 'object' && d.trialId === trialId) return d;
  }
  return { ...base, status: 'failed', error: failureMessage(e) };
}

/** The child's workflow id is taken by a running workflow (the SDK's WorkflowExecutionAlreadyStartedError). */
export function isAlreadyStarted(e: unknown): boolean {
  return e instanceof Error && e.name === 'WorkflowExecutionAlreadyStartedError';
}
