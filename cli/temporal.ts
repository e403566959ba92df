/**
 * The CLI's Temporal side: connection flags shared by every command that talks to a server,
 * `gantry run --executor temporal` (launch, then follow), `gantry worker`, the workflow part of
 * `gantry status`, and `gantry cancel` / `pause` / `resume`.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { PreparedStudy } from '../executors/prepare.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { temporalSettings, describeSettings, type TemporalFlags, type TemporalSettings } from '../executors/temporal/connection.js';
import type { StudyRef } from '../executors/temporal/client.js';

/** The Temporal client, loaded when a command talks to Temporal: its SDK costs most of a second at start, which `gantry status` and the rest need not pay. */
const client = () => import('../executors/temporal/client.js');
import type { StudyProgressInfo, StudyResult } from '../workflows/temporal/types.js';
import { duration } from './format.js';

/** The connection flags (each overrides its TEMPORAL_* variable). */
export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--address <host:port>', 'Temporal frontend (TEMPORAL_ADDRESS, default localhost:7233)')
    .option('--namespace <name>', 'Temporal namespace (TEMPORAL_NAMESPACE, default default)')
    .option('--tls', 'use TLS (TEMPORAL_TLS; on by itself when a certificate, CA or API key is set)')
    .option('--tls-cert <path>', 'client certificate for mTLS (TEMPORAL_TLS_CERT)')
    .option('--tls-key <path>', 'client certificate key (TEMPORAL_TLS_KEY)')
    .option('--tls-ca <path>', 'CA certificate of the server (TEMPORAL_TLS_CA)')
    .addOption(new Option('--api-key <key>', 'API key, e.g. for Temporal Cloud (prefer TEMPORAL_API_KEY: flags show in ps)').hideHelp())
    .option('--task-queue-base <name>', "base name of gantry's task queues (GANTRY_TASK_QUEUE, default gantry)");
}

/** Settings from the environment and the command's flags, validated. */
export function connectionFrom(o: Record<string, unknown>): TemporalSettings {
  const flags: TemporalFlags = {
    address: o.address as string | undefined,
    namespace: o.namespace as string | undefined,
    tls: o.tls === true ? true : undefined,
    tlsCert: o.tlsCert as string | undefined,
    tlsKey: o.tlsKey as string | undefined,
    tlsCa: o.tlsCa as string | undefined,
    apiKey: o.apiKey as string | undefined,
    taskQueue: o.taskQueueBase as string | undefined,
  };
  return temporalSettings(process.env, flags);
}

export interface TemporalRunOptions {
  conn: TemporalSettings;
  store: ArtifactStore;
  concurrency: number;
  retries: number;
  checkpoint: { everyIterations: number; everyMinutes: number };
  batchSize?: number;
  detach: boolean;
  /** Aborted by Ctrl-C: stop following (the study goes on). */
  signal: AbortSignal;
  log: (line: string) => void;
}

export type TemporalRunEnd =
  | { kind: 'detached'; workflowId: string }
  | { kind: 'stopped-following'; workflowId: string }
  | { kind: 'closed'; workflowId: string; result: StudyResult };

/** Launch (or attach to) the study workflow, then follow it to the end unless detached. */
export async function runOnTemporal(study: PreparedStudy, o: TemporalRunOptions): Promise<TemporalRunEnd> {
  const launch = await (await client()).launchStudy(study, o.conn, {
    store: o.store, concurrency: o.concurrency, retries: o.retries, checkpoint: o.checkpoint,
    ...(o.batchSize ? { batchSize: o.batchSize } : {}),
  });
  const id = launch.workflowId;
  o.log(
    launch.attached
      ? `study ${study.study}: already running as workflow ${id}; following it`
      : `study ${study.study}: workflow ${id} on ${describeSettings(o.conn)}: ${launch.scheduled} trials scheduled` +
          (launch.alreadyDone ? `, ${launch.alreadyDone} already done` : '') + `, ${study.uniqueSteps} distinct steps`,
  );
  if (o.detach) return { kind: 'detached', workflowId: id };
  let answered = false;
  const report = progressReporter(o.log);
  // A study no worker picks up waits silently on Temporal's side: say what to check.
  const silence = setTimeout(() => {
    if (!answered) o.log(`no worker has answered for 30 s: is \`gantry worker\` running on task queue ${o.conn.queues.main}, against the same server and namespace?`);
  }, 30_000);
  silence.unref();
  const result = await (await client()).waitForStudy(o.conn, id, {
    signal: o.signal,
    intervalMs: 2000,
    onProgress: (p) => {
      answered = true;
      report(p);
    },
  }).finally(() => clearTimeout(silence));
  if (!result) return { kind: 'stopped-following', workflowId: id };
  return { kind: 'closed', workflowId: id, result };
}

/** How long an unchanged study goes without a progress line (one now and then says it is alive). */
export const QUIET_PROGRESS_MS = 60_000;

function progressCounters(p: StudyProgressInfo): string {
  const parts = [`${p.done + p.alreadyDone}/${p.total} done`, `${p.running.length} running`, `${p.pending} pending`];
  if (p.failed) parts.push(`${p.failed} failed`);
  if (p.interrupted) parts.push(`${p.interrupted} interrupted`);
  if (p.paused) parts.push('paused');
  if (p.cancelling) parts.push('cancelling');
  return parts.join(', ');
}

/**
 * Progress lines while following a study: one when the counters change, and one a minute when
 * they do not. (Comparing whole lines, elapsed time included, printed one every poll: 43,200 a day.)
 */
export function progressReporter(log: (line: string) => void, now: () => number = Date.now): (p: StudyProgressInfo) => void {
  const started = now();
  let last: string | undefined;
  let lastAt = 0;
  return (p) => {
    const counters = progressCounters(p);
    const t = now();
    if (counters === last && t - lastAt < QUIET_PROGRESS_MS) return;
    log(`[${counters}, ${duration(t - started)}]`);
    last = counters;
    lastAt = t;
  };
}

/** The workflow section of `gantry status`. */
export async function workflowStatus(conn: TemporalSettings, ref: StudyRef): Promise<string> {
  const c = await client();
  const studies = await c.studyProgress(conn, ref);
  if (!studies.length) return `no study workflows${'study' in ref ? ` of '${ref.study}'` : ''} on ${describeSettings(conn)}`;
  return studies.map(c.formatStudyStatus).join('\n');
}

export async function cancelStudies(conn: TemporalSettings, ref: StudyRef, wait: boolean): Promise<string> {
  const ids = await (await client()).cancelStudy(conn, ref, { wait });
  if (!ids.length) return `no running workflow of study '${'study' in ref ? ref.study : ref.workflowId}'`;
  return ids.map((id) => `${wait ? 'cancelled' : 'cancel requested'}: ${id}`).join('\n') +
    (wait ? '' : '\nrunning trials stop after saving a checkpoint; launch the same study again to resume');
}

export async function signalStudies(conn: TemporalSettings, ref: StudyRef, what: 'pause' | 'resume'): Promise<string> {
  const ids = await (await client()).signalStudy(conn, ref, what);
  if (!ids.length) return `no running workflow of study '${'study' in ref ? ref.study : ref.workflowId}'`;
  return ids.map((id) => `${what === 'pause' ? 'paused (running trials finish, no new ones start)' : 'resumed'}: ${id}`).join('\n');
}

/** A study name or, with --workflow, one workflow id. */
export function studyRef(study: string | undefined, o: { workflow?: string }): StudyRef {
  if (o.workflow) return { workflowId: o.workflow };
  if (!study) throw new Error('unreachable: commander requires the study');
  return { study };
}
