/**
 * The trial workflow: one trial's planned steps, in order, as activities. It is the same
 * orchestration the embedded executor runs (workflows/trial.ts `trialWorkflow`), given activity
 * proxies instead of in-process step runners — one code path.
 *
 * Cancelling it cancels the running step and waits for the step to confirm (the train step saves
 * a checkpoint, then stops); the workflow then ends cancelled. A failed trial's workflow fails with
 * a `TrialFailed` error carrying its outcome. Its study records it in the catalog either way.
 */
import {
  ApplicationFailure, CancellationScope, CancelledFailure, getExternalWorkflowHandle, isCancellation, log, proxyActivities, setHandler, workflowInfo,
} from '@temporalio/workflow';
import type { StepKind } from '../../experiments/plan.js';
import { isDataStep, trialWorkflow } from '../trial.js';
import { stepDoneSignal, trialProgressQuery } from './messages.js';
import { activityClass, activityOptions, tuningFor } from './options.js';
import { failureMessage, failureType } from './scheduler.js';
import type { ActivityClass, GantryActivities, TrialInput, TrialOutcome, TrialProgressInfo } from './types.js';

export async function gantryTrial(input: TrialInput): Promise<TrialOutcome> {
  const { trialId, study } = input;
  const progress: TrialProgressInfo = { trialId, step: null, stepsDone: 0, stepsCached: 0, total: input.steps.length };
  setHandler(trialProgressQuery, () => progress);

  const proxies = new Map<ActivityClass, GantryActivities>();
  const proxy = (cls: ActivityClass): GantryActivities => {
    let p = proxies.get(cls);
    if (!p) {
      p = proxyActivities<GantryActivities>(activityOptions(cls, input.queues, input.tuning));
      proxies.set(cls, p);
    }
    return p;
  };
  const parent = workflowInfo().parent;
  const report = new Set(input.reportKeys);
  let stepsRun = 0;

  const r = await trialWorkflow(input.steps, async (call) => {
    const index = input.steps.indexOf(call);
    progress.step = { index, kind: call.kind, key: call.key };
    const cls = activityClass(call.kind);
    const run = proxy(cls)[call.kind as StepKind];
    const res = await run({
      call, trialId, study, checkpoint: input.checkpoint, launchedAt: input.launchedAt, maxAttempts: tuningFor(cls, input.tuning).maxAttempts,
    });
    progress.step = null;
    progress.stepsDone++;
    if (res.cached) progress.stepsCached++;
    else stepsRun++;
    if (parent && report.has(call.key)) {
      // Trials of the study that need this step were waiting for it: tell the study it is done.
      try {
        await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(stepDoneSignal, { trialId, key: call.key });
      } catch (e) {
        log.warn('could not tell the study a shared step is done', { key: call.key, error: failureMessage(e) });
      }
    }
    return { output: res.output };
  });
  progress.step = null;

  const cancelled = !r.ok && (isCancellation(r.error) || CancellationScope.current().consideredCancelled);
  const status: TrialOutcome['status'] = r.ok ? 'done' : cancelled ? 'interrupted' : 'failed';
  const failedKind = r.ok ? undefined : input.steps[r.failedAt!]?.kind;
  const error = r.ok ? null : cancelled ? `${failedKind ?? 'trial'}: interrupted` : `${failedKind}: ${failureMessage(r.error)}`;

  const badInput = status === 'failed' && isDataStep(failedKind!) && failureType(r.error) === 'UserError';
  const outcome: TrialOutcome = {
    trialId, status, error, metrics: r.metrics, stepsRun, stepsCached: progress.stepsCached,
    ...(status === 'failed' ? { failedKey: input.steps[r.failedAt!].key } : {}),
    ...(badInput ? { badInput: true } : {}),
  };
  if (status === 'interrupted') throw new CancelledFailure(`trial ${trialId} interrupted at ${failedKind ?? 'a step'}`);
  if (status === 'failed') {
    throw ApplicationFailure.create({ type: 'TrialFailed', message: `trial ${trialId} failed: ${error}`, nonRetryable: true, details: [outcome] });
  }
  return outcome;
}
