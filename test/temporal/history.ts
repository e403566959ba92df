/**
 * What the real server recorded (not a test file itself): the runs of a workflow chain
 * (continue-as-new), their histories, and the commands in them. The integration suite checks
 * these as well as gantry's own counters, so a counter that lies cannot hide a missing run.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { withClient, type TemporalTarget } from '../../executors/temporal/connection.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface RunHistory {
  runId: string;
  events: HistoryEvent[];
  /** How the run closed: 'continued-as-new', 'completed', 'cancelled', … or 'open'. */
  closed: string;
}

function closeOf(e: HistoryEvent | undefined): string {
  if (!e) return 'open';
  if (e.workflowExecutionContinuedAsNewEventAttributes) return 'continued-as-new';
  if (e.workflowExecutionCompletedEventAttributes) return 'completed';
  if (e.workflowExecutionCanceledEventAttributes) return 'cancelled';
  if (e.workflowExecutionFailedEventAttributes) return 'failed';
  if (e.workflowExecutionTerminatedEventAttributes) return 'terminated';
  if (e.workflowExecutionTimedOutEventAttributes) return 'timed-out';
  return 'open';
}

/** Every run of the chain that starts at `firstRunId`, oldest first, following continue-as-new. */
export async function runChain(conn: TemporalTarget, workflowId: string, firstRunId: string): Promise<RunHistory[]> {
  return withClient(conn, async (client) => {
    const out: RunHistory[] = [];
    let runId: string | null | undefined = firstRunId;
    while (runId && out.length < 1000) {
      const events: HistoryEvent[] = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
      const last: HistoryEvent | undefined = events[events.length - 1];
      out.push({ runId, events, closed: closeOf(last) });
      runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    }
    return out;
  });
}

/** The trial workflows a run started (StartChildWorkflowExecutionInitiated), in order. */
export function childrenStarted(run: RunHistory): string[] {
  return run.events.flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
}

/** The inputs of the activities of one type a run scheduled, decoded. */
export function activityInputs<T>(run: RunHistory, type: string): T[] {
  return run.events.flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name !== type) return [];
    return [defaultPayloadConverter.fromPayload<T>(a.input!.payloads![0])];
  });
}

/** The names of the signals a run received, with the index of each event. */
export function signalsReceived(run: RunHistory): { name: string; index: number }[] {
  return run.events.flatMap((e, index) => {
    const name = e.workflowExecutionSignaledEventAttributes?.signalName;
    return name ? [{ name, index }] : [];
  });
}

/**
 * The newest run's state on the server: whether it has nothing in flight (no workflow task,
 * activity or child pending), so that only a signal can make it do anything more.
 */
export async function quiescent(conn: TemporalTarget, workflowId: string): Promise<{ idle: boolean; runId: string }> {
  return withClient(conn, async (client) => {
    const d = await client.workflow.getHandle(workflowId).describe();
    const raw = d.raw;
    const idle = d.status.name === 'RUNNING' && !raw.pendingWorkflowTask && !raw.pendingActivities?.length && !raw.pendingChildren?.length;
    return { idle, runId: d.runId };
  });
}

/** The runs of the workflow's newest chain, oldest first: from its newest run back along continue-as-new. */
export async function latestChain(conn: TemporalTarget, workflowId: string): Promise<RunHistory[]> {
  const first = await withClient(conn, async (client) => {
    let runId: string | null | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
    for (let i = 0; runId && i < 1000; i++) {
      const start: HistoryEvent | undefined = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events?.[0];
      const previous: string | null | undefined = start?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      if (!previous) return runId;
      runId = previous;
    }
    throw new Error(`no first run found for ${workflowId}`);
  });
  return runChain(conn, workflowId, first);
}
