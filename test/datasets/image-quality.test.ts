import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { laplacianVariance, perceptualHash, hammingDistance, findNearDuplicates, type Pixels } from '../../datasets/image-quality.js';
import { Prng } from '../../datasets/prng.js';
import { isUserError } from '../../core/errors.js';
import { PY, pythonMissing } from './reference.js';

const gray = (width: number, height: number, f: (x: number, y: number) => number): Pixels => {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = Math.max(0, Math.min(255, Math.round(f(x, y))));
  return { width, height, channels: 1, data };
};

/** Our own nearest-neighbour resize (any channel count). */
function resizeNearest(img: Pixels, w: number, h: number): Pixels {
  const c = img.channels;
  const data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(img.height - 1, Math.floor(((y + 0.5) * img.height) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(img.width - 1, Math.floor(((x + 0.5) * img.width) / w));
      for (let k = 0; k < c; k++) data[(y * w + x) * c + k] = img.data[(sy * img.width + sx) * c + k];
    }
  }
  return { width: w, height: h, channels: c, data };
}

function boxBlur(img: Pixels): Pixels {
  const { width: w, height: h } = img;
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      let k = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
          s += img.data[yy * w + xx];
          k++;
        }
      }
      data[y * w + x] = Math.round(s / k);
    }
  }
  return { width: w, height: h, channels: 1, data };
}

const scene = (seed: number, w = 64, h = 64): Pixels => {
  const r = new Prng(seed);
  const waves = Array.from({ length: 5 }, () => ({ fx: r.uniform() * 0.3, fy: r.uniform() * 0.3, p: r.uniform() * 6.28, a: 20 + r.uniform() * 20 }));
  return gray(w, h, (x, y) => 128 + waves.reduce((s, q) => s + q.a * Math.sin(q.fx * x + q.fy * y + q.p), 0));
};

test('laplacianVariance: constant image scores 0', () => {
  assert.equal(laplacianVariance(gray(10, 7, () => 77)), 0);
  assert.equal(laplacianVariance({ width: 4, height: 4, channels: 3, data: new Float32Array(48).fill(0.5) }), 0);
});

test('laplacianVariance: a single bright pixel in 5×5, by hand', () => {
  // Interior 3×3 responses: centre −400, its 4 neighbours +100, corners 0 → mean 0,
  // variance (400² + 4·100²) / 9 = 200000 / 9.
  const img = gray(5, 5, (x, y) => (x === 2 && y === 2 ? 100 : 0));
  assert.ok(Math.abs(laplacianVariance(img) - 200000 / 9) < 1e-9, String(laplacianVariance(img)));
  // Same luminance from 3 channels (mean of channels) and from uint16 / float32 encodings.
  const rgb = new Uint8Array(75);
  rgb.set([50, 100, 150], 12 * 3);
  assert.ok(Math.abs(laplacianVariance({ width: 5, height: 5, channels: 3, data: rgb }) - 200000 / 9) < 1e-9);
  const u16 = new Uint16Array(25);
  u16[12] = Math.round((100 * 65535) / 255);
  assert.ok(Math.abs(laplacianVariance({ width: 5, height: 5, channels: 1, data: u16 }) - 200000 / 9) < 1e-2);
  const f32 = new Float32Array(25);
  f32[12] = 100 / 255;
  assert.ok(Math.abs(laplacianVariance({ width: 5, height: 5, channels: 1, data: f32 }) - 200000 / 9) < 1e-2);
});

test('laplacianVariance matches scipy.ndimage.laplace on interior pixels (uint16, 3 channels)', (t) => {
  const py = PY;
  const missing = pythonMissing(['numpy', 'scipy']);
  if (missing) return t.skip(missing);
  const r = new Prng(11);
  const w = 7;
  const h = 6;
  const data = new Uint16Array(w * h * 3).map(() => r.int(65536));
  const script = [
    'import sys, json, numpy as np',
    'from scipy import ndimage',
    'd = json.load(sys.stdin)',
    "a = np.array(d['data'], dtype=np.float64).reshape(d['h'], d['w'], 3)",
    'lum = a.mean(axis=2) * 255 / 65535',
    'print(repr(float(ndimage.laplace(lum)[1:-1, 1:-1].var())))',
  ].join('\n');
  let out: string;
  try {
    out = execFileSync(py, ['-c', script], { input: JSON.stringify({ w, h, data: [...data] }), encoding: 'utf8' });
  } catch (e) {
    return t.skip(`numpy/scipy not usable: ${(e as Error).message.split('\n')[0]}`);
  }
  const expected = Number(out.trim());
  const got = laplacianVariance({ width: w, height: h, channels: 3, data });
  assert.ok(Math.abs(got - expected) <= 1e-9 * expected, `${got} vs scipy ${expected}`);
});

test('laplacianVariance: a box-blurred image scores lower; bad shapes are UserErrors', () => {
  const r = new Prng(3);
  const sharp = gray(32, 32, (x, y) => ((x >> 2) + (y >> 2)) % 2 ? 200 : 40 + r.uniform() * 20);
  const blurred = boxBlur(sharp);
  const a = laplacianVariance(sharp);
  const b = laplacianVariance(blurred);
  assert.ok(b < a / 2, `blurred ${b} vs sharp ${a}`);
  assert.ok(laplacianVariance(boxBlur(blurred)) < b);
  assert.throws(() => laplacianVariance(gray(2, 9, () => 1)), (e) => isUserError(e) && /too small/.test((e as Error).message));
  assert.throws(() => laplacianVariance({ width: 4, height: 4, channels: 1, data: new Uint8Array(15) }), isUserError);
});

test('perceptualHash: 16 hex digits, stable, known values', () => {
  const img = scene(1);
  const h = perceptualHash(img);
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.equal(perceptualHash(scene(1)), h);
  assert.equal(perceptualHash(gray(20, 20, () => 9)), '0000000000000000');
  // Brightness rising to the right everywhere: every bit 1.
  assert.equal(perceptualHash(gray(18, 16, (x) => x * 10)), 'ffffffffffffffff');
  // Falling to the right in the top half, rising in the bottom half: top 32 bits 0, bottom 32 bits 1.
  assert.equal(perceptualHash(gray(18, 16, (x, y) => (y < 8 ? 200 - x * 10 : x * 10))), '00000000ffffffff');
});

test('perceptualHash: brightened or resized → small distance; another image → large', () => {
  const img = scene(5);
  const h = perceptualHash(img);
  const brighter = gray(64, 64, (x, y) => img.data[y * 64 + x] + 12);
  assert.ok(hammingDistance(h, perceptualHash(brighter)) <= 4, `brightened: ${hammingDistance(h, perceptualHash(brighter))}`);
  for (const [w, hh] of [[48, 48], [100, 90], [37, 41]]) {
    const d = hammingDistance(h, perceptualHash(resizeNearest(img, w, hh)));
    assert.ok(d <= 8, `resized to ${w}×${hh}: distance ${d}`);
  }
  // Other scenes: far away (independent hashes average 32 bits apart).
  for (const s of [6, 7, 8]) {
    const d = hammingDistance(h, perceptualHash(scene(s)));
    assert.ok(d >= 20, `scene ${s}: distance ${d}`);
  }
});

test('hammingDistance: counts differing bits; rejects malformed hashes', () => {
  assert.equal(hammingDistance('0000000000000000', '0000000000000000'), 0);
  assert.equal(hammingDistance('0000000000000000', 'ffffffffffffffff'), 64);
  assert.equal(hammingDistance('8000000000000001', '0000000000000000'), 2);
  assert.equal(hammingDistance('00000000000000F0', '00000000000000f1'), 1);
  assert.throws(() => hammingDistance('abc', '0000000000000000'), isUserError);
  assert.throws(() => hammingDistance('000000000000000g', '0000000000000000'), isUserError);
});

test('findNearDuplicates: reports later items against the nearest kept earlier one', () => {
  const z = '0000000000000000';
  const hashes = [
    { id: 'a', hash: z },
    { id: 'b', hash: 'ffffffffffffffff' },
    { id: 'c', hash: '0000000000000003' }, // 2 from a
    { id: 'd', hash: '000000000000000f' }, // 4 from a, 2 from c (c is not kept)
    { id: 'e', hash: 'fffffffffffffffe' }, // 1 from b
    { id: 'f', hash: '00000000000000ff' }, // 8 from a
  ];
  assert.deepEqual(findNearDuplicates(hashes, 4), [
    { id: 'c', duplicateOf: 'a', distance: 2 },
    { id: 'd', duplicateOf: 'a', distance: 4 },
    { id: 'e', duplicateOf: 'b', distance: 1 },
  ]);
  assert.deepEqual(findNearDuplicates(hashes, 0), []);
  // Nearest wins over earliest.
  assert.deepEqual(findNearDuplicates([{ id: 'x', hash: z }, { id: 'y', hash: '00000000000000ff' }, { id: 'q', hash: '00000000000000fe' }], 10), [
    { id: 'y', duplicateOf: 'x', distance: 8 },
    { id: 'q', duplicateOf: 'x', distance: 7 },
  ]);
  // End to end: a resized copy of an image is found, another image is not.
  const img = scene(21);
  const dups = findNearDuplicates(
    [
      { id: 'orig', hash: perceptualHash(img) },
      { id: 'other', hash: perceptualHash(scene(22)) },
      { id: 'copy', hash: perceptualHash(resizeNearest(img, 50, 50)) },
    ],
    8,
  );
  assert.deepEqual(dups.map((d) => [d.id, d.duplicateOf]), [['copy', 'orig']]);
  assert.throws(() => findNearDuplicates([], -1), isUserError);
});
