/**
 * Catalog metrics: ingest 1,000,000 points through the Appender (target < 2 s), then aggregate
 * queries over them (target < 200 ms each, best of 5 after a warm-up).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Catalog } from '../infra/catalog.js';
import { int, rate, verdict } from './format.js';

const TRIALS = 100;
const NAMES = 10;
const STEPS = 1000;
const INGEST_TARGET_S = 2;
const QUERY_TARGET_MS = 200;

type Point = { name: string; step: number; value: number; time: number | null };

const QUERIES: [string, string][] = [
  ['per-name aggregate', 'SELECT name, count(*), avg(value), stddev_samp(value), max(step) FROM metrics GROUP BY name'],
  ['per-trial last value', 'SELECT trial_id, name, arg_max(value, step) AS last FROM metrics GROUP BY trial_id, name'],
];

export async function benchMetricsIngest(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-bench-catalog-'));
  try {
    // Generated up front; not timed.
    const names = Array.from({ length: NAMES }, (_, i) => `metric_${i}`);
    const t0ms = Date.UTC(2024, 0, 1);
    const batches: { trialId: string; points: Point[] }[] = [];
    for (let t = 0; t < TRIALS; t++) {
      const points: Point[] = new Array(NAMES * STEPS);
      let k = 0;
      for (const name of names) for (let s = 0; s < STEPS; s++) points[k++] = { name, step: s, value: Math.sin(s / 50 + t) + Math.random() * 0.1, time: t0ms + s * 1000 };
      batches.push({ trialId: `trial-${String(t).padStart(4, '0')}`, points });
    }
    const total = TRIALS * NAMES * STEPS;

    const catalog = await Catalog.open(join(dir, 'catalog.duckdb'));
    try {
      const a = performance.now();
      for (const b of batches) await catalog.appendMetrics(b.trialId, b.points);
      const appendS = (performance.now() - a) / 1000;
      await catalog.conn.run('CHECKPOINT');
      const totalS = (performance.now() - a) / 1000;

      const count = Number((await catalog.query('SELECT count(*) FROM metrics')).rows[0][0]);
      if (count !== total) throw new Error(`expected ${total} rows in metrics, found ${count}`);

      console.log(`metrics ingest (appends only): ${int(total)} points in ${appendS.toFixed(2)} s = ${rate(total / appendS)} points/s`);
      console.log(
        `metrics ingest: ${int(total)} points in ${totalS.toFixed(2)} s incl. CHECKPOINT = ${rate(total / totalS)} points/s ` +
          `(target < ${INGEST_TARGET_S} s: ${verdict(totalS, INGEST_TARGET_S)})`,
      );

      for (const [label, sql] of QUERIES) {
        const warm = await catalog.query(sql);
        let best = Infinity;
        for (let i = 0; i < 5; i++) {
          const q = performance.now();
          await catalog.query(sql);
          best = Math.min(best, performance.now() - q);
        }
        console.log(
          `metrics query (${label}, ${int(warm.rows.length)} rows): best of 5 ${best.toFixed(1)} ms ` +
            `(target < ${QUERY_TARGET_MS} ms: ${verdict(best, QUERY_TARGET_MS)})`,
        );
      }
    } finally {
      catalog.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
