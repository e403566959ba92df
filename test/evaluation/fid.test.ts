/**
 * FID (evaluation/fid.ts, `gantry fid`): closed-form cases, SciPy's sqrtm formula (pytorch-fid's,
 * through fid_reference.py with Debian's python3) over the same feature matrices, and the CLI end
 * to end with a small tfjs graph model and two folders of PNGs. The SciPy checks skip with the
 * reason where python3 or SciPy is missing, and fail instead under GANTRY_LIVE=require.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { fid, fidWarnings, fitGaussian, frechetDistance, MomentAccumulator } from '../../evaluation/fid.js';
import { Prng } from '../../datasets/prng.js';
import { resizeBilinear } from '../../datasets/transforms.js';
import { selectBackend } from '../../models/backend.js';
import { PY, pythonMissing } from '../datasets/reference.js';
import { REPO_ROOT, runCli, tempHome } from '../helpers.js';
import { writeGraphModel } from '../graph-model.js';
import { close, userError } from './vectors.js';

/** n vectors of dim: x = mean + z·L with z standard normal (covariance LᵀL), row-major float64. */
function gaussianSample(seed: number, n: number, dim: number, mean: number[], mix?: number[][]): Float64Array {
  const rng = new Prng(seed);
  const out = new Float64Array(n * dim);
  const z = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < dim; j++) z[j] = rng.normal();
    for (let j = 0; j < dim; j++) {
      let v = mean[j];
      if (mix) for (let k = 0; k < dim; k++) v += z[k] * mix[k][j];
      else v += z[j];
      out[r * dim + j] = v;
    }
  }
  return out;
}

function randomMix(seed: number, dim: number, scale = 1): number[][] {
  const rng = new Prng(seed);
  return Array.from({ length: dim }, (_, i) => Array.from({ length: dim }, (_, j) => (i === j ? 1 : 0) * scale + rng.normal() * 0.4 * scale));
}

test('identical sets have FID 0 (within 1e-9), also with a singular covariance (n ≤ dim)', () => {
  for (const [n, dim] of [[300, 8], [50, 32], [10, 16]]) {
    const x = gaussianSample(n + dim, n, dim, Array.from({ length: dim }, (_, j) => j - 3), randomMix(dim, dim, 2));
    const r = fid(x, n, Float64Array.from(x), n, dim);
    assert.ok(r.fid >= 0 && r.fid < 1e-9, `n ${n} dim ${dim}: ${r.fid}`);
    close(r.meanTerm, 0, 0, 'mean term');
    assert.equal(r.warnings.length, n <= dim ? 2 : 0);
  }
});

test('two Gaussians with diagonal covariances: ‖μ1 − μ2‖² + Σ (σ1 − σ2)², from parameters and from samples', () => {
  const m1 = [0, 1, -2, 5];
  const m2 = [1, 1, 0, 4.5];
  const v1 = [1, 4, 0.25, 9];
  const v2 = [4, 1, 0.25, 2];
  const diag = (v: number[]) => {
    const c = new Float64Array(v.length * v.length);
    v.forEach((x, i) => (c[i * v.length + i] = x));
    return c;
  };
  const want = (m: number[], s: number[]) => m1.reduce((a, _, i) => a + (m1[i] - m[i]) ** 2 + (Math.sqrt(v1[i]) - Math.sqrt(s[i])) ** 2, 0);
  const r = frechetDistance({ mean: m1, cov: diag(v1) }, { mean: m2, cov: diag(v2) });
  close(r.fid, want(m2, v2), 1e-12, 'parameters');
  close(r.meanTerm, 1 + 4 + 0.25, 1e-12);
  // Σ2 = k² Σ1 (not diagonal): Tr(Σ1 + k²Σ1 − 2kΣ1) = (1 − k)² Tr Σ1.
  const mix = randomMix(7, 6);
  const s1 = fitGaussian(gaussianSample(1, 400, 6, [0, 0, 0, 0, 0, 0], mix), 400, 6);
  const k = 2.5;
  const r2 = frechetDistance(s1, { mean: s1.mean.map((x) => x + 1), cov: s1.cov.map((x) => x * k * k) });
  let tr = 0;
  for (let i = 0; i < 6; i++) tr += s1.cov[i * 6 + i];
  close(r2.fid, 6 + (1 - k) ** 2 * tr, 1e-9 * tr, 'Σ2 = k²Σ1');
  // From samples whose sample statistics are exact: the 2d points μ ± t_i e_i have mean μ and
  // covariance diag(2 t_i² / (2d − 1)) (n − 1 = 2d − 1).
  const points = (m: number[], v: number[]) => {
    const d = m.length;
    const x = new Float64Array(2 * d * d);
    for (let i = 0; i < d; i++) {
      const t = Math.sqrt((v[i] * (2 * d - 1)) / 2);
      for (let j = 0; j < d; j++) {
        x[2 * i * d + j] = m[j] + (i === j ? t : 0);
        x[(2 * i + 1) * d + j] = m[j] - (i === j ? t : 0);
      }
    }
    return x;
  };
  const fromSamples = fid(points(m1, v1), 8, points(m2, v2), 8, 4);
  close(fromSamples.fid, want(m2, v2), 1e-9, 'samples');
  assert.deepEqual(fromSamples.n, [8, 8]);
  assert.equal(fromSamples.dim, 4);
});

test('batches merged one at a time give the one-pass statistics, also far from the origin', () => {
  const dim = 5;
  const n = 1000;
  const x = gaussianSample(3, n, dim, [1e6, -1e6, 3e5, 0, 7], randomMix(4, dim, 1e-2));
  const acc = new MomentAccumulator(dim);
  for (let s = 0; s < n; s += 37) acc.add(x.subarray(s * dim, Math.min(n, s + 37) * dim), Math.min(37, n - s));
  const g = acc.gaussian();
  // Two-pass reference.
  const mean = new Float64Array(dim);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) mean[j] += x[r * dim + j] / n;
  for (let i = 0; i < dim; i++) {
    close(g.mean[i], mean[i], 1e-9 * Math.max(1, Math.abs(mean[i])), `mean ${i}`);
    for (let j = 0; j < dim; j++) {
      let c = 0;
      for (let r = 0; r < n; r++) c += (x[r * dim + i] - mean[i]) * (x[r * dim + j] - mean[j]);
      close(g.cov[i * dim + j], c / (n - 1), 1e-7 * Math.abs(g.cov[i * dim + i]), `cov ${i},${j}`);
    }
  }
});

test('fewer than 2 vectors, NaN features and mismatched dimensions are clear errors; n ≤ dim warns', () => {
  const x = gaussianSample(1, 10, 3, [0, 0, 0]);
  userError(() => fid(x.subarray(0, 3), 1, x, 10, 3), /set A has 1 feature vector: FID needs at least 2 per set/);
  userError(() => fid(x, 10, new Float64Array(0), 0, 3), /set B has 0 feature vectors/);
  const bad = Float64Array.from(x);
  bad[7] = NaN;
  userError(() => fid(x, 10, bad, 10, 3), /feature 1 of vector 2 is NaN/);
  userError(() => frechetDistance({ mean: [0, 0], cov: [1, 0, 0, 1] }, { mean: [0], cov: [1] }), /differ in dimension: 2 and 1/);
  assert.deepEqual(fidWarnings(100, 100, 64), []);
  const w = fidWarnings(64, 100, 64);
  assert.equal(w.length, 1);
  assert.match(w[0], /set A has 64 images for 64 features: its covariance is singular/);
});

// The script beside this test's source (the tests may be compiled elsewhere, linked to package.json).
function referenceScript(): string {
  for (const root of [REPO_ROOT, dirname(realpathSync(join(REPO_ROOT, 'package.json')))]) {
    const p = join(root, 'test', 'evaluation', 'fid_reference.py');
    if (existsSync(p)) return p;
  }
  throw new Error('test/evaluation/fid_reference.py not found');
}

interface Reference {
  fid: number;
  mean_term: number;
  cov_term: number;
  imag: number;
}

/** SciPy's FID of each pair of feature matrices, through float64 files. */
async function scipyFid(dir: string, cases: { a: ArrayLike<number>; n1: number; b: ArrayLike<number>; n2: number; dim: number }[]): Promise<Reference[]> {
  await mkdir(dir, { recursive: true });
  const req = await Promise.all(
    cases.map(async (c, i) => {
      const a = join(dir, `a${i}.f64`);
      const b = join(dir, `b${i}.f64`);
      await writeFile(a, new Uint8Array(Float64Array.from(c.a).buffer));
      await writeFile(b, new Uint8Array(Float64Array.from(c.b).buffer));
      return { a, b, n1: c.n1, n2: c.n2, dim: c.dim };
    }),
  );
  const r = spawnSync(PY, [referenceScript()], { input: JSON.stringify({ cases: req }), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`fid_reference.py failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { results: Reference[] }).results;
}

const noScipy = pythonMissing(['numpy', 'scipy.linalg']);

test('FID equals SciPy sqrtm (pytorch-fid formula) on the same feature matrices', { skip: noScipy ? `skipped: ${noScipy}` : false }, async () => {
  const dir = await tempHome('gantry-fid-ref-');
  const cases = [
    // Well-conditioned, different means and non-commuting covariances.
    { n1: 500, n2: 400, dim: 12, tol: 1e-10, a: gaussianSample(11, 500, 12, Array(12).fill(0), randomMix(1, 12)), b: gaussianSample(12, 400, 12, Array(12).fill(0.3), randomMix(2, 12, 1.5)) },
    // Close sets: the cov term is a small difference of large traces.
    { n1: 2000, n2: 2000, dim: 6, tol: 1e-10, a: gaussianSample(13, 2000, 6, Array(6).fill(1), randomMix(3, 6)), b: gaussianSample(14, 2000, 6, Array(6).fill(1), randomMix(3, 6)) },
    // Few images for the dimension (ill-conditioned, not singular).
    { n1: 64, n2: 70, dim: 48, tol: 1e-10, a: gaussianSample(15, 64, 48, Array(48).fill(0)), b: gaussianSample(16, 70, 48, Array(48).fill(0.1), randomMix(4, 48, 0.8)) },
    // A wider feature vector, as a small network's.
    { n1: 300, n2: 300, dim: 256, tol: 1e-10, a: gaussianSample(17, 300, 256, Array(256).fill(0)), b: gaussianSample(18, 300, 256, Array(256).fill(0.1), randomMix(5, 256, 0.5)) },
  ];
  const ref = await scipyFid(dir, cases);
  cases.forEach((c, i) => {
    const ours = fid(c.a, c.n1, c.b, c.n2, c.dim);
    const r = ref[i];
    close(ours.meanTerm, r.mean_term, 1e-12 * Math.max(1, r.mean_term), `case ${i} mean term`);
    close(ours.fid, r.fid, c.tol * Math.max(1, r.fid), `case ${i} fid (scipy imag ${r.imag})`);
  });
});

// ---- end to end: `gantry fid` with a small graph model over two folders of PNGs ----

/** `count` grey PNGs of side `size`: smooth random blobs (`smooth`) or noise, seeded. */
async function writePngs(dir: string, count: number, size: number, seed: number, smooth: boolean): Promise<void> {
  await mkdir(dir, { recursive: true });
  const rng = new Prng(seed);
  for (let k = 0; k < count; k++) {
    const px = Buffer.alloc(size * size);
    const cx = rng.uniform() * size;
    const cy = rng.uniform() * size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = smooth ? 255 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (size * size * 0.05)) : rng.uniform() * 255;
        px[y * size + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
    await sharp(px, { raw: { width: size, height: size, channels: 1 } }).png().toFile(join(dir, `img${String(k).padStart(3, '0')}.png`));
  }
}

/** Features as the test computes them, without gantry's loader or preprocessing: sharp's raw pixels, then the same ops in tfjs. */
async function featuresOf(dir: string, count: number, w: Float32Array, size: number): Promise<Float32Array> {
  const x = new Float32Array(count * 256);
  for (let k = 0; k < count; k++) {
    const { data, info } = await sharp(join(dir, `img${String(k).padStart(3, '0')}.png`)).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 1);
    let px: Float32Array<ArrayBufferLike> = Float32Array.from(data, (v) => v / 255);
    if (size !== 16) px = resizeBilinear({ width: size, height: size, channels: 1, data: px }, 16, 16, { antialias: true }).data as Float32Array;
    x.set(px, k * 256);
  }
  return tf.tidy(() => tf.mean(tf.relu(tf.conv2d(tf.tensor4d(x, [count, 16, 16, 1]), tf.tensor4d(w, [3, 3, 1, 4]), 2, 'same')), [1, 2]).dataSync() as Float32Array);
}

test('gantry fid over two folders of PNGs: the FID of the features computed independently, n, dim and the network sha256', { timeout: 120_000 }, async () => {
  await selectBackend();
  const dir = await tempHome('gantry-fid-');
  const w = new Prng(1).normals(36, 0.5);
  const model = await writeGraphModel(join(dir, 'net'), w);
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  await writePngs(a, 30, 16, 1, false);
  await writePngs(b, 24, 32, 2, true); // resized 32 → 16
  const r = await runCli(['fid', a, b, '--features', model, '--format', 'json', '--batch', '7'], {});
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.sets.map((s: { images: number }) => s.images), [30, 24]);
  assert.equal(out.dim, 4);
  assert.deepEqual(out.input, { height: 16, width: 16, channels: 1, range: '0..1', resize: 'antialias' });
  assert.equal(out.network.modelJsonSha256, createHash('sha256').update(await readFile(model)).digest('hex'));
  assert.equal(out.network.weightsSha256, createHash('sha256').update(new Uint8Array(w.buffer)).digest('hex'));
  const fa = await featuresOf(a, 30, w, 16);
  const fb = await featuresOf(b, 24, w, 32);
  const want = fid(fa, 30, fb, 24, 4);
  assert.ok(want.fid > 1e-3, `the two sets differ: ${want.fid}`);
  close(out.fid, want.fid, 1e-5 * want.fid, 'fid vs the features computed here');
  if (!noScipy) {
    const [ref] = await scipyFid(join(dir, 'ref'), [{ a: fa, n1: 30, b: fb, n2: 24, dim: 4 }]);
    close(out.fid, ref.fid, 1e-5 * ref.fid, 'fid vs scipy');
  }

  // The table names the same figures.
  const t = await runCli(['fid', a, b, '--features', model], {});
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, new RegExp(`^fid\\s+${String(Number(out.fid.toPrecision(10))).replace('.', '\\.')}$`, 'm'));
  assert.match(t.stdout, /^images A\s+30 /m);
  assert.match(t.stdout, /^feature dimension\s+4$/m);
  assert.match(t.stdout, new RegExp(`^model\\.json sha256\\s+${out.network.modelJsonSha256}$`, 'm'));

  // A folder against itself: 0.
  const same = await runCli(['fid', a, a, '--features', model, '--format', 'json'], {});
  assert.equal(same.code, 0, same.stderr);
  assert.ok(JSON.parse(same.stdout).fid < 1e-9);

  // No more images than features: a warning, still a result.
  const few = join(dir, 'few');
  await writePngs(few, 3, 16, 3, true);
  const f = await runCli(['fid', few, a, '--features', model, '--format', 'json'], {});
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stderr, /warning: set A has 3 images for 4 features: its covariance is singular/);
});

test('gantry fid: a missing folder, a folder without images, one image, an unreadable or missing model and a network without a fixed size are named (exit 2)', { timeout: 120_000 }, async () => {
  const dir = await tempHome('gantry-fid-err-');
  const model = await writeGraphModel(join(dir, 'net'), new Prng(1).normals(36, 0.5));
  const a = join(dir, 'a');
  await writePngs(a, 4, 16, 1, false);
  const empty = join(dir, 'empty');
  await mkdir(join(empty, 'sub'), { recursive: true });
  await writeFile(join(empty, 'notes.txt'), 'no images here');
  const one = join(dir, 'one');
  await writePngs(one, 1, 16, 2, false);
  const garbage = join(dir, 'garbage', 'model.json');
  await mkdir(dirname(garbage), { recursive: true });
  await writeFile(garbage, '{ not json');
  const dynamic = await writeGraphModel(join(dir, 'dyn'), new Prng(1).normals(36, 0.5), [-1, -1, -1, 1]);
  const cases: [string[], RegExp][] = [
    [[join(dir, 'nowhere'), a, '--features', model], /set A \(.*nowhere\): folder .*nowhere does not exist/],
    [[a, empty, '--features', model], /set B \(.*empty\): no images in .*empty/],
    [[one, a, '--features', model], /set A has 1 feature vector: FID needs at least 2 per set/],
    [[a, a, '--features', garbage], /feature model .*garbage\/model\.json cannot be read as JSON/],
    [[a, a, '--features', join(dir, 'missing.json')], /feature model .*missing\.json does not exist/],
    [[a, a, '--features', dynamic], /does not fix its input size .*--size N/],
    [[a, a, '--features', model, '--size', '20'], /--size 20: feature model .* takes 16×16 images/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(['fid', ...args], {});
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  // With --size the dynamic network runs (the images are resized to it).
  const ok = await runCli(['fid', a, a, '--features', dynamic, '--size', '12', '--format', 'json'], {});
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).input, { height: 12, width: 12, channels: 1, range: '0..1', resize: 'antialias' });
});
