/**
 * The MLflow mirror: trials become MLflow runs, fed from a durable outbox so that training never
 * waits on MLflow or fails because of it, and every metric point arrives exactly once.
 *
 * Exactly once, in short (see README.md):
 * - Points are keyed by (trial, metric name, step). The first value enqueued for a key wins; later
 *   ones (a resumed training re-logging after its checkpoint) are dropped at enqueue and again
 *   when the outbox is read.
 * - Each trial has a ledger file (trials/<id>.json, written atomically) holding its run id and,
 *   per metric, the steps MLflow has acknowledged. Before a batch is sent, its keys are written to
 *   the ledger as `inflight`; after the server's 200 they move to the acknowledged set.
 * - A ledger found with `inflight` set (the process died, or the response was lost, between
 *   sending and recording) is reconciled before anything else is sent for that run: the affected
 *   metrics' histories are read back (metrics/get-history) and the steps already there count as
 *   acknowledged. Only the rest is sent again.
 * - A run is found again by its tag gantry.trial_id before one is created, so a lost runs/create
 *   response or a resumed trial continues the same run.
 *
 * Experiments are named `gantry/<study>` (a prefix keeps gantry's experiments apart from
 * others on a shared server; change it with `experimentName`).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { oneLine } from '../../core/errors.js';
import { isMlflowError, MLFLOW_LIMITS, MlflowClient, mlflowConfigFromEnv, planLogBatch, validateMetric, type Metric, type MlflowClientOptions, type RunStatus } from './client.js';
import { MlflowOutbox, type OutboxEntry, type OutboxPoint } from './outbox.js';
import { StepSet, type Progression } from './step-set.js';

export const TRIAL_TAG = 'gantry.trial_id';
/** The MLflow experiment a study's runs go to unless the mirror is told otherwise. */
export const experimentFor = (study: string): string => `gantry/${study}`;

/** The tag that finds a launch's parent run again. */
export const LAUNCH_TAG = 'gantry.launch_id';
const PARENT_TAG = 'mlflow.parentRunId';

/** The mirror's key of a launch's parent run. */
export function launchKey(launchId: string): string {
  return `launch-${launchId}`;
}

/** What a trial's run says about it; gantry.* tags and mlflow.runName are derived from it. */
export interface MirrorRun {
  /** The mirror's key of the run: a trial id, or `launch-<id>` for a launch's parent run (see enqueueLaunch). */
  trialId: string;
  study: string;
  /** The mirror's key of the parent run (a launch): the run is nested under it (tag mlflow.parentRunId). */
  parent?: string;
  /** Shown in the MLflow UI; default `trial-<first 12 characters of the id>`. */
  runName?: string;
  /** The cell id (the config without its seed). */
  cell?: string;
  seed?: number | string;
  /** Keys of the trial's steps, in order (tag gantry.step_keys, cut to fit 5000 characters). */
  stepKeys?: string[];
  codeVersion?: string;
  backend?: string;
  /** Nested objects become dotted keys (model.lr); values are strings (JSON for arrays). */
  params?: Record<string, unknown>;
  /** More tags; they override the derived ones. */
  tags?: Record<string, string>;
  /** ms since the epoch (default now). */
  startTime?: number;
}

export interface MirrorPoint {
  name: string;
  step: number;
  value: number;
  /** ms since the epoch (default: when enqueued). */
  time?: number;
}

export type MirrorStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MlflowMirrorOptions {
  client: MlflowClient;
  /** Where the outbox and the ledgers live, e.g. $GANTRY_HOME/mlflow. */
  dir: string;
  /** One line per state change and per dropped or refused item; never a secret. */
  log?: (line: string) => void;
  /** The MLflow experiment of a study; default `gantry/<study>`. */
  experimentName?: (study: string) => string;
  /** Reads an artifact entry's `file`; default: a local path (an absolute one, or relative to the working directory). */
  readArtifact?: (file: string) => Promise<Uint8Array>;
  maxSegmentBytes?: number;
  /** Close the client with the mirror (default true). */
  closeClient?: boolean;
}

export interface FlushResult {
  /** Items acknowledged by MLflow in this flush: metric points, plus run, status and artifact updates. */
  sent: number;
  /** Items still waiting (points plus other updates). */
  pending: number;
  /** Why the flush stopped early, if it did (one line, no secrets). */
  error?: string;
}

export interface MirrorStats {
  sent: number;
  duplicates: number;
  /** Points not enqueued: not finite, bad step, or for a trial never announced by enqueueRun. */
  dropped: number;
  /** Points MLflow refused (a 4xx other than auth): given up, logged. */
  refused: number;
  /** Times an unacknowledged batch was checked against the server's history. */
  reconciled: number;
}

// ---------------------------------------------------------------------------------------------
// Ledger (per trial, on disk)

const ledgerSchema = z.object({
  trialId: z.string(),
  study: z.string().optional(),
  runId: z.string().optional(),
  experimentId: z.string().optional(),
  artifactUri: z.string().optional(),
  tagsDigest: z.string().optional(),
  paramsDigest: z.string().optional(),
  status: z.string().optional(),
  /** Steps acknowledged (or refused for good) per metric, as progressions. */
  metrics: z.record(z.string(), z.array(z.tuple([z.number(), z.number(), z.number()]))).default({}),
  /** Steps sent whose acknowledgement was not yet recorded. */
  inflight: z.record(z.string(), z.array(z.number())).nullable().default(null),
  refused: z.number().default(0),
  artifacts: z.record(z.string(), z.string()).default({}),
  /**
   * The run was found on the server, not created here: another home, store or process may have
   * logged to it. Before a metric is sent, its history is read and the steps there count as sent
   * (`verified` lists the metrics already read), so the server's own duplicate handling, which
   * appends rows with new timestamps and refuses large batches with stored rows, never matters.
   */
  attached: z.boolean().default(false),
  verified: z.array(z.string()).default([]),
});
type Ledger = z.output<typeof ledgerSchema>;

/**
 * A trial in memory: per metric, the steps accepted into the outbox (`known`) and those MLflow
 * acknowledged (`done`), both as progressions, so a long training costs a few numbers, not a set
 * entry per point. A point is pending when known and not done; `waiting` counts them.
 */
class TrialMem {
  readonly done = new Map<string, StepSet>();
  private readonly known = new Map<string, StepSet>();
  private waiting = 0;
  constructor(public ledger: Ledger) {
    for (const [name, runs] of Object.entries(ledger.metrics)) this.done.set(name, new StepSet(runs as Progression[]));
  }
  isDone(name: string, step: number): boolean {
    return this.done.get(name)?.has(step) ?? false;
  }
  /** Accept a point into the outbox; false when its (name, step) was seen before. */
  addPending(name: string, step: number): boolean {
    if (this.isDone(name, step)) return false;
    let s = this.known.get(name);
    if (!s) this.known.set(name, (s = new StepSet()));
    if (!s.add(step)) return false;
    this.waiting++;
    return true;
  }
  markDone(name: string, step: number): void {
    let s = this.done.get(name);
    if (!s) this.done.set(name, (s = new StepSet()));
    if (s.add(step) && this.known.get(name)?.has(step)) this.waiting--;
  }
  pendingCount(): number {
    return this.waiting;
  }
  snapshot(): Ledger {
    const metrics: Record<string, Progression[]> = {};
    for (const [name, s] of this.done) metrics[name] = s.toJSON();
    return { ...this.ledger, metrics };
  }
}

type Health = 'unknown' | 'ok' | 'unreachable' | 'failing';

export class MlflowMirror {
  readonly dir: string;
  private readonly client: MlflowClient;
  private readonly outbox: MlflowOutbox;
  private readonly trialsDir: string;
  private readonly log: (line: string) => void;
  private readonly experimentName: (study: string) => string;
  private readonly readArtifact: (file: string) => Promise<Uint8Array>;
  private readonly closeClient: boolean;
  private readonly trials = new Map<string, TrialMem>();
  private readonly experiments = new Map<string, string>();
  private readonly warned = new Set<string>();
  private readonly counters: MirrorStats = { sent: 0, duplicates: 0, dropped: 0, refused: 0, reconciled: 0 };
  private health: Health = 'unknown';
  private healthDetail = '';
  private flushing?: Promise<FlushResult>;
  private timer?: NodeJS.Timeout;
  private intervalMs = 5000;
  private failures = 0;
  private closed = false;
  private stopping = false;

  constructor(opts: MlflowMirrorOptions) {
    this.dir = opts.dir;
    this.client = opts.client;
    this.log = opts.log ?? ((line) => process.stderr.write(line + '\n'));
    this.experimentName = opts.experimentName ?? experimentFor;
    this.readArtifact = opts.readArtifact ?? ((file) => readFile(isAbsolute(file) ? file : join(process.cwd(), file)));
    this.closeClient = opts.closeClient ?? true;
    this.trialsDir = join(opts.dir, 'trials');
    mkdirSync(this.trialsDir, { recursive: true });
    this.outbox = new MlflowOutbox(join(opts.dir, 'outbox'), { maxSegmentBytes: opts.maxSegmentBytes });
    this.load();
  }

  /** A mirror configured from MLFLOW_* variables, or undefined when MLFLOW_TRACKING_URI is unset. */
  static fromEnv(dir: string, opts: Omit<MlflowMirrorOptions, 'client' | 'dir'> & { env?: NodeJS.ProcessEnv; client?: MlflowClientOptions } = {}): MlflowMirror | undefined {
    const cfg = mlflowConfigFromEnv(opts.env ?? process.env);
    if (!cfg) return undefined;
    // Few retries by default: the mirror retries on its own schedule, and a flush should fail fast.
    const client = new MlflowClient(cfg, { retries: cfg.retries ?? 2, ...opts.client });
    return new MlflowMirror({ ...opts, client, dir });
  }

  // -- enqueue: synchronous, fast, never throws ------------------------------------------------

  /** A trial starts (or resumes): its run is created, or found again by tag gantry.trial_id. */
  enqueueRun(run: MirrorRun): void {
    this.appendRun(run, { [TRIAL_TAG]: run.trialId });
  }

  /**
   * A launch of a study (one grid, as `gantry run` starts it): a parent run, found again by tag
   * gantry.launch_id, under which the trials' runs nest (pass `parent: launchKey(id)` with them).
   */
  enqueueLaunch(launch: { launchId: string; study: string; runName: string; params?: Record<string, unknown>; tags?: Record<string, string>; startTime?: number }): void {
    this.appendRun({ trialId: launchKey(launch.launchId), study: launch.study, runName: launch.runName, params: launch.params, tags: launch.tags, startTime: launch.startTime }, { [LAUNCH_TAG]: launch.launchId });
  }

  private appendRun(run: MirrorRun, identity: Record<string, string>): void {
    this.guard('run', () => {
      const runName = (run.runName ?? `trial-${run.trialId.slice(0, 12)}`).slice(0, MLFLOW_LIMITS.keyLength);
      const tags: Record<string, string> = {
        ...identity,
        'gantry.study': run.study,
        'mlflow.runName': runName,
      };
      if (run.cell !== undefined) tags['gantry.cell'] = run.cell;
      if (run.seed !== undefined) tags['gantry.seed'] = String(run.seed);
      if (run.stepKeys) tags['gantry.step_keys'] = joinWithin(run.stepKeys, MLFLOW_LIMITS.tagValueLength);
      if (run.codeVersion !== undefined) tags['gantry.code_version'] = run.codeVersion;
      if (run.backend !== undefined) tags['gantry.backend'] = run.backend;
      for (const [k, v] of Object.entries(run.tags ?? {})) tags[safeKey(k)] = v;
      for (const k of Object.keys(tags)) tags[k] = cut(tags[k], MLFLOW_LIMITS.tagValueLength);
      tags['mlflow.runName'] = runName; // must equal run_name or runs/create refuses
      for (const k of Object.keys(identity)) tags[k] = identity[k]; // never overridden: the run is found by it
      const params = flattenParams(run.params ?? {});
      this.trialMem(run.trialId, run.study);
      const lookup = Object.keys(identity)[0];
      this.outbox.append([{ type: 'run', trialId: run.trialId, study: run.study, runName, tags, params, time: run.startTime ?? Date.now(), lookup, parent: run.parent }]);
    });
  }

  /** Training metric points; a (trial, name, step) seen before is dropped: the first value wins. */
  enqueueMetrics(trialId: string, points: readonly MirrorPoint[]): void {
    this.guard('metrics', () => {
      const mem = this.trials.get(trialId);
      if (!mem) {
        this.counters.dropped += points.length;
        this.warnOnce(`unknown:${trialId}`, `mlflow: dropped ${points.length} points of trial ${trialId}: enqueueRun was not called for it`);
        return;
      }
      const now = Date.now();
      const accepted: OutboxPoint[] = [];
      for (const p of points) {
        const name = safeKey(p.name);
        if (typeof p.value !== 'number' || !Number.isFinite(p.value) || !Number.isSafeInteger(p.step)) {
          this.counters.dropped++;
          this.warnOnce(`bad:${trialId}:${name}`, `mlflow: not mirroring ${name}=${String(p.value)} at step ${String(p.step)} of trial ${trialId}: only finite values at integer steps are sent`);
          continue;
        }
        if (!mem.addPending(name, p.step)) {
          this.counters.duplicates++;
          continue;
        }
        accepted.push({ name, step: p.step, value: p.value, time: Math.round(p.time ?? now) });
      }
      if (accepted.length) this.outbox.append([{ type: 'metrics', trialId, points: accepted }]);
    });
  }

  /** The run's status; FINISHED, FAILED and KILLED also set its end time. */
  enqueueStatus(trialId: string, status: MirrorStatus, time: number = Date.now()): void {
    this.guard('status', () => {
      if (!this.trials.has(trialId)) {
        this.warnOnce(`unknown:${trialId}`, `mlflow: dropped status ${status} of trial ${trialId}: enqueueRun was not called for it`);
        return;
      }
      this.outbox.append([{ type: 'status', trialId, status, time }]);
    });
  }

  /** Upload `file` (read when sent) to `path` under the run's artifacts. */
  enqueueArtifact(trialId: string, path: string, file: string): void {
    this.guard('artifact', () => {
      if (!this.trials.has(trialId)) {
        this.warnOnce(`unknown:${trialId}`, `mlflow: dropped artifact ${path} of trial ${trialId}: enqueueRun was not called for it`);
        return;
      }
      this.outbox.append([{ type: 'artifact', trialId, path, file }]);
    });
  }

  // -- sending ---------------------------------------------------------------------------------

  /** Flush in the background every `intervalMs` (backing off while MLflow is unreachable). Never throws. */
  start(intervalMs = 5000): void {
    if (this.closed || this.stopping || this.timer) return;
    this.intervalMs = intervalMs;
    const tick = async () => {
      await this.flush().catch(() => undefined);
      if (this.closed || this.stopping) return;
      const delay = this.health === 'ok' || this.health === 'unknown' ? this.intervalMs : Math.min(60_000, this.intervalMs * 2 ** Math.min(this.failures, 6));
      this.timer = setTimeout(tick, delay);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, intervalMs);
    this.timer.unref();
  }

  /** Send what is waiting, oldest first; resolves (never rejects) with what was sent and what is left. */
  flush(): Promise<FlushResult> {
    if (this.closed) return Promise.resolve({ sent: 0, pending: this.pending() });
    // One flush at a time: a second caller shares the running one.
    this.flushing ??= this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Items waiting: metric points plus run, status and artifact updates. */
  pending(): number {
    let points = 0;
    for (const t of this.trials.values()) points += t.pendingCount();
    const other = this.outbox.pendingByType();
    return points + other.run + other.status + other.artifact;
  }

  stats(): MirrorStats {
    return { ...this.counters };
  }

  /**
   * Stop the background flushing, try a last flush for up to `flushTimeoutMs` (default 5 s; 0 to
   * skip), then fsync and close the outbox. What is left is sent by the next mirror on this dir.
   */
  async close(o: { flushTimeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const budget = o.flushTimeoutMs ?? 5000;
    const last = budget > 0 ? this.flush() : this.flushing;
    if (last) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        last.then(() => false),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(true), Math.max(budget, 1));
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        // Abort the calls in flight; the ledger's `inflight` makes the next mirror reconcile.
        await this.client.destroy().catch(() => undefined);
        await last.catch(() => undefined);
      }
    }
    this.closed = true;
    this.outbox.close();
    const waiting = this.pending();
    if (waiting > 0) this.log(`mlflow: ${waiting} items left in the outbox ${this.dir}; they are sent by the next run or \`gantry sync mlflow\``);
    if (this.closeClient) await this.client.close().catch(() => undefined);
  }

  private async doFlush(): Promise<FlushResult> {
    let sent = 0;
    try {
      // Bounded: a training that appends faster than MLflow takes must not keep one flush going forever.
      for (let round = 0; round < 100; round++) {
        if (this.outbox.segments().length === 0 && !(this.outbox.hasActive() && this.outbox.seal())) break;
        for (const seg of this.outbox.segments()) {
          sent += await this.processSegment(seg);
          await this.outbox.remove(seg);
        }
      }
      this.counters.sent += sent;
      this.failures = 0;
      this.setHealth('ok');
      return { sent, pending: this.pending() };
    } catch (e) {
      this.counters.sent += sent;
      this.failures++;
      const unreachable = isMlflowError(e) && e.transient;
      // Calls aborted by close() say nothing about MLflow.
      if (!this.stopping) this.setHealth(unreachable ? 'unreachable' : 'failing', unreachable ? `(${(e as { errorCode: string }).errorCode})` : oneLine(e));
      return { sent, pending: this.pending(), error: oneLine(e) };
    }
  }

  private async processSegment(seg: string): Promise<number> {
    const { entries, skipped } = await this.outbox.read(seg);
    if (skipped) this.warnOnce(`skip:${seg}`, `mlflow: skipped ${skipped} unreadable lines of ${seg} (a write cut short by a crash)`);
    let sent = 0;
    // Points are buffered per trial and sent in full batches; any other entry of the same trial
    // sends that trial's buffer first, so per-trial order (run → metrics → status) holds.
    const buffers = new Map<string, Map<string, OutboxPoint>>();
    const drain = async (trialId: string) => {
      const b = buffers.get(trialId);
      buffers.delete(trialId);
      if (b && b.size) sent += await this.sendMetrics(trialId, [...b.values()]);
    };
    for (const e of entries) {
      if (this.closed) throw new Error('the mirror is closed');
      if (e.type === 'metrics') {
        const mem = this.trialMem(e.trialId);
        let b = buffers.get(e.trialId);
        if (!b) buffers.set(e.trialId, (b = new Map()));
        for (const p of e.points) {
          const k = `${p.name}\u0000${p.step}`;
          if (!mem.isDone(p.name, p.step) && !b.has(k)) b.set(k, p); // first wins, here too
        }
        if (b.size >= 10_000) await drain(e.trialId);
        continue;
      }
      await drain(e.trialId);
      if (e.type === 'run') await this.applyRun(e);
      else if (e.type === 'status') await this.applyStatus(e);
      else await this.applyArtifact(e);
      sent++;
    }
    for (const t of [...buffers.keys()]) await drain(t);
    return sent;
  }

  private async sendMetrics(trialId: string, points: OutboxPoint[]): Promise<number> {
    const mem = this.trialMem(trialId);
    const runId = mem.ledger.runId;
    if (!runId) throw new Error(`mlflow: trial ${trialId} has points but no run yet`);
    if (mem.ledger.inflight) await this.reconcile(mem);
    if (mem.ledger.attached) await this.verify(mem, new Set(points.map((p) => p.name)));
    const metrics: Metric[] = [];
    for (const p of points) {
      if (mem.isDone(p.name, p.step)) continue;
      const m = { key: p.name, value: p.value, timestamp: Math.round(p.time), step: p.step };
      try {
        validateMetric(m);
        metrics.push(m);
      } catch (e) {
        mem.markDone(p.name, p.step);
        mem.ledger.refused++;
        this.counters.refused++;
        this.warnOnce(`invalid:${trialId}:${p.name}`, `mlflow: not sending ${p.name} of trial ${trialId}: ${oneLine(e)}`);
      }
    }
    let sent = 0;
    for (const body of planLogBatch(runId, { metrics })) sent += await this.sendBatch(mem, runId, body.metrics);
    return sent;
  }

  /**
   * One log-batch of metrics, recorded as inflight first. A 4xx is not taken as final: MLflow
   * 2.10 answers 400 to a batch of over 100 metrics that holds a row it has already stored (its
   * SQL store's autoflush), and may have stored part of it. The batch is reconciled with the
   * server's history and what is still missing is sent again in halves; only a single point the
   * server keeps refusing, or a run that was deleted, is given up, and that is said.
   */
  private async sendBatch(mem: TrialMem, runId: string, metrics: Metric[], runChecked = false): Promise<number> {
    const trialId = mem.ledger.trialId;
    const inflight: Record<string, number[]> = {};
    for (const m of metrics) (inflight[m.key] ??= []).push(m.step);
    mem.ledger.inflight = inflight;
    await this.save(mem);
    try {
      await this.client.logBatch(runId, { metrics });
    } catch (e) {
      if (!isMlflowError(e) || e.transient || e.status === 401 || e.status === 403) throw e; // `inflight` stays: reconciled next time
      await this.reconcile(mem);
      const missing = metrics.filter((m) => !mem.isDone(m.key, m.step));
      const kept = metrics.length - missing.length;
      // A deleted run refuses everything: asked once per refused batch, not at every halving.
      if (missing.length > 1 && (runChecked || !(await this.runGone(runId)))) {
        const half = Math.ceil(missing.length / 2);
        return kept + (await this.sendBatch(mem, runId, missing.slice(0, half), true)) + (await this.sendBatch(mem, runId, missing.slice(half), true));
      }
      for (const m of missing) mem.markDone(m.key, m.step);
      mem.ledger.refused += missing.length;
      this.counters.refused += missing.length;
      await this.save(mem);
      if (missing.length) this.log(`mlflow: run ${runId} refused ${missing.length} point${missing.length === 1 ? '' : 's'} of trial ${trialId} (${missing[0].key} at step ${missing[0].step}${missing.length > 1 ? ', …' : ''}): ${oneLine(e)}`);
      return kept;
    }
    for (const m of metrics) mem.markDone(m.key, m.step);
    mem.ledger.inflight = null;
    await this.save(mem);
    return metrics.length;
  }

  /** Whether the run was deleted (or is otherwise not active): then nothing more can be logged to it. */
  private async runGone(runId: string): Promise<boolean> {
    try {
      return (await this.client.getRun(runId)).info.lifecycle_stage === 'deleted';
    } catch (e) {
      return isMlflowError(e) && e.status === 404;
    }
  }

  /** Settle an unacknowledged batch: steps the server already has count as sent. */
  private async reconcile(mem: TrialMem): Promise<void> {
    const inflight = mem.ledger.inflight;
    const runId = mem.ledger.runId;
    if (!inflight || !runId) return;
    for (const [name, steps] of Object.entries(inflight)) {
      const present = new Set((await this.client.getMetricHistory(runId, name)).map((m) => m.step));
      for (const s of steps) if (present.has(s)) mem.markDone(name, s);
    }
    mem.ledger.inflight = null;
    this.counters.reconciled++;
    await this.save(mem);
  }

  /** For a run found on the server: the steps its history already holds count as sent. */
  private async verify(mem: TrialMem, names: Set<string>): Promise<void> {
    const runId = mem.ledger.runId!;
    const verified = new Set(mem.ledger.verified);
    const todo = [...names].filter((n) => !verified.has(n));
    if (!todo.length) return;
    for (const name of todo) {
      for (const m of await this.client.getMetricHistory(runId, name)) mem.markDone(name, m.step);
      verified.add(name);
    }
    mem.ledger.verified = [...verified].sort();
    await this.save(mem);
  }

  private async applyRun(e: Extract<OutboxEntry, { type: 'run' }>): Promise<void> {
    const mem = this.trialMem(e.trialId, e.study);
    const l = mem.ledger;
    // The parent is applied first (it was enqueued first); without its run the child is not nested.
    const parentRunId = e.parent ? this.trials.get(e.parent)?.ledger.runId : undefined;
    if (!l.runId) {
      const experimentId = await this.experiment(e.study);
      const lookup = e.lookup ?? TRIAL_TAG;
      // Found by tag: a resumed trial, a relaunch from another home, or a runs/create whose response was lost.
      let run = await this.client.findRunByTag(experimentId, lookup, e.tags[lookup] ?? e.trialId);
      if (!run) {
        const tags = parentRunId ? { ...e.tags, [PARENT_TAG]: parentRunId } : e.tags;
        run = await this.client.createRun(experimentId, { runName: e.runName, tags, startTime: e.time });
        l.tagsDigest = digest(e.tags);
        l.attached = false;
      } else {
        // Its status stays as the server has it: only the trial's own progress changes it (enqueueStatus).
        l.attached = true;
        l.verified = [];
        if (parentRunId && !run.data.tags.some((t) => t.key === PARENT_TAG)) await this.client.setTag(run.info.run_id, PARENT_TAG, parentRunId);
      }
      l.runId = run.info.run_id;
      l.experimentId = experimentId;
      l.artifactUri = run.info.artifact_uri;
      l.status = run.info.status ?? 'RUNNING';
      await this.save(mem);
    }
    const runId = l.runId;
    if (digest(e.tags) !== l.tagsDigest) {
      await this.client.logBatch(runId, { tags: e.tags }); // tags overwrite: resending is harmless
      l.tagsDigest = digest(e.tags);
      await this.save(mem);
    }
    if (digest(e.params) !== l.paramsDigest) {
      // Identical params resend harmlessly; a changed value keeps the first and is reported.
      const r = await this.client.logBatch(runId, { params: e.params }, { changedParams: 'keep-existing' });
      if (r.skippedParams.length) {
        this.log(`mlflow: run ${runId} keeps its first value of params ${r.skippedParams.slice(0, 5).join(', ')}${r.skippedParams.length > 5 ? ', …' : ''} (MLflow params are immutable)`);
      }
      l.paramsDigest = digest(e.params);
      await this.save(mem);
    }
  }

  private async applyStatus(e: Extract<OutboxEntry, { type: 'status' }>): Promise<void> {
    const mem = this.trialMem(e.trialId);
    const runId = mem.ledger.runId;
    if (!runId) throw new Error(`mlflow: trial ${e.trialId} has a status but no run yet`);
    // Unchanged: a relaunch that ran nothing leaves the run (and its end time) as it was.
    if (mem.ledger.status === e.status) return;
    const terminal = e.status !== 'RUNNING';
    await this.client.updateRun(runId, { status: e.status as RunStatus, endTime: terminal ? e.time ?? Date.now() : undefined });
    mem.ledger.status = e.status;
    await this.save(mem);
  }

  private async applyArtifact(e: Extract<OutboxEntry, { type: 'artifact' }>): Promise<void> {
    const mem = this.trialMem(e.trialId);
    const { runId, artifactUri } = mem.ledger;
    if (!runId) throw new Error(`mlflow: trial ${e.trialId} has an artifact but no run yet`);
    if (mem.ledger.artifacts[e.path] === e.file) return;
    if (!artifactUri) {
      this.warnOnce(`noart:${runId}`, `mlflow: run ${runId} has no artifact location; artifacts are not mirrored`);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = await this.readArtifact(e.file);
    } catch (err) {
      // The file is gone: nothing MLflow can do about it, and waiting would block the trial.
      this.log(`mlflow: not uploading ${e.path} of trial ${e.trialId}: cannot read ${e.file} (${(err as NodeJS.ErrnoException).code ?? oneLine(err)})`);
      mem.ledger.artifacts[e.path] = e.file;
      await this.save(mem);
      return;
    }
    await this.client.uploadArtifact(artifactUri, e.path, bytes); // PUT overwrites: a resend is harmless
    mem.ledger.artifacts[e.path] = e.file;
    await this.save(mem);
  }

  private async experiment(study: string): Promise<string> {
    const name = this.experimentName(study);
    let id = this.experiments.get(name);
    if (!id) {
      id = await this.client.getOrCreateExperiment(name, { 'gantry.study': study });
      this.experiments.set(name, id);
    }
    return id;
  }

  // -- state -------------------------------------------------------------------------------------

  private load(): void {
    for (const f of readdirSync(this.trialsDir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const r = ledgerSchema.safeParse(JSON.parse(readFileSync(join(this.trialsDir, f), 'utf8')));
        if (!r.success) throw new Error(r.error.issues[0]?.message);
        this.trials.set(r.data.trialId, new TrialMem(r.data));
      } catch (e) {
        this.log(`mlflow: ignoring the unreadable ledger ${f}: ${oneLine(e)}`);
      }
    }
    // Rebuild the pending index from the outbox, so enqueue can tell duplicates after a restart.
    for (const seg of this.outbox.segments()) {
      for (const line of readFileSync(join(this.outbox.dir, seg), 'utf8').split('\n')) {
        if (!line.startsWith('{"type":"run"') && !line.startsWith('{"type":"metrics"')) continue;
        let e: unknown;
        try {
          e = JSON.parse(line);
        } catch {
          continue;
        }
        const entry = e as OutboxEntry;
        if (entry.type === 'run' && typeof entry.trialId === 'string') this.trialMem(entry.trialId, entry.study);
        if (entry.type === 'metrics' && typeof entry.trialId === 'string' && Array.isArray(entry.points)) {
          const mem = this.trialMem(entry.trialId);
          for (const p of entry.points) if (typeof p?.name === 'string' && typeof p.step === 'number') mem.addPending(p.name, p.step);
        }
      }
    }
  }

  private trialMem(trialId: string, study?: string): TrialMem {
    let m = this.trials.get(trialId);
    if (!m) {
      m = new TrialMem({ trialId, study, metrics: {}, inflight: null, refused: 0, artifacts: {}, attached: false, verified: [] });
      this.trials.set(trialId, m);
    }
    if (study && !m.ledger.study) m.ledger.study = study;
    return m;
  }

  /** Write a trial's ledger atomically: temp file, fsync, rename, fsync of the directory. */
  private async save(mem: TrialMem): Promise<void> {
    const target = join(this.trialsDir, ledgerFile(mem.ledger.trialId));
    const tmp = `${target}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(mem.snapshot()));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const dir = await open(this.trialsDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  // -- logging -----------------------------------------------------------------------------------

  private setHealth(h: Health, detail = ''): void {
    // 'unreachable' is one state whatever the network error; each distinct failure is its own.
    if (h === this.health && (h !== 'failing' || detail === this.healthDetail)) return;
    const was = this.health;
    this.health = h;
    this.healthDetail = detail;
    const waiting = this.waitingLine();
    if (h === 'unreachable') this.log(`mlflow: unreachable ${detail}, ${waiting}`);
    else if (h === 'failing') this.log(`mlflow: sync failing: ${detail}; ${waiting}`);
    else if (h === 'ok' && (was === 'unreachable' || was === 'failing')) this.log(`mlflow: reachable again, ${waiting}`);
  }

  private waitingLine(): string {
    let points = 0;
    for (const t of this.trials.values()) points += t.pendingCount();
    const o = this.outbox.pendingByType();
    const other = o.run + o.status + o.artifact;
    return `${points} points${other ? ` and ${other} other update${other === 1 ? '' : 's'}` : ''} waiting`;
  }

  private warnOnce(key: string, line: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log(line);
  }

  private guard(what: string, fn: () => void): void {
    if (this.closed) {
      this.warnOnce('closed', `mlflow: the mirror is closed; ${what} updates are not recorded`);
      return;
    }
    try {
      fn();
    } catch (e) {
      // Training must not fail because of the mirror (a full disk, say): say so once and go on.
      this.warnOnce(`enqueue:${what}`, `mlflow: could not record ${what} in the outbox: ${oneLine(e)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

/** Map gantry's trial status to MLflow's run status. */
export function mlflowStatusOf(status: string): MirrorStatus {
  switch (status) {
    case 'done':
      return 'FINISHED';
    case 'failed':
      return 'FAILED';
    case 'interrupted':
      return 'KILLED';
    default:
      return 'RUNNING';
  }
}

function digest(x: Record<string, string>): string {
  const sorted = Object.keys(x)
    .sort()
    .map((k) => [k, x[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 32);
}

function ledgerFile(trialId: string): string {
  return /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$/.test(trialId) ? `${trialId}.json` : `${createHash('sha256').update(trialId).digest('hex')}.json`;
}

/** MLflow names: letters, digits, _ - . / and spaces, at most 250 characters. */
function safeKey(k: string): string {
  const s = k.replace(/[^\w.\- /]/g, '_').replace(/^\/+/, '').replace(/(^|\/)\.\.(?=\/|$)/g, '$1__');
  return (s || '_').slice(0, MLFLOW_LIMITS.keyLength);
}

function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** A comma list within `max` characters; what does not fit is counted at the end. */
function joinWithin(items: string[], max: number): string {
  let out = '';
  for (let i = 0; i < items.length; i++) {
    const next = out ? `${out},${items[i]}` : items[i];
    const rest = items.length - i - 1;
    const tail = rest > 0 ? `,…+${rest}` : '';
    if (next.length + tail.length > max) return `${out ? `${out},` : ''}…+${items.length - i}`;
    out = next;
  }
  return out;
}

/** {model: {lr: 0.1}, seeds: [1, 2]} → {'model.lr': '0.1', seeds: '[1,2]'} within MLflow's limits. */
export function flattenParams(obj: Record<string, unknown>, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flattenParams(v as Record<string, unknown>, key, out);
    else if (v !== undefined) out[safeKey(key)] = cut(typeof v === 'string' ? v : JSON.stringify(v), MLFLOW_LIMITS.paramValueLength);
  }
  return out;
}
