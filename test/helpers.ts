/** Shared test helpers: temporary gantry homes and running the real CLI. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

export const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export async function tempHome(prefix = 'gantry-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(args: string[], env: Record<string, string>, cwd?: string): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CI: 'true', ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function runCli(args: string[], env: Record<string, string>, cwd?: string): Promise<CliResult> {
  return startCli(args, env, cwd).done;
}

export async function writeStudy(dir: string, study: unknown, name = 'study.json'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(study, null, 1));
  return path;
}

/** A small, fast study on a synthetic scene. */
export function toyStudy(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'toy',
    base: {
      dataset: { kind: 'synthetic-hsi', rows: 16, cols: 16, bands: 6, anomalies: 4, seed: 1 },
      model: { kind: 'wgan-gp', iterations: 6, hidden: 8, batchSize: 32, criticIters: 1, scoreRestarts: 1, scoreIterations: 3, logEvery: 2 },
    },
    grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.noiseDim': [2, 3, 4], 'model.hidden': [4, 6, 8] } }],
    seeds: [0],
    ...over,
  };
}

/** A minimal MATLAB v5 writer (uncompressed double arrays, column-major) for test datasets. */
export function matFile(vars: { name: string; dims: number[]; data: ArrayLike<number> }[]): Buffer {
  const pad8 = (b: Buffer) => Buffer.concat([b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
  const el = (type: number, payload: Buffer) => {
    const tag = Buffer.alloc(8);
    tag.writeUInt32LE(type, 0);
    tag.writeUInt32LE(payload.length, 4);
    return Buffer.concat([tag, pad8(payload)]);
  };
  const header = Buffer.alloc(128, ' ');
  header.write('MATLAB 5.0 MAT-file, written by gantry tests', 0, 'ascii');
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'ascii');
  const parts = vars.map((v) => {
    const flags = Buffer.alloc(8);
    flags.writeUInt32LE(6, 0); // mxDOUBLE_CLASS
    const dims = Buffer.alloc(4 * v.dims.length);
    v.dims.forEach((d, i) => dims.writeInt32LE(d, 4 * i));
    const real = Buffer.alloc(8 * v.data.length);
    for (let i = 0; i < v.data.length; i++) real.writeDoubleLE(v.data[i], 8 * i);
    return el(14, Buffer.concat([el(6, flags), el(5, dims), el(1, Buffer.from(v.name, 'ascii')), el(9, real)]));
  });
  return Buffer.concat([header, ...parts]);
}

/** The repository root (the folder holding package.json), whether tests run from test/ or dist/test/. */
export const REPO_ROOT = (() => {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = join(dir, '..');
    if (up === dir) throw new Error('package.json not found above the tests');
    dir = up;
  }
  return dir;
})();

/** The shared real data beside the checkout (present in CI; tests that need it skip without it). */
export const SANDIEGO = join(REPO_ROOT, '..', 'shared', 'data', 'hsi', 'sandiego_plane.mat');

/**
 * A study whose filter asks for bands 0–99 of a 6-band cube in a .mat file (written to `dir`):
 * bad input that only the filter step can see (the band count is in the file, not the spec).
 */
export async function bandsBeyondCubeStudy(dir: string): Promise<Record<string, unknown>> {
  const [rows, cols, bands] = [8, 8, 6];
  const path = join(dir, 'six-bands.mat');
  await writeFile(path, matFile([
    { name: 'data', dims: [rows, cols, bands], data: Array.from({ length: rows * cols * bands }, (_, i) => (i * 7) % 11) },
    { name: 'map', dims: [rows, cols], data: Array.from({ length: rows * cols }, (_, i) => (i % 9 === 0 ? 1 : 0)) },
  ]));
  return toyStudy({ base: { dataset: { kind: 'mat', path }, model: { kind: 'rx' }, filter: { bands: { start: 0, end: 99 } } }, grid: [{}] });
}
