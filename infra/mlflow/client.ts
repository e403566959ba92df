/**
 * A small MLflow tracking client over REST API 2.0 (undici), written against the behaviour of
 * a real MLflow 2.10.2 server recorded in shared/contracts/mlflow-2.10.2.md; quirk numbers below
 * refer to that file. Everything the server sends back is validated with zod; every error message
 * is one line and never contains the token, the password or the Authorization header.
 */
import { Agent, request } from 'undici';
import { z } from 'zod';
import { UserError } from '../../core/errors.js';

// ---------------------------------------------------------------------------------------------
// Configuration

export interface MlflowConfig {
  /** Base URL without credentials, e.g. http://127.0.0.1:5000 (a path prefix is kept). */
  trackingUri: string;
  token?: string;
  username?: string;
  password?: string;
  insecureTls?: boolean;
  /** Per-request timeout for headers and for the body, in ms (MLFLOW_HTTP_REQUEST_TIMEOUT is in s). */
  timeoutMs?: number;
  /** Attempts after the first for retryable failures (MLFLOW_HTTP_REQUEST_MAX_RETRIES). */
  retries?: number;
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'TRUE', 'FALSE', 'True', 'False'])
  .transform((v) => ['true', '1', 'yes'].includes(v.toLowerCase()));

const envSchema = z.object({
  MLFLOW_TRACKING_URI: z.string().trim().optional(),
  MLFLOW_TRACKING_TOKEN: z.string().min(1).optional(),
  MLFLOW_TRACKING_USERNAME: z.string().min(1).optional(),
  MLFLOW_TRACKING_PASSWORD: z.string().min(1).optional(),
  MLFLOW_TRACKING_INSECURE_TLS: bool.optional(),
  MLFLOW_HTTP_REQUEST_TIMEOUT: z.coerce.number().positive().max(3600).optional(),
  MLFLOW_HTTP_REQUEST_MAX_RETRIES: z.coerce.number().int().min(0).max(20).optional(),
});

/**
 * The MLflow settings from the environment, or undefined when MLFLOW_TRACKING_URI is unset
 * (the mirror is off). Messages name the variable, never its value: values may hold secrets.
 */
export function mlflowConfigFromEnv(env: NodeJS.ProcessEnv = process.env): MlflowConfig | undefined {
  const blank = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('MLFLOW_') && v !== ''));
  const r = envSchema.safeParse(blank);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UserError(`invalid environment variable ${String(i.path[0])}`, { hint: i.message });
  }
  const e = r.data;
  if (!e.MLFLOW_TRACKING_URI) return undefined;
  let url: URL;
  try {
    url = new URL(e.MLFLOW_TRACKING_URI);
  } catch {
    throw new UserError('invalid environment variable MLFLOW_TRACKING_URI: not a URL', { hint: 'e.g. http://127.0.0.1:5000' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(`MLFLOW_TRACKING_URI must be an http(s) URL of a tracking server, not '${url.protocol}'`, {
      hint: 'gantry mirrors over REST; file stores and databricks:// are not supported',
    });
  }
  let username = e.MLFLOW_TRACKING_USERNAME;
  let password = e.MLFLOW_TRACKING_PASSWORD;
  // Credentials in the URL are moved into the Authorization header so they never reach a message.
  if (url.username || url.password) {
    username ??= decodeURIComponent(url.username);
    password ??= decodeURIComponent(url.password);
    url.username = '';
    url.password = '';
  }
  if ((username === undefined) !== (password === undefined)) {
    throw new UserError('MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set together');
  }
  if (e.MLFLOW_TRACKING_TOKEN && username) {
    throw new UserError('set either MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD, not both');
  }
  url.search = '';
  url.hash = '';
  return {
    trackingUri: url.toString().replace(/\/+$/, ''),
    token: e.MLFLOW_TRACKING_TOKEN,
    username,
    password,
    insecureTls: e.MLFLOW_TRACKING_INSECURE_TLS ?? false,
    timeoutMs: e.MLFLOW_HTTP_REQUEST_TIMEOUT !== undefined ? e.MLFLOW_HTTP_REQUEST_TIMEOUT * 1000 : undefined,
    retries: e.MLFLOW_HTTP_REQUEST_MAX_RETRIES,
  };
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * A failed MLflow call. `status` is the HTTP status, or 0 when no response came (then `errorCode`
 * is the network error's code, e.g. ECONNREFUSED). `mayHaveApplied` is false only when the server
 * certainly did not act on the request (it was never sent, or the server said 429).
 */
export class MlflowError extends Error {
  readonly status: number;
  readonly errorCode: string;
  readonly mayHaveApplied: boolean;
  readonly hint?: string;
  constructor(message: string, o: { status: number; errorCode: string; mayHaveApplied: boolean; hint?: string }) {
    super(message);
    this.name = 'MlflowError';
    this.status = o.status;
    this.errorCode = o.errorCode;
    this.mayHaveApplied = o.mayHaveApplied;
    this.hint = o.hint;
  }
  /** No response, a 429 or a 5xx: worth trying again later. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export function isMlflowError(e: unknown): e is MlflowError {
  return e instanceof MlflowError || (e instanceof Error && e.name === 'MlflowError');
}

// Codes for which the request never left this machine: safe to resend anything.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);
// Failures that trying again will not fix.
const FINAL_NETWORK = new Set(['UND_ERR_DESTROYED', 'UND_ERR_CLOSED', 'UND_ERR_INVALID_ARG', 'ERR_INVALID_URL', 'UND_ERR_ABORTED', 'ABORT_ERR']);

const apiErrorSchema = z.object({ error_code: z.string().min(1), message: z.string().optional() });

/** One short line from an error body: JSON {error_code, message}, an HTML page, or plain text (quirk #6). */
export function describeErrorBody(body: string): { errorCode?: string; text: string } {
  const trimmed = body.trim();
  if (trimmed.startsWith('{')) {
    try {
      const r = apiErrorSchema.safeParse(JSON.parse(trimmed));
      if (r.success) return { errorCode: r.data.error_code, text: excerpt(firstSentence(r.data.message ?? '')) };
    } catch {
      // not JSON after all: fall through to text
    }
  }
  if (/^<!doctype html|^<html|<title>|<h1>/i.test(trimmed)) {
    const title = /<title>([^<]*)<\/title>/i.exec(trimmed)?.[1];
    const h1 = /<h1>([^<]*)<\/h1>/i.exec(trimmed)?.[1];
    const para = /<p>([\s\S]*?)<\/p>/i.exec(trimmed)?.[1];
    const parts = [title ?? h1, para].filter((s): s is string => !!s).map((s) => s.replace(/<[^>]*>/g, ' '));
    return { text: excerpt(parts.join(': ') || trimmed.replace(/<[^>]*>/g, ' ')) };
  }
  return { text: excerpt(trimmed) };
}

// MLflow's RESOURCE_ALREADY_EXISTS carries pages of SQL after the first sentence (quirk #7).
function firstSentence(s: string): string {
  const cut = s.search(/ Error: \(raised|\n/);
  return cut > 0 ? s.slice(0, cut) : s;
}

function excerpt(s: string, max = 240): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}

// ---------------------------------------------------------------------------------------------
// Response shapes (only the fields gantry uses; the rest is stripped)

const tagSchema = z.object({ key: z.string(), value: z.string().default('') });
const metricSchema = z.object({
  key: z.string(),
  value: z.number(),
  timestamp: z.coerce.number().default(0),
  step: z.coerce.number().default(0),
});
const experimentSchema = z.object({
  experiment_id: z.string(),
  name: z.string(),
  artifact_location: z.string().optional(),
  lifecycle_stage: z.string().optional(),
  tags: z.array(tagSchema).optional(),
});
const runInfoSchema = z.object({
  run_id: z.string(),
  experiment_id: z.string(),
  run_name: z.string().optional(),
  status: z.string().optional(),
  start_time: z.coerce.number().optional(),
  end_time: z.coerce.number().optional(),
  artifact_uri: z.string().optional(),
  lifecycle_stage: z.string().optional(),
});
const runSchema = z.object({
  info: runInfoSchema,
  data: z
    .object({
      metrics: z.array(metricSchema).default([]),
      params: z.array(tagSchema).default([]),
      tags: z.array(tagSchema).default([]),
    })
    .default({ metrics: [], params: [], tags: [] }),
});
const fileInfoSchema = z.object({ path: z.string(), is_dir: z.boolean().default(false), file_size: z.coerce.number().optional() });

export type MlflowExperiment = z.output<typeof experimentSchema>;
export type MlflowRun = z.output<typeof runSchema>;
export type MlflowRunInfo = z.output<typeof runInfoSchema>;
export type MlflowMetric = z.output<typeof metricSchema>;
export interface MlflowFileInfo {
  /** Relative to the run's artifact root. */
  path: string;
  isDir: boolean;
  size?: number;
}

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
export type TerminalStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export interface Tag {
  key: string;
  value: string;
}
export interface Metric {
  key: string;
  value: number;
  /** ms since the epoch */
  timestamp: number;
  step: number;
}
export interface LogBatchInput {
  metrics?: Metric[];
  params?: Tag[] | Record<string, string>;
  tags?: Tag[] | Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// log-batch limits (quirk #13) and splitting

export const LOG_BATCH_LIMITS = {
  metrics: 1000,
  params: 100,
  tags: 100,
  total: 1000,
  /** MLflow's MAX_BATCH_LOG_REQUEST_SIZE is 1e6 bytes of JSON. */
  bytes: 1_000_000,
} as const;

/** MLflow 2.10's entity limits (mlflow/utils/validation.py). */
export const MLFLOW_LIMITS = { keyLength: 250, paramValueLength: 6000, tagValueLength: 5000 } as const;

const NAME_RE = /^[/\w.\- ]*$/;

export interface LogBatchBody {
  run_id: string;
  metrics: Metric[];
  params: Tag[];
  tags: Tag[];
}

function toTags(x: Tag[] | Record<string, string> | undefined): Tag[] {
  if (!x) return [];
  return Array.isArray(x) ? x : Object.entries(x).map(([key, value]) => ({ key, value }));
}

function checkName(kind: string, key: string): void {
  if (!key || key.length > MLFLOW_LIMITS.keyLength || !NAME_RE.test(key) || key.split('/').includes('..') || key.startsWith('/')) {
    throw new UserError(`invalid MLflow ${kind} name '${excerpt(key, 80)}'`, {
      hint: `use at most ${MLFLOW_LIMITS.keyLength} letters, digits, _ - . / and spaces`,
    });
  }
}

/** Client-side checks MLflow does not do or does badly: a non-number would be stored as 0 (quirk #5). */
export function validateMetric(m: Metric): void {
  checkName('metric', m.key);
  if (typeof m.value !== 'number' || !Number.isFinite(m.value)) {
    throw new UserError(`metric '${m.key}' at step ${m.step} is ${String(m.value)}; only finite numbers can be logged`, {
      hint: 'MLflow stores a non-numeric value as 0 without an error',
    });
  }
  if (!Number.isSafeInteger(m.step)) throw new UserError(`metric '${m.key}' has a non-integer step ${String(m.step)}`);
  if (!Number.isSafeInteger(m.timestamp) || m.timestamp < 0) throw new UserError(`metric '${m.key}' has an invalid timestamp ${String(m.timestamp)}`);
}

/**
 * Split one logical batch into log-batch request bodies within every limit: counts and serialized
 * size. Params and tags travel in requests without metrics, first: a rejected param then never
 * leaves metrics half-written, and a metric request's outcome is about metrics alone.
 */
export function planLogBatch(runId: string, input: LogBatchInput, limits: typeof LOG_BATCH_LIMITS = LOG_BATCH_LIMITS): LogBatchBody[] {
  const metrics = input.metrics ?? [];
  const params = dedupeParams(toTags(input.params));
  const tags = dedupeTags(toTags(input.tags));
  for (const m of metrics) validateMetric(m);
  for (const p of params) {
    checkName('param', p.key);
    if (p.value.length > MLFLOW_LIMITS.paramValueLength) throw new UserError(`param '${p.key}' is longer than ${MLFLOW_LIMITS.paramValueLength} characters`);
  }
  for (const t of tags) {
    checkName('tag', t.key);
    if (t.value.length > MLFLOW_LIMITS.tagValueLength) throw new UserError(`tag '${t.key}' is longer than ${MLFLOW_LIMITS.tagValueLength} characters`);
  }
  const envelope = Buffer.byteLength(JSON.stringify({ run_id: runId, metrics: [], params: [], tags: [] }));
  const bodies: LogBatchBody[] = [];
  let cur: LogBatchBody | undefined;
  let bytes = 0;
  const fresh = () => {
    cur = { run_id: runId, metrics: [], params: [], tags: [] };
    bodies.push(cur);
    bytes = envelope;
  };
  const add = (kind: 'metrics' | 'params' | 'tags', item: Metric | Tag) => {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1; // + the comma
    if (envelope + size > limits.bytes) throw new UserError(`one MLflow ${kind} item is larger than ${limits.bytes} bytes`);
    const c = cur;
    const full =
      !c ||
      bytes + size > limits.bytes ||
      c.metrics.length + c.params.length + c.tags.length >= limits.total ||
      (kind === 'metrics' && c.metrics.length >= limits.metrics) ||
      (kind === 'params' && c.params.length >= limits.params) ||
      (kind === 'tags' && c.tags.length >= limits.tags) ||
      (kind === 'metrics' && (c.params.length > 0 || c.tags.length > 0));
    if (full) fresh();
    (cur![kind] as (Metric | Tag)[]).push(item);
    bytes += size;
  };
  for (const p of params) add('params', p);
  for (const t of tags) add('tags', t);
  for (const m of metrics) add('metrics', m);
  return bodies;
}

function dedupeParams(params: Tag[]): Tag[] {
  const seen = new Map<string, string>();
  for (const p of params) {
    const prev = seen.get(p.key);
    if (prev !== undefined && prev !== p.value) throw new UserError(`param '${p.key}' is given twice with different values`);
    seen.set(p.key, p.value);
  }
  return [...seen].map(([key, value]) => ({ key, value }));
}

// Tags overwrite: the last value wins, as it would on the server.
function dedupeTags(tags: Tag[]): Tag[] {
  const m = new Map<string, string>();
  for (const t of tags) m.set(t.key, t.value);
  return [...m].map(([key, value]) => ({ key, value }));
}

// ---------------------------------------------------------------------------------------------
// The client

export interface MlflowClientOptions {
  /** Attempts after the first for network errors, 429 and 5xx (default 4). */
  retries?: number;
  /** Backoff: base * 2^attempt with full jitter, capped (defaults 250 ms, 10 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Headers and body timeouts (default 30 s each). */
  timeoutMs?: number;
  connectTimeoutMs?: number;
}

interface CallOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  raw?: Uint8Array;
  /** Safe to resend after an ambiguous failure (the request may have been applied). */
  idempotent: boolean;
  /** Turn an error response into a specific error (thrown as is, not retried). */
  mapError?: (status: number, errorCode: string | undefined, text: string) => MlflowError | undefined;
}

export class MlflowClient {
  readonly trackingUri: string;
  private readonly agent: Agent;
  private readonly authHeader?: string;
  private readonly secrets: string[];
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;

  constructor(config: MlflowConfig, opts: MlflowClientOptions = {}) {
    this.trackingUri = config.trackingUri.replace(/\/+$/, '');
    this.retries = opts.retries ?? config.retries ?? 4;
    this.backoffMs = opts.backoffMs ?? 250;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? config.timeoutMs ?? 30_000;
    this.secrets = [];
    if (config.token) {
      this.authHeader = `Bearer ${config.token}`;
      this.secrets.push(config.token);
    } else if (config.username !== undefined && config.password !== undefined) {
      const b64 = Buffer.from(`${config.username}:${config.password}`).toString('base64');
      this.authHeader = `Basic ${b64}`;
      this.secrets.push(config.password, b64);
    }
    this.agent = new Agent({
      connect: { timeout: opts.connectTimeoutMs ?? 10_000, rejectUnauthorized: !config.insecureTls },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** A client from MLFLOW_* variables, or undefined when MLFLOW_TRACKING_URI is unset. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, opts: MlflowClientOptions = {}): MlflowClient | undefined {
    const cfg = mlflowConfigFromEnv(env);
    return cfg ? new MlflowClient(cfg, opts) : undefined;
  }

  /** Close idle connections; in-flight calls finish first. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Abort in-flight calls at once (they fail with UND_ERR_DESTROYED). */
  async destroy(): Promise<void> {
    await this.agent.destroy();
  }

  // -- experiments ------------------------------------------------------------------------------

  async getExperimentByName(name: string): Promise<MlflowExperiment | undefined> {
    try {
      const r = await this.call('GET', '/api/2.0/mlflow/experiments/get-by-name', z.object({ experiment: experimentSchema }), {
        query: { experiment_name: name },
        idempotent: true,
      });
      return r.experiment;
    } catch (e) {
      if (isMlflowError(e) && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw e;
    }
  }

  async getExperiment(experimentId: string): Promise<MlflowExperiment> {
    const r = await this.call('GET', '/api/2.0/mlflow/experiments/get', z.object({ experiment: experimentSchema }), {
      query: { experiment_id: experimentId },
      idempotent: true,
    });
    return r.experiment;
  }

  /** The experiment's id; created if absent. A concurrent creator's win (quirk #7) reads as success. */
  async getOrCreateExperiment(name: string, tags?: Tag[] | Record<string, string>): Promise<string> {
    const existing = await this.getExperimentByName(name);
    if (existing) return activeExperiment(existing);
    try {
      const r = await this.call('POST', '/api/2.0/mlflow/experiments/create', z.object({ experiment_id: z.string() }), {
        json: { name, tags: toTags(tags) },
        // A resend after an ambiguous failure answers RESOURCE_ALREADY_EXISTS, handled below.
        idempotent: true,
      });
      return r.experiment_id;
    } catch (e) {
      if (!isMlflowError(e) || e.errorCode !== 'RESOURCE_ALREADY_EXISTS') throw e;
      const again = await this.getExperimentByName(name);
      if (!again) throw e;
      return activeExperiment(again);
    }
  }

  // -- runs -------------------------------------------------------------------------------------

  async createRun(experimentId: string, o: { runName?: string; tags?: Tag[] | Record<string, string>; startTime?: number } = {}): Promise<MlflowRun> {
    const r = await this.call('POST', '/api/2.0/mlflow/runs/create', z.object({ run: runSchema }), {
      json: { experiment_id: experimentId, run_name: o.runName, start_time: o.startTime ?? Date.now(), tags: toTags(o.tags) },
      // Not idempotent: a blind resend makes a second run. Callers that need one run per key
      // look it up by tag first (findRunByTag), which also recovers a lost response.
      idempotent: false,
    });
    return r.run;
  }

  async getRun(runId: string): Promise<MlflowRun> {
    const r = await this.call('GET', '/api/2.0/mlflow/runs/get', z.object({ run: runSchema }), { query: { run_id: runId }, idempotent: true });
    return r.run;
  }

  /** All runs matching a filter, following next_page_token until a page comes back empty (quirk #9). */
  async searchRuns(experimentIds: string[], filter: string, o: { maxResults?: number; maxPages?: number; viewType?: 'ACTIVE_ONLY' | 'ALL' } = {}): Promise<MlflowRun[]> {
    const out: MlflowRun[] = [];
    const pageSchema = z.object({ runs: z.array(runSchema).default([]), next_page_token: z.string().optional() });
    let token: string | undefined;
    for (let page = 0; page < (o.maxPages ?? 1000); page++) {
      const r = await this.call('POST', '/api/2.0/mlflow/runs/search', pageSchema, {
        json: {
          experiment_ids: experimentIds,
          filter,
          run_view_type: o.viewType ?? 'ACTIVE_ONLY',
          max_results: o.maxResults ?? 100,
          order_by: ['attributes.start_time ASC'],
          page_token: token,
        },
        idempotent: true,
      });
      out.push(...r.runs);
      if (!r.next_page_token || r.runs.length === 0 || r.next_page_token === token) break;
      token = r.next_page_token;
    }
    return out;
  }

  /** The oldest active run of the experiment whose tag `key` equals `value`, if any. */
  async findRunByTag(experimentId: string, key: string, value: string): Promise<MlflowRun | undefined> {
    const runs = await this.searchRuns([experimentId], `tags.${quoteKey(key)} = ${quoteValue(value)}`);
    // Re-check on this side: the filter grammar is the server's to interpret.
    const hits = runs.filter((r) => r.data.tags.some((t) => t.key === key && t.value === value));
    hits.sort((a, b) => (a.info.start_time ?? 0) - (b.info.start_time ?? 0) || a.info.run_id.localeCompare(b.info.run_id));
    return hits[0];
  }

  async updateRun(runId: string, o: { status?: RunStatus; endTime?: number; runName?: string }): Promise<MlflowRunInfo> {
    const r = await this.call('POST', '/api/2.0/mlflow/runs/update', z.object({ run_info: runInfoSchema }), {
      json: { run_id: runId, status: o.status, end_time: o.endTime, run_name: o.runName },
      idempotent: true,
    });
    return r.run_info;
  }

  async setTerminated(runId: string, status: TerminalStatus, endTime: number = Date.now()): Promise<MlflowRunInfo> {
    return this.updateRun(runId, { status, endTime });
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.logBatch(runId, { tags: [{ key, value }] });
  }

  /**
   * Log metrics, params and tags in as many requests as the limits need (see planLogBatch).
   *
   * Params: MLflow rejects only a CHANGED value (quirk #11), so resending identical params is
   * harmless; should a request be refused for a changed value, the run's params are read back and
   * only the missing ones are resent. A truly changed value throws a UserError, or with
   * `changedParams: 'keep-existing'` is skipped and reported in `skippedParams`.
   *
   * Metrics append on the server, so a metric request whose outcome is unknown (connection lost
   * after sending, 5xx) is not resent blindly: the MlflowError says `mayHaveApplied` and the caller
   * reconciles (the mirror reads metrics/get-history). `retryAmbiguous: true` resends anyway.
   */
  async logBatch(
    runId: string,
    input: LogBatchInput,
    o: { changedParams?: 'error' | 'keep-existing'; retryAmbiguous?: boolean } = {},
  ): Promise<{ requests: number; skippedParams: string[] }> {
    const bodies = planLogBatch(runId, input);
    const skippedParams: string[] = [];
    let requests = 0;
    for (const body of bodies) {
      const hasMetrics = body.metrics.length > 0;
      try {
        requests++;
        await this.postBatch(body, !hasMetrics || !!o.retryAmbiguous);
      } catch (e) {
        if (!(body.params.length > 0 && isMlflowError(e) && /Changing param values is not allowed/i.test(e.message))) throw e;
        const existing = new Map((await this.getRun(runId)).data.params.map((p) => [p.key, p.value]));
        const changed = body.params.filter((p) => existing.has(p.key) && existing.get(p.key) !== p.value);
        if (changed.length > 0 && o.changedParams !== 'keep-existing') {
          throw new UserError(`param '${changed[0].key}' of MLflow run ${runId} was already logged with another value`, {
            hint: 'MLflow params are immutable',
          });
        }
        skippedParams.push(...changed.map((p) => p.key));
        const rest = { ...body, params: body.params.filter((p) => !existing.has(p.key)) };
        if (rest.params.length + rest.tags.length > 0) {
          requests++;
          await this.postBatch(rest, true);
        }
      }
    }
    return { requests, skippedParams };
  }

  private async postBatch(body: LogBatchBody, idempotent: boolean): Promise<void> {
    const json: Record<string, unknown> = { run_id: body.run_id };
    if (body.metrics.length) json.metrics = body.metrics;
    if (body.params.length) json.params = body.params;
    if (body.tags.length) json.tags = body.tags;
    await this.call('POST', '/api/2.0/mlflow/runs/log-batch', z.object({}), { json, idempotent });
  }

  /** The whole history of one metric; the server ignores paging (quirk #4), a token is followed anyway. */
  async getMetricHistory(runId: string, key: string): Promise<MlflowMetric[]> {
    const pageSchema = z.object({ metrics: z.array(metricSchema).default([]), next_page_token: z.string().optional() });
    const out: MlflowMetric[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const r = await this.call('GET', '/api/2.0/mlflow/metrics/get-history', pageSchema, {
        query: { run_id: runId, metric_key: key, page_token: token },
        idempotent: true,
      });
      out.push(...r.metrics);
      if (!r.next_page_token || r.metrics.length === 0 || r.next_page_token === token) break;
      token = r.next_page_token;
    }
    return out;
  }

  // -- artifacts (proxied: quirk #14; single PUT only: quirk #3) --------------------------------

  /** Upload bytes to `<runArtifactUri>/<relPath>` with one PUT; overwrites, so a resend is harmless. */
  async uploadArtifact(runArtifactUri: string, relPath: string, bytes: Uint8Array | string): Promise<void> {
    const path = artifactPath(runArtifactUri, relPath);
    const raw = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    await this.call('PUT', `/api/2.0/mlflow-artifacts/artifacts/${encodePath(path)}`, z.unknown(), { raw, idempotent: true });
  }

  /** Download one artifact; a missing one is an MlflowError with errorCode RESOURCE_DOES_NOT_EXIST (the server says 500: quirk #2). */
  async downloadArtifact(runArtifactUri: string, relPath: string): Promise<Uint8Array> {
    const path = artifactPath(runArtifactUri, relPath);
    return this.callRaw('GET', `/api/2.0/mlflow-artifacts/artifacts/${encodePath(path)}`, {
      idempotent: true,
      mapError: (s, _c, text) =>
        s === 500 && /No such file or directory/i.test(text)
          ? new MlflowError(`MLflow has no artifact '${relPath}' in ${runArtifactUri}`, { status: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST', mayHaveApplied: false })
          : undefined,
    });
  }

  /** Direct children of `relPath` (default: the root); paths are relative to the run's artifact root. */
  async listArtifacts(runArtifactUri: string, relPath = ''): Promise<MlflowFileInfo[]> {
    const base = artifactPath(runArtifactUri, relPath || '.');
    const r = await this.call('GET', '/api/2.0/mlflow-artifacts/artifacts', z.object({ files: z.array(fileInfoSchema).default([]) }), {
      query: { path: base },
      idempotent: true,
    });
    const prefix = relPath.replace(/^\/+|\/+$/g, '');
    return r.files.map((f) => ({ path: prefix ? `${prefix}/${f.path}` : f.path, isDir: f.is_dir, size: f.file_size }));
  }

  // -- transport --------------------------------------------------------------------------------

  private async call<S extends z.ZodType>(method: string, path: string, schema: S, o: CallOptions): Promise<z.output<S>> {
    const bytes = await this.callRaw(method, path, o);
    const text = Buffer.from(bytes).toString('utf8');
    let parsed: unknown;
    try {
      parsed = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      throw new MlflowError(this.redact(`MLflow ${method} ${short(path)}: the response is not JSON: ${describeErrorBody(text).text}`), {
        status: 200,
        errorCode: 'BAD_RESPONSE',
        mayHaveApplied: true,
      });
    }
    const r = schema.safeParse(parsed);
    if (!r.success) {
      const i = r.error.issues[0];
      throw new MlflowError(`MLflow ${method} ${short(path)}: unexpected response (${i.path.map(String).join('.') || 'body'}: ${i.message})`, {
        status: 200,
        errorCode: 'BAD_RESPONSE',
        mayHaveApplied: true,
      });
    }
    return r.data;
  }

  private async callRaw(method: string, path: string, o: CallOptions): Promise<Uint8Array> {
    const qs = o.query ? new URLSearchParams(Object.entries(o.query).filter((e): e is [string, string | number] => e[1] !== undefined).map(([k, v]) => [k, String(v)])).toString() : '';
    const url = `${this.trackingUri}${path}${qs ? `?${qs}` : ''}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.authHeader) headers.authorization = this.authHeader;
    let body: string | Uint8Array | undefined;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.raw !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      body = o.raw;
    }
    for (let attempt = 0; ; attempt++) {
      let err: MlflowError;
      let retryAfterMs: number | undefined;
      try {
        const res = await request(url, { method: method as 'GET', headers, body, dispatcher: this.agent, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
        const data = new Uint8Array(await res.body.arrayBuffer());
        if (res.statusCode >= 200 && res.statusCode < 300) return data;
        const text = Buffer.from(data).toString('utf8');
        const d = describeErrorBody(text);
        const status = res.statusCode;
        const mapped = o.mapError?.(status, d.errorCode, text);
        if (mapped) throw mapped;
        const hint =
          status === 401 || status === 403 ? 'check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD' : undefined;
        err = new MlflowError(this.redact(`MLflow ${method} ${short(path)}: ${status}${d.errorCode ? ` ${d.errorCode}` : ''}: ${d.text || '(empty body)'}`), {
          status,
          errorCode: d.errorCode ?? `HTTP_${status}`,
          mayHaveApplied: status !== 429,
          hint,
        });
        const ra = res.headers['retry-after'];
        if (typeof ra === 'string' && /^\d+$/.test(ra)) retryAfterMs = Number(ra) * 1000;
        const retryable = status === 429 || status >= 500;
        if (!retryable) throw err;
      } catch (e) {
        if (isMlflowError(e)) throw e;
        const code = String((e as { code?: unknown }).code ?? (e as Error).name ?? 'ERROR');
        err = new MlflowError(this.redact(`MLflow at ${this.trackingUri} unreachable on ${method} ${short(path)} (${code})`), {
          status: 0,
          errorCode: code,
          mayHaveApplied: !NOT_SENT.has(code),
        });
        if (FINAL_NETWORK.has(code)) throw err;
      }
      // Resend only what cannot be applied twice, or what certainly was not applied.
      if (attempt >= this.retries || (!o.idempotent && err.mayHaveApplied)) throw err;
      const backoff = Math.random() * Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
      await sleep(Math.min(this.maxBackoffMs, Math.max(backoff, retryAfterMs ?? 0)));
    }
  }

  private redact(s: string): string {
    let out = s;
    for (const secret of this.secrets) if (secret.length >= 3) out = out.split(secret).join('***');
    // Someone else's credentials echoed by a proxy: a word after 'Bearer'/'Basic' that looks like a token.
    return out.replace(/(authorization|bearer|basic)(\s*[:=]?\s*)(?=[A-Za-z0-9._~+/=-]*[0-9+/=])[A-Za-z0-9._~+/=-]{8,}/gi, '$1$2***');
  }
}

function activeExperiment(e: MlflowExperiment): string {
  if (e.lifecycle_stage === 'deleted') {
    throw new UserError(`MLflow experiment '${e.name}' (id ${e.experiment_id}) is deleted`, {
      hint: 'restore it in MLflow (or delete it for good with `mlflow gc`)',
    });
  }
  return e.experiment_id;
}

function short(path: string): string {
  return path.replace(/^\/api\/2\.0\/mlflow\//, '').replace(/^(\/api\/2\.0\/mlflow-artifacts\/artifacts\/).*$/, '$1…');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `tags.<key>` with backticks where the key has dots or other odd characters. */
function quoteKey(key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return key;
  if (key.includes('`')) throw new UserError(`tag key '${key}' cannot be used in an MLflow filter`);
  return `\`${key}\``;
}

function quoteValue(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw new UserError('a tag value with both quote characters cannot be used in an MLflow filter');
}

/** 'mlflow-artifacts:/<exp>/<run>/artifacts' + 'a/b.txt' → '<exp>/<run>/artifacts/a/b.txt'. */
export function artifactPath(runArtifactUri: string, relPath: string): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/+(.*)$/.exec(runArtifactUri);
  if (!m) {
    throw new UserError(`MLflow artifact location '${runArtifactUri.replace(/\/\/[^@/]*@/, '//***@')}' is not proxied by the tracking server`, {
      hint: 'start the server with --serve-artifacts so runs get mlflow-artifacts:/ locations',
    });
  }
  const rel = relPath.replace(/^\.?\/*/, '').replace(/\/+$/, '');
  const parts = rel === '' || rel === '.' ? [] : rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new UserError(`invalid artifact path '${relPath}'`);
  return [m[1].replace(/\/+$/, ''), ...parts].join('/');
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}
