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
 * Node headers come from the local Node installation (<prefix>/include/node) or node-gyp's cache;
 * nothing is ever downloaded: without local headers the addon is not built.
 */
import { spawnSync } from 'node:child_process';
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

const log = fs.openSync(logFile, 'w');
const [cmd, ...pre] = nodeGyp();
const args = [...pre, 'rebuild', `--directory=${dir}`];
const nodedir = localNodeDir();
if (nodedir) args.push(`--nodedir=${nodedir}`);
else if (!cachedHeaders()) {
  fs.closeSync(log);
  giveUp(`no Node ${process.version} headers on this machine (node-gyp would download them; gantry never downloads at install)`);
}
if (process.env.GANTRY_NATIVE_PORTABLE === '1') args.push('--', '-Dgantry_march_native=0');
fs.writeSync(log, `$ ${[cmd, ...args].join(' ')}\n`);
const started = Date.now();
const r = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', log, log], env: process.env, timeout: 10 * 60_000 });
fs.closeSync(log);
if (r.error) giveUp(`could not run node-gyp: ${r.error.message}`);
if (r.status !== 0) {
  const text = fs.readFileSync(logFile, 'utf8');
  const hint = /Error: not found: make|spawn make ENOENT/.test(text)
    ? 'make not found'
    : /Could not find any Python/i.test(text)
      ? 'python3 not found'
      : /`make` failed|error:/.test(text)
        ? 'the C++ compiler failed or is missing'
        : /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT/.test(text)
          ? 'Node headers not installed and could not be downloaded'
          : `node-gyp exited with ${r.status ?? r.signal}`;
  giveUp(hint);
}
if (!fs.existsSync(addonFile)) giveUp('node-gyp succeeded but produced no gantry_native.node');

// Load it once: a binary that builds but cannot load is no better than none.
const check = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(addonFile)}); console.log(JSON.stringify(a.info()))`], {
  encoding: 'utf8',
});
if (check.status !== 0) {
  fs.appendFileSync(logFile, `\nload check failed:\n${check.stderr}`);
  giveUp('built, but it does not load');
}
const info = JSON.parse(check.stdout.trim());
say(`built in ${((Date.now() - started) / 1000).toFixed(1)} s (${info.isa} GEMM, ${info.threads} threads)`);
