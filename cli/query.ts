/**
 * `gantry query`: read-only SQL on the catalog, streamed. Rows come from DuckDB a chunk at a
 * time and go to stdout as they come (waiting for stdout to drain), so csv and json hold one
 * chunk in memory whatever the result's size, and a table its first rows (for the widths).
 * Before, the whole result was materialised as JS values and then rendered as one string: a
 * million rows took 1–3 GB, and an output over V8's string limit (512 MiB, e.g. 2M rows of a few
 * hashes in json) died with "Invalid string length".
 */
import { Option, type Command } from 'commander';
import { loadConfig } from '../infra/config.js';
import { Catalog } from '../infra/catalog.js';
import { isUserError, UserError } from '../core/errors.js';
import { MAX_COLUMN_WIDTH as MAX_WIDTH, cellText, csvEscape, csvLine, jsonRows, tableRule, tableWidths, type Format } from './format.js';

/** Table columns are as wide as their widest value among this many first rows (and the header). */
export const TABLE_SIZING_ROWS = 10_000;

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description('run read-only SQL on the catalog (tables: studies, trials, params, metrics, steps, trial_steps, lineage, artifacts, scores, removed_items, sample_sources; views: final_metrics, trial_summary, cell_summary, scored_samples)')
    .argument('<sql>', 'the SQL statement')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'))
    .addHelpText(
      'after',
      `
Rows are written as DuckDB produces them, a chunk at a time, so results of millions of rows
print in bounded memory in every format.
table: each column is as wide as its widest value among the first ${TABLE_SIZING_ROWS.toLocaleString('en')} rows (${MAX_WIDTH} characters
at most); a wider value after those is printed whole (up to ${MAX_WIDTH} characters) and pushes the rest
of its row to the right, with a note on stderr. For many rows, or for another program, use csv
or json.`,
    )
    .action(async (sql: string, o: { format: Format }) => {
      const cfg = loadConfig();
      const cat = await Catalog.openReadOnly(cfg.catalogPath);
      const sink = new Sink(process.stdout);
      try {
        const r = await cat.userQueryStream(sql).catch(queryFailed);
        const { overflowRows } = await writeResult(sink, o.format, r.columns, r.chunks).catch(queryFailed);
        if (overflowRows > 0) {
          process.stderr.write(`note: columns were sized from the first ${TABLE_SIZING_ROWS.toLocaleString('en')} rows; ${overflowRows.toLocaleString('en')} later row${overflowRows === 1 ? ' holds' : 's hold'} wider values, not aligned (--format csv or json for output to read by program)\n`);
        }
      } finally {
        sink.release();
        cat.close();
      }
      sink.check();
    });
}

function queryFailed(e: unknown): never {
  if (isUserError(e)) throw e;
  throw new UserError(`query failed: ${String((e as Error).message).split('\n')[0]}`);
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
