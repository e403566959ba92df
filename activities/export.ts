/**
 * export: a trial's per-sample scores as one Parquet file, `scores.parquet`, that pandas, polars
 * or DuckDB read without the catalog: one row per (score set, sample) with the sample's label,
 * split and lineage — its source item, file and patch position (item datasets), or its pixel
 * (cubes). The rows are the trial's catalog `scores` (and `scored_samples`) rows, read by the
 * catalog's own readers (activities/record.ts). Rows go in a fixed order (score sets as the score
 * step lists them, then samples) through a single-threaded in-memory DuckDB, so the same inputs
 * give the same bytes; they are appended as they are read, never gathered into one JS array.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { DuckDBInstance, type DuckDBAppender } from '@duckdb/node-api';
import { defineStep, type InputHandle, type StepContext } from './context.js';
import { itemSplits, sampleLabels, sampleSources, scoreSets, scoreValues, screenedItems } from './record.js';
import { SPLIT_NAMES } from './samples.js';
import { tileOutput } from './tile.js';

const exportParams = z.object({}).strict();

export const exportOutput = z.object({ rows: z.number().int(), sets: z.array(z.string()), columns: z.array(z.string()) });

/** The columns every trial's file has; item datasets add their lineage, cubes their pixel. */
const COMMON = ['score_set VARCHAR', 'sample INTEGER', 'value DOUBLE', 'label UTINYINT', 'split VARCHAR'];
const ITEM_LINEAGE = ['item INTEGER', 'rel VARCHAR', 'sha256 VARCHAR', 'class VARCHAR', 'y INTEGER', 'x INTEGER'];
const PIXEL = ['row INTEGER', 'col INTEGER'];

/** Rows between progress reports (and appender flushes, so DuckDB takes the rows as they come). */
const CHUNK = 65_536;

/** Appends the columns after the common ones for sample i. */
type Lineage = (a: DuckDBAppender, i: number) => void;

export const exportScores = defineStep('export', { params: exportParams, output: exportOutput }, async (ctx) => {
  const scored = await ctx.input('scores');
  const tiles = await ctx.input('tiles');
  const sets = scoreSets(scored);
  const labels = await sampleLabels(tiles);
  const { columns, lineage, splitOf } = await lineageOf(ctx, tiles, labels.length);
  const dir = await mkdtemp(join(tmpdir(), 'gantry-export-'));
  try {
    const file = join(dir, 'scores.parquet');
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    const conn = await db.connect();
    try {
      // One thread and insertion order kept: the file's bytes depend on the rows alone. Spills go to our temp dir.
      for (const setting of ['threads = 1', 'preserve_insertion_order = true', `temp_directory = ${sqlString(join(dir, 'spill'))}`]) await conn.run(`SET ${setting}`);
      await conn.run(`CREATE TABLE scores (${columns.join(', ')})`);
      const a = await conn.createAppender('scores');
      const total = sets.length * labels.length;
      let rows = 0;
      for (const set of sets) {
        const values = await scoreValues(scored, set);
        if (values.length !== labels.length) throw new Error(`score set ${set} has ${values.length} values for ${labels.length} samples`);
        for (let i = 0; i < values.length; i++) {
          a.appendVarchar(set);
          a.appendInteger(i);
          a.appendDouble(values[i]);
          a.appendUTinyInt(labels[i]);
          const split = splitOf(i);
          if (split == null) a.appendNull();
          else a.appendVarchar(split);
          lineage(a, i);
          a.endRow();
          if (++rows % CHUNK === 0) {
            a.flushSync();
            ctx.progress(rows, total);
            if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('aborted');
          }
        }
      }
      a.closeSync();
      await conn.run(`COPY scores TO ${sqlString(file)} (FORMAT parquet)`);
      ctx.progress(total, total);
      // The file is a few bytes per row (compressed columns), so it is handed over whole.
      await ctx.write('scores.parquet', await readFile(file));
      return { rows, sets, columns: columns.map((c) => c.split(' ')[0]) };
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * The trial's lineage columns and each sample's split. Item datasets (an `items` input: the
 * screened list) get item, rel, sha256, class, y, x from the extract step and the split per
 * item; cubes get the pixel of each sample (samples are pixels, row-major) and no split.
 */
async function lineageOf(ctx: StepContext, tiles: InputHandle, n: number): Promise<{ columns: string[]; lineage: Lineage; splitOf: (i: number) => string | null }> {
  if (ctx.hasInput('items')) {
    const src = await sampleSources(tiles, await screenedItems(await ctx.input('items')));
    if (src.item.length !== n) throw new Error(`the extract step has ${src.item.length} sources for ${n} samples`);
    const codes = ctx.hasInput('split') ? await itemSplits(await ctx.input('split')) : undefined;
    const { item, coords, itemRel, itemSha, itemCls } = src;
    return {
      columns: [...COMMON, ...ITEM_LINEAGE],
      splitOf: (i) => (codes ? (SPLIT_NAMES[codes[item[i]]] ?? null) : null),
      lineage: (a, i) => {
        const g = item[i];
        a.appendInteger(g);
        a.appendVarchar(itemRel[g]);
        a.appendVarchar(itemSha[g]);
        a.appendVarchar(itemCls[g]);
        if (coords) {
          a.appendInteger(coords[2 * i]);
          a.appendInteger(coords[2 * i + 1]);
        } else {
          a.appendNull();
          a.appendNull();
        }
      },
    };
  }
  const { rows, cols } = tileOutput.parse(tiles.output);
  const pixels = rows * cols === n;
  return {
    columns: [...COMMON, ...PIXEL],
    splitOf: () => null,
    lineage: (a, i) => {
      if (!pixels) {
        a.appendNull();
        a.appendNull();
        return;
      }
      a.appendInteger(Math.floor(i / cols));
      a.appendInteger(i % cols);
    },
  };
}

/** A SQL string literal (a temp path). */
const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;
