/**
 * Real servers for the live suites (not a test file itself): MLflow 2.10.2 and MinIO, each started
 * on a free loopback port with its data in a temporary directory, and stopped by the suite. The
 * Temporal dev server is started the same way by test/temporal/harness.ts.
 *
 * Binaries are found, in order, through an explicit variable (GANTRY_MLFLOW_BIN, GANTRY_MINIO_BIN,
 * GANTRY_TEMPORAL_BIN; GANTRY_CHROMIUM_BIN for the browser of test/ui/), in the directory `node scripts/live-servers.mjs provision` fills
 * (GANTRY_LIVE_DIR, default ~/.cache/gantry/live/bin), then on PATH. Where one is missing the
 * suite skips with the reason; with GANTRY_LIVE=require (set by .ci/run) a missing server is a
 * failure instead, so CI can never pass by skipping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The live servers, and the browser the MLflow UI test drives (test/ui/). */
export type LiveServerName = 'temporal' | 'mlflow' | 'minio' | 'chromium';

const BIN_VARIABLE: Record<LiveServerName, string> = {
  temporal: 'GANTRY_TEMPORAL_BIN',
  mlflow: 'GANTRY_MLFLOW_BIN',
  minio: 'GANTRY_MINIO_BIN',
  chromium: 'GANTRY_CHROMIUM_BIN',
};

/** Where `scripts/live-servers.mjs provision` puts the binaries. */
export function liveBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.GANTRY_LIVE_DIR || join(homedir(), '.cache', 'gantry', 'live'), 'bin');
}

/** True when a missing live server must fail the suite (CI) rather than skip it. */
export function liveRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GANTRY_LIVE === 'require';
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The server's binary, or undefined. */
export function findLiveBinary(name: LiveServerName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env[BIN_VARIABLE[name]];
  if (explicit) {
    if (!executable(explicit)) throw new Error(`${BIN_VARIABLE[name]}=${explicit} is not an executable file`);
    return explicit;
  }
  for (const dir of [liveBinDir(env), ...(env.PATH ?? '').split(delimiter)]) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The line a suite prints, and the skip reason its tests carry, when a server is missing. */
export function missingServer(name: LiveServerName): string {
  return `skipped: no ${name} binary (run \`node scripts/live-servers.mjs provision\`, or set ${BIN_VARIABLE[name]}, or put ${name} on PATH)`;
}

/**
 * A Chromium for the UI tests: GANTRY_CHROMIUM_BIN, the provisioned link (Debian's chromium),
 * then chromium or chromium-browser on PATH; undefined when there is none.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const found = findLiveBinary('chromium', env);
  if (found) return found;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'chromium-browser'))) return join(dir, 'chromium-browser');
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

/** A server process started by a suite. */
export class ServerProcess {
  private out = '';
  readonly exited: Promise<void>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d) => (this.out = (this.out + d).slice(-8000)));
    child.stderr?.on('data', (d) => (this.out = (this.out + d).slice(-8000)));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  output(): string {
    return this.out;
  }
  /**
   * Let the test process exit while the server runs (a server shared by a whole test file); pair
   * it with killing the server on exit, or it outlives the tests.
   */
  unref(): void {
    this.child.unref();
    for (const s of [this.child.stdout, this.child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
  }

  /** Signal the whole process group (MLflow's gunicorn forks workers). */
  signal(sig: NodeJS.Signals): void {
    if (!this.alive || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      this.child.kill(sig);
    }
  }
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

function startProcess(bin: string, args: string[], env: Record<string, string> = {}): ServerProcess {
  // Its own process group, so that stop() reaches every child it forks.
  return new ServerProcess(spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
}

async function waitHttp(url: string, proc: ServerProcess, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!proc.alive) throw new Error(`${what} exited while starting:\n${proc.output()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  proc.signal('SIGKILL');
  throw new Error(`${what} did not answer ${url} within ${timeoutMs / 1000} s (${last}):\n${proc.output()}`);
}

function versionOf(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? 'unknown';
}

export interface MlflowServer {
  /** http://127.0.0.1:port */
  url: string;
  version: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

/**
 * `mlflow server --serve-artifacts` with a SQLite backend, as the users run it; undefined
 * when no mlflow binary is found. `start` again after `stop` on the same data (an outage).
 */
export async function startMlflow(o: { dataDir?: string; port?: number } = {}): Promise<MlflowServer | undefined> {
  const bin = findLiveBinary('mlflow');
  if (!bin) return undefined;
  const dir = o.dataDir ?? (await mkdtemp(join(tmpdir(), 'gantry-mlflow-')));
  const port = o.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const args = ['server', '--host', '127.0.0.1', '--port', String(port), '--workers', '1',
    '--backend-store-uri', `sqlite:///${join(dir, 'mlflow.db')}`, '--artifacts-destination', join(dir, 'artifacts'), '--serve-artifacts'];
  const proc = startProcess(bin, args, { MLFLOW_TRACKING_URI: '' });
  await waitHttp(`${url}/health`, proc, 120_000, 'mlflow server');
  return {
    url,
    version: versionOf(bin, ['--version']),
    process: proc,
    stop: async () => {
      await proc.stop();
      if (!o.dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface MinioServer {
  /** http://127.0.0.1:port */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  version: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

/** `minio server` on a temporary directory, with its own root credentials; undefined when no minio binary is found. */
export async function startMinio(o: { dataDir?: string; port?: number } = {}): Promise<MinioServer | undefined> {
  const bin = findLiveBinary('minio');
  if (!bin) return undefined;
  const dir = o.dataDir ?? (await mkdtemp(join(tmpdir(), 'gantry-minio-')));
  const port = o.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = 'gantrytest';
  const secretAccessKey = 'gantry-test-secret-0123';
  const proc = startProcess(bin, ['server', dir, '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${await freePort()}`], {
    MINIO_ROOT_USER: accessKeyId,
    MINIO_ROOT_PASSWORD: secretAccessKey,
    MINIO_BROWSER: 'off',
    MINIO_UPDATE: 'off',
    CI: 'true',
  });
  await waitHttp(`${endpoint}/minio/health/live`, proc, 60_000, 'minio server');
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    version: minioVersion(bin),
    process: proc,
    stop: async () => {
      await proc.stop();
      if (!o.dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `minio --version`; a `go install` build only says DEVELOPMENT.GOGET there, so then its Go module version. */
function minioVersion(bin: string): string {
  const v = versionOf(bin, ['--version']).replace(/^minio version /, '');
  if (!v.startsWith('DEVELOPMENT')) return v;
  const r = spawnSync('go', ['version', '-m', bin], { encoding: 'utf8', timeout: 30_000 });
  const mod = /^\s*mod\s+github\.com\/minio\/minio\s+(\S+)/m.exec(r.stdout ?? '');
  return mod ? `github.com/minio/minio@${mod[1]}` : v;
}
