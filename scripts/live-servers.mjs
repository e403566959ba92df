#!/usr/bin/env node
/**
 * Installs the real servers that gantry's live test suites run against, from the package
 * registries alone, into one cache directory that later runs reuse:
 *
 *   temporal  the Temporal CLI (its `server start-dev`), built with `go install` from its Go module
 *   mlflow    MLflow 2.10.2 from PyPI in a virtual environment (pinned: scripts/live/mlflow-requirements.txt)
 *   minio     MinIO, built with `go install` from its Go module (a real S3 server: SigV4, multipart)
 *   chromium  Debian's chromium, for the MLflow UI test (apt-get, only when run as root)
 *   numpy     Debian's python3-numpy, -scipy, -pil, -sklearn: the reference writer of the loader round-trip tests and
 *             the metrics' scikit-learn reference (apt-get, as root)
 *
 *   node scripts/live-servers.mjs provision [--only temporal,mlflow] [--require]
 *   node scripts/live-servers.mjs status
 *
 * The binaries land in $GANTRY_LIVE_DIR/bin (default ~/.cache/gantry/live/bin), where the test
 * suites look first (test/live/servers.ts); the Go module and build caches are Go's own. Each
 * server gets one line: ready (version, how long it took) or skipped (why). With --require a
 * server that could not be provisioned exits 1 (CI). The suites start the servers themselves,
 * each on a free loopback port with temporary data, and stop them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const liveDir = process.env.GANTRY_LIVE_DIR || path.join(os.homedir(), '.cache', 'gantry', 'live');
const binDir = path.join(liveDir, 'bin');

/** What each server is, pinned. Bump a version here and the next provision rebuilds it. */
const SERVERS = {
  temporal: { version: 'cli v1.5.1 (server 1.29)', module: 'github.com/temporalio/cli/cmd/temporal@v1.5.1' },
  mlflow: { version: '2.10.2', requirements: path.join(root, 'scripts', 'live', 'mlflow-requirements.txt') },
  // MinIO tags releases as RELEASE.<date>, which Go cannot name; this is the newest commit the proxy serves (2026-02-12).
  minio: { version: 'v0.0.0-20260212201848-7aac2a2c5b7c', module: 'github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c' },
  chromium: { version: 'Debian chromium' },
  // Not a server: the independent writer of reference files for the loader round-trip tests, and scikit-learn for the metrics'.
  numpy: { version: 'Debian python3-numpy, python3-scipy, python3-pil, python3-sklearn' },
};

class Skip extends Error {}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Skip(`${cmd} could not run (${r.error.code ?? r.error.message})`);
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
    throw new Skip(`${cmd} ${args.slice(0, 2).join(' ')} failed: ${tail}`);
  }
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A stamp beside each binary says which pinned version it is, so a bump rebuilds. */
function stampOf(name) {
  try {
    return fs.readFileSync(path.join(binDir, `.${name}.version`), 'utf8').trim();
  } catch {
    return undefined;
  }
}
function stamp(name, version) {
  fs.writeFileSync(path.join(binDir, `.${name}.version`), version + '\n');
}
function cached(name) {
  return stampOf(name) === SERVERS[name].version && fs.existsSync(path.join(binDir, name));
}

function goInstall(name) {
  if (!which('go')) throw new Skip('go not found (Go 1.22 or newer builds it from the Go module proxy)');
  const gobin = path.join(liveDir, 'go-bin');
  fs.mkdirSync(gobin, { recursive: true });
  // CGO off: static binaries that need no C toolchain; GOFLAGS cleared so a user's -mod=vendor cannot interfere.
  run('go', ['install', SERVERS[name].module], { env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0', GOFLAGS: '' }, timeout: 40 * 60_000 });
  const built = path.join(gobin, name);
  fs.rmSync(path.join(binDir, name), { force: true });
  fs.copyFileSync(built, path.join(binDir, name));
  fs.chmodSync(path.join(binDir, name), 0o755);
  fs.rmSync(built, { force: true });
}

const provisioners = {
  temporal() {
    goInstall('temporal');
    return run(path.join(binDir, 'temporal'), ['--version']);
  },
  minio() {
    goInstall('minio');
    return run(path.join(binDir, 'minio'), ['--version']).split('\n')[0];
  },
  mlflow() {
    const python = ['python3', 'python'].find(which);
    if (!python) throw new Skip('python3 not found');
    const venv = path.join(liveDir, `mlflow-${SERVERS.mlflow.version}`);
    fs.rmSync(venv, { recursive: true, force: true });
    run(python, ['-m', 'venv', venv]);
    const pip = path.join(venv, 'bin', 'pip');
    run(pip, ['install', '--quiet', '--disable-pip-version-check', '--no-input', '-r', SERVERS.mlflow.requirements], { timeout: 30 * 60_000 });
    fs.rmSync(path.join(binDir, 'mlflow'), { force: true });
    fs.symlinkSync(path.join(venv, 'bin', 'mlflow'), path.join(binDir, 'mlflow'));
    return `mlflow ${run(path.join(binDir, 'mlflow'), ['--version']).replace(/^.*version\s*/, '')}`;
  },
  numpy() {
    const py = '/usr/bin/python3';
    const check = () => spawnSync(py, ['-c', 'import numpy, scipy.io, scipy.ndimage, PIL, sklearn.metrics'], { stdio: 'ignore' }).status === 0;
    if (!check()) {
      if (process.getuid?.() !== 0 || !which('apt-get')) throw new Skip(`${py} lacks numpy/scipy/PIL/sklearn, and apt-get is not available to root here to install Debian's`);
      run('apt-get', ['update', '-qq'], { timeout: 10 * 60_000 });
      run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'python3-numpy', 'python3-scipy', 'python3-pil', 'python3-sklearn'], { timeout: 20 * 60_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (!check()) throw new Skip(`apt-get installed them, but ${py} still cannot import numpy, scipy.io, scipy.ndimage, PIL and sklearn.metrics`);
    }
    fs.rmSync(path.join(binDir, 'numpy'), { force: true });
    fs.symlinkSync(py, path.join(binDir, 'numpy'));
    return run(py, ['-c', "import numpy, scipy, PIL, sklearn; print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'PIL', PIL.__version__, 'sklearn', sklearn.__version__)"]);
  },
  chromium() {
    const found = ['chromium', 'chromium-browser'].map(which).find(Boolean);
    if (!found) {
      if (process.getuid?.() !== 0 || !which('apt-get')) throw new Skip('no chromium on PATH, and apt-get is not available to root here to install Debian\'s');
      run('apt-get', ['update', '-qq'], { timeout: 10 * 60_000 });
      run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium', 'fonts-dejavu-core'], { timeout: 20 * 60_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    }
    const bin = ['chromium', 'chromium-browser'].map(which).find(Boolean);
    if (!bin) throw new Skip('apt-get installed chromium, but it is not on PATH');
    fs.rmSync(path.join(binDir, 'chromium'), { force: true });
    fs.symlinkSync(bin, path.join(binDir, 'chromium'));
    return run(bin, ['--version']);
  },
};

function parseArgs(argv) {
  const [cmd = 'help', ...rest] = argv;
  const o = { cmd, only: Object.keys(SERVERS), require: false };
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--require') o.require = true;
    else if (rest[i] === '--only') o.only = (rest[++i] ?? '').split(',').filter(Boolean);
    else throw new Error(`unknown option ${rest[i]}`);
  }
  for (const n of o.only) if (!(n in SERVERS)) throw new Error(`unknown server '${n}' (known: ${Object.keys(SERVERS).join(', ')})`);
  return o;
}

function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`live-servers: ${e.message}`);
    process.exit(2);
  }
  if (o.cmd === 'status') {
    for (const n of o.only) console.log(`live: ${n.padEnd(8)} ${cached(n) ? `provisioned (${stampOf(n)})` : 'not provisioned'} ${path.join(binDir, n)}`);
    return;
  }
  if (o.cmd !== 'provision') {
    console.log('usage: node scripts/live-servers.mjs provision [--only temporal,mlflow,minio,chromium,numpy] [--require]\n       node scripts/live-servers.mjs status');
    process.exit(o.cmd === 'help' || o.cmd === '--help' ? 0 : 2);
  }
  fs.mkdirSync(binDir, { recursive: true });
  let failed = 0;
  const total = Date.now();
  for (const name of o.only) {
    const started = Date.now();
    const secs = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    if (cached(name)) {
      console.log(`live: ${name.padEnd(8)} ready, cached (${stampOf(name)}) in ${path.join(binDir, name)}`);
      continue;
    }
    try {
      const version = provisioners[name]();
      stamp(name, SERVERS[name].version);
      console.log(`live: ${name.padEnd(8)} ready (${version.replace(/\s+/g, ' ')}) in ${secs()}`);
    } catch (e) {
      if (!(e instanceof Skip)) throw e;
      failed++;
      console.log(`live: ${name.padEnd(8)} skipped after ${secs()}: ${e.message}`);
    }
  }
  console.log(`live: provisioning took ${((Date.now() - total) / 1000).toFixed(1)} s; binaries in ${binDir}`);
  if (failed && o.require) process.exit(1);
}

main();
