/**
 * The integration suite's harness (not a test file itself): find a Temporal server — the one in
 * TEMPORAL_ADDRESS, or a dev server started with the `temporal` CLI on a free port and stopped
 * afterwards — and run gantry workers as child processes that a test can kill -9.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { findLiveBinary, freePort, liveRequired, missingServer } from '../live/servers.js';
export { freePort };

export const SKIP_MESSAGE = `${missingServer('temporal')}; or set TEMPORAL_ADDRESS`;

export interface TemporalServer {
  address: string;
  namespace: string;
  /** How it was found, for the log. */
  origin: string;
  /** The server's own version (GetSystemInfo) and, for a dev server, the CLI's `--version` line. */
  version: string;
  stop(): Promise<void>;
}

/** What the server says it is: its version from GetSystemInfo. */
async function serverVersion(address: string): Promise<string> {
  const c = await Connection.connect({ address, connectTimeout: 10_000 });
  try {
    const info = await c.workflowService.getSystemInfo({});
    return `Temporal server ${info.serverVersion || 'of unknown version'}`;
  } finally {
    await c.close();
  }
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
    await waitReady(address, namespace, 30_000, () => true);
    return { address, namespace, origin: `TEMPORAL_ADDRESS=${address}`, version: await serverVersion(address), stop: async () => {} };
  }
  const cli = findLiveBinary('temporal');
  if (!cli) {
    if (liveRequired()) throw new Error(`GANTRY_LIVE=require, but ${SKIP_MESSAGE.replace(/^skipped: /, '')}`);
    return undefined;
  }
  const help = spawnSync(cli, ['server', 'start-dev', '--help'], { encoding: 'utf8', timeout: 30_000 });
  const cliVersion = (spawnSync(cli, ['--version'], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '').trim().split('\n')[0] || 'unknown';
  // A CLI built with `go install` says 0.0.0-DEV; its Go build info has the module's tag.
  const built = spawnSync('go', ['version', '-m', cli], { encoding: 'utf8', timeout: 30_000 });
  const tag = /^\s*mod\s+github\.com\/temporalio\/cli\s+(\S+)/m.exec(built.stdout ?? '')?.[1];
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
    origin: `temporal server start-dev (${cli}) on ${address}`,
    version: `${await serverVersion(address)}; CLI: ${cliVersion}${tag ? `, module github.com/temporalio/cli ${tag}` : ''}`,
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
