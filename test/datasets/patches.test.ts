import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractPatches, patchGrid, randomCrops, type Mask, type Pixels } from '../../datasets/patches.js';
import { Prng } from '../../datasets/prng.js';
import { UserError } from '../../core/errors.js';

/** A mask with an ellipse-shaped blob and a few scattered pixels (so fractions take many values). */
function blobMask(width: number, height: number): Mask {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = (x - 41) / 22;
      const dy = (y - 30) / 14;
      if (dx * dx + dy * dy <= 1) data[y * width + x] = 1;
    }
  }
  for (const [y, x] of [[2, 70], [3, 71], [50, 5], [55, 90], [10, 10]]) data[y * width + x] = 1;
  return { width, height, data };
}

/** Brute-force fraction for the patch at (y, x). */
function fraction(mask: Mask, y: number, x: number, size: number): number {
  let c = 0;
  for (let dy = 0; dy < size; dy++) for (let dx = 0; dx < size; dx++) c += mask.data[(y + dy) * mask.width + x + dx];
  return c / (size * size);
}

test('patchGrid: 100×60 with 32/16 gives 5×2 patches, row-major, the partial last row/column dropped', () => {
  const g = patchGrid(100, 60, undefined, { size: 32, stride: 16, threshold: 0 });
  assert.equal(g.count, 10);
  assert.deepEqual([...g.ys], [0, 0, 0, 0, 0, 16, 16, 16, 16, 16]);
  assert.deepEqual([...g.xs], [0, 16, 32, 48, 64, 0, 16, 32, 48, 64]);
  assert.deepEqual([...g.labels], new Array(10).fill(0));
  assert.deepEqual([...g.fractions], new Array(10).fill(0));
  // Exactly fitting sizes keep their last patch; smaller than one patch gives none.
  assert.equal(patchGrid(64, 32, undefined, { size: 32, stride: 16, threshold: 0 }).count, 3);
  assert.equal(patchGrid(31, 100, undefined, { size: 32, stride: 16, threshold: 0 }).count, 0);
  // Özgümüş's 2583 test patches per image (63 × 41) come out of a 1024×672 grid; a 696-row image
  // gives 42 rows here (his code seems to cut the image to a multiple of 32 first).
  assert.equal(patchGrid(1024, 672, undefined, { size: 32, stride: 16, threshold: 0 }).count, 2583);
  assert.equal(patchGrid(1024, 696, undefined, { size: 32, stride: 16, threshold: 0 }).count, 63 * 42);
});

test('patchGrid: labels and fractions equal a brute-force count, at several thresholds and strides', () => {
  const W = 100;
  const H = 60;
  const mask = blobMask(W, H);
  for (const [size, stride] of [[32, 16], [8, 4], [5, 3], [16, 16]]) {
    for (const threshold of [0, 0.05, 0.25, 0.5]) {
      const g = patchGrid(W, H, mask, { size, stride, threshold });
      let i = 0;
      let anomalous = 0;
      for (let y = 0; y + size <= H; y += stride) {
        for (let x = 0; x + size <= W; x += stride, i++) {
          const f = fraction(mask, y, x, size);
          assert.equal(g.ys[i], y);
          assert.equal(g.xs[i], x);
          assert.equal(g.fractions[i], Math.fround(f), `fraction at (${y}, ${x})`);
          assert.equal(g.labels[i], f > threshold ? 1 : 0, `label at (${y}, ${x}) size ${size} threshold ${threshold}`);
          anomalous += f > threshold ? 1 : 0;
        }
      }
      assert.equal(g.count, i);
      assert.ok(anomalous > 0 && anomalous < i, `the blob makes both labels (size ${size}, threshold ${threshold})`);
    }
  }
});

test('patchGrid: a single marked pixel anywhere is found, whatever the mask buffer\'s alignment', () => {
  const W = 13;
  const H = 7;
  const backing = new Uint8Array(W * H + 16);
  for (const shift of [0, 1, 2, 3, 5]) {
    for (let p = 0; p < W * H; p++) {
      backing.fill(0);
      const data = backing.subarray(shift, shift + W * H);
      data[p] = p % 2 ? 1 : 0x80;
      const g = patchGrid(W, H, { width: W, height: H, data }, { size: 4, stride: 2, threshold: 0 });
      const y = Math.floor(p / W);
      const x = p % W;
      let want = 0;
      for (let i = 0; i < g.count; i++) want += g.ys[i] <= y && y < g.ys[i] + 4 && g.xs[i] <= x && x < g.xs[i] + 4 ? 1 : 0;
      assert.equal(g.labels.reduce((a, b) => a + b, 0), want, `pixel ${p}, shift ${shift}`);
    }
  }
});

test('patchGrid: ambiguous drop leaves out patches with fraction in (0, threshold], keeps the rest in order', () => {
  const W = 100;
  const H = 60;
  const mask = blobMask(W, H);
  const spec = { size: 16, stride: 8, threshold: 0.3 };
  const kept = patchGrid(W, H, mask, { ...spec, ambiguous: 'drop' });
  const all = patchGrid(W, H, mask, spec);
  const expected: [number, number, number][] = [];
  for (let i = 0; i < all.count; i++) {
    const f = fraction(mask, all.ys[i], all.xs[i], spec.size);
    if (f === 0 || f > spec.threshold) expected.push([all.ys[i], all.xs[i], f > spec.threshold ? 1 : 0]);
  }
  assert.ok(expected.length < all.count, 'some patches are ambiguous');
  assert.equal(kept.count, expected.length);
  assert.equal(kept.ys.length, expected.length);
  assert.deepEqual(
    expected,
    Array.from({ length: kept.count }, (_, i) => [kept.ys[i], kept.xs[i], kept.labels[i]]),
  );
  // 'normal' keeps them, labelled 0.
  const normal = patchGrid(W, H, mask, { ...spec, ambiguous: 'normal' });
  assert.deepEqual([...normal.labels], [...all.labels]);
  // Threshold 0 has no ambiguous band: drop changes nothing.
  assert.equal(patchGrid(W, H, mask, { size: 16, stride: 8, threshold: 0, ambiguous: 'drop' }).count, all.count);
});

test('patchGrid: bad specs and a mask of the wrong size are UserErrors', () => {
  const mask = blobMask(100, 60);
  assert.throws(() => patchGrid(100, 61, mask, { size: 32, stride: 16, threshold: 0 }), (e: unknown) => e instanceof UserError && /mask is 100×60/.test(e.message));
  assert.throws(() => patchGrid(100, 60, mask, { size: 0, stride: 16, threshold: 0 }), UserError);
  assert.throws(() => patchGrid(100, 60, mask, { size: 32, stride: 1.5, threshold: 0 }), UserError);
  assert.throws(() => patchGrid(100, 60, mask, { size: 32, stride: 16, threshold: 1 }), UserError);
  assert.throws(() => patchGrid(100, 60, mask, { size: 32, stride: 16, threshold: Number.NaN }), UserError);
});

function randomImage(rng: Prng, width: number, height: number, channels: number, kind: 'u8' | 'u16' | 'f32'): Pixels {
  const n = width * height * channels;
  const data = kind === 'u8' ? new Uint8Array(n) : kind === 'u16' ? new Uint16Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = kind === 'u8' ? rng.int(256) : kind === 'u16' ? rng.int(65536) : rng.normal() * 100;
  return { width, height, channels, data };
}

/** One sample at a time, straight from the definition. */
function naive(img: Pixels, ys: Int32Array, xs: Int32Array, size: number, out: Float32Array, at: number, scale: number, offset: number): void {
  let o = at;
  for (let i = 0; i < ys.length; i++) {
    for (let dy = 0; dy < size; dy++) {
      for (let dx = 0; dx < size; dx++) {
        for (let c = 0; c < img.channels; c++) {
          out[o++] = img.data[((ys[i] + dy) * img.width + xs[i] + dx) * img.channels + c] * scale + offset;
        }
      }
    }
  }
}

test('extractPatches equals a naive per-pixel copy: gray and RGB, uint8, uint16 and float32, with scale and offset', () => {
  const rng = new Prng(7);
  const cases: [number, 'u8' | 'u16' | 'f32', number, number][] = [
    [1, 'u8', 1 / 255, 0], [3, 'u8', 2 / 255, -1], [1, 'u16', 1 / 65535, 0], [3, 'u16', 1, 0.5],
    [1, 'f32', 1, 0], [3, 'f32', 0.01, -0.25], [3, 'u8', 1, 0],
  ];
  for (const [channels, kind, scale, offset] of cases) {
    const img = randomImage(rng, 45, 38, channels, kind);
    const grid = patchGrid(45, 38, undefined, { size: 9, stride: 5, threshold: 0 });
    // Add a few random corners too, including the last position that fits.
    const crops = randomCrops(45, 38, 9, 20, rng);
    const ys = Int32Array.from([...grid.ys, ...crops.ys, 38 - 9]);
    const xs = Int32Array.from([...grid.xs, ...crops.xs, 45 - 9]);
    const per = 9 * 9 * channels;
    const at = 17;
    const got = new Float32Array(at + ys.length * per + 5).fill(-777);
    const want = new Float32Array(got.length).fill(-777);
    extractPatches(img, { ys, xs, count: ys.length }, 9, got, at, scale, offset);
    naive(img, ys, xs, 9, want, at, scale, offset);
    assert.deepEqual(got, want, `${channels} channel(s), ${kind}, scale ${scale}, offset ${offset}`);
  }
});

test('extractPatches: default scale 1 copies values; overflow and out-of-image corners throw', () => {
  const img = randomImage(new Prng(1), 10, 8, 1, 'u8');
  const out = new Float32Array(16);
  extractPatches(img, { ys: Int32Array.of(2), xs: Int32Array.of(3), count: 1 }, 4, out, 0);
  assert.equal(out[0], img.data[2 * 10 + 3]);
  assert.equal(out[15], img.data[5 * 10 + 6]);
  assert.throws(() => extractPatches(img, { ys: Int32Array.of(0), xs: Int32Array.of(0), count: 1 }, 4, out, 1), RangeError);
  assert.throws(() => extractPatches(img, { ys: Int32Array.of(5), xs: Int32Array.of(0), count: 1 }, 4, out, 0), RangeError);
  assert.throws(() => extractPatches(img, { ys: Int32Array.of(0), xs: Int32Array.of(-1), count: 1 }, 4, out, 0), RangeError);
  assert.throws(() => extractPatches({ ...img, width: 11 }, { ys: Int32Array.of(0), xs: Int32Array.of(0), count: 1 }, 4, out, 0), RangeError);
});

test('randomCrops: every position that fits, and only those, reproducible from the seed', () => {
  const a = randomCrops(256, 256, 224, 2000, new Prng(3));
  const b = randomCrops(256, 256, 224, 2000, new Prng(3));
  assert.deepEqual(a, b);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    assert.ok(a.ys[i] >= 0 && a.ys[i] <= 32 && a.xs[i] >= 0 && a.xs[i] <= 32);
    seen.add(a.ys[i]);
  }
  assert.equal(seen.size, 33, 'all 33 offsets 0…32 occur');
  assert.notDeepEqual(randomCrops(256, 256, 224, 20, new Prng(4)), randomCrops(256, 256, 224, 20, new Prng(3)));
  assert.deepEqual(randomCrops(300, 224, 224, 5, new Prng(1)).ys, new Int32Array(5));
  assert.throws(() => randomCrops(200, 256, 224, 1, new Prng(1)), UserError);
});
