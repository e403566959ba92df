/**
 * `gantry worker`: poll gantry's task queues. One Temporal worker per queue, sharing a connection:
 *
 *   <base>          workflows (bundled from dist/workflows/temporal) + the light steps (load, filter, tile, scan, screen, extract, split, evaluate), planSlice
 *   <base>-gpu      train and score, on `maxConcurrent` step threads
 *   <base>-catalog  record, one at a time (DuckDB has one writer): run exactly one worker on this queue,
 *                   on the machine that holds the catalog file
 *
 * A GPU machine runs `gantry worker --task-queue gantry-gpu`; the machine with the catalog runs the
 * default (all three). SIGINT/SIGTERM shut the workers down (the SDK's runtime handles them): a
 * running training is cancelled, saves a checkpoint, and its activity is retried on another worker.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type Logger } from '@temporalio/worker';
import { loadConfig, openStore, type GantryConfig } from '../../infra/config.js';
import { UserError } from '../../core/errors.js';
import type { GantryActivities, TaskQueues } from '../../workflows/temporal/types.js';
import { MlflowMirror } from '../../infra/mlflow/mirror.js';
import { mlflowTracker } from '../mlflow-tracker.js';
import { CODE_VERSION } from '../../infra/version.js';
import { createActivities } from './activities.js';
import { STEP_KINDS } from '../../experiments/plan.js';
import { activityClass, queueFor, taskQueues } from '../../workflows/temporal/options.js';
import { describeSettings, tlsOption, unreachable, type TemporalSettings } from './connection.js';

/** The compiled workflow entry point the bundler starts from. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/temporal/index.js', import.meta.url));

export type QueueRole = keyof TaskQueues;

/** The most time between two heartbeats a worker sends for a running step. */
export const HEARTBEAT_THROTTLE_MS = 5000;
const ROLES: QueueRole[] = ['main', 'gpu', 'catalog'];

export interface WorkerOptions {
  conn: TemporalSettings;
  /** Task queue names to poll (default: all three of conn.queues). */
  taskQueues?: string[];
  /** Activities at once on the main and GPU queues (the catalog queue always runs one). Default 4 on main, 1 on GPU. */
  maxConcurrent?: number;
  /** Store, catalog and backend (default: loadConfig() from the environment). */
  config?: GantryConfig;
  /** Shut down when aborted (besides SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Where the worker's own lines go (default stderr). */
  log?: (line: string) => void;
  /** How long running activities may finish after shutdown begins before they are cancelled (default 0). */
  shutdownGraceMs?: number;
  /** A prebuilt workflow bundle (default: bundle WORKFLOWS_PATH now). */
  workflowBundle?: { code: string };
  /** SDK log level (default WARN). */
  sdkLogLevel?: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/** Which roles the given queue names are; an unknown name is a UserError listing the known ones. */
export function resolveQueues(names: string[] | undefined, queues: TaskQueues): QueueRole[] {
  if (!names?.length) return [...ROLES];
  const roles = new Set<QueueRole>();
  for (const n of names.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean)) {
    const role = ROLES.find((r) => queues[r] === n || r === n);
    if (!role) throw new UserError(`unknown task queue '${n}'`, { hint: `gantry's queues are ${ROLES.map((r) => queues[r]).join(', ')} (set GANTRY_TASK_QUEUE to change their base name)` });
    roles.add(role);
  }
  return ROLES.filter((r) => roles.has(r));
}

/** The activities each queue runs. */
export function activitiesFor(role: QueueRole, a: GantryActivities): Partial<GantryActivities> {
  if (role === 'catalog') return { record: a.record };
  // Each step kind goes to the queue its activity class names (workflows/temporal/options.ts), so a new kind needs no change here.
  const steps = Object.fromEntries(STEP_KINDS.filter((k) => queueFor(activityClass(k), ROLE_QUEUES) === ROLE_QUEUES[role]).map((k) => [k, a[k]]));
  return role === 'main' ? { ...steps, planSlice: a.planSlice } : steps;
}

/** Queue names by role for one base name: only which role a step's queue is matters here. */
const ROLE_QUEUES: TaskQueues = taskQueues('gantry');

/** SDK lines that say nothing to a gantry user: the GPU and catalog queues poll activities only, by design. */
const EXPECTED_SDK_WARNINGS = [/^No workflows registered, not polling for workflow tasks/];

function quietLogger(level: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR', out: (line: string) => void): Logger {
  return new DefaultLogger(level, ({ level: l, message, meta }) => {
    if (EXPECTED_SDK_WARNINGS.some((re) => re.test(message))) return;
    const m = meta && Object.keys(meta).length ? ' ' + JSON.stringify(meta, (k, v) => (/key|token|secret|password/i.test(k) && k !== 'checkpointKey' && typeof v === 'string' ? '***' : v)).slice(0, 500) : '';
    out(`temporal ${l.toLowerCase()}: ${message}${m}`);
  });
}

/** Bundle the workflow code (webpack, from the compiled dist/workflows/temporal). */
export async function bundleWorkflows(log: (line: string) => void = () => {}): Promise<{ code: string }> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger('WARN', log) });
  return { code };
}

/** Run workers on the chosen queues until shutdown (a signal, or `opts.signal`). */
export async function runWorker(opts: WorkerOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const s = opts.conn;
  const roles = resolveQueues(opts.taskQueues, s.queues);
  const max = opts.maxConcurrent;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) throw new UserError(`invalid --max-concurrent ${max}: expected a positive integer`);
  const cfg = opts.config ?? loadConfig();
  const store = openStore(cfg.storeUrl);
  await store.checkWritable();

  if (!Runtime._instance) {
    try {
      Runtime.install({ logger: quietLogger(opts.sdkLogLevel ?? 'WARN', log) });
    } catch {
      /* installed already by the host process */
    }
  }
  // The MLflow mirror (when MLFLOW_TRACKING_URI is set) follows the catalog: the catalog worker mirrors each trial it records.
  const mirror = roles.includes('catalog') ? MlflowMirror.fromEnv(join(cfg.home, 'mlflow'), { log }) : undefined;
  mirror?.start(5000);
  const tracker = mirror && mlflowTracker(mirror, { codeVersion: CODE_VERSION, executor: 'temporal', filesDir: join(cfg.home, 'mlflow', 'files') });
  const { activities, close: closeActivities } = createActivities({ store, catalogPath: cfg.catalogPath, backend: cfg.backend, heavyThreads: max ?? 1, tracker });
  const close = async () => {
    await closeActivities();
    await mirror?.close();
  };
  let connection: NativeConnection | undefined;
  try {
    try {
      connection = await NativeConnection.connect({ address: s.address, tls: (await tlsOption(s)) ?? (s.tls ? true : undefined), apiKey: s.apiKey });
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw unreachable(s, e);
    }
    const bundle = roles.includes('main') ? (opts.workflowBundle ?? (await bundleWorkflows(log))) : undefined;
    const workers: Worker[] = [];
    for (const role of roles) {
      workers.push(
        await Worker.create({
          connection,
          namespace: s.namespace,
          taskQueue: s.queues[role],
          identity: `gantry@${hostname()}:${process.pid}/${role}`,
          activities: activitiesFor(role, activities),
          ...(role === 'main' ? { workflowBundle: bundle } : {}),
          maxConcurrentActivityTaskExecutions: role === 'catalog' ? 1 : (max ?? (role === 'gpu' ? 1 : 4)),
          shutdownGraceTime: opts.shutdownGraceMs ?? 0,
          // A step hears of a cancel only in a heartbeat's reply, and the server sees progress only in
          // heartbeats: the SDK's default throttle (up to 60 s) made `gantry cancel` take a minute and
          // left `gantry status` a minute behind. A few seconds costs one small RPC per running step.
          maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE_MS,
          defaultHeartbeatThrottleInterval: HEARTBEAT_THROTTLE_MS,
        }),
      );
    }
    log(`gantry worker: polling ${roles.map((r) => s.queues[r]).join(', ')} on ${describeSettings(s)}; store ${store.url}${roles.includes('catalog') ? `; catalog ${cfg.catalogPath}` : ''}${mirror ? '; mirroring to MLflow' : ''}`);
    const stop = () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    };
    // run() marks a worker running at once, so `stop` works from here on.
    const runs = workers.map((w) =>
      w.run().catch((e) => {
        // One worker failing (say, its queue was misconfigured) stops the others: the error is the process's.
        stop();
        throw e;
      }),
    );
    if (opts.signal?.aborted) stop();
    opts.signal?.addEventListener('abort', stop, { once: true });
    try {
      const ended = await Promise.allSettled(runs);
      const failed = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      opts.signal?.removeEventListener('abort', stop);
    }
  } finally {
    await close();
    await connection?.close().catch(() => {});
  }
}
