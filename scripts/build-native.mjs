#!/usr/bin/env node
/**
 * Builds gantry's native addon (native/) with node-gyp at `npm install` / `npm ci`, and never
 * fails the install: if it cannot build (no C++ compiler, make or python3, no Node headers), it
 * prints one line saying so and exits 0; gantry then uses the next tfjs backend (wasm, cpu).
 *
 *   node scripts/build-native.mjs           build (quiet; the full log goes to native/build.log)
 *   GANTRY_NATIVE=0 npm ci                  skip the build
 *   GANTRY_NATIVE_PORTABLE=1 npm ci         build without -march=native (a binary for other CPUs)
 *
 *   GANTRY_NATIVE_HEADERS=node-api-headers  build against the node-api-headers package even where Node's headers exist
 *   GANTRY_NATIVE_HEADERS=node              use Node's own headers only (no fallback)
 *
 * Headers, in order: the local Node installation (<prefix>/include/node) or node-gyp's cache, with
 * node-gyp; else the `node-api-headers` package (a dependency), compiling the three sources
 * directly with the C++ compiler and binding.gyp's flags (the addon uses Node-API only, so those
 * headers suffice, and this needs neither make nor python3). Nothing is ever downloaded.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'native');
const logFile = path.join(dir, 'build.log');
const addonFile = path.join(dir, 'build', 'Release', 'gantry_native.node');
const say = (msg) => console.log(`gantry native addon: ${msg}`);

function giveUp(reason) {
  // The old binary (if any) may not match these sources or this machine.
  fs.rmSync(addonFile, { force: true });
  say(`not built (${reason}); gantry will use the wasm/cpu tfjs backends. Details: native/build.log`);
  process.exit(0);
}

if (process.env.GANTRY_NATIVE === '0') {
  say('skipped (GANTRY_NATIVE=0); gantry will use the wasm/cpu tfjs backends');
  process.exit(0);
}

/** node-gyp's entry script: npm's bundled copy (npm tells lifecycle scripts where it is), else PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package: fine
  }
  for (const c of candidates) if (c && c.endsWith('.js') && fs.existsSync(c)) return [process.execPath, c];
  return ['node-gyp'];
}

/** A Node prefix whose include/node has the headers for this very Node, so node-gyp needs no download. */
function localNodeDir() {
  const prefixes = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')];
  for (const p of prefixes) {
    if (p && fs.existsSync(path.join(p, 'include', 'node', 'node_api.h')) && fs.existsSync(path.join(p, 'include', 'node', 'common.gypi'))) return p;
  }
  return undefined;
}

/** Headers that node-gyp downloaded earlier (its cache), which it uses without the network. */
function cachedHeaders() {
  const version = process.version.slice(1);
  const bases = [process.env.npm_config_devdir, process.env.XDG_CACHE_HOME && path.join(process.env.XDG_CACHE_HOME, 'node-gyp'), path.join(os.homedir(), '.cache', 'node-gyp')];
  return bases.some((b) => b && fs.existsSync(path.join(b, version, 'include', 'node', 'node_api.h')));
}

let headersMode = process.env.GANTRY_NATIVE_HEADERS?.trim() || 'auto';
if (!['auto', 'node', 'node-api-headers'].includes(headersMode)) {
  say(`GANTRY_NATIVE_HEADERS=${headersMode} is not one of auto, node, node-api-headers; building as if unset`);
  headersMode = 'auto';
}
const portable = process.env.GANTRY_NATIVE_PORTABLE === '1';

/** The node-api-headers package's include dir and version, or undefined when it is not installed. */
function nodeApiHeaders() {
  try {
    const req = createRequire(path.join(root, 'package.json'));
    const pkgFile = req.resolve('node-api-headers/package.json');
    const include = path.join(path.dirname(pkgFile), 'include');
    if (!fs.existsSync(path.join(include, 'node_api.h'))) return undefined;
    return { include, version: JSON.parse(fs.readFileSync(pkgFile, 'utf8')).version };
  } catch {
    return undefined;
  }
}

function onPath(cmd) {
  if (path.isAbsolute(cmd)) return fs.existsSync(cmd) ? cmd : undefined;
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(d, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The compile and link flags binding.gyp gives node-gyp, read from binding.gyp itself so the two
 * builds cannot drift, plus the defaults node-gyp's common.gypi adds that matter for the code.
 */
function gypFlags() {
  const gyp = JSON.parse(fs.readFileSync(path.join(dir, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, ''));
  const t = gyp.targets.find((x) => x.target_name === 'gantry_native');
  const vars = { gantry_march_native: portable ? 0 : Number(gyp.variables?.['gantry_march_native%'] ?? 1) };
  const holds = (cond) => {
    const m = /^\s*(\w+)\s*==\s*(\d+)\s*$/.exec(cond);
    if (!m) throw new Error(`binding.gyp condition '${cond}' is not understood by the direct build`);
    return vars[m[1]] === Number(m[2]);
  };
  let cflags;
  const ldflags = [...(t.ldflags ?? [])];
  if (process.platform === 'darwin') {
    const x = t.xcode_settings ?? {};
    cflags = [...(x.OTHER_CPLUSPLUSFLAGS ?? []), ...(x.GCC_ENABLE_CPP_EXCEPTIONS === 'YES' ? ['-fexceptions'] : [])];
  } else {
    cflags = [...(t.cflags_cc ?? [])];
    for (const [cond, then] of t.conditions ?? []) if (holds(cond)) cflags.push(...(then.cflags_cc ?? []));
    const removed = new Set(t['cflags_cc!'] ?? []);
    cflags = cflags.filter((f) => !removed.has(f));
  }
  // node-gyp's defaults (common.gypi) that affect the code: PIC, threads, warnings, no RTTI.
  const base = ['-fPIC', '-pthread', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fno-rtti'];
  const defines = ['-DNODE_GYP_MODULE_NAME=gantry_native', '-DBUILDING_NODE_EXTENSION'];
  const link = process.platform === 'darwin' ? ['-bundle', '-undefined', 'dynamic_lookup'] : [...new Set(['-shared', '-pthread', ...ldflags])];
  return { sources: t.sources, cflags: [...base, ...defines, ...cflags], link };
}

function exec(cmd, args, log) {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => resolve({ status: null, error: e, out }));
    child.on('close', (status) => {
      fs.writeSync(log, `$ ${[cmd, ...args].join(' ')}\n${out}`);
      resolve({ status, out });
    });
  });
}

/**
 * Compile with the C++ compiler directly against the node-api-headers package: the same flags as
 * binding.gyp, the sources in parallel, and the result renamed into place (a process that has
 * the old binary loaded keeps it).
 */
async function directBuild(headers, log) {
  if (process.platform === 'win32') return { fail: 'no Node headers, and the node-api-headers build supports Linux and macOS only (Windows needs node.lib)' };
  const cxx = [process.env.CXX, 'c++', 'g++', 'clang++'].filter(Boolean).find(onPath);
  if (!cxx) return { fail: 'no C++ compiler found (c++, g++ or clang++; or set CXX)' };
  let flags;
  try {
    flags = gypFlags();
  } catch (e) {
    return { fail: `could not read binding.gyp: ${e.message}` };
  }
  const build = path.join(dir, 'build');
  const release = path.join(build, 'Release');
  const objDir = path.join(build, 'napi-obj');
  // An earlier node-gyp build's files would only mislead; the binary itself is replaced by rename below.
  for (const f of ['Makefile', 'binding.Makefile', 'config.gypi', 'gantry_native.target.mk', 'napi-obj', path.join('Release', 'obj.target'), path.join('Release', '.deps')]) {
    fs.rmSync(path.join(build, f), { recursive: true, force: true });
  }
  fs.mkdirSync(objDir, { recursive: true });
  fs.mkdirSync(release, { recursive: true });
  fs.writeSync(log, `direct build against node-api-headers ${headers.version} (${headers.include}) with ${cxx}\n`);
  const objs = flags.sources.map((s) => path.join(objDir, path.basename(s).replace(/\.\w+$/, '.o')));
  const compiled = await Promise.all(
    flags.sources.map((s, i) => exec(cxx, [...flags.cflags, `-I${headers.include}`, '-c', s, '-o', objs[i]], log)),
  );
  const bad = compiled.find((r) => r.status !== 0);
  if (bad) return { fail: bad.error ? `could not run ${cxx}: ${bad.error.code ?? bad.error.message}` : 'the C++ compiler failed' };
  const tmp = `${addonFile}.${process.pid}.tmp`;
  const linked = await exec(cxx, [...flags.link, '-o', tmp, ...objs], log);
  if (linked.status !== 0) {
    fs.rmSync(tmp, { force: true });
    return { fail: 'linking failed' };
  }
  fs.renameSync(tmp, addonFile);
  return { fail: undefined, cxx: path.basename(cxx) };
}

function nodeGypHint(status, signal) {
  const text = fs.readFileSync(logFile, 'utf8');
  return /Error: not found: make|spawn make ENOENT/.test(text)
    ? 'make not found'
    : /Could not find any Python/i.test(text)
      ? 'python3 not found'
      : /`make` failed|error:/.test(text)
        ? 'the C++ compiler failed or is missing'
        : /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT/.test(text)
          ? 'Node headers not installed and could not be downloaded'
          : `node-gyp exited with ${status ?? signal}`;
}

const log = fs.openSync(logFile, 'w');
const started = Date.now();
const nodedir = headersMode === 'node-api-headers' ? undefined : localNodeDir();
const useGyp = headersMode !== 'node-api-headers' && (nodedir !== undefined || cachedHeaders());
let headersUsed;
let gypFailure;
if (useGyp) {
  const [cmd, ...pre] = nodeGyp();
  const args = [...pre, 'rebuild', `--directory=${dir}`];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  if (portable) args.push('--', '-Dgantry_march_native=0');
  fs.writeSync(log, `$ ${[cmd, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', log, log], env: process.env, timeout: 10 * 60_000 });
  if (r.error) gypFailure = `could not run node-gyp: ${r.error.message}`;
  else if (r.status !== 0) gypFailure = nodeGypHint(r.status, r.signal);
  else if (!fs.existsSync(addonFile)) gypFailure = 'node-gyp succeeded but produced no gantry_native.node';
  headersUsed = `node-gyp with ${nodedir ? `Node's headers in ${path.join(nodedir, 'include', 'node')}` : `Node ${process.version} headers from node-gyp's cache`}`;
}
// Without Node's headers (or when node-gyp lacked make or python3), the node-api-headers package.
if (!useGyp || (headersMode === 'auto' && /^(make|python3) not found$|^could not run node-gyp/.test(gypFailure ?? ''))) {
  const pkg = headersMode === 'node' ? undefined : nodeApiHeaders();
  if (!pkg) {
    fs.closeSync(log);
    giveUp(
      gypFailure ??
        (headersMode === 'node'
          ? `no Node ${process.version} headers on this machine (GANTRY_NATIVE_HEADERS=node forbids the node-api-headers fallback; gantry never downloads at install)`
          : `no Node ${process.version} headers on this machine and no node-api-headers package (gantry never downloads at install)`),
    );
  }
  const why = gypFailure ? ` (node-gyp: ${gypFailure})` : headersMode === 'node-api-headers' ? ' (GANTRY_NATIVE_HEADERS)' : '';
  if (gypFailure) fs.writeSync(log, `\nnode-gyp failed (${gypFailure}); building directly against node-api-headers instead\n`);
  const r = await directBuild(pkg, log);
  gypFailure = r.fail;
  headersUsed = `node-api-headers ${pkg.version}${why}, compiled directly with ${r.cxx}`;
}
fs.closeSync(log);
if (gypFailure) giveUp(gypFailure);

// Load it once: a binary that builds but cannot load is no better than none.
const check = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(addonFile)}); console.log(JSON.stringify(a.info()))`], {
  encoding: 'utf8',
});
if (check.status !== 0) {
  fs.appendFileSync(logFile, `\nload check failed:\n${check.stderr}`);
  giveUp('built, but it does not load');
}
const info = JSON.parse(check.stdout.trim());
say(`built in ${((Date.now() - started) / 1000).toFixed(1)} s (${info.isa} GEMM, ${info.threads} threads; headers: ${headersUsed})`);
