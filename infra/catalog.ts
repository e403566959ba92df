/**
 * The catalog: a DuckDB database indexing everything in the store — studies, trials, params,
 * metrics, steps, lineage, artifacts and per-sample scores — for users to query with SQL.
 * It is an index, never the source of truth: `gantry catalog rebuild` recreates it from the store.
 * DuckDB allows one writer: writers open it briefly per trial, so queries can run in between.
 */
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DuckDBInstance, DuckDBTimestampValue, StatementType, type DuckDBConnection, type DuckDBAppender, type DuckDBResult } from '@duckdb/node-api';
import { EnvironmentError, UserError, isEnvironmentError, isUserError } from '../core/errors.js';

// 2: scores.split; removed_items, sample_sources and the scored_samples view (item datasets). Additive: version-1 catalogs migrate in place.
// 3: launches, launch_trials, the latest_launch view; trial_summary and cell_summary gain profile and overrides. Additive too.
export const CATALOG_SCHEMA_VERSION = 3;

const DDL = `
CREATE TABLE IF NOT EXISTS gantry_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS studies (
  study VARCHAR PRIMARY KEY, version INTEGER, description VARCHAR, profile VARCHAR,
  axes VARCHAR[], seeds INTEGER[], store VARCHAR, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS trials (
  trial_id VARCHAR PRIMARY KEY, study VARCHAR, cell_id VARCHAR, cell VARCHAR, seed INTEGER,
  model VARCHAR, dataset VARCHAR, status VARCHAR, backend VARCHAR, error VARCHAR,
  config JSON, created_at TIMESTAMP, finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS params (
  trial_id VARCHAR, key VARCHAR, value VARCHAR, value_num DOUBLE, is_axis BOOLEAN);
CREATE TABLE IF NOT EXISTS metrics (
  trial_id VARCHAR, name VARCHAR, step BIGINT, value DOUBLE, time TIMESTAMP);
CREATE TABLE IF NOT EXISTS steps (
  step_key VARCHAR PRIMARY KEY, kind VARCHAR, version INTEGER, status VARCHAR, attempt INTEGER,
  reason VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, duration_ms DOUBLE,
  resumed_from BIGINT, error VARCHAR, params JSON);
CREATE TABLE IF NOT EXISTS trial_steps (trial_id VARCHAR, position INTEGER, kind VARCHAR, step_key VARCHAR);
CREATE TABLE IF NOT EXISTS lineage (step_key VARCHAR, input_name VARCHAR, input_key VARCHAR);
CREATE TABLE IF NOT EXISTS artifacts (step_key VARCHAR, name VARCHAR, key VARCHAR, sha256 VARCHAR, size_bytes BIGINT);
CREATE TABLE IF NOT EXISTS scores (trial_id VARCHAR, score_set VARCHAR, sample INTEGER, value DOUBLE, label UTINYINT, split VARCHAR);
ALTER TABLE scores ADD COLUMN IF NOT EXISTS split VARCHAR;
CREATE TABLE IF NOT EXISTS removed_items (step_key VARCHAR, rel VARCHAR, removed_by VARCHAR, filter VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS sample_sources (
  step_key VARCHAR, sample INTEGER, item INTEGER, rel VARCHAR, sha256 VARCHAR, class VARCHAR, y INTEGER, x INTEGER, label UTINYINT);
CREATE TABLE IF NOT EXISTS launches (
  launch_id VARCHAR PRIMARY KEY, study VARCHAR, profile VARCHAR, overrides JSON, started_at TIMESTAMP,
  gantry_version VARCHAR, git_commit VARCHAR, executor VARCHAR, trials INTEGER, grid_id VARCHAR);
CREATE TABLE IF NOT EXISTS launch_trials (launch_id VARCHAR, trial_id VARCHAR);

-- The newest launch that included each trial: how it was last run (profile, --set overrides).
CREATE OR REPLACE VIEW latest_launch AS
  SELECT lt.trial_id, l.launch_id, l.profile, l.overrides, l.started_at
  FROM launch_trials lt JOIN launches l USING (launch_id)
  QUALIFY row_number() OVER (PARTITION BY lt.trial_id ORDER BY l.started_at DESC, l.launch_id DESC) = 1;

CREATE OR REPLACE VIEW scored_samples AS
  SELECT s.trial_id, s.score_set, s.sample, s.value, s.label, s.split, l.item, l.rel, l.sha256, l.class, l.y, l.x
  FROM scores s
  JOIN trial_steps ts ON ts.trial_id = s.trial_id AND ts.kind = 'extract'
  JOIN sample_sources l ON l.step_key = ts.step_key AND l.sample = s.sample;

CREATE OR REPLACE VIEW final_metrics AS
  SELECT trial_id, name, arg_max(value, step) AS value, max(step) AS step
  FROM metrics GROUP BY trial_id, name;
CREATE OR REPLACE VIEW trial_summary AS
  SELECT t.study, t.trial_id, t.cell_id, t.cell, t.seed, t.model, t.status, t.backend,
         max(f.value) FILTER (WHERE f.name = 'auc') AS auc,
         max(f.value) FILTER (WHERE f.name = 'logauc') AS logauc,
         max(f.value) FILTER (WHERE f.name = 'image_auc') AS image_auc,
         t.finished_at, ll.profile, ll.overrides
  FROM trials t LEFT JOIN final_metrics f USING (trial_id) LEFT JOIN latest_launch ll USING (trial_id)
  GROUP BY ALL;
-- Grouped by profile and overrides too: re-runs of a cell under other settings are rows of their own.
CREATE OR REPLACE VIEW cell_summary AS
  SELECT study, cell_id, cell, model, count(*) AS seeds,
         avg(auc) AS auc_mean, stddev_samp(auc) AS auc_std,
         avg(logauc) AS logauc_mean, stddev_samp(logauc) AS logauc_std,
         avg(image_auc) AS image_auc_mean, stddev_samp(image_auc) AS image_auc_std,
         profile, overrides
  FROM trial_summary WHERE status = 'done'
  GROUP BY study, cell_id, cell, model, profile, overrides;
`;

export interface StudyRow {
  study: string;
  version: number;
  description: string;
  profile: string | null;
  axes: string[];
  seeds: number[];
  store: string;
}

export interface LaunchRow {
  launchId: string;
  gridId: string;
  study: string;
  profile: string | null;
  overrides: Record<string, unknown>;
  startedAt: string;
  gantryVersion: string;
  gitCommit: string | null;
  executor: string;
  trials: number;
}

export interface TrialRows {
  trial: {
    trialId: string;
    study: string;
    cellId: string;
    cell: string;
    seed: number;
    model: string;
    dataset: string;
    status: string;
    backend: string | null;
    error: string | null;
    config: unknown;
    createdAt: string;
    finishedAt: string | null;
  };
  params: { key: string; value: string; valueNum: number | null; isAxis: boolean }[];
  metrics: { name: string; step: number; value: number; time: number | null }[];
  steps: {
    key: string;
    kind: string;
    version: number;
    status: string;
    attempt: number;
    reason: string;
    startedAt: string;
    finishedAt: string | null;
    durationMs: number | null;
    resumedFrom: number | null;
    error: string | null;
    params: unknown;
    inputs: Record<string, string>;
    artifacts: Record<string, { key: string; sha256: string; size: number }>;
  }[];
  scores: { set: string; values: Float64Array; labels: Uint8Array; splits?: (string | null)[] }[];
  /** Items a step left out, with why (screen steps). */
  removed?: { step: string; rel: string; removedBy: string; filter: string; reason: string }[];
  /** Where each sample of an extract step comes from. */
  sources?: { step: string; item: Int32Array; coords?: Int32Array; labels: Uint8Array; itemRel: string[]; itemSha: string[]; itemCls: string[] }[];
}

export class Catalog {
  private constructor(private readonly instance: DuckDBInstance, readonly conn: DuckDBConnection, readonly path: string) {}

  /**
   * Open for writing, creating the schema if needed. Waits briefly if another writer holds it.
   * A catalog that cannot be written (read-only, no space, no permission) fails here, before any
   * work, as an EnvironmentError naming it: opening commits the schema.
   */
  static async open(path: string): Promise<Catalog> {
    await mkdir(dirname(path), { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOTDIR' || e.code === 'EEXIST') {
        throw new UserError(`the catalog's folder ${dirname(path)} cannot be made: part of that path is a file`, { hint: 'set GANTRY_CATALOG (or GANTRY_HOME) to a path in a folder' });
      }
      const f = fileFault(e);
      if (!f) throw e;
      throw new EnvironmentError(`cannot create the catalog's folder ${dirname(path)}: ${f.what}`, {
        hint: f.kind === 'access' ? 'make its parent writable, or set GANTRY_CATALOG to a writable path' : `free space there, or set GANTRY_CATALOG to a path on another disk`,
        cause: e,
      });
    });
    const instance = await withLockRetry(path, () => DuckDBInstance.create(path)).catch((e) => {
      throw catalogFault(path, e);
    });
    try {
      const conn = await instance.connect();
      const cat = new Catalog(instance, conn, path);
      await conn.run(DDL);
      await conn.run(`INSERT OR REPLACE INTO gantry_meta VALUES ('schema_version', '${CATALOG_SCHEMA_VERSION}')`);
      return cat;
    } catch (e) {
      instance.closeSync();
      throw catalogFault(path, e);
    }
  }

  /** Open read-only: the connection `gantry query` uses, so a query can never change the catalog. */
  static async openReadOnly(path: string): Promise<Catalog> {
    const instance = await withLockRetry(path, () => DuckDBInstance.create(path, { access_mode: 'READ_ONLY' })).catch((e) => {
      const fault = catalogFault(path, e, 'read');
      if (fault !== e) throw fault;
      if (/does not exist|No such file|Cannot open/i.test(String(e))) {
        throw new UserError(`no catalog at ${path}`, { hint: "run a study first, or 'gantry catalog rebuild'" });
      }
      throw e;
    });
    return new Catalog(instance, await instance.connect(), path);
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }

  async upsertStudy(s: StudyRow): Promise<void> {
    await this.conn.run(
      `INSERT OR REPLACE INTO studies VALUES ($study, $version, $description, $profile, $axes::VARCHAR[], $seeds::INTEGER[], $store, now()::TIMESTAMP)`,
      { study: s.study, version: s.version, description: s.description, profile: s.profile, axes: JSON.stringify(s.axes), seeds: JSON.stringify(s.seeds), store: s.store },
    ).catch((e) => {
      throw catalogFault(this.path, e);
    });
  }

  /** The launches the catalog holds (their documents never change, so these need no re-recording). */
  async launchIds(): Promise<Set<string>> {
    return new Set((await this.query('SELECT launch_id FROM launches')).rows.map((r) => String(r[0])));
  }

  /** A launch and its trials, in one transaction, replacing any earlier rows of it. */
  async insertLaunch(l: LaunchRow, trialIds: readonly string[]): Promise<void> {
    await this.conn.run('BEGIN TRANSACTION');
    try {
      for (const t of ['launches', 'launch_trials']) await this.conn.run(`DELETE FROM ${t} WHERE launch_id = $id`, { id: l.launchId });
      await this.conn.run(
        `INSERT INTO launches (launch_id, study, profile, overrides, started_at, gantry_version, git_commit, executor, trials, grid_id)
         VALUES ($id, $study, $profile, $overrides::JSON, $startedAt::TIMESTAMP, $version, $commit, $executor, $trials, $grid)`,
        { id: l.launchId, study: l.study, profile: l.profile, overrides: JSON.stringify(l.overrides), startedAt: l.startedAt, version: l.gantryVersion, commit: l.gitCommit, executor: l.executor, trials: l.trials, grid: l.gridId },
      );
      await this.append('launch_trials', [...trialIds], (a, id) => {
        a.appendVarchar(l.launchId);
        a.appendVarchar(id);
      });
      await this.conn.run('COMMIT');
    } catch (e) {
      await this.conn.run('ROLLBACK').catch(() => {});
      throw catalogFault(this.path, e);
    }
  }

  /** Drop the rows of steps gone from the store (`gantry gc`); rows of trials that still list them stay. */
  async forgetSteps(keys: readonly string[]): Promise<void> {
    if (!keys.length) return;
    const list = keys.map((k) => `'${k.replace(/'/g, "''")}'`).join(',');
    await this.conn.run('BEGIN TRANSACTION');
    try {
      for (const t of ['steps', 'lineage', 'artifacts', 'removed_items', 'sample_sources']) {
        await this.conn.run(`DELETE FROM ${t} WHERE step_key IN (${list}) AND step_key NOT IN (SELECT step_key FROM trial_steps)`);
      }
      await this.conn.run('COMMIT');
    } catch (e) {
      await this.conn.run('ROLLBACK').catch(() => {});
      throw catalogFault(this.path, e);
    }
  }

  /** Replace every row of one trial in one transaction: re-recording a trial never duplicates rows. */
  async replaceTrial(rows: TrialRows): Promise<void> {
    const id = rows.trial.trialId;
    const stepKeys = rows.steps.map((s) => s.key);
    await this.conn.run('BEGIN TRANSACTION');
    try {
      for (const t of ['trials', 'params', 'metrics', 'trial_steps', 'scores']) await this.conn.run(`DELETE FROM ${t} WHERE trial_id = $id`, { id });
      if (stepKeys.length) {
        const list = stepKeys.map((k) => `'${k.replace(/'/g, "''")}'`).join(',');
        for (const t of ['steps', 'lineage', 'artifacts', 'removed_items', 'sample_sources']) await this.conn.run(`DELETE FROM ${t} WHERE step_key IN (${list})`);
      }
      const t = rows.trial;
      await this.conn.run(
        `INSERT INTO trials VALUES ($id, $study, $cellId, $cell, $seed, $model, $dataset, $status, $backend, $error, $config::JSON, $createdAt::TIMESTAMP, $finishedAt::TIMESTAMP)`,
        { id, study: t.study, cellId: t.cellId, cell: t.cell, seed: t.seed, model: t.model, dataset: t.dataset, status: t.status, backend: t.backend, error: t.error, config: JSON.stringify(t.config), createdAt: t.createdAt, finishedAt: t.finishedAt },
      );
      await this.append('params', rows.params, (a, p) => {
        a.appendVarchar(id);
        a.appendVarchar(p.key);
        a.appendVarchar(p.value);
        if (p.valueNum === null) a.appendNull();
        else a.appendDouble(p.valueNum);
        a.appendBoolean(p.isAxis);
      });
      await this.appendMetrics(id, rows.metrics);
      await this.append('trial_steps', rows.steps, (a, s, i) => {
        a.appendVarchar(id);
        a.appendInteger(i);
        a.appendVarchar(s.kind);
        a.appendVarchar(s.key);
      });
      await this.append('steps', rows.steps, (a, s) => {
        a.appendVarchar(s.key);
        a.appendVarchar(s.kind);
        a.appendInteger(s.version);
        a.appendVarchar(s.status);
        a.appendInteger(s.attempt);
        a.appendVarchar(s.reason);
        appendTs(a, Date.parse(s.startedAt));
        appendTs(a, s.finishedAt ? Date.parse(s.finishedAt) : null);
        nullable(a, s.durationMs, (v) => a.appendDouble(v));
        nullable(a, s.resumedFrom, (v) => a.appendBigInt(BigInt(v)));
        nullable(a, s.error, (v) => a.appendVarchar(v));
        a.appendVarchar(JSON.stringify(s.params));
      });
      const lineage = rows.steps.flatMap((s) => Object.entries(s.inputs).map(([name, key]) => ({ step: s.key, name, key })));
      await this.append('lineage', lineage, (a, l) => {
        a.appendVarchar(l.step);
        a.appendVarchar(l.name);
        a.appendVarchar(l.key);
      });
      const artifacts = rows.steps.flatMap((s) => Object.entries(s.artifacts).map(([name, r]) => ({ step: s.key, name, ...r })));
      await this.append('artifacts', artifacts, (a, r) => {
        a.appendVarchar(r.step);
        a.appendVarchar(r.name);
        a.appendVarchar(r.key);
        a.appendVarchar(r.sha256);
        a.appendBigInt(BigInt(r.size));
      });
      for (const s of rows.scores) {
        const appender = await this.conn.createAppender('scores');
        for (let i = 0; i < s.values.length; i++) {
          appender.appendVarchar(id);
          appender.appendVarchar(s.set);
          appender.appendInteger(i);
          appender.appendDouble(s.values[i]);
          appender.appendUTinyInt(s.labels[i]);
          const split = s.splits?.[i];
          if (split == null) appender.appendNull();
          else appender.appendVarchar(split);
          appender.endRow();
        }
        appender.closeSync();
      }
      await this.append('removed_items', rows.removed ?? [], (a, r) => {
        a.appendVarchar(r.step);
        a.appendVarchar(r.rel);
        a.appendVarchar(r.removedBy);
        a.appendVarchar(r.filter);
        a.appendVarchar(r.reason);
      });
      for (const src of rows.sources ?? []) {
        const a = await this.conn.createAppender('sample_sources');
        for (let i = 0; i < src.item.length; i++) {
          const g = src.item[i];
          a.appendVarchar(src.step);
          a.appendInteger(i);
          a.appendInteger(g);
          a.appendVarchar(src.itemRel[g]);
          a.appendVarchar(src.itemSha[g]);
          a.appendVarchar(src.itemCls[g]);
          if (src.coords) {
            a.appendInteger(src.coords[2 * i]);
            a.appendInteger(src.coords[2 * i + 1]);
          } else {
            a.appendNull();
            a.appendNull();
          }
          a.appendUTinyInt(src.labels[i]);
          a.endRow();
        }
        a.closeSync();
      }
      await this.conn.run('COMMIT');
    } catch (e) {
      // A failed COMMIT (a full disk) has already rolled back: the trial's old rows stand.
      await this.conn.run('ROLLBACK').catch(() => {});
      throw catalogFault(this.path, e);
    }
  }

  /** Bulk metric ingestion through DuckDB's Appender (never row-by-row INSERT). */
  async appendMetrics(trialId: string, points: { name: string; step: number; value: number; time: number | null }[]): Promise<void> {
    await this.append('metrics', points, (a, p) => {
      a.appendVarchar(trialId);
      a.appendVarchar(p.name);
      a.appendBigInt(BigInt(p.step));
      a.appendDouble(p.value);
      appendTs(a, p.time);
    });
  }

  private async append<T>(table: string, items: T[], row: (a: DuckDBAppender, item: T, i: number) => void): Promise<void> {
    if (!items.length) return;
    const a = await this.conn.createAppender(table);
    items.forEach((it, i) => {
      row(a, it, i);
      a.endRow();
    });
    a.closeSync();
  }

  /** Run SQL and return column names and rows of JS values. */
  async query(sql: string): Promise<{ columns: string[]; rows: unknown[][] }> {
    const reader = await this.conn.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRowsJS() as unknown[][] };
  }

  /**
   * A user's SQL (`gantry query`): one SELECT (or EXPLAIN) and nothing else. The connection
   * cannot touch files or the network (no COPY … TO, read_csv('/etc/passwd'), INSTALL, ATTACH)
   * and its settings are locked, so the read-only path really only reads the catalog.
   */
  async userQuery(sql: string): Promise<{ columns: string[]; rows: unknown[][] }> {
    const reader = await (await this.prepareUserQuery(sql)).runAndReadAll();
    return { columns: reader.columnNames(), rows: reader.getRowsJS() as unknown[][] };
  }

  /**
   * `userQuery`, streamed: the column names at once, then the rows a DuckDB chunk (2,048 rows)
   * at a time as they are produced, so a result of any size goes out in bounded memory.
   */
  async userQueryStream(sql: string): Promise<{ columns: string[]; chunks: AsyncIterable<unknown[][]> }> {
    const result = await (await this.prepareUserQuery(sql)).stream();
    return { columns: result.columnNames(), chunks: result.yieldRowsJs() as AsyncIterable<unknown[][]> };
  }

  /** `userQuery` as DuckDB streams it: its column types and raw chunks (`gantry query --format parquet` copies them). */
  async userQueryResult(sql: string): Promise<DuckDBResult> {
    return (await this.prepareUserQuery(sql)).stream();
  }

  private async prepareUserQuery(sql: string) {
    if (!this.sandboxed) {
      await this.conn.run('SET enable_external_access = false');
      await this.conn.run('SET lock_configuration = true');
      this.sandboxed = true;
    }
    const statements = await this.conn.extractStatements(sql);
    if (statements.count !== 1) throw new UserError(`gantry query runs one statement, got ${statements.count}`);
    const prepared = await statements.prepare(0);
    const type = prepared.statementType;
    if (type !== StatementType.SELECT && type !== StatementType.EXPLAIN) {
      throw new UserError(`gantry query only reads: ${StatementType[type] ?? 'this'} statements are refused on the read-only catalog`, { hint: 'write a SELECT' });
    }
    return prepared;
  }
  private sandboxed = false;
}

function nullable<T>(a: DuckDBAppender, v: T | null | undefined, put: (v: T) => void): void {
  if (v === null || v === undefined) a.appendNull();
  else put(v);
}

function appendTs(a: DuckDBAppender, ms: number | null | undefined): void {
  if (ms === null || ms === undefined || Number.isNaN(ms)) a.appendNull();
  else a.appendTimestamp(new DuckDBTimestampValue(BigInt(Math.round(ms)) * 1000n));
}

/**
 * DuckDB refuses a second process while one writes; writers hold it briefly, so wait a little.
 * Past the wait it is the machine's state, not the input: an EnvironmentError (exit 1).
 */
async function withLockRetry<T>(path: string, open: () => Promise<T>, waitMs = 15_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await open();
    } catch (e) {
      const msg = String(e);
      // "\block" so that a corrupt file's "block …" is not taken for a lock held elsewhere.
      if (/Could not set lock/i.test(msg) && /not implemented|not supported|no locks available/i.test(msg)) {
        throw new EnvironmentError(`the file system holding the catalog ${path} does not support file locks`, { hint: 'set GANTRY_CATALOG to a path on a local disk', cause: e });
      }
      const locked = /\block\b/i.test(msg);
      if (!locked || Date.now() > deadline) {
        if (locked) throw new EnvironmentError(`catalog ${path} is locked by another process`, { hint: 'wait for it to finish (a gantry run or worker writing it), then retry' });
        if (/corrupt|not a valid duckdb|invalid database/i.test(msg)) {
          throw new UserError(`catalog ${path} is corrupt (${msg.split('\n')[0].slice(0, 160)})`, { hint: "the store holds everything: move the file away and run 'gantry catalog rebuild'" });
        }
        throw e;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** What a failed file operation says went wrong, when it is the machine's fault: from Node's code or DuckDB's message. */
const FAULTS: { codes: string[]; text: RegExp; what: string; kind: 'space' | 'limit' | 'access' }[] = [
  { codes: ['ENOSPC'], text: /No space left on device/i, what: 'no space left on device', kind: 'space' },
  { codes: ['EDQUOT'], text: /Disk quota exceeded/i, what: 'disk quota exceeded', kind: 'space' },
  { codes: ['EFBIG'], text: /File too large/i, what: 'file too large', kind: 'limit' },
  { codes: ['EROFS'], text: /Read-only file system/i, what: 'read-only file system', kind: 'access' },
  { codes: ['EACCES'], text: /Permission denied/i, what: 'permission denied', kind: 'access' },
  { codes: ['EPERM'], text: /Operation not permitted/i, what: 'operation not permitted', kind: 'access' },
];

/** The machine's fault behind a failed file operation (Node's error code, or DuckDB's text for it), if that is what it was. */
export function fileFault(e: unknown): { what: string; kind: 'space' | 'limit' | 'access' } | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  return FAULTS.find((x) => (code !== undefined && x.codes.includes(code)) || x.text.test(msg));
}

/**
 * A failure on the catalog's file as the user should see it: the machine's faults (a read-only
 * file or folder, no permission, a full disk, a file-size limit) as one EnvironmentError line that
 * names the path and what to do; anything else as it was. DuckDB reports these as text ("IO
 * Error: Cannot open file …: Permission denied", "TransactionContext Error: Failed to commit:
 * Could not write file … No space left on device"), Node as error codes.
 */
export function catalogFault(path: string, e: unknown, access: 'read' | 'write' = 'write'): unknown {
  if (isUserError(e) || isEnvironmentError(e)) return e;
  const f = fileFault(e);
  if (!f) return e;
  const dir = dirname(path);
  const hint =
    f.kind === 'space' ? `free space on the disk holding ${dir}, or set GANTRY_CATALOG to a path on another disk; the store keeps every result, so running again records them`
    : f.kind === 'limit' ? `raise the file-size limit (ulimit -f), or set GANTRY_CATALOG to a path on another file system`
    : access === 'read' ? `make it readable, or set GANTRY_CATALOG to another catalog`
    : `make it and ${dir} writable, or set GANTRY_CATALOG to a writable path`;
  return new EnvironmentError(`cannot ${access} the catalog ${path}: ${f.what}`, { hint, cause: e });
}

/** Delete the catalog file (and its WAL), for rebuild. */
export async function removeCatalog(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(path + '.wal', { force: true });
}
