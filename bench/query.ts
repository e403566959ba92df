/**
 * `gantry query "SELECT * FROM scores"` over a 1,000,000-row catalog in each output format (the
 * table with --limit 0; parquet to a file through the second DuckDB): the real CLI as a child process, stdout to /dev/null, wall time and the child's peak RSS (its own
 * `process.resourceUsage().maxRSS`, printed at exit by a module preloaded with --import). The
 * reference is the same CLI answering `SELECT count(*)` on the same catalog: startup and a scan,
 * no output, so the difference is what printing the rows costs. Figures, not a test.
 * BENCH_QUERY_ROWS and BENCH_QUERY_RUNS scale it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Catalog } from '../infra/catalog.js';
import { int } from './format.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const MB = 2 ** 20;

async function runOnce(home: string, rssModule: string, args: string[]): Promise<{ seconds: number; rssMb: number }> {
  const devnull = await open('/dev/null', 'w');
  try {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', rssModule, CLI, ...args], { env: { ...process.env, GANTRY_HOME: home }, stdio: ['ignore', devnull.fd, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    const seconds = (performance.now() - t0) / 1000;
    const m = /gantry-bench-maxrss-kb=(\d+)/.exec(stderr);
    if (code !== 0 || !m) throw new Error(`gantry ${args.join(' ')} exited ${code}: ${stderr.trim().slice(-500)}`);
    return { seconds, rssMb: (Number(m[1]) * 1024) / MB };
  } finally {
    await devnull.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchQuery(): Promise<void> {
  const rows = Number(process.env.BENCH_QUERY_ROWS) || 1_000_000;
  const runs = Number(process.env.BENCH_QUERY_RUNS) || 3;
  const home = await mkdtemp(join(tmpdir(), 'gantry-bench-query-'));
  try {
    const rssModule = join(home, 'maxrss.mjs');
    await writeFile(rssModule, "process.on('exit', () => process.stderr.write(`gantry-bench-maxrss-kb=${process.resourceUsage().maxRSS}\\n`));\n");
    const cat = await Catalog.open(join(home, 'catalog.duckdb'));
    try {
      await cat.conn.run(`INSERT INTO scores SELECT 'trial-' || (i % 7), 'critic', i::INTEGER, random(), (i % 50 = 0)::UTINYINT, CASE WHEN i % 3 = 0 THEN 'test' ELSE 'val' END FROM range(${rows}) t(i)`);
    } finally {
      cat.close();
    }
    const cases: [string, string[]][] = [
      ['reference: SELECT count(*)', ['query', 'SELECT count(*) FROM scores', '--format', 'csv']],
      // --limit 0: every row, as the other formats print (a table shows 1,000 by default).
      ['SELECT * --format table', ['query', 'SELECT * FROM scores', '--format', 'table', '--limit', '0']],
      ...(['csv', 'json'] as const).map((f): [string, string[]] => [`SELECT * --format ${f}`, ['query', 'SELECT * FROM scores', '--format', f]]),
      ['SELECT * --format parquet', ['query', 'SELECT * FROM scores', '--format', 'parquet', '--out', join(home, 'scores.parquet')]],
    ];
    console.log(`  ${int(rows)} rows of scores (6 columns), ${runs} run${runs === 1 ? '' : 's'} each, stdout to /dev/null; median (min–max)`);
    let ref: { seconds: number; rssMb: number } | undefined;
    for (const [name, args] of cases) {
      const r: { seconds: number; rssMb: number }[] = [];
      for (let i = 0; i < runs; i++) r.push(await runOnce(home, rssModule, args));
      const s = r.map((x) => x.seconds);
      const m = r.map((x) => x.rssMb);
      const fig = { seconds: median(s), rssMb: median(m) };
      ref ??= fig;
      const vs = fig === ref ? '' : `; +${(fig.seconds - ref.seconds).toFixed(2)} s, +${(fig.rssMb - ref.rssMb).toFixed(0)} MB over the reference; ${int(rows / (fig.seconds - ref.seconds))} rows/s`;
      console.log(`  ${name.padEnd(28)} ${fig.seconds.toFixed(2)} s (${Math.min(...s).toFixed(2)}–${Math.max(...s).toFixed(2)}), peak RSS ${fig.rssMb.toFixed(0)} MB (${Math.min(...m).toFixed(0)}–${Math.max(...m).toFixed(0)})${vs}`);
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchQuery();
