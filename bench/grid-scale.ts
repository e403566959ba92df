/**
 * Grid scale: what launching a grid of 10³…10⁶ trials costs before the first step runs, and what
 * `gantry status` then costs. The real CLI as a child process on a fresh GANTRY_HOME:
 *  - ask: `gantry run` without --yes — the time to its answer (a refusal above --confirm-above);
 *  - plan: `gantry run --yes` — the time to its "N trials, M distinct steps" line (the grid
 *    expanded, planned and its compact plan stored) and the peak RSS at that moment (VmHWM);
 *    then the time to the first step, and the trial files in the store once the first trial is
 *    done (one per started trial: none are written at planning); the run is then killed;
 *  - status: `gantry status` over that launch (from its progress document), time and peak RSS;
 *    the CLI's start alone (`gantry --version`) is printed first, as most of status's time.
 * The reference is the 10³ grid: ratios say how each cost grows with the grid. Figures, not a
 * test. BENCH_GRID_MAX (default 1000000) caps the sizes; BENCH_GRID_TIMEOUT (s, default 600) a run.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { int } from './format.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

function study(trials: number): unknown {
  const per = Math.min(trials, 1000);
  return {
    name: 'gridscale',
    base: {
      dataset: { kind: 'synthetic-hsi', rows: 8, cols: 8, bands: 4, anomalies: 2, seed: 1 },
      model: { kind: 'wgan-gp', iterations: 2, hidden: 4, batchSize: 8, criticIters: 1, scoreRestarts: 1, scoreIterations: 1, logEvery: 1 },
    },
    grid: [{ cartesian: { 'model.iterations': Array.from({ length: per }, (_, i) => i + 1) } }],
    seeds: Array.from({ length: trials / per }, (_, i) => i),
  };
}

const peakRssMb = async (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1] ?? NaN) / 1024;

/**
 * Run the CLI until it exits or output matches `until` (then kill it). `marks`: the seconds at which
 * output first matched each, with the peak RSS then.
 */
async function timed(args: string[], home: string, until: RegExp | undefined, timeoutS: number, marks: Record<string, RegExp> = {}): Promise<{ seconds: number; rssMb: number; code: number | null; out: string; timedOut: boolean; at: Record<string, { s: number; rssMb: number }> }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, GANTRY_HOME: home, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let rssMb = NaN;
  let hit = false;
  const at: Record<string, { s: number; rssMb: number }> = {};
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
  const onData = async (d: Buffer) => {
    out += d;
    for (const [name, re] of Object.entries(marks)) if (!at[name] && re.test(out)) at[name] = { s: (performance.now() - t0) / 1000, rssMb: await peakRssMb(child.pid!) };
    if (until && !hit && until.test(out)) {
      hit = true;
      rssMb = await peakRssMb(child.pid!);
      child.kill('SIGKILL');
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // Sample while it runs, so a process that exits on its own still has a figure.
  const sampler = setInterval(async () => {
    const r = await peakRssMb(child.pid!);
    if (!hit && Number.isFinite(r)) rssMb = Math.max(Number.isFinite(rssMb) ? rssMb : 0, r);
  }, 100);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearTimeout(timer);
  clearInterval(sampler);
  return { seconds: (performance.now() - t0) / 1000, rssMb, code, out, timedOut: !hit && code === null, at };
}

export async function benchGridScale(): Promise<void> {
  const max = Number(process.env.BENCH_GRID_MAX ?? 1_000_000);
  const timeoutS = Number(process.env.BENCH_GRID_TIMEOUT ?? 600);
  const sizes = [1e3, 1e4, 1e5, 1e6].filter((n) => n <= max);
  let ref: { plan: number; status: number } | undefined;
  const home0 = await mkdtemp(join(tmpdir(), 'gantry-gridscale-'));
  const startup = await timed(['--version'], home0, undefined, 60);
  await rm(home0, { recursive: true, force: true });
  console.log(`(gantry --version, the CLI's start alone: ${startup.seconds.toFixed(2)} s)`);
  console.log('trials      ask s   plan s  plan MB  1st step s  trial files  status s  status MB  (plan/status × the 10³ grid)');
  for (const n of sizes) {
    const home = await mkdtemp(join(tmpdir(), 'gantry-gridscale-'));
    try {
      const file = join(home, 'study.json');
      await writeFile(file, JSON.stringify(study(n)));
      const ask = await timed(['run', file], home, n <= 10_000 ? /trials, \d+ distinct steps/ : undefined, timeoutS);
      await rm(join(home, 'store'), { recursive: true, force: true });
      await rm(join(home, 'run.lock'), { force: true });
      // Planned (the count line), the first step started, then killed once a trial is done (its progress written).
      const run = await timed(['run', file, '--yes', '-c', '1'], home, /^trial \S+ done/m, timeoutS, { plan: /trials, \d+ distinct steps/, step: /ran: / });
      const trialFiles = (await readdir(join(home, 'store', 'trials')).catch(() => [])).length;
      await rm(join(home, 'run.lock'), { force: true });
      const status = await timed(['status', 'gridscale'], home, undefined, timeoutS);
      if (status.code !== 0 && !status.timedOut) throw new Error(`gantry status exited ${status.code}: ${status.out.slice(-300)}`);
      const plan = run.at.plan ?? { s: NaN, rssMb: NaN };
      ref ??= { plan: plan.s, status: status.seconds };
      const s = (r: { seconds: number; timedOut: boolean }) => (r.timedOut ? `>${timeoutS}` : r.seconds.toFixed(2));
      console.log(
        `${int(n).padStart(9)}  ${s(ask).padStart(7)}  ${plan.s.toFixed(2).padStart(7)}  ${plan.rssMb.toFixed(0).padStart(7)}  ${(run.at.step?.s ?? NaN).toFixed(2).padStart(10)}  ${String(trialFiles).padStart(11)}  ${s(status).padStart(8)}  ${status.rssMb.toFixed(0).padStart(9)}` +
          `  (${(plan.s / ref.plan).toFixed(1)}×, ${(status.seconds / ref.status).toFixed(1)}×)`,
      );
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchGridScale();
