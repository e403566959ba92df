/**
 * `gantry query`: read-only SQL on the catalog, streamed. Rows come from DuckDB a chunk at a
 * time and go to stdout as they come (waiting for stdout to drain), so csv and json hold one
 * chunk in memory whatever the result's size, and a table its first rows (for the widths).
 * Before, the whole result was materialised as JS values and then rendered as one string: a
 * million rows took 1–3 GB, and an output over V8's string limit (512 MiB, e.g. 2M rows of a few
 * hashes in json) died with "Invalid string length".
 *
 * A table shows its first TABLE_ROW_LIMIT rows unless asked for more (`--limit`), and reading
 * stops there: DuckDB's stream is lazy, so the rest of the result is never computed. Parquet goes
 * to a file (`--out`) through a second DuckDB that gantry alone drives (see writeParquet).
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DuckDBInstance, type DuckDBResult } from '@duckdb/node-api';
import { loadConfig } from '../infra/config.js';
import { Catalog, fileFault } from '../infra/catalog.js';
import { EnvironmentError, isEnvironmentError, isUserError, UserError } from '../core/errors.js';
import { MAX_COLUMN_WIDTH as MAX_WIDTH, cellText, csvEscape, csvLine, jsonRows, tableRule, tableWidths, type Format } from './format.js';

/** Table columns are as wide as their widest value among this many first rows (and the header). */
export const TABLE_SIZING_ROWS = 10_000;

/** Rows a table shows unless --limit says otherwise: a terminal's worth and then some, not 10⁶ lines to scroll. */
export const TABLE_ROW_LIMIT = 1_000;

type QueryFormat = Format | 'parquet';

function rowLimit(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of rows (0 for all)');
  return n;
}

const count = (n: number) => n.toLocaleString('en');

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description('run read-only SQL on the catalog (tables: studies, trials, params, metrics, steps, trial_steps, lineage, artifacts, scores, removed_items, sample_sources, launches, launch_trials; views: final_metrics, trial_summary, cell_summary, scored_samples, latest_launch)')
    .argument('<sql>', 'the SQL statement')
    .addOption(new Option('-f, --format <format>', 'output format (parquet needs --out)').choices(['table', 'csv', 'json', 'parquet']).default('table'))
    .option('--limit <n>', `at most this many rows; 0 for all (default: ${count(TABLE_ROW_LIMIT)} for table, all for csv, json and parquet)`, rowLimit)
    .option('-o, --out <file>', 'the file --format parquet writes (replaced whole once written)')
    .addHelpText(
      'after',
      `
Rows are written as DuckDB produces them, a chunk at a time, so results of millions of rows
print in bounded memory in every format.
table: the first ${count(TABLE_ROW_LIMIT)} rows unless --limit says otherwise (a note on stderr says when there
were more; the rest is never computed). Each column is as wide as its widest value among the first
${count(TABLE_SIZING_ROWS)} rows (${MAX_WIDTH} characters at most); a wider value after those is printed whole (up to
${MAX_WIDTH} characters) and pushes the rest of its row to the right, with a note on stderr.
csv, json: every row, to stdout. parquet: every row, to the file --out names.
For many rows, or for another program, use csv, json or parquet.`,
    )
    .action(async (sql: string, o: { format: QueryFormat; limit?: number; out?: string }) => {
      if (o.format === 'parquet' && !o.out) throw new UserError('--format parquet writes a file: name it with --out <file>');
      if (o.out && o.format !== 'parquet') throw new UserError(`--out is for --format parquet; ${o.format} goes to stdout`, { hint: 'redirect it: > file' });
      const limit = o.limit ?? (o.format === 'table' ? TABLE_ROW_LIMIT : 0);
      const cfg = loadConfig();
      const cat = await Catalog.openReadOnly(cfg.catalogPath);
      if (o.format === 'parquet') {
        try {
          const r = await writeParquet(await cat.userQueryResult(sql).catch(queryFailed), o.out!, limit);
          process.stdout.write(`${count(r.rows)} row${r.rows === 1 ? '' : 's'} written to ${resolve(o.out!)}\n`);
          if (r.more) process.stderr.write(`${limitNote(r.rows, r.seen, 'parquet')}\n`);
        } finally {
          cat.close();
        }
        return;
      }
      const sink = new Sink(process.stdout);
      try {
        const r = await cat.userQueryStream(sql).catch(queryFailed);
        const first = firstRows(r.chunks, limit);
        const { overflowRows } = await writeResult(sink, o.format, r.columns, first.chunks).catch(queryFailed);
        if (overflowRows > 0) {
          process.stderr.write(`note: columns were sized from the first ${count(TABLE_SIZING_ROWS)} rows; ${count(overflowRows)} later row${overflowRows === 1 ? ' holds' : 's hold'} wider values, not aligned (--format csv or json for output to read by program)\n`);
        }
        // Not when the reader closed the pipe (| head): it has what it asked for.
        if (first.more && sink.open) process.stderr.write(`${limitNote(first.taken, first.seen, o.format)}\n`);
      } finally {
        sink.release();
        cat.close();
      }
      sink.check();
    });
}

/** Said on stderr when --limit (or the table's default) left rows out: how many, and how to get them all. */
export function limitNote(shown: number, seen: number, format: QueryFormat): string {
  const all = format === 'table' ? '--limit 0 for all, or --format csv|json for every row on stdout, --format parquet --out <file> for a file' : '--limit 0 for all';
  return `(showing ${count(shown)} of at least ${count(seen)} rows; ${all})`;
}

/**
 * The first `limit` rows of a chunk stream (all of it when 0). Reading stops at the first chunk
 * past the limit, so DuckDB computes at most one chunk more than is shown; `more` says whether
 * there were more rows, `seen` how many were read.
 */
export function firstRows(chunks: AsyncIterable<unknown[][]>, limit: number): { chunks: AsyncIterable<unknown[][]>; readonly more: boolean; readonly taken: number; readonly seen: number } {
  const state = { more: false, taken: 0, seen: 0 };
  async function* take(): AsyncIterable<unknown[][]> {
    for await (const chunk of chunks) {
      state.seen += chunk.length;
      const room = limit === 0 ? Infinity : limit - state.taken;
      if (chunk.length > room) {
        state.more = true;
        state.taken += room;
        if (room > 0) yield chunk.slice(0, room);
        return; // ends the DuckDB stream: the rest is never fetched
      }
      state.taken += chunk.length;
      yield chunk;
    }
  }
  return {
    chunks: take(),
    get more() {
      return state.more;
    },
    get taken() {
      return state.taken;
    },
    get seen() {
      return state.seen;
    },
  };
}

/**
 * --format parquet. The user's SQL runs in the sandboxed read-only connection as for every
 * format (no file access, settings locked), so it cannot write files itself. Its result's raw
 * chunks, as DuckDB produced them (no conversion to JS), are appended to a table in a second,
 * trusted DuckDB that runs only gantry's own SQL; that one COPYs the table to parquet. The table
 * is staged in a temp database file beside --out, so memory stays bounded (an in-memory one holds
 * the whole result), and the parquet file is written under a temp name and renamed over --out
 * once whole: a failed or interrupted export leaves no partial file.
 */
export async function writeParquet(result: DuckDBResult, out: string, limit: number): Promise<{ rows: number; seen: number; more: boolean }> {
  const target = resolve(out);
  const dir = dirname(target);
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new UserError(`--out ${out}: folder ${dir} does not exist`);
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new UserError(`--out ${out} is a folder`, { hint: 'name a file, e.g. --out result.parquet' });
  // The export is renamed over --out: never over a device or a pipe (as root, over /dev/full, say).
  if (existing && !existing.isFile()) throw new UserError(`--out ${out} is not a regular file`, { hint: 'name a file, e.g. --out result.parquet' });
  const tag = `.tmp-gantry-query-${randomBytes(6).toString('hex')}`;
  const stage = join(dir, `${tag}.duckdb`);
  const tmp = join(dir, `${tag}.parquet`);
  const names = result.columnNames();
  const types = result.columnTypes();
  let rows = 0;
  let seen = 0;
  let more = false;
  let chunks = 0;
  try {
    // Its buffer pool bounded too: past the limit the staged table lives in the file (and <stage>.tmp/).
    const db = await DuckDBInstance.create(stage, { memory_limit: '256MB' });
    try {
      const conn = await db.connect();
      await conn.run(`CREATE TABLE result (${types.map((t, i) => `c${i} ${t.toString()}`).join(', ')})`).catch((e) => {
        throw new UserError(`cannot write this result as parquet: ${firstLine(e)}`);
      });
      const appender = await conn.createAppender('result');
      for (;;) {
        const chunk = await result.fetchChunk().catch(queryFailed);
        if (!chunk || chunk.rowCount === 0) break;
        seen += chunk.rowCount;
        if (limit && rows + chunk.rowCount > limit) {
          more = true;
          chunk.rowCount = limit - rows;
        }
        if (chunk.rowCount > 0) appender.appendDataChunk(chunk);
        rows += chunk.rowCount;
        chunk.reset(); // its strings go now
        if (++chunks % 64 === 0) collectGarbage();
        if (more) break; // the rest of the result is never computed
      }
      appender.closeSync();
      const select = names.map((n, i) => `c${i} AS "${n.replace(/"/g, '""')}"`).join(', ');
      await conn.run(`COPY (SELECT ${select} FROM result) TO '${tmp.replace(/'/g, "''")}' (FORMAT parquet)`);
      conn.closeSync();
    } finally {
      db.closeSync();
    }
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw outFault(out, e);
  } finally {
    for (const f of [stage, `${stage}.wal`, `${stage}.tmp`]) await rm(f, { force: true, recursive: true }).catch(() => {});
  }
  return { rows, seen, more };
}

let gc: (() => void) | undefined;
/**
 * A spent chunk's vectors are freed only when V8 collects its small JS wrapper, and V8 cannot see
 * their native size: with little JS garbage made, nothing prompts a collection, and 4M rows of
 * scores held 700 MB of spent chunks. So collect every so often (a full GC of a small heap: ms).
 */
function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

/** A write to --out that the machine refused (no space, no permission), as one line naming it. */
function outFault(out: string, e: unknown): unknown {
  if (isUserError(e) || isEnvironmentError(e)) return e;
  const f = fileFault(e);
  const dir = dirname(resolve(out));
  // Any other I/O failure is of the place written to as well (a folder that takes no files, like /proc).
  if (!f) return /^IO Error|^Error: IO Error/.test(firstLine(e)) || (e as NodeJS.ErrnoException)?.code ? new EnvironmentError(`cannot write ${basename(out)} in ${dir}: ${firstLine(e).replace(/^(Error: )?IO Error: /, '')}`, { hint: 'choose another --out', cause: e }) : e;
  const hint = f.kind === 'space' ? `free space on the disk holding ${dir}, or write elsewhere` : f.kind === 'limit' ? 'raise the file-size limit (ulimit -f), or write elsewhere' : `make ${dir} writable, or choose another --out`;
  return new EnvironmentError(`cannot write ${basename(out)} in ${dir}: ${f.what}`, { hint, cause: e });
}

function queryFailed(e: unknown): never {
  if (isUserError(e) || isEnvironmentError(e)) throw e;
  throw new UserError(`query failed: ${firstLine(e)}`);
}

/** stdout went away for a reason other than its reader closing it (a full disk, say). */
class SinkError extends Error {}

/**
 * A writable with backpressure: `write` waits for 'drain' when the stream's buffer is full.
 * When the reader closes the pipe (`gantry query … | head`), writes stop quietly.
 */
export class Sink {
  private error: NodeJS.ErrnoException | undefined;
  private wake: (() => void) | undefined;
  private readonly onError = (e: NodeJS.ErrnoException) => {
    this.error = e;
    this.onDrain();
  };
  private readonly onDrain = () => {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };
  constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', this.onError);
    stream.on('drain', this.onDrain);
  }
  /** False once the stream is broken: stop producing. */
  get open(): boolean {
    return !this.error;
  }
  async write(s: string): Promise<boolean> {
    if (this.error) return false;
    if (!this.stream.write(s) && !this.error) await new Promise<void>((r) => (this.wake = r));
    return !this.error;
  }
  release(): void {
    this.stream.off('drain', this.onDrain);
    // Keep swallowing a late EPIPE (a write still in flight); other errors are reported by check().
    this.stream.off('error', this.onError);
    this.stream.on('error', () => {});
  }
  /** Throws unless the stream is fine or its reader simply closed it. */
  check(): void {
    if (this.error && this.error.code !== 'EPIPE') throw new SinkError(`cannot write the output: ${this.error.message}`);
  }
}

/**
 * Writes rows in `format` as they arrive, byte for byte what `render(format, …)` + '\n' prints
 * for the same rows, except that a table of more than TABLE_SIZING_ROWS rows is sized from its
 * first ones. Returns the row count and how many rows did not fit the table's widths.
 */
export async function writeResult(sink: Sink, format: Format, columns: string[], chunks: AsyncIterable<unknown[][]>): Promise<{ rows: number; overflowRows: number }> {
  if (format === 'csv') return writeCsv(sink, columns, chunks);
  if (format === 'json') return writeJson(sink, columns, chunks);
  return writeTable(sink, columns, chunks);
}

async function writeCsv(sink: Sink, columns: string[], chunks: AsyncIterable<unknown[][]>) {
  let rows = 0;
  if (!(await sink.write(columns.map(csvEscape).join(',') + '\n'))) return { rows, overflowRows: 0 };
  for await (const chunk of chunks) {
    let s = '';
    for (const r of chunk) s += csvLine(r) + '\n';
    rows += chunk.length;
    if (!(await sink.write(s))) break;
  }
  return { rows, overflowRows: 0 };
}

async function writeJson(sink: Sink, columns: string[], chunks: AsyncIterable<unknown[][]>) {
  const jsonRow = jsonRows(columns);
  let rows = 0;
  for await (const chunk of chunks) {
    let s = '';
    for (const r of chunk) s += (rows++ === 0 ? '[\n' : ',\n') + jsonRow(r);
    if (!(await sink.write(s))) return { rows, overflowRows: 0 };
  }
  await sink.write(rows === 0 ? '[]\n' : '\n]\n');
  return { rows, overflowRows: 0 };
}

async function writeTable(sink: Sink, columns: string[], chunks: AsyncIterable<unknown[][]>) {
  const cut = (s: string, w: number) => (s.length > w ? s.slice(0, w - 1) + '…' : s);
  const head: string[][] = [];
  let widths: number[] | undefined;
  let rows = 0;
  let overflowRows = 0;
  const line = (cells: string[]) => {
    let over = false;
    const out = cells.map((c, i) => {
      if (c.length <= widths![i]) return c.padEnd(widths![i]);
      // Wider than its column: cut at the cap as a sized column would be, else printed whole.
      if (widths![i] < MAX_WIDTH) over = true;
      return cut(c, widths![i] < MAX_WIDTH ? MAX_WIDTH : widths![i]);
    });
    if (over) overflowRows++;
    return out.join('  ').trimEnd() + '\n';
  };
  // The header and the buffered first rows, once their widths are known.
  const start = () => {
    widths = tableWidths(columns, head);
    let s = line(columns) + tableRule(widths) + '\n';
    for (const r of head) s += line(r);
    head.length = 0;
    return s;
  };
  for await (const chunk of chunks) {
    let s = '';
    for (const r of chunk) {
      rows++;
      if (widths) s += line(r.map(cellText));
      else {
        head.push(r.map(cellText));
        if (head.length === TABLE_SIZING_ROWS) s += start();
      }
    }
    if (s && !(await sink.write(s))) return { rows, overflowRows };
  }
  if (!widths) await sink.write(start());
  return { rows, overflowRows };
}
