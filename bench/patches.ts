/**
 * `npx tsx bench/patches.ts`: patch extraction end to end on the real Magnetic Tile Defects images,
 * gantry against a plain NumPy + PIL implementation (bench/patches_reference.py).
 *
 * For every MT_<class>/Imgs/<name>.jpg (sorted by class, then name) and its <name>.png mask:
 * decode both with sharp, label a 32×32 stride-16 grid by the mask (pixels > 127 anomalous; a patch
 * anomalous when its fraction is > threshold), copy the patches into a float32 batch scaled by
 * 1/255. Decoding runs ahead of the tiling on libuv's threads: BENCH_CONCURRENCY images (default
 * 2, so 4 decodes, each image's jpg and png at once) are always in flight. Both sides run a
 * warm-up pass (file cache, JIT), then BENCH_ROUNDS (default 3) rounds alternate one timed gantry
 * pass and one reference run (its own warm-up and timed pass); each side's best round is reported.
 * The time includes decoding.
 *
 * Env: GANTRY_MTD_DIR (default ../shared/data/mtd from the repository), BENCH_CONCURRENCY, BENCH_ROUNDS,
 * BENCH_THRESHOLD (default 0: any defect pixel). No assertions: figures only; the last line is
 * `ratio <gantry/reference> …`. Timings on a shared or busy machine vary run to run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { extractPatches, patchGrid, type Mask, type PatchSpec, type Pixels } from '../datasets/patches.js';
import { int, rate } from './format.js';

const PYTHON = '/usr/bin/python3';
const HERE = path.dirname(fileURLToPath(import.meta.url));
// Run from source (bench/) or compiled (dist/bench/): the repository root is one or two levels up.
const REPO = path.basename(path.dirname(HERE)) === 'dist' ? path.resolve(HERE, '..', '..') : path.resolve(HERE, '..');
const DATA = process.env.GANTRY_MTD_DIR ?? path.resolve(REPO, '..', 'shared', 'data', 'mtd');
const REFERENCE = path.join(REPO, 'bench', 'patches_reference.py');

export interface PatchBenchResult {
  images: number;
  patches: number;
  anomalous: number;
  seconds: number;
  patchesPerS: number;
  /** time spent in mask conversion, patchGrid and extractPatches (the rest is decoding and waiting) */
  computeSeconds?: number;
}

/** [jpg, png] pairs in the reference's order (code-point sort, as Python's sorted()). */
function listImages(root: string): [string, string][] {
  const out: [string, string][] = [];
  for (const cls of fs.readdirSync(root).filter((d) => d.startsWith('MT_')).sort()) {
    const dir = path.join(root, cls, 'Imgs');
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort()) {
      out.push([path.join(dir, name), path.join(dir, name.slice(0, -4) + '.png')]);
    }
  }
  return out;
}

/**
 * One channel, 8 bits. sharp outputs sRGB (3 channels) by default even for grayscale files;
 * asking for 'b-w' keeps the single plane (MTD is grayscale; a colour file would become luma).
 */
async function decodeGray(file: string): Promise<Pixels> {
  const { data, info } = await sharp(file).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 || data.length !== info.width * info.height) {
    throw new Error(`${file}: decoded to ${info.channels} channel(s), ${data.length} bytes for ${info.width}×${info.height}; expected one 8-bit plane`);
  }
  return { width: info.width, height: info.height, channels: 1, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** 0/1 mask from an 8-bit plane: pixels > 127 anomalous (the reference's rule). */
function toMask(p: Pixels): Mask {
  const n = p.width * p.height;
  const m = new Uint8Array(n);
  const d = p.data as Uint8Array;
  // Skip runs of zero bytes four at a time (most of a defect mask is background); > 127 is bit 7.
  const head = Math.min(n, (4 - (d.byteOffset & 3)) & 3);
  for (let i = 0; i < head; i++) m[i] = d[i] >>> 7;
  const words = (n - head) >>> 2;
  const w = new Uint32Array(d.buffer, d.byteOffset + head, words);
  for (let k = 0; k < words; k++) {
    if (w[k] === 0) continue;
    const i = head + 4 * k;
    m[i] = d[i] >>> 7;
    m[i + 1] = d[i + 1] >>> 7;
    m[i + 2] = d[i + 2] >>> 7;
    m[i + 3] = d[i + 3] >>> 7;
  }
  for (let i = head + 4 * words; i < n; i++) m[i] = d[i] >>> 7;
  return { width: p.width, height: p.height, data: m };
}

async function gantryPass(files: [string, string][], spec: PatchSpec, ahead: number): Promise<PatchBenchResult> {
  const t0 = performance.now();
  let patches = 0;
  let anomalous = 0;
  let compute = 0;
  const per = spec.size * spec.size;
  // A sliding window of `ahead` images (2·ahead decodes) decoding on libuv's threads while this
  // thread labels and copies the oldest one, so the decoders never wait for the copying.
  const decode = (i: number) => Promise.all([decodeGray(files[i][0]), decodeGray(files[i][1])]);
  const window: Promise<[Pixels, Pixels]>[] = [];
  for (let i = 0; i < Math.min(ahead, files.length); i++) window.push(decode(i));
  // One batch buffer, grown as needed (a loader would hand it to a shard writer).
  let out = new Float32Array(0);
  for (let i = 0; i < files.length; i++) {
    const [img, maskImg] = await window.shift()!;
    if (i + ahead < files.length) window.push(decode(i + ahead));
    const c0 = performance.now();
    const grid = patchGrid(img.width, img.height, toMask(maskImg), spec);
    if (out.length < grid.count * per) out = new Float32Array(grid.count * per * 2);
    extractPatches(img, grid, spec.size, out, 0, 1 / 255);
    patches += grid.count;
    for (let k = 0; k < grid.count; k++) anomalous += grid.labels[k];
    compute += performance.now() - c0;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { images: files.length, patches, anomalous, seconds, patchesPerS: patches / seconds, computeSeconds: compute / 1000 };
}

function reference(spec: PatchSpec): { result?: PatchBenchResult; why?: string } {
  const probe = spawnSync(PYTHON, ['-c', 'import numpy, PIL'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { why: `${PYTHON} with numpy and PIL not available` };
  if (!fs.existsSync(REFERENCE)) return { why: `reference script not found at ${REFERENCE}` };
  const r = spawnSync(PYTHON, [REFERENCE, DATA, String(spec.size), String(spec.stride), String(spec.threshold)], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0) return { why: `reference script failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const o = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { images: number; patches: number; anomalous: number; seconds: number; patches_per_s: number };
  return { result: { images: o.images, patches: o.patches, anomalous: o.anomalous, seconds: o.seconds, patchesPerS: o.patches_per_s } };
}

function best(runs: PatchBenchResult[]): PatchBenchResult {
  return runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

export async function benchPatches(): Promise<{ gantry?: PatchBenchResult; reference?: PatchBenchResult }> {
  if (!fs.existsSync(DATA)) {
    console.log(`skipped: no Magnetic Tile Defects images at ${DATA} (set GANTRY_MTD_DIR)`);
    return {};
  }
  const files = listImages(DATA);
  if (files.length === 0) {
    console.log(`skipped: no MT_<class>/Imgs/*.jpg under ${DATA}`);
    return {};
  }
  const spec: PatchSpec = { size: 32, stride: 16, threshold: Number(process.env.BENCH_THRESHOLD ?? 0) };
  const concurrency = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 2));
  // Decoded pixels must not come from sharp's operation cache on the timed pass.
  sharp.cache(false);
  console.log(`${files.length} images from ${DATA}; patches ${spec.size}×${spec.size} stride ${spec.stride}, anomalous when > ${spec.threshold} of the mask`);
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
  await gantryPass(files, spec, concurrency);
  // Rounds alternate gantry and the reference, so a change in the machine's load hits both; the
  // figures are each side's best round.
  const gs: PatchBenchResult[] = [];
  const rs: PatchBenchResult[] = [];
  let why: string | undefined;
  for (let k = 0; k < rounds; k++) {
    gs.push(await gantryPass(files, spec, concurrency));
    if (why === undefined) {
      const ref = reference(spec);
      if (ref.result) rs.push(ref.result);
      else why = ref.why;
    }
  }
  const g = best(gs);
  const secs = (runs: PatchBenchResult[]) => runs.map((x) => x.seconds.toFixed(2)).join(', ');
  console.log(`gantry (sharp, ${2 * concurrency} decodes in flight): ${int(g.patches)} patches (${int(g.anomalous)} anomalous) in ${g.seconds.toFixed(2)} s = ${rate(g.patchesPerS)} patches/s; ${g.computeSeconds!.toFixed(2)} s of it on the main thread in mask + grid + extraction (rounds: ${secs(gs)} s)`);
  if (rs.length === 0) {
    console.log(`reference skipped: ${why}`);
    console.log(`ratio n/a (gantry ${rate(g.patchesPerS)} patches/s, no reference)`);
    return { gantry: g };
  }
  const r = best(rs);
  console.log(`reference (NumPy + PIL, one process): ${int(r.patches)} patches (${int(r.anomalous)} anomalous) in ${r.seconds.toFixed(2)} s = ${rate(r.patchesPerS)} patches/s (rounds: ${secs(rs)} s)`);
  const same = r.images === g.images && r.patches === g.patches && r.anomalous === g.anomalous;
  console.log(same ? `same counts: ${int(g.patches)} patches, ${int(g.anomalous)} anomalous over ${g.images} images` : `COUNTS DIFFER: gantry ${g.patches}/${g.anomalous} over ${g.images}, reference ${r.patches}/${r.anomalous} over ${r.images}`);
  const ratio = g.patchesPerS / r.patchesPerS;
  console.log(`ratio ${ratio.toFixed(2)} (gantry ${rate(g.patchesPerS)} patches/s, reference ${rate(r.patchesPerS)} patches/s; target ≥ 1.5)`);
  return { gantry: g, reference: r };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchPatches();
}
