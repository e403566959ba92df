/** `gantry query` over large results: streamed, bounded, and the same bytes as before for small ones. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Catalog } from '../../infra/catalog.js';
import { render, type Format } from '../../cli/format.js';
import { Sink, TABLE_SIZING_ROWS, writeResult } from '../../cli/query.js';
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

  const table = await runCli(['query', sql], { GANTRY_HOME: home });
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
    const { child, done } = startCli(['query', 'SELECT * FROM scores', '--format', format], { GANTRY_HOME: home });
    child.stdout!.once('data', () => child.stdout!.destroy());
    const r = await done;
    assert.equal(r.code, 0, `${format}: ${r.stderr}`);
    assert.equal(r.stderr, '', format);
  }
});
