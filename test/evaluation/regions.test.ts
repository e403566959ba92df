import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aupro, labelRegions, pixelRocAuc, proCurve, type AnomalyMap } from '../../evaluation/regions.js';
import { rocAuc } from '../../evaluation/roc.js';
import { close, randomMaps, userError } from './vectors.js';

test('labelRegions: 8-connectivity (diagonal neighbours join), numbered in raster order', () => {
  // 1 . . 1
  // . 1 . 1
  // . . . .
  // 1 1 . .
  const mask = [1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0];
  const r = labelRegions(mask, 4, 4);
  assert.equal(r.count, 3);
  assert.deepEqual(r.sizes, [2, 2, 2]);
  assert.deepEqual(Array.from(r.labels), [1, 0, 0, 2, 0, 1, 0, 2, 0, 0, 0, 0, 3, 3, 0, 0]);
  // A diagonal chain across the whole image is one region; an empty mask has none.
  assert.equal(labelRegions([1, 0, 0, 0, 1, 0, 0, 0, 1], 3, 3).count, 1);
  assert.equal(labelRegions([0, 0, 0, 0], 2, 2).count, 0);
});

test('proCurve and aupro: hand-computed curve, the cut at the FPR limit by linear interpolation', () => {
  // One 4×1 image: region {0, 1} (scores 4, 2), normals scores 3, 1.
  const maps: AnomalyMap[] = [{ width: 4, height: 1, scores: [4, 2, 3, 1], mask: [1, 1, 0, 0] }];
  const c = proCurve(maps);
  assert.equal(c.regions, 1);
  assert.deepEqual(Array.from(c.fpr), [0, 0, 0.5, 0.5, 1]);
  assert.deepEqual(Array.from(c.pro), [0, 0.5, 0.5, 1, 1]);
  assert.deepEqual(Array.from(c.thresholds), [Infinity, 4, 3, 2, 1]);
  // Up to 0.3 the segment (0, .5)–(.5, .5) is cut at .3: area .15, normalised .5.
  close(aupro(maps), 0.5);
  close(aupro(maps, 0.5), 0.5); // a point at exactly .5: the vertical step adds nothing
  close(aupro(maps, 1), 0.75);
  // Interpolation inside a sloped segment: (0, 0)–(1, 1) cut at .3 → area .045, normalised .15.
  close(aupro([{ width: 2, height: 1, scores: [0, 0], mask: [1, 0] }]), 0.15);
});

test('proCurve: PRO averages over regions, not pixels; regions are per image', () => {
  // Image A: a 1-pixel region scored high. Image B: a 3-pixel region scored low. Normals in between.
  const maps: AnomalyMap[] = [
    { width: 3, height: 1, scores: [9, 5, 4], mask: [1, 0, 0] },
    { width: 4, height: 1, scores: [1, 1, 1, 6], mask: [1, 1, 1, 0] },
  ];
  const c = proCurve(maps);
  assert.equal(c.regions, 2);
  // At 9: region A fully found, B not → PRO 0.5 (pixel-wise recall would be 1/4).
  assert.equal(c.pro[1], 0.5);
  assert.equal(c.fpr[1], 0);
  assert.deepEqual(Array.from(c.fpr), [0, 0, 1 / 3, 2 / 3, 1, 1]);
  assert.deepEqual(Array.from(c.pro), [0, 0.5, 0.5, 0.5, 0.5, 1]);
  close(aupro(maps), 0.5);
});

test('pixelRocAuc: the ROC AUC of every pixel of every map, flattened', () => {
  const maps = randomMaps(9, 6, 12, 10, 4);
  const s: number[] = [];
  const y: number[] = [];
  for (const m of maps) {
    s.push(...Array.from(m.scores));
    y.push(...Array.from(m.mask));
  }
  close(pixelRocAuc(maps), rocAuc(s, y), 1e-15);
});

test('region metrics reject bad input with a UserError naming the cause', () => {
  const good: AnomalyMap = { width: 2, height: 2, scores: [1, 2, 3, 4], mask: [0, 1, 0, 0] };
  for (const [name, fn] of [
    ['pixelRocAuc', pixelRocAuc],
    ['proCurve', proCurve],
    ['proCurve', (m: AnomalyMap[]) => aupro(m)],
  ] as const) {
    userError(() => fn([]), new RegExp(`^${name}: no anomaly maps`));
    userError(() => fn([good, { ...good, scores: [1, 2, 3] }]), new RegExp(`^${name}: map 1 is 2×2 but has 3 scores`));
    userError(() => fn([{ ...good, mask: [0, 1, 0] }]), /its mask has 3 pixels/);
    userError(() => fn([{ ...good, mask: [0, 255, 0, 0] }]), /map 0: mask values must be 0 or 1, found 255 at pixel 1/);
    userError(() => fn([good, { ...good, scores: [NaN, 1, NaN, 2] }]), /2 of 8 pixel scores are NaN/);
    userError(() => fn([{ ...good, mask: [1, 1, 1, 1] }]), /no normal|no negative/);
  }
  userError(() => proCurve([{ ...good, mask: [0, 0, 0, 0] }]), /no anomalous pixel in any of the 1 masks; PRO is undefined/);
  userError(() => pixelRocAuc([{ ...good, mask: [0, 0, 0, 0] }]), /no positive/);
  userError(() => aupro([good], 0), /FPR limit must be in \(0, 1\]/);
});

test('proCurve is O(n log n): 100 maps of 128×128 in well under a few seconds', () => {
  const maps = randomMaps(21, 100, 128, 128);
  const t = performance.now();
  const a = aupro(maps);
  const ms = performance.now() - t;
  assert.ok(a > 0.3 && a < 1, `aupro ${a}`);
  assert.ok(ms < 5000, `took ${ms} ms`);
});
