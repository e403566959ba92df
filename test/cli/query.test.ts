/** `gantry query` over large results: streamed, bounded, and the same bytes as before for small ones. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { Catalog } from '../../infra/catalog.js';
import { render, type Format } from '../../cli/format.js';
import { Sink, TABLE_ROW_LIMIT, TABLE_SIZING_ROWS, writeResult } from '../../cli/query.js';
import { runCli, startCli, tempHome } from '../helpers.js';

const N = 250_000;
/** Row WIDE_AT's split is wider than every split before it: past the table's sizing rows. */
const WIDE_AT = 150_000;

async function bigCatalog(): Promise<string> {
  const home = await tempHome('gantry-query-');
  const cat = await Catalog.open(join(home, 'catalog.duckdb'));
  try {
    await cat.conn.run(`INSERT INTO scores SELECT 'trial-' || (i % 7), 'critic', i::INTEGER, i / ${N}, (i % 50 = 0)::UTINYINT,
      CASE WHEN i = ${WIDE_AT} THEN 'a-much-wider-split-name' WHEN i % 3 = 0 THEN 'test' ELSE 'val' END FROM range(${N}) t(i)`);
  } finally {
    cat.close();
  }
  return home;
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

test(`gantry query prints ${N.toLocaleString('en')} rows in table, csv and json, exit 0`, async () => {
  const home = await bigCatalog();
  const sql = 'SELECT * FROM scores ORDER BY sample';
  const csv = await runCli(['query', sql, '--format', 'csv'], { GANTRY_HOME: home });
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.split('\n');
  assert.equal(lines.length, N + 2); // header, N rows, '' after the last newline
  assert.equal(lines[0], 'trial_id,score_set,sample,value,label,split');
  assert.equal(lines[1], 'trial-0,critic,0,0,1,test');
  assert.equal(lines[N], `trial-${(N - 1) % 7},critic,${N - 1},0.999996,0,${(N - 1) % 3 === 0 ? 'test' : 'val'}`);

  const json = await runCli(['query', sql, '--format', 'json'], { GANTRY_HOME: home });
  assert.equal(json.code, 0, json.stderr);
  const objs = JSON.parse(json.stdout) as { sample: number; value: number; split: string }[];
  assert.equal(objs.length, N);
  assert.deepEqual(objs[WIDE_AT], { trial_id: `trial-${WIDE_AT % 7}`, score_set: 'critic', sample: WIDE_AT, value: WIDE_AT / N, label: 1, split: 'a-much-wider-split-name' });
  assert.ok(objs.every((o, i) => o.sample === i));

  const table = await runCli(['query', sql, '--limit', '0'], { GANTRY_HOME: home });
  assert.equal(table.code, 0, table.stderr);
  const rows = table.stdout.split('\n');
  assert.equal(rows.length, N + 3); // header, rule, N rows, ''
  assert.equal(rows[1], '--------  ---------  ------  --------  -----  -----');
  assert.equal(rows[2], 'trial-0   critic     0       0         1      test');
  // Sized from the first rows: the wider value later is printed whole, and the user is told.
  assert.equal(rows[2 + WIDE_AT], `trial-${WIDE_AT % 7}   critic     ${WIDE_AT}  0.6       1      a-much-wider-split-name`);
  assert.match(table.stderr, /sized from the first 10,000 rows; 1 later row holds wider values/);
});

test('streamed output is byte for byte what render() printed, in every format (mixed types, several chunks)', async () => {
  const home = await bigCatalog();
  // Below TABLE_SIZING_ROWS, so the table is sized on every row, as before; above one chunk (2,048).
  const n = 5_000;
  assert.ok(n < TABLE_SIZING_ROWS);
  const sql = `SELECT i AS n, i::BIGINT * 3000000000 AS big, CASE WHEN i % 5 = 0 THEN NULL ELSE i / 7 END AS x,
      'say "hi", ' || i || CASE WHEN i % 11 = 0 THEN chr(10) || 'next line' ELSE '' END AS text,
      [i, i + 1] AS list, {'a': i, 'b': 'é'} AS st, TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (i) SECOND AS t,
      CASE WHEN i = 4321 THEN repeat('w', 70) ELSE 'short' END AS long, i % 2 = 0 AS even,
      CASE WHEN i % 13 = 0 THEN 'nan'::DOUBLE WHEN i % 17 = 0 THEN '-inf'::DOUBLE ELSE i * 1e-9 END AS f
    FROM range(${n}) r(i) ORDER BY i`;
  const cat = await Catalog.openReadOnly(join(home, 'catalog.duckdb'));
  try {
    const all = await cat.userQuery(sql);
    assert.equal(all.rows.length, n);
    for (const format of ['table', 'csv', 'json'] as Format[]) {
      const out = new Collect();
      const s = await cat.userQueryStream(sql);
      const r = await writeResult(new Sink(out), format, s.columns, s.chunks);
      assert.equal(r.rows, n);
      assert.equal(r.overflowRows, 0);
      assert.equal(out.text, render(format, all.columns, all.rows) + '\n', format);
      // render and the stream share their row writers: JSON is also checked against JSON.stringify itself.
      if (format === 'json') {
        const objects = all.rows.map((r) => Object.fromEntries(all.columns.map((c, i) => [c, r[i]])));
        const big = (_k: string, x: unknown) => (typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : x.toString()) : x);
        assert.equal(out.text, JSON.stringify(objects, big, 1) + '\n', 'json as JSON.stringify lays it out');
      }
    }
    for (const format of ['table', 'csv', 'json'] as Format[]) {
      const out = new Collect();
      const s = await cat.userQueryStream('SELECT 1 AS a, 2 AS b WHERE false');
      await writeResult(new Sink(out), format, s.columns, s.chunks);
      assert.equal(out.text, render(format, ['a', 'b'], []) + '\n', `${format}, no rows`);
    }
    // Duplicate column names, NaN and infinities (null in JSON, as JSON.stringify writes them).
    const dup = "SELECT 1 AS a, 'x' AS a, 'nan'::DOUBLE AS f, 'inf'::DOUBLE AS g, NULL::INTEGER[] AS l, []::INTEGER[] AS e";
    const d = await cat.userQuery(dup);
    for (const format of ['table', 'csv', 'json'] as Format[]) {
      const out = new Collect();
      const s = await cat.userQueryStream(dup);
      await writeResult(new Sink(out), format, s.columns, s.chunks);
      assert.equal(out.text, render(format, d.columns, d.rows) + '\n', `${format}, duplicate columns`);
    }
  } finally {
    cat.close();
  }
});

test('gantry query | head: a reader that closes the pipe early stops the query quietly (exit 0)', async () => {
  const home = await bigCatalog();
  for (const format of ['table', 'csv', 'json']) {
    // --limit 0: the reader goes away mid-stream (the default table's 1,000 rows go out in one write).
    const { child, done } = startCli(['query', 'SELECT * FROM scores', '--format', format, '--limit', '0'], { GANTRY_HOME: home });
    child.stdout!.once('data', () => child.stdout!.destroy());
    const r = await done;
    assert.equal(r.code, 0, `${format}: ${r.stderr}`);
    assert.equal(r.stderr, '', format);
  }
});

test(`SELECT * FROM scores over 170,000 rows as a table (issue 13, row 2): the first ${TABLE_ROW_LIMIT.toLocaleString('en')} rows and a note saying how to get all`, async () => {
  const home = await bigCatalog();
  const r = await runCli(['query', 'SELECT * FROM scores ORDER BY sample'], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.length, TABLE_ROW_LIMIT + 3); // header, rule, the rows, ''
  assert.equal(lines[2], 'trial-0   critic     0       0         1      test');
  assert.match(lines[TABLE_ROW_LIMIT + 1], new RegExp(`^trial-${(TABLE_ROW_LIMIT - 1) % 7} +critic +${TABLE_ROW_LIMIT - 1} `));
  assert.equal(r.stderr, '(showing 1,000 of at least 2,048 rows; --limit 0 for all, or --format csv|json for every row on stdout, --format parquet --out <file> for a file)\n');
  // Exactly the limit: nothing was left out, so nothing is said.
  const exact = await runCli(['query', `SELECT * FROM scores LIMIT ${TABLE_ROW_LIMIT}`], { GANTRY_HOME: home });
  assert.equal(exact.stdout.split('\n').length, TABLE_ROW_LIMIT + 3);
  assert.equal(exact.stderr, '');
  const one = await runCli(['query', `SELECT * FROM scores LIMIT ${TABLE_ROW_LIMIT + 1}`], { GANTRY_HOME: home });
  assert.match(one.stderr, /^\(showing 1,000 of at least 1,001 rows; /);
  // --limit in any format; csv and json are whole by default.
  const csv = await runCli(['query', 'SELECT sample FROM scores ORDER BY sample', '--format', 'csv', '--limit', '3'], { GANTRY_HOME: home });
  assert.equal(csv.stdout, 'sample\n0\n1\n2\n');
  assert.equal(csv.stderr, '(showing 3 of at least 2,048 rows; --limit 0 for all)\n');
  const json = await runCli(['query', 'SELECT sample FROM scores ORDER BY sample', '--format', 'json', '--limit', '2'], { GANTRY_HOME: home });
  assert.deepEqual(JSON.parse(json.stdout), [{ sample: 0 }, { sample: 1 }]);
  const bad = await runCli(['query', 'SELECT 1', '--limit', '-1'], { GANTRY_HOME: home });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--limit.*expected a whole number of rows/);
});

test('the row limit stops reading: a table over a trillion-row result prints its first rows and exits at once', { timeout: 120_000 }, async () => {
  const home = await bigCatalog();
  // Computing the whole result would take hours: only the chunks up to the limit are fetched.
  const t0 = Date.now();
  const r = await runCli(['query', 'SELECT i, i * 2 AS twice FROM range(1000000000000) r(i)'], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n').length, TABLE_ROW_LIMIT + 3);
  assert.match(r.stderr, /^\(showing 1,000 of at least/);
  const csv = await runCli(['query', 'SELECT i FROM range(1000000000000) r(i)', '--format', 'csv', '--limit', '5'], { GANTRY_HOME: home });
  assert.equal(csv.stdout, 'i\n0\n1\n2\n3\n4\n');
  assert.ok(Date.now() - t0 < 100_000, `${Date.now() - t0} ms`);
});

async function readParquet(path: string, sql: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql.replace('$file', `'${path}'`))).getRowsJS() as unknown[][];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

test('--format parquet --out: every row, column names and types, written whole by a second DuckDB; the user\'s SQL stays sandboxed', async () => {
  const home = await bigCatalog();
  const outDir = join(home, 'out');
  await mkdir(outDir);
  const out = join(outDir, 'scores.parquet');
  const r = await runCli(['query', 'SELECT * FROM scores ORDER BY sample', '--format', 'parquet', '--out', out], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${N.toLocaleString('en')} rows written to ${out}\n`);
  assert.equal(r.stderr, '');
  assert.deepEqual(await readParquet(out, 'SELECT count(*), sum(sample), count(DISTINCT trial_id), max(split) FROM $file'), [[BigInt(N), BigInt((N * (N - 1)) / 2), 7n, 'val']]);
  assert.deepEqual(await readParquet(out, 'SELECT * FROM $file LIMIT 2'), [['trial-0', 'critic', 0, 0, 1, 'test'], ['trial-1', 'critic', 1, 1 / N, 0, 'val']]);
  assert.deepEqual((await readParquet(out, 'DESCRIBE SELECT * FROM $file')).map((x) => `${x[0]} ${x[1]}`), ['trial_id VARCHAR', 'score_set VARCHAR', 'sample INTEGER', 'value DOUBLE', 'label UTINYINT', 'split VARCHAR']);
  // Nested types, duplicate names (parquet's writer suffixes the second), a limit.
  const nested = join(outDir, 'nested.parquet');
  const n = await runCli(['query', "SELECT i AS a, [i, i + 1] AS l, {'k': i, 's': 'é'} AS st, i AS a FROM range(10) r(i)", '--format', 'parquet', '--out', nested, '--limit', '4'], { GANTRY_HOME: home });
  assert.equal(n.code, 0, n.stderr);
  assert.match(n.stderr, /^\(showing 4 of at least 10 rows; --limit 0 for all\)/);
  assert.deepEqual(await readParquet(nested, 'SELECT * FROM $file'), [0n, 1n, 2n, 3n].map((i) => [i, [i, i + 1n], { k: i, s: 'é' }, i]));
  assert.deepEqual((await readParquet(nested, 'DESCRIBE SELECT * FROM $file')).map((x) => `${x[0]} ${x[1]}`), ['a BIGINT', 'l BIGINT[]', 'st STRUCT(k BIGINT, s VARCHAR)', 'a_1 BIGINT']);

  // The sandbox holds whatever the format: no writing or reading files through the user's SQL.
  for (const sql of ["COPY (SELECT 1) TO '" + join(outDir, 'evil.csv') + "'", "SELECT * FROM read_csv('/etc/passwd')"]) {
    const e = await runCli(['query', sql, '--format', 'parquet', '--out', join(outDir, 'e.parquet')], { GANTRY_HOME: home });
    assert.equal(e.code, 2, e.stderr);
  }
  // A query that fails half-way leaves no file and no staging database behind.
  const half = await runCli(['query', "SELECT CASE WHEN i < 100000 THEN i ELSE error('boom at ' || i) END AS i FROM range(200000) r(i)", '--format', 'parquet', '--out', join(outDir, 'half.parquet')], { GANTRY_HOME: home });
  assert.equal(half.code, 2, half.stderr);
  assert.match(half.stderr, /query failed: .*boom at/);
  assert.deepEqual((await readdir(outDir)).sort(), ['nested.parquet', 'scores.parquet']);

  for (const [args, msg] of [
    [['--format', 'parquet'], /--format parquet writes a file: name it with --out <file>/],
    [['--out', join(outDir, 'x.csv'), '--format', 'csv'], /--out is for --format parquet; csv goes to stdout/],
    [['--format', 'parquet', '--out', join(home, 'nowhere', 'x.parquet')], /--out .*nowhere\/x\.parquet: folder .*nowhere does not exist/],
    [['--format', 'parquet', '--out', outDir], /--out .* is a folder/],
  ] as const) {
    const e = await runCli(['query', 'SELECT 1', ...args], { GANTRY_HOME: home });
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, msg);
  }
  // Never renamed over something that is not a plain file (as root that could be a device).
  if (spawnSync('mkfifo', [join(outDir, 'fifo')]).status === 0) {
    const e = await runCli(['query', 'SELECT 1', '--format', 'parquet', '--out', join(outDir, 'fifo')], { GANTRY_HOME: home });
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /is not a regular file/);
    assert.ok(existsSync(join(outDir, 'fifo')));
  }
});
