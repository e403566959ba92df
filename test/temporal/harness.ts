/**
 * The integration suite's harness (not a test file itself): find a Temporal server — the one in
 * TEMPORAL_ADDRESS, or a dev server started with the `temporal` CLI on a free port and stopped
 * afterwards — and run gantry workers as child processes that a test can kill -9.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';

export const SKIP_MESSAGE = 'skipped: no Temporal server (set TEMPORAL_ADDRESS or put the temporal CLI on PATH)';

export interface TemporalServer {
  address: string;
  namespace: string;
  /** How it was found, for the log. */
  origin: string;
  stop(): Promise<void>;
}

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Wait until the frontend answers and the namespace exists. */
async function waitReady(address: string, namespace: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the Temporal dev server exited while starting');
    try {
      const c = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await c.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await c.close();
      }
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`Temporal at ${address} did not become ready: ${String((last as Error)?.message ?? last)}`);
}

/** The server the suite runs against, or undefined (then every test is skipped with SKIP_MESSAGE). */
export async function findTemporalServer(): Promise<TemporalServer | undefined> {
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
  if (process.env.TEMPORAL_ADDRESS) {
    const address = process.env.TEMPORAL_ADDRESS;
    return { address, namespace, origin: `TEMPORAL_ADDRESS=${address}`, stop: async () => {} };
  }
  const cli = onPath('temporal');
  if (!cli) return undefined;
  const help = spawnSync(cli, ['server', 'start-dev', '--help'], { encoding: 'utf8', timeout: 30_000 });
  const flags = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  const port = await freePort();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--log-level', 'error', '--namespace', namespace];
  // Every listener on a free port, so that parallel runs and a developer's own dev server never collide.
  if (flags.includes('--http-port')) args.push('--http-port', String(await freePort()));
  if (flags.includes('--metrics-port')) args.push('--metrics-port', String(await freePort()));
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output = (output + d).slice(-4000)));
  child.stderr!.on('data', (d) => (output = (output + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = `127.0.0.1:${port}`;
  try {
    await waitReady(address, namespace, 90_000, () => child.exitCode === null && child.signalCode === null);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${output}`);
  }
  return {
    address,
    namespace,
    origin: `temporal server start-dev on ${address}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export const CLI_MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  /** stderr and stdout so far (for failure messages). */
  output(): string;
  /** Resolves when it has started polling. */
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** A `gantry worker` process with its own environment and flags. */
export function startWorker(env: Record<string, string>, args: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [CLI_MAIN, 'worker', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let onLine: (() => void) | undefined;
  const collect = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
    if (out.includes('gantry worker: polling')) onLine?.();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise<void>((resolve, reject) => {
    onLine = resolve;
    if (out.includes('gantry worker: polling')) resolve();
    void exited.then((x) => reject(new Error(`the worker exited before polling (${x.code ?? x.signal}):\n${out}`)));
    setTimeout(() => reject(new Error(`the worker did not start polling in time:\n${out}`)), 120_000).unref();
  });
  ready.catch(() => {});
  return {
    child,
    output: () => out,
    ready,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}
