import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { augment, centreCrop, flip, maskRegion, resizeBilinear, rotate90, stackChannels } from '../../datasets/transforms.js';
import type { Pixels } from '../../datasets/patches.js';
import { Prng } from '../../datasets/prng.js';
import { UserError } from '../../core/errors.js';
import { PY, pythonMissing } from './reference.js';

const PYTHON = PY;

const PIL_SCRIPT = `
import sys, json
import numpy as np
from PIL import Image
out = []
for c in json.load(sys.stdin):
    a = np.array(c["data"], dtype=np.float32).reshape(c["h"], c["w"], c["ch"])
    planes = []
    for k in range(c["ch"]):
        im = Image.fromarray(np.ascontiguousarray(a[:, :, k]), mode="F").resize((c["ow"], c["oh"]), Image.BILINEAR)
        planes.append(np.asarray(im, dtype=np.float32))
    out.append(np.stack(planes, axis=-1).reshape(-1).astype(float).tolist())
print(json.dumps(out))
`;

const pilSkip = pythonMissing(['numpy', 'PIL']) ?? false;

interface Case { w: number; h: number; ch: number; ow: number; oh: number; data: number[] }

function pilResize(cases: Case[]): number[][] {
  const r = spawnSync(PYTHON, ['-c', PIL_SCRIPT], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`PIL reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[][];
}

function randomFloatImage(rng: Prng, width: number, height: number, channels: number): Pixels {
  const data = new Float32Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(rng.uniform() * 255);
  return { width, height, channels, data };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('resizeBilinear: upscaling equals PIL BILINEAR (≤ 1e-4 on 0…255), default and antialias alike', { skip: pilSkip }, () => {
  const rng = new Prng(11);
  const shapes: [number, number, number, number, number][] = [
    // w, h, channels, out w, out h
    [5, 4, 1, 13, 9], [7, 3, 3, 14, 6], [6, 6, 1, 256, 256], [3, 5, 2, 4, 11], [9, 7, 1, 9, 20],
  ];
  const imgs = shapes.map(([w, h, ch]) => randomFloatImage(rng, w, h, ch));
  const ref = pilResize(shapes.map(([w, h, ch, ow, oh], i) => ({ w, h, ch, ow, oh, data: [...imgs[i].data] })));
  shapes.forEach(([, , , ow, oh], i) => {
    for (const antialias of [false, true]) {
      const got = resizeBilinear(imgs[i], ow, oh, { antialias });
      assert.equal(got.width, ow);
      assert.equal(got.height, oh);
      assert.ok(got.data instanceof Float32Array);
      const d = maxAbsDiff(got.data, ref[i]);
      assert.ok(d <= 1e-4, `shape ${shapes[i].join('×')} antialias ${antialias}: max |Δ| ${d}`);
    }
  });
});

test('resizeBilinear: downscaling with antialias equals PIL BILINEAR; the default differs from it, as documented', { skip: pilSkip }, () => {
  const rng = new Prng(12);
  const shapes: [number, number, number, number, number][] = [
    [32, 24, 1, 8, 6], [17, 13, 3, 5, 7], [300, 200, 1, 256, 128], [20, 9, 1, 7, 15],
  ];
  const imgs = shapes.map(([w, h, ch]) => randomFloatImage(rng, w, h, ch));
  const ref = pilResize(shapes.map(([w, h, ch, ow, oh], i) => ({ w, h, ch, ow, oh, data: [...imgs[i].data] })));
  shapes.forEach(([, , , ow, oh], i) => {
    const aa = resizeBilinear(imgs[i], ow, oh, { antialias: true });
    const d = maxAbsDiff(aa.data, ref[i]);
    assert.ok(d <= 1e-4, `shape ${shapes[i].join('×')} antialias: max |Δ| ${d}`);
    assert.ok(maxAbsDiff(resizeBilinear(imgs[i], ow, oh).data, ref[i]) > 0.1, 'plain bilinear is not PIL when downscaling');
  });
});

test('resizeBilinear: plain downscaling interpolates between the two nearest pixel centres (half-pixel convention)', () => {
  // 4 → 2: output centres sit at input positions 0.5 and 2.5.
  const img: Pixels = { width: 4, height: 1, channels: 1, data: Float32Array.of(0, 10, 20, 40) };
  assert.deepEqual([...resizeBilinear(img, 2, 1).data], [5, 30]);
  // 4 → 2 antialiased (PIL): weights 1/8, 3/8, 3/8, 1/8 over four inputs, clipped at the edges and renormalised.
  const aa = resizeBilinear(img, 2, 1, { antialias: true }).data;
  assert.ok(Math.abs(aa[0] - (0 * 3 + 10 * 3 + 20) / 7) < 1e-5);
  assert.ok(Math.abs(aa[1] - (10 + 20 * 3 + 40 * 3) / 7) < 1e-5);
  // 2 → 4: positions −0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  const up: Pixels = { width: 2, height: 1, channels: 1, data: Uint8Array.of(0, 100) };
  assert.deepEqual([...resizeBilinear(up, 4, 1).data], [0, 25, 75, 100]);
  // Same size: the values, as float32.
  const u16: Pixels = { width: 3, height: 2, channels: 2, data: Uint16Array.from({ length: 12 }, (_, i) => i * 1000) };
  assert.deepEqual([...resizeBilinear(u16, 3, 2).data], [...u16.data]);
  assert.throws(() => resizeBilinear(u16, 0, 2), UserError);
});

test('centreCrop: 256 → 224 takes offset 16; odd margins round half to even (torchvision)', () => {
  const W = 256;
  const img: Pixels = { width: W, height: W, channels: 1, data: Uint16Array.from({ length: W * W }, (_, i) => i) };
  const c = centreCrop(img, 224, 224);
  assert.ok(c.data instanceof Uint16Array);
  assert.equal(c.data[0], 16 * W + 16);
  assert.equal(c.data[224 * 224 - 1], (16 + 223) * W + 16 + 223);
  // margins 3 (1.5 → 2) and 5 (2.5 → 2)
  const small: Pixels = { width: 7, height: 5, channels: 2, data: Uint8Array.from({ length: 70 }, (_, i) => i) };
  const s = centreCrop(small, 2, 2);
  assert.deepEqual([...s.data], [(2 * 7 + 2) * 2, (2 * 7 + 2) * 2 + 1, (2 * 7 + 3) * 2, (2 * 7 + 3) * 2 + 1, (3 * 7 + 2) * 2, (3 * 7 + 2) * 2 + 1, (3 * 7 + 3) * 2, (3 * 7 + 3) * 2 + 1]);
  assert.throws(() => centreCrop(small, 8, 2), UserError);
});

test('stackChannels: Murase\'s [R, G, B, max, mean] and the gray variant', () => {
  const rgb: Pixels = { width: 2, height: 1, channels: 3, data: Uint8Array.of(10, 200, 30, 255, 0, 6) };
  const s = stackChannels(rgb, ['r', 'g', 'b', 'max', 'mean']);
  assert.equal(s.channels, 5);
  assert.ok(s.data instanceof Float32Array);
  assert.deepEqual([...s.data], [10, 200, 30, 200, 80, 255, 0, 6, 255, 87]);
  const sub = stackChannels(rgb, ['mean', 'b']);
  assert.deepEqual([...sub.data], [80, 30, 87, 6]);
  const luma = stackChannels(rgb, ['gray']).data;
  assert.ok(Math.abs(luma[0] - (0.299 * 10 + 0.587 * 200 + 0.114 * 30)) < 1e-4);
  const gray: Pixels = { width: 3, height: 1, channels: 1, data: Float32Array.of(0.5, -1, 3) };
  assert.deepEqual([...stackChannels(gray, ['gray', 'max', 'mean']).data], [0.5, 0.5, 0.5, -1, -1, -1, 3, 3, 3]);
  assert.throws(() => stackChannels(gray, ['r']), UserError);
  assert.throws(() => stackChannels(gray, []), UserError);
});

function randomImage(rng: Prng, w: number, h: number, c: number, kind: number): Pixels {
  const n = w * h * c;
  const data = kind === 0 ? new Uint8Array(n) : kind === 1 ? new Uint16Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = kind === 2 ? rng.normal() : rng.int(kind === 0 ? 256 : 65536);
  return { width: w, height: h, channels: c, data };
}

test('flip and rotate90: known results on a 3×2 image (numpy.rot90 convention)', () => {
  // rows: [1 2 3], [4 5 6]
  const img: Pixels = { width: 3, height: 2, channels: 1, data: Uint8Array.of(1, 2, 3, 4, 5, 6) };
  assert.deepEqual([...flip(img, 'h').data], [3, 2, 1, 6, 5, 4]);
  assert.deepEqual([...flip(img, 'v').data], [4, 5, 6, 1, 2, 3]);
  const r1 = rotate90(img, 1); // counter-clockwise: [[3 6] [2 5] [1 4]]
  assert.deepEqual([r1.width, r1.height, ...r1.data], [2, 3, 3, 6, 2, 5, 1, 4]);
  const r2 = rotate90(img, 2);
  assert.deepEqual([r2.width, r2.height, ...r2.data], [3, 2, 6, 5, 4, 3, 2, 1]);
  const r3 = rotate90(img, 3); // clockwise: [[4 1] [5 2] [6 3]]
  assert.deepEqual([r3.width, r3.height, ...r3.data], [2, 3, 4, 1, 5, 2, 6, 3]);
});

test('flip twice and rotate90 four times are the identity; rotations compose (1+3 = 0, 1+1 = 2)', () => {
  const rng = new Prng(5);
  for (const kind of [0, 1, 2]) {
    for (const [w, h, c] of [[7, 4, 1], [5, 9, 3], [6, 6, 2]]) {
      const img = randomImage(rng, w, h, c, kind);
      for (const axis of ['h', 'v'] as const) {
        const once = flip(img, axis);
        assert.notDeepEqual(once.data, img.data);
        assert.deepEqual(flip(once, axis), img);
      }
      let r = img;
      for (let i = 0; i < 4; i++) r = rotate90(r, 1);
      assert.deepEqual(r, img);
      assert.deepEqual(rotate90(rotate90(img, 1), 3), img);
      assert.deepEqual(rotate90(rotate90(img, 1), 1), rotate90(img, 2));
      assert.deepEqual(rotate90(img, 2), flip(flip(img, 'h'), 'v'));
      assert.equal(rotate90(img, 0).data.constructor, img.data.constructor);
    }
  }
});

test('augment: the same seed gives the same ops and pixels; ops vary across draws; the rng advances by a fixed amount', () => {
  const img = randomImage(new Prng(9), 6, 4, 3, 0);
  const run = (seed: number) => {
    const rng = new Prng(seed);
    return Array.from({ length: 40 }, () => augment(img, rng, { flip: true, rotate: true }));
  };
  const a = run(1);
  const b = run(1);
  assert.deepEqual(a.map((x) => x.op), b.map((x) => x.op));
  assert.deepEqual(a.map((x) => x.img), b.map((x) => x.img));
  assert.notDeepEqual(a.map((x) => x.op), run(2).map((x) => x.op));
  const ops = new Set(a.map((x) => x.op));
  assert.ok(ops.size >= 6, `varied ops: ${[...ops].join(', ')}`);
  for (const { img: out, op } of a) {
    // Replaying the op by hand gives the same image.
    let want = img;
    for (const part of op === 'none' ? [] : op.split('+')) {
      if (part === 'flip-h') want = flip(want, 'h');
      else if (part === 'flip-v') want = flip(want, 'v');
      else want = rotate90(want, Number(part.replace('rot90x', '')) as 1 | 2 | 3);
    }
    assert.deepEqual(out, want, op);
  }
  // Two uniform draws for the flips and one int for the rotation, whatever the outcome.
  const r1 = new Prng(3);
  augment(img, r1, { flip: true, rotate: true, p: 0 });
  const r2 = new Prng(3);
  r2.uniform(); r2.uniform(); r2.int(4);
  assert.equal(r1.nextU32(), r2.nextU32());
  assert.equal(augment(img, new Prng(1), {}).op, 'none');
  assert.equal(augment(img, new Prng(1), { flip: 'h', p: 1 }).op, 'flip-h');
  assert.equal(augment(img, new Prng(1), { flip: true, p: 1 }).op, 'flip-h+flip-v');
  const copy = augment(img, new Prng(1), {});
  assert.notEqual(copy.img.data, img.data, 'always a fresh image');
});

test('maskRegion: one filled square at a seeded position, its mask, the rest untouched', () => {
  const img = randomImage(new Prng(2), 256, 256, 3, 0);
  for (let i = 0; i < img.data.length; i++) if (img.data[i] === 7) img.data[i] = 8; // 7 marks the fill
  const a = maskRegion(img, 128, new Prng(4), 7);
  const b = maskRegion(img, 128, new Prng(4), 7);
  assert.deepEqual(a, b);
  let inside = 0;
  let y0 = -1;
  let x0 = -1;
  for (let y = 0; y < 256; y++) {
    for (let x = 0; x < 256; x++) {
      const m = a.mask.data[y * 256 + x];
      if (m && y0 < 0) { y0 = y; x0 = x; }
      inside += m;
      for (let c = 0; c < 3; c++) {
        const i = (y * 256 + x) * 3 + c;
        assert.equal(a.img.data[i], m ? 7 : img.data[i]);
      }
    }
  }
  assert.equal(inside, 128 * 128);
  assert.ok(y0 >= 0 && y0 <= 128 && x0 >= 0 && x0 <= 128);
  assert.equal(a.mask.data[(y0 + 127) * 256 + x0 + 127], 1);
  assert.notDeepEqual(maskRegion(img, 128, new Prng(5)).mask, a.mask);
  assert.equal(maskRegion(img, 256, new Prng(5)).img.data.every((v) => v === 0), true);
  assert.throws(() => maskRegion(img, 64, new Prng(1), -1), UserError);
  assert.throws(() => maskRegion(img, 300, new Prng(1)), UserError);
  const f: Pixels = { width: 4, height: 4, channels: 1, data: new Float32Array(16) };
  assert.equal(maskRegion(f, 2, new Prng(1), -1).img.data.filter((v) => v === -1).length, 4);
});
