import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticTextures, syntheticTexture, type TextureSpec, type TextureItem } from '../../datasets/synthetic-textures.js';
import { isUserError } from '../../core/errors.js';

const SPEC: TextureSpec = { normals: 6, anomalies: 6, size: 32, channels: 1, seed: 7 };

test('ids, classes, shapes; masks nonzero exactly for anomalies', () => {
  const items = syntheticTextures(SPEC);
  assert.deepEqual(items.map((i) => i.id), [
    'normal/000', 'normal/001', 'normal/002', 'normal/003', 'normal/004', 'normal/005',
    'anomalous/000', 'anomalous/001', 'anomalous/002', 'anomalous/003', 'anomalous/004', 'anomalous/005',
  ]);
  assert.deepEqual(items.map((i) => i.cls), ['normal', 'normal', 'normal', 'normal', 'normal', 'normal', 'scratch', 'blob', 'crack', 'scratch', 'blob', 'crack']);
  for (const it of items) {
    assert.equal(it.anomalous, it.cls !== 'normal');
    assert.deepEqual([it.image.width, it.image.height, it.image.channels, it.image.data.length], [32, 32, 1, 32 * 32]);
    assert.ok(it.image.data instanceof Uint8Array && it.mask.data instanceof Uint8Array);
    assert.deepEqual([it.mask.width, it.mask.height, it.mask.data.length], [32, 32, 32 * 32]);
    assert.ok(it.mask.data.every((m) => m === 0 || m === 1));
    const area = it.mask.data.reduce((a, b) => a + b, 0);
    if (it.anomalous) assert.ok(area >= 4 && area < 0.25 * 32 * 32, `${it.id} (${it.cls}) mask area ${area}`);
    else assert.equal(area, 0, it.id);
  }
  // Images differ from one another.
  const keys = new Set(items.map((i) => Buffer.from(i.image.data).toString('base64')));
  assert.equal(keys.size, items.length);
  // A chosen subset of defect kinds is cycled.
  assert.deepEqual(syntheticTextures({ ...SPEC, normals: 0, anomalies: 3, defects: ['blob'] }).map((i) => i.cls), ['blob', 'blob', 'blob']);
});

test('deterministic for a seed; another seed gives other images', () => {
  const a = syntheticTextures(SPEC);
  assert.deepEqual(syntheticTextures({ ...SPEC }), a);
  const b = syntheticTextures({ ...SPEC, seed: 8 });
  for (let k = 0; k < a.length; k++) assert.notDeepEqual(a[k].image.data, b[k].image.data);
});

test('prefix property: item k is the same whatever normals/anomalies are', () => {
  const small = syntheticTextures(SPEC);
  const big = syntheticTextures({ ...SPEC, normals: 10, anomalies: 9 });
  const byId = new Map(big.map((i) => [i.id, i]));
  for (const it of small) assert.deepEqual(byId.get(it.id), it, it.id);
  // Streaming one item equals the batch's item.
  assert.deepEqual(syntheticTexture({ ...SPEC, normals: 10, anomalies: 9 }, 12), byId.get('anomalous/002'));
  assert.deepEqual(syntheticTexture(SPEC, 3), small[3]);
});

test('3 channels: the same defect in every channel, mask as for gray', () => {
  const it = syntheticTexture({ ...SPEC, channels: 3 }, 7);
  assert.equal(it.image.channels, 3);
  assert.equal(it.image.data.length, 32 * 32 * 3);
  const gray = syntheticTexture(SPEC, 7);
  assert.deepEqual(it.mask, gray.mask);
  for (let ch = 0; ch < 3; ch++) assert.ok(meanContrast(it, ch) > 40, `channel ${ch}`);
});

/** |mean inside the mask − mean of the unmasked pixels within 3 px of it|, on channel `ch`. */
function meanContrast(it: TextureItem, ch = 0): number {
  const n = it.mask.width;
  const c = it.image.channels;
  let inside = 0;
  let ni = 0;
  let ring = 0;
  let nr = 0;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const v = it.image.data[(y * n + x) * c + ch];
      if (it.mask.data[y * n + x]) {
        inside += v;
        ni++;
        continue;
      }
      let near = false;
      for (let dy = -3; dy <= 3 && !near; dy++) for (let dx = -3; dx <= 3 && !near; dx++) {
        const yy = y + dy;
        const xx = x + dx;
        near = yy >= 0 && yy < n && xx >= 0 && xx < n && it.mask.data[yy * n + xx] === 1;
      }
      if (near) {
        ring += v;
        nr++;
      }
    }
  }
  return Math.abs(inside / ni - ring / nr);
}

test('mask pixels differ clearly in intensity from their surroundings', () => {
  const items = syntheticTextures({ normals: 0, anomalies: 30, size: 48, channels: 1, seed: 3 });
  for (const it of items) {
    const d = meanContrast(it);
    assert.ok(d > 40, `${it.id} (${it.cls}): contrast ${d.toFixed(1)}`);
  }
  // The smallest size the study spec allows still has visible defects.
  for (const it of syntheticTextures({ normals: 0, anomalies: 6, size: 8, channels: 1, seed: 1 })) {
    assert.ok(it.mask.data.some((m) => m === 1), it.id);
  }
});

/** AUROC by Mann–Whitney, ties counting ½. */
function auroc(normal: number[], anomalous: number[]): number {
  let s = 0;
  for (const a of anomalous) for (const b of normal) s += a > b ? 1 : a === b ? 0.5 : 0;
  return s / (normal.length * anomalous.length);
}

/** PCA reconstruction error with the top-k components of the training images (Gram-matrix trick, power iteration). */
function pcaScorer(train: Float64Array[], k: number): (x: Float64Array) => number {
  const n = train.length;
  const d = train[0].length;
  const mean = new Float64Array(d);
  for (const x of train) for (let j = 0; j < d; j++) mean[j] += x[j] / n;
  const xc = train.map((x) => x.map((v, j) => v - mean[j]));
  const g = xc.map((a) => xc.map((b) => a.reduce((s, v, j) => s + v * b[j], 0)));
  const comps: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    let v = new Float64Array(n).map((_, i) => Math.sin(i + c + 1));
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      const w = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[i] += g[i][j] * v[j];
      lambda = Math.hypot(...w);
      v = w.map((x) => x / lambda);
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i][j] -= lambda * v[i] * v[j];
    const u = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) u[j] += v[i] * xc[i][j];
    const norm = Math.hypot(...u);
    comps.push(u.map((x) => x / norm));
  }
  return (x) => {
    const r = x.map((v, j) => v - mean[j]);
    let e = r.reduce((s, v) => s + v * v, 0);
    for (const u of comps) {
      const p = r.reduce((s, v, j) => s + v * u[j], 0);
      e -= p * p;
    }
    return e;
  };
}

test('a learnable signal: a PCA baseline separates anomalies from held-out normals', () => {
  const spec: TextureSpec = { normals: 80, anomalies: 30, size: 24, channels: 1, seed: 11 };
  const items = syntheticTextures(spec);
  const vec = (it: TextureItem) => Float64Array.from(it.image.data);
  const train = items.slice(0, 50).map(vec);
  const score = pcaScorer(train, 8);
  const heldOut = items.slice(50, 80).map((it) => score(vec(it)));
  const anomalies = items.slice(80).map((it) => score(vec(it)));
  const auc = auroc(heldOut, anomalies);
  assert.ok(auc > 0.8, `PCA AUROC ${auc.toFixed(3)}`);
});

test('bad specs are UserErrors', () => {
  assert.throws(() => syntheticTextures({ ...SPEC, size: 4 }), isUserError);
  assert.throws(() => syntheticTextures({ ...SPEC, normals: -1 }), isUserError);
  assert.throws(() => syntheticTextures({ ...SPEC, channels: 2 as 1 }), isUserError);
  assert.throws(() => syntheticTextures({ ...SPEC, defects: [] }), isUserError);
  assert.throws(() => syntheticTextures({ ...SPEC, defects: ['dent' as 'blob'] }), isUserError);
  assert.throws(() => syntheticTexture(SPEC, 12), isUserError);
  assert.deepEqual(syntheticTextures({ ...SPEC, normals: 0, anomalies: 0 }), []);
});
