/**
 * A stand-in for an MLflow 2.10.2 tracking server (`mlflow server --serve-artifacts`) that
 * reproduces the behaviour recorded in shared/contracts/mlflow-2.10.2.md, quirks included, with
 * fault controls for tests: stop()/start() on the same port, failNext(), and
 * dropResponseAfterHandling() (the write is applied, then the socket is destroyed before any
 * response: the "sent but not acknowledged" case).
 *
 * With `upstream` set it handles nothing itself and forwards every request to that server (a
 * live MLflow), so the same fault controls apply in front of the real thing.
 *
 * Not recorded in the contract, modelled on MLflow's source: entity name and length checks, the
 * run_name/mlflow.runName conflict, duplicate param keys in one batch, the 401 body of
 * `--app-name basic-auth`, get-by-name's 404 for a missing experiment, and protobuf's habit of
 * omitting empty lists (`{}` for a search or history without rows).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { mlflowConfigFromEnv, type MlflowConfig } from '../../infra/mlflow/client.js';
import { findLiveBinary, liveRequired, missingServer, startMlflow, type MlflowServer } from '../live/servers.js';

export interface ContractServerOptions {
  /** Require `Authorization: Bearer <token>`. */
  token?: string;
  /** Require HTTP basic auth. */
  basic?: { username: string; password: string };
  /** Forward everything to this server instead of handling it here (fault controls still apply). */
  upstream?: string;
  /** Accept the upstream's TLS certificate unchecked (MLFLOW_TRACKING_INSECURE_TLS). */
  insecureUpstream?: boolean;
}

export interface SeenRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  /** `METHOD /route` with artifact paths collapsed, e.g. 'POST /api/2.0/mlflow/runs/log-batch'. */
  route: string;
  /** Parsed JSON body, if it was JSON. */
  body: any;
  bytes: number;
}

export type RequestMatcher = string | ((r: SeenRequest) => boolean);

interface Fault {
  kind: 'fail' | 'drop';
  n: number;
  status: number;
  body?: string;
  contentType?: string;
  match?: RequestMatcher;
}

interface Tag {
  key: string;
  value: string;
}
interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}
interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: 'active' | 'deleted';
  last_update_time: number;
  creation_time: number;
  tags: Tag[];
}
interface Run {
  info: {
    run_uuid: string;
    experiment_id: string;
    run_name: string;
    user_id: string;
    status: string;
    start_time: number;
    end_time?: number;
    artifact_uri: string;
    lifecycle_stage: 'active' | 'deleted';
    run_id: string;
  };
  params: Map<string, string>;
  tags: Map<string, string>;
  history: Map<string, Metric[]>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const API = '/api/2.0/mlflow/';
const ART = '/api/2.0/mlflow-artifacts/artifacts';
const MPU = '/api/2.0/mlflow-artifacts/mpu/';
const NAME_RE = /^[/\w.\- ]*$/;
const LIMITS = { metrics: 1000, params: 100, tags: 100, total: 1000, bytes: 1_000_000 };
const STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];

const html = (code: number, title: string, text: string) =>
  `<!doctype html>\n<html lang=en>\n<title>${code} ${title}</title>\n<h1>${title}</h1>\n<p>${text}</p>\n`;
const HTML_404 = html(404, 'Not Found', 'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.');
const HTML_405 = html(405, 'Method Not Allowed', 'The method is not allowed for the requested URL.');
const HTML_500 = html(500, 'Internal Server Error', 'The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.');
const AUTH_401 = 'You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.';

export class MlflowContractServer {
  port = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly opts: ContractServerOptions;
  private readonly experiments = new Map<string, Experiment>();
  private readonly runsById = new Map<string, Run>();
  private readonly artifacts = new Map<string, Buffer>();
  private nextExperiment = 1;
  private faults: Fault[] = [];
  /** Every request seen, in order (while started). */
  readonly seen: SeenRequest[] = [];

  private constructor(opts: ContractServerOptions) {
    this.opts = opts;
    const now = Date.now();
    this.experiments.set('0', { experiment_id: '0', name: 'Default', artifact_location: 'mlflow-artifacts:/0', lifecycle_stage: 'active', last_update_time: now, creation_time: now, tags: [] });
  }

  /** A server listening on 127.0.0.1 at a free port. */
  static async create(opts: ContractServerOptions = {}): Promise<MlflowContractServer> {
    const s = new MlflowContractServer(opts);
    await s.start();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listen again (on the same port after a stop()). State is kept across stop/start. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Stop listening and cut every connection: MLflow is down until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async close(): Promise<void> {
    await this.stop();
  }

  /** The next `n` matching requests get `status` (an HTML page like a proxy's, unless `body` is given) and are not applied. */
  failNext(n: number, status = 503, o: { match?: RequestMatcher; body?: string; contentType?: string } = {}): void {
    this.faults.push({ kind: 'fail', n, status, ...o });
  }

  /** The next `n` matching requests are applied, then their connection is destroyed before a response. */
  dropResponseAfterHandling(n: number, match?: RequestMatcher): void {
    this.faults.push({ kind: 'drop', n, status: 0, match });
  }

  /** Forget the faults not yet used. */
  clearFaults(): void {
    this.faults = [];
  }

  /** Requests seen for a route ('POST /api/2.0/mlflow/runs/log-batch') or matching a predicate, or all. */
  requests(route?: RequestMatcher): number {
    if (!route) return this.seen.length;
    return this.seen.filter((r) => (typeof route === 'string' ? r.route === route : route(r))).length;
  }

  /** Metric values stored for a run (every history row), or over all runs. */
  metricsStored(runId?: string): number {
    let n = 0;
    for (const r of this.runsById.values()) {
      if (runId && r.info.run_id !== runId) continue;
      for (const h of r.history.values()) n += h.length;
    }
    return n;
  }

  /** A run's stored state, for assertions. */
  run(runId: string): { status: string; endTime?: number; params: Record<string, string>; tags: Record<string, string>; history: Record<string, Metric[]> } | undefined {
    const r = this.runsById.get(runId);
    if (!r) return undefined;
    return {
      status: r.info.status,
      endTime: r.info.end_time,
      params: Object.fromEntries(r.params),
      tags: Object.fromEntries(r.tags),
      history: Object.fromEntries([...r.history].map(([k, v]) => [k, v.map((m) => ({ ...m }))])),
    };
  }

  /** Run ids whose tag `key` is `value` (deleted runs included). */
  runsWithTag(key: string, value: string): string[] {
    return [...this.runsById.values()].filter((r) => r.tags.get(key) === value).map((r) => r.info.run_id);
  }

  artifact(path: string): Buffer | undefined {
    return this.artifacts.get(path);
  }

  // -- plumbing ----------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    let body: any;
    if (/application\/json/i.test(req.headers['content-type'] ?? '') || raw.length) {
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
    }
    const method = req.method ?? 'GET';
    const seen: SeenRequest = { method, path: url.pathname, route: `${method} ${routeOf(url.pathname)}`, body, bytes: raw.length };
    this.seen.push(seen);

    const fault = this.takeFault(seen);
    if (fault?.kind === 'fail') {
      const text = fault.body ?? html(fault.status, statusTitle(fault.status), 'The server is temporarily unable to service your request.');
      res.writeHead(fault.status, { 'content-type': fault.contentType ?? (text.trim().startsWith('{') ? 'application/json' : 'text/html; charset=utf-8') });
      res.end(text);
      return;
    }

    let out: { status: number; type: string; body: string | Buffer; headers?: Record<string, string> };
    if (this.opts.upstream) out = await this.forward(req, raw, url);
    else out = this.handle(req, method, url, raw, body);

    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    res.writeHead(out.status, { 'content-type': out.type, ...(out.headers ?? {}) });
    res.end(out.body);
  }

  private takeFault(r: SeenRequest): Fault | undefined {
    for (const f of this.faults) {
      if (f.n <= 0) continue;
      const ok = f.match === undefined ? true : typeof f.match === 'string' ? r.route === f.match || r.path === f.match : f.match(r);
      if (!ok) continue;
      f.n--;
      this.faults = this.faults.filter((x) => x.n > 0);
      return f;
    }
    return undefined;
  }

  private forward(req: IncomingMessage, raw: Buffer, url: URL): Promise<{ status: number; type: string; body: Buffer; headers?: Record<string, string> }> {
    const target = new URL(this.opts.upstream!.replace(/\/+$/, '') + url.pathname + url.search);
    const headers = { ...req.headers, host: target.host };
    delete headers.connection;
    return new Promise((resolve) => {
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const up = send(target, { method: req.method, headers, rejectUnauthorized: !this.opts.insecureUpstream }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 502, type: String(r.headers['content-type'] ?? 'application/octet-stream'), body: Buffer.concat(parts) }));
      });
      up.on('error', (e) => resolve({ status: 502, type: 'text/html; charset=utf-8', body: Buffer.from(html(502, 'Bad Gateway', `upstream: ${e.message}`)) }));
      up.end(raw);
    });
  }

  private handle(req: IncomingMessage, method: string, url: URL, raw: Buffer, body: any): { status: number; type: string; body: string | Buffer; headers?: Record<string, string> } {
    const json = (status: number, obj: unknown) => ({ status, type: 'application/json', body: JSON.stringify(obj, null, 2) });
    const err = (e: ApiError) => ({ status: e.status, type: 'application/json', body: `{"error_code": ${JSON.stringify(e.code)}, "message": ${JSON.stringify(e.message)}}` });
    const path = url.pathname;

    if (!this.authorized(req)) {
      return { status: 401, type: 'text/html; charset=utf-8', body: AUTH_401, headers: { 'www-authenticate': 'Basic realm="mlflow"' } };
    }
    if (path === '/health' && method === 'GET') return { status: 200, type: 'text/plain', body: 'OK' };
    if (path === '/version' && method === 'GET') return { status: 200, type: 'text/plain', body: '2.10.2' };

    try {
      if (path.startsWith(MPU)) {
        if (method !== 'POST') return { status: 405, type: 'text/html; charset=utf-8', body: HTML_405 };
        throw new ApiError(501, 'NOT_IMPLEMENTED', 'Multipart upload is not supported for the current artifact repository');
      }
      if (path === ART || path.startsWith(ART + '/')) return this.artifactRoute(method, path, url, raw, json, err);
      if (!path.startsWith(API)) return { status: 404, type: 'text/html; charset=utf-8', body: HTML_404 };
      const endpoint = path.slice(API.length);
      const route = ROUTES[endpoint];
      if (!route) return { status: 404, type: 'text/html; charset=utf-8', body: HTML_404 };
      if (!route.methods.includes(method)) return { status: 405, type: 'text/html; charset=utf-8', body: HTML_405 };
      let args: any;
      if (method === 'POST') {
        // Quirk #8: a POST must say it is JSON.
        if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
          throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "Bad Request. Content-Type must be one of ['application/json'].");
        }
        if (body === undefined || typeof body !== 'object' || body === null) throw new ApiError(400, 'MALFORMED_REQUEST', 'Malformed request body: the body is not a JSON object.');
        args = body;
      } else {
        args = Object.fromEntries(url.searchParams);
      }
      return json(200, route.handler.call(this, args, raw.length));
    } catch (e) {
      if (e instanceof ApiError) return err(e);
      return { status: 500, type: 'text/html; charset=utf-8', body: HTML_500 };
    }
  }

  private authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    if (this.opts.token) return h === `Bearer ${this.opts.token}`;
    if (this.opts.basic) return h === `Basic ${Buffer.from(`${this.opts.basic.username}:${this.opts.basic.password}`).toString('base64')}`;
    return true;
  }

  // -- experiments -------------------------------------------------------------------------------

  createExperiment(a: any): unknown {
    const name = requireString(a, 'name');
    for (const e of this.experiments.values()) {
      if (e.name === name) {
        const t = Date.now();
        // Quirk #7: the SQL text comes along.
        throw new ApiError(
          400,
          'RESOURCE_ALREADY_EXISTS',
          `Experiment(name=${name}) already exists. Error: (raised as a result of Query-invoked autoflush; consider using a session.no_autoflush block if this flush is occurring prematurely)\n(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name\n[SQL: INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?)]\n[parameters: ('${name}', '', 'active', ${t}, ${t})]\n(Background on this error at: https://sqlalche.me/e/14/gkpj)`,
        );
      }
    }
    const id = String(this.nextExperiment++);
    const now = Date.now();
    this.experiments.set(id, { experiment_id: id, name, artifact_location: `mlflow-artifacts:/${id}`, lifecycle_stage: 'active', last_update_time: now, creation_time: now, tags: tagList(a.tags) });
    return { experiment_id: id };
  }

  private experimentOr404(id: unknown): Experiment {
    const e = this.experiments.get(String(id));
    if (!e) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${String(id)} exists`);
    return e;
  }

  getExperiment(a: any): unknown {
    return { experiment: expView(this.experimentOr404(requireString(a, 'experiment_id'))) };
  }

  getExperimentByName(a: any): unknown {
    const name = requireString(a, 'experiment_name');
    const e = [...this.experiments.values()].find((x) => x.name === name);
    if (!e) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name ${name}`);
    return { experiment: expView(e) };
  }

  searchExperiments(a: any): unknown {
    const max = Number(a.max_results ?? 1000);
    let list = [...this.experiments.values()].filter((e) => (a.view_type ?? 'ACTIVE_ONLY') === 'ALL' || e.lifecycle_stage === (a.view_type === 'DELETED_ONLY' ? 'deleted' : 'active'));
    if (a.filter) {
      const m = /^\s*(?:attribute\.)?name\s*=\s*'([^']*)'\s*$/i.exec(String(a.filter));
      if (!m) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${a.filter}'`);
      list = list.filter((e) => e.name === m[1]);
    }
    list.sort((x, y) => y.creation_time - x.creation_time || Number(y.experiment_id) - Number(x.experiment_id));
    const offset = a.page_token ? decodeToken(a.page_token) : 0;
    const page = list.slice(offset, offset + max);
    const out: Record<string, unknown> = {};
    if (page.length) out.experiments = page.map(expView);
    if (page.length === max) out.next_page_token = encodeToken(offset + max);
    return out;
  }

  deleteExperiment(a: any): unknown {
    const e = this.experimentOr404(requireString(a, 'experiment_id'));
    e.lifecycle_stage = 'deleted';
    e.last_update_time = Date.now();
    return {};
  }

  // -- runs --------------------------------------------------------------------------------------

  private runOr404(id: unknown): Run {
    const r = this.runsById.get(String(id));
    if (!r) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run with id=${String(id)} not found`);
    return r;
  }

  private activeRun(id: unknown): Run {
    const r = this.runOr404(id);
    if (r.info.lifecycle_stage !== 'active') {
      throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `The run ${r.info.run_id} must be in the 'active' state. Current state is ${r.info.lifecycle_stage}.`);
    }
    return r;
  }

  createRun(a: any): unknown {
    const exp = this.experimentOr404(a.experiment_id ?? '0');
    if (exp.lifecycle_stage !== 'active') throw new ApiError(400, 'INVALID_STATE', `The experiment ${exp.experiment_id} must be in the 'active' state. Current state is deleted.`);
    const tags = tagList(a.tags);
    for (const t of tags) checkTag(t);
    const tagName = tags.find((t) => t.key === 'mlflow.runName')?.value;
    if (a.run_name && tagName !== undefined && tagName !== a.run_name) {
      throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${a.run_name}', mlflow.runName='${tagName}').`);
    }
    const runName = String(a.run_name ?? tagName ?? `run-${randomBytes(3).toString('hex')}`);
    const id = randomBytes(16).toString('hex');
    const run: Run = {
      info: {
        run_uuid: id,
        experiment_id: exp.experiment_id,
        run_name: runName,
        user_id: String(a.user_id ?? ''), // quirk #10
        status: 'RUNNING',
        start_time: Number(a.start_time ?? Date.now()),
        artifact_uri: `mlflow-artifacts:/${exp.experiment_id}/${id}/artifacts`,
        lifecycle_stage: 'active',
        run_id: id,
      },
      params: new Map(),
      tags: new Map(tags.map((t) => [t.key, t.value])),
      history: new Map(),
    };
    run.tags.delete('mlflow.runName');
    run.tags.set('mlflow.runName', runName);
    this.runsById.set(id, run);
    return { run: runView(run, false) };
  }

  getRun(a: any): unknown {
    return { run: runView(this.runOr404(requireString(a, 'run_id')), true) };
  }

  searchRuns(a: any): unknown {
    const ids: string[] = Array.isArray(a.experiment_ids) ? a.experiment_ids.map(String) : [];
    const view = a.run_view_type ?? 'ACTIVE_ONLY';
    const max = Number(a.max_results ?? 1000);
    if (!(max > 0 && max <= 50000)) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid value ${a.max_results} for parameter 'max_results' supplied.`);
    const clauses = a.filter ? parseFilter(String(a.filter)) : [];
    let runs = [...this.runsById.values()].filter(
      (r) => ids.includes(r.info.experiment_id) && (view === 'ALL' || r.info.lifecycle_stage === (view === 'DELETED_ONLY' ? 'deleted' : 'active')) && clauses.every((c) => c(r)),
    );
    const order = Array.isArray(a.order_by) && a.order_by.length ? String(a.order_by[0]) : 'attributes.start_time DESC';
    const asc = /\bASC\b/i.test(order);
    runs = runs.sort((x, y) => (asc ? 1 : -1) * (x.info.start_time - y.info.start_time) || x.info.run_id.localeCompare(y.info.run_id));
    const offset = a.page_token ? decodeToken(a.page_token) : 0;
    const page = runs.slice(offset, offset + max);
    const out: Record<string, unknown> = {};
    if (page.length) out.runs = page.map((r) => runView(r, true));
    // Quirk #9: a full page always carries a token, even when nothing is left.
    if (page.length === max) out.next_page_token = encodeToken(offset + max);
    return out;
  }

  logBatch(a: any, bytes: number): unknown {
    requireString(a, 'run_id');
    const run = this.activeRun(a.run_id);
    const metrics: any[] = Array.isArray(a.metrics) ? a.metrics : [];
    const params: any[] = Array.isArray(a.params) ? a.params : [];
    const tags: any[] = Array.isArray(a.tags) ? a.tags : [];
    if (bytes > LIMITS.bytes) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Batched logging API requests must be at most ${LIMITS.bytes} bytes, got a request of size ${bytes}.`);
    const over = (n: number, max: number, what: string) => {
      if (n > max) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `A batch logging request can contain at most ${max} ${what}. Got ${n} ${what}. Please split up ${what} across multiple requests and try again.`);
    };
    over(metrics.length, LIMITS.metrics, 'metrics');
    over(params.length, LIMITS.params, 'params');
    over(tags.length, LIMITS.tags, 'tags');
    const total = metrics.length + params.length + tags.length;
    if (total > LIMITS.total) {
      throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `A batch logging request can contain at most ${LIMITS.total} metrics, params, and tags in total. Got ${total} total entries.`);
    }
    metrics.forEach((m, i) => {
      for (const f of ['key', 'value', 'timestamp']) {
        if (m?.[f] === undefined) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Missing value for required parameter 'metrics[${i}].${f}'. See the API docs for more information about request parameters.`);
      }
      checkName('metric', m.key);
    });
    const seenParams = new Map<string, string>();
    for (const p of params) {
      checkName('param', p?.key);
      const v = String(p.value ?? '');
      if (v.length > 6000) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Param value '${v.slice(0, 20)}...' had length ${v.length}, which exceeded length limit of 6000`);
      if (seenParams.has(p.key)) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Duplicate parameter keys have been submitted: ['${p.key}']. Please ensure the request contains only one param value per param key.`);
      seenParams.set(p.key, v);
    }
    for (const t of tags) checkTag(t);
    // Quirk #11: params are immutable; an identical value is fine.
    for (const [key, value] of seenParams) {
      const old = run.params.get(key);
      if (old !== undefined && old !== value) throw changedParam(key, old, value, run.info.run_id);
    }
    for (const [key, value] of seenParams) run.params.set(key, value);
    // Seen on a real 2.10.2 server (SQLite): a batch of over 100 metrics with at least two keys,
    // one of its rows already stored under a key other than the batch's greatest, is stored
    // anyway (duplicates skipped) and then answered with a 400 from SQLAlchemy's autoflush.
    const keys = [...new Set(metrics.map((m) => String(m.key)))].sort();
    const autoflush400 = metrics.length > 100 && keys.length >= 2 && metrics.some((m) => m.key !== keys[keys.length - 1] && hasRow(run, m));
    for (const m of metrics) {
      // Quirk #5: a non-numeric value is stored as 0.0, timestamp 0, step 0.
      const ok = typeof m.value === 'number' && Number.isFinite(m.value);
      appendMetric(run, ok ? { key: m.key, value: m.value, timestamp: Number(m.timestamp), step: Number(m.step ?? 0) } : { key: m.key, value: 0, timestamp: 0, step: 0 });
    }
    for (const t of tags) run.tags.set(t.key, String(t.value ?? ''));
    if (autoflush400) {
      const m = metrics[0];
      throw new ApiError(400, 'BAD_REQUEST', `(raised as a result of Query-invoked autoflush; consider using a session.no_autoflush block if this flush is occurring prematurely)\n(sqlite3.IntegrityError) UNIQUE constraint failed: metrics.key, metrics.timestamp, metrics.step, metrics.run_uuid, metrics.value, metrics.is_nan\n[SQL: INSERT INTO metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)]\n[parameters: [('${m.key}', ${m.value}, ${m.timestamp}, ${m.step}, 0, '${run.info.run_uuid}')  ... displaying 1 of ${metrics.length} total bound parameter sets ...]]\n(Background on this error at: https://sqlalche.me/e/20/gkpj)`);
    }
    return {};
  }

  logMetric(a: any): unknown {
    const run = this.activeRun(requireString(a, 'run_id'));
    for (const f of ['key', 'value', 'timestamp']) if (a[f] === undefined) throw missing(f); // quirk #12
    checkName('metric', a.key);
    const value = Number(a.value);
    appendMetric(run, { key: a.key, value: Number.isFinite(value) ? value : 0, timestamp: Number(a.timestamp), step: Number(a.step ?? 0) });
    return {};
  }

  logParameter(a: any): unknown {
    const run = this.activeRun(requireString(a, 'run_id'));
    const key = requireString(a, 'key');
    checkName('param', key);
    const value = String(a.value ?? '');
    const old = run.params.get(key);
    if (old !== undefined && old !== value) throw changedParam(key, old, value, run.info.run_id);
    run.params.set(key, value);
    return {};
  }

  setTag(a: any): unknown {
    const run = this.activeRun(requireString(a, 'run_id'));
    const t = { key: requireString(a, 'key'), value: String(a.value ?? '') };
    checkTag(t);
    run.tags.set(t.key, t.value);
    return {};
  }

  updateRun(a: any): unknown {
    const run = this.activeRun(requireString(a, 'run_id'));
    if (a.status !== undefined) {
      if (!STATUSES.includes(a.status)) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid value ${JSON.stringify(a.status)} for parameter 'status' supplied.`);
      run.info.status = a.status;
    }
    if (a.end_time !== undefined) run.info.end_time = Number(a.end_time);
    if (a.run_name) {
      run.info.run_name = String(a.run_name);
      run.tags.set('mlflow.runName', String(a.run_name));
    }
    return { run_info: { ...run.info } };
  }

  deleteRun(a: any): unknown {
    this.runOr404(requireString(a, 'run_id')).info.lifecycle_stage = 'deleted';
    return {};
  }

  restoreRun(a: any): unknown {
    this.runOr404(requireString(a, 'run_id')).info.lifecycle_stage = 'active';
    return {};
  }

  getMetricHistory(a: any): unknown {
    const run = this.runOr404(requireString(a, 'run_id'));
    const key = requireString(a, 'metric_key');
    // Quirk #4: max_results and page_token are ignored; the whole history, never a token.
    const h = run.history.get(key) ?? [];
    return h.length ? { metrics: h.map((m) => ({ ...m })) } : {};
  }

  listRunArtifacts(a: any): unknown {
    const run = this.runOr404(requireString(a, 'run_id'));
    const root = run.info.artifact_uri;
    const rel = String(a.path ?? '').replace(/^\/+|\/+$/g, '');
    const files = this.listDir(`${root.replace(/^mlflow-artifacts:\//, '')}${rel ? `/${rel}` : ''}`).map((f) => ({ ...f, path: rel ? `${rel}/${f.path}` : f.path }));
    return files.length ? { root_uri: root, files } : { root_uri: root };
  }

  // -- artifacts (quirks #1, #2, #14) ------------------------------------------------------------

  private artifactRoute(
    method: string,
    path: string,
    url: URL,
    raw: Buffer,
    json: (s: number, o: unknown) => { status: number; type: string; body: string },
    err: (e: ApiError) => { status: number; type: string; body: string },
  ): { status: number; type: string; body: string | Buffer } {
    if (path === ART) {
      if (method !== 'GET') return { status: 405, type: 'text/html; charset=utf-8', body: HTML_405 };
      const files = this.listDir(String(url.searchParams.get('path') ?? '').replace(/^\/+|\/+$/g, ''));
      return json(200, files.length ? { files } : {});
    }
    const rel = decodeURIComponent(path.slice(ART.length + 1));
    if (rel.split('/').some((p) => p === '..' || p === '')) return err(new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid path: ${rel}`));
    if (method === 'PUT') {
      this.artifacts.set(rel, raw);
      return json(200, {});
    }
    if (method === 'GET') {
      const b = this.artifacts.get(rel);
      if (!b) {
        return err(
          new ApiError(500, 'INTERNAL_ERROR', `The following failures occurred while downloading one or more artifacts from <artifact-root>:\n##### File ${rel} #####\n[Errno 2] No such file or directory: '<artifact-root>/${rel}'`),
        );
      }
      return { status: 200, type: 'application/octet-stream', body: b };
    }
    if (method === 'DELETE') {
      if (this.artifacts.has(rel)) return { status: 500, type: 'text/html; charset=utf-8', body: HTML_500 };
      for (const k of [...this.artifacts.keys()]) if (k.startsWith(rel + '/')) this.artifacts.delete(k);
      return json(200, {});
    }
    return { status: 405, type: 'text/html; charset=utf-8', body: HTML_405 };
  }

  private listDir(dir: string): { path: string; is_dir: boolean; file_size?: number }[] {
    const prefix = dir ? `${dir}/` : '';
    const out = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
    for (const [k, v] of this.artifacts) {
      if (!k.startsWith(prefix)) continue;
      const rest = k.slice(prefix.length).split('/');
      if (rest.length === 1) out.set(rest[0], { path: rest[0], is_dir: false, file_size: v.length });
      else out.set(rest[0], { path: rest[0], is_dir: true });
    }
    return [...out.values()].sort((a, b) => a.path.localeCompare(b.path));
  }
}

type Handler = (this: MlflowContractServer, args: any, bytes: number) => unknown;
const P = MlflowContractServer.prototype;
const ROUTES: Record<string, { methods: string[]; handler: Handler }> = {
  'experiments/create': { methods: ['POST'], handler: P.createExperiment },
  'experiments/get': { methods: ['GET'], handler: P.getExperiment },
  'experiments/get-by-name': { methods: ['GET'], handler: P.getExperimentByName },
  'experiments/search': { methods: ['GET', 'POST'], handler: P.searchExperiments },
  'experiments/delete': { methods: ['POST'], handler: P.deleteExperiment },
  'runs/create': { methods: ['POST'], handler: P.createRun },
  'runs/get': { methods: ['GET'], handler: P.getRun },
  'runs/search': { methods: ['POST'], handler: P.searchRuns },
  'runs/log-batch': { methods: ['POST'], handler: P.logBatch },
  'runs/log-metric': { methods: ['POST'], handler: P.logMetric },
  'runs/log-parameter': { methods: ['POST'], handler: P.logParameter },
  'runs/set-tag': { methods: ['POST'], handler: P.setTag },
  'runs/update': { methods: ['POST'], handler: P.updateRun },
  'runs/delete': { methods: ['POST'], handler: P.deleteRun },
  'runs/restore': { methods: ['POST'], handler: P.restoreRun },
  'metrics/get-history': { methods: ['GET'], handler: P.getMetricHistory },
  'artifacts/list': { methods: ['GET'], handler: P.listRunArtifacts },
};

// -- helpers -------------------------------------------------------------------------------------

function routeOf(path: string): string {
  if (path.startsWith(ART + '/')) return ART;
  if (path.startsWith(MPU)) return MPU.replace(/\/$/, '');
  return path;
}

function statusTitle(s: number): string {
  return ({ 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 401: 'Unauthorized', 403: 'Forbidden' } as Record<number, string>)[s] ?? 'Error';
}

function missing(name: string): ApiError {
  return new ApiError(400, 'INVALID_PARAMETER_VALUE', `Missing value for required parameter '${name}'. See the API docs for more information about request parameters.`);
}

function requireString(a: any, name: string): string {
  const v = a?.[name];
  if (v === undefined || v === null || v === '') throw missing(name);
  return String(v);
}

function checkName(kind: string, key: unknown): void {
  if (typeof key !== 'string' || !NAME_RE.test(key) || key.length > 250) {
    throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid ${kind} name: '${String(key)}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).`);
  }
}

function checkTag(t: any): void {
  checkName('tag', t?.key);
  const v = String(t.value ?? '');
  if (v.length > 5000) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Tag value '${v.slice(0, 20)}...' had length ${v.length}, which exceeded length limit of 5000`);
}

function changedParam(key: string, old: string, value: string, runId: string): ApiError {
  return new ApiError(400, 'INVALID_PARAMETER_VALUE', `Changing param values is not allowed. Param with key='${key}' was already logged with value='${old}' for run ID='${runId}'. Attempted logging new value '${value}'.`);
}

function tagList(x: unknown): Tag[] {
  return Array.isArray(x) ? x.map((t: any) => ({ key: String(t.key), value: String(t.value ?? '') })) : [];
}

function hasRow(run: Run, m: any): boolean {
  return (run.history.get(m.key) ?? []).some((r) => r.step === Number(m.step ?? 0) && r.timestamp === Number(m.timestamp) && r.value === m.value);
}

/** A row identical in key, step, timestamp and value is not stored twice (the metrics table's primary key); any other difference appends. */
function appendMetric(run: Run, m: Metric): void {
  let h = run.history.get(m.key);
  if (!h) run.history.set(m.key, (h = []));
  if (!h.some((r) => r.step === m.step && r.timestamp === m.timestamp && r.value === m.value)) h.push(m);
}

function expView(e: Experiment): Record<string, unknown> {
  const { tags, ...rest } = e;
  return tags.length ? { ...rest, tags } : rest;
}

function runView(r: Run, full: boolean): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const latest: Metric[] = [];
  for (const h of r.history.values()) {
    // MLflow's latest value: the highest step, then the latest timestamp, then the largest value.
    latest.push(h.reduce((a, b) => (b.step > a.step || (b.step === a.step && (b.timestamp > a.timestamp || (b.timestamp === a.timestamp && b.value > a.value))) ? b : a)));
  }
  if (latest.length) data.metrics = latest.map((m) => ({ ...m }));
  if (r.params.size) data.params = [...r.params].map(([key, value]) => ({ key, value }));
  if (r.tags.size) data.tags = [...r.tags].map(([key, value]) => ({ key, value }));
  const out: Record<string, unknown> = { info: { ...r.info }, data };
  if (full) out.inputs = {};
  return out;
}

function encodeToken(offset: number): string {
  return Buffer.from(`{"offset": ${offset}}`).toString('base64');
}

function decodeToken(t: unknown): number {
  try {
    const o = JSON.parse(Buffer.from(String(t), 'base64').toString('utf8'));
    if (Number.isInteger(o.offset) && o.offset >= 0) return o.offset;
  } catch {
    // fall through
  }
  throw new ApiError(400, 'INVALID_PARAMETER_VALUE', 'Invalid page token, could not base64-decode');
}

/** MLflow's search grammar, the part tests use: `<entity>.<key> <op> <value>` joined by AND. */
function parseFilter(filter: string): ((r: Run) => boolean)[] {
  const bad = () => new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${filter}'. Could not be parsed.`);
  const clauses: ((r: Run) => boolean)[] = [];
  let s = filter.trim();
  while (s.length) {
    const m = /^(attributes|attribute|attr|run|tags|tag|params|param|parameters|parameter|metrics|metric)\.(`[^`]+`|"[^"]+"|[\w.]+)\s*(!=|<=|>=|=|<|>|\bLIKE\b|\bILIKE\b)\s*('[^']*'|"[^"]*"|-?\d+(?:\.\d+)?)\s*/i.exec(s);
    if (!m) throw bad();
    const entity = m[1].toLowerCase();
    const key = m[2].replace(/^[`"]|[`"]$/g, '');
    const op = m[3].toUpperCase();
    const rawValue = m[4];
    const isString = /^['"]/.test(rawValue);
    const value = isString ? rawValue.slice(1, -1) : Number(rawValue);
    const get = (r: Run): string | number | undefined => {
      if (entity.startsWith('tag')) return r.tags.get(key);
      if (entity.startsWith('param')) return r.params.get(key);
      if (entity.startsWith('metric')) {
        const h = r.history.get(key);
        return h?.length ? h[h.length - 1].value : undefined;
      }
      return (r.info as unknown as Record<string, string | number>)[key === 'run_name' ? 'run_name' : key];
    };
    clauses.push((r) => {
      const v = get(r);
      if (v === undefined) return false;
      switch (op) {
        case '=':
          return v === value || String(v) === String(value);
        case '!=':
          return String(v) !== String(value);
        case 'LIKE':
        case 'ILIKE': {
          const re = new RegExp('^' + String(value).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.') + '$', op === 'ILIKE' ? 'i' : '');
          return re.test(String(v));
        }
        default: {
          const a = Number(v);
          const b = Number(value);
          return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
        }
      }
    });
    s = s.slice(m[0].length);
    if (!s.length) break;
    const and = /^and\s+/i.exec(s);
    if (!and) throw bad();
    s = s.slice(and[0].length);
  }
  return clauses;
}

// -- targets for the MLflow tests ------------------------------------------------------------------

export interface MlflowTarget {
  name: 'contract' | 'live';
  live: boolean;
}

/** The contract server always; a live MLflow too when MLFLOW_TRACKING_URI is set. */
/**
 * The servers a suite runs against: always the contract server; and a real MLflow, the one in
 * MLFLOW_TRACKING_URI or else one this process starts from the provisioned binary
 * (test/live/servers.ts). Without either, `liveMlflowMissing()` says why (and fails in CI).
 */
export function mlflowTargets(env: NodeJS.ProcessEnv = process.env): MlflowTarget[] {
  const live = !!env.MLFLOW_TRACKING_URI || !!findLiveBinary('mlflow', env);
  return [{ name: 'contract', live: false }, ...(live ? [{ name: 'live' as const, live: true }] : [])];
}

/** Registers the test that says the live MLflow suite did not run: skipped, or failed under GANTRY_LIVE=require. */
export function liveMlflowMissing(what: string): void {
  if (mlflowTargets().some((t) => t.live)) return;
  const why = `${missingServer('mlflow')}, or set MLFLOW_TRACKING_URI: ${what} ran against the contract server only`;
  if (liveRequired()) {
    test('a live MLflow server', () => {
      throw new Error(`GANTRY_LIVE=require, but ${why.replace(/^skipped: /, '')}`);
    });
  } else test('a live MLflow server', { skip: why }, () => {});
}

let started: Promise<MlflowServer> | undefined;

/** One real MLflow server per test process, started on first use and killed when the process exits. */
export function sharedMlflowServer(): Promise<MlflowServer> {
  started ??= startMlflow().then((s) => {
    if (!s) throw new Error(missingServer('mlflow'));
    process.stdout.write(`mlflow: real server ${s.version} at ${s.url}\n`);
    // Not stopped by any one test: it must neither keep the process alive nor outlive it.
    s.process.unref();
    process.once('exit', () => s.process.signal('SIGKILL'));
    return s;
  });
  return started;
}

/** The tracking URI of the live target: MLFLOW_TRACKING_URI, or the shared server started here. */
export async function liveTrackingUri(env: NodeJS.ProcessEnv = process.env): Promise<MlflowConfig> {
  const fromEnv = mlflowConfigFromEnv(env);
  if (fromEnv) return fromEnv;
  return { trackingUri: (await sharedMlflowServer()).url };
}

/**
 * A server for one target and the client config that reaches it. A live server is reached through
 * a forwarding MlflowContractServer, so stop/start and the fault controls work in front of it.
 */
export async function openTarget(t: MlflowTarget, opts: ContractServerOptions = {}): Promise<{ server: MlflowContractServer; config: MlflowConfig }> {
  if (!t.live) {
    const server = await MlflowContractServer.create(opts);
    return { server, config: { trackingUri: server.url } };
  }
  const live = await liveTrackingUri();
  const server = await MlflowContractServer.create({ upstream: live.trackingUri, insecureUpstream: live.insecureTls });
  return { server, config: { ...live, trackingUri: server.url, insecureTls: false } };
}
