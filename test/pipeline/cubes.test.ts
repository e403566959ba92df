/**
 * Hyperspectral cubes in every stored form reach the same pixels: a MATLAB file as rows×cols×bands
 * or bands-first, an ENVI raster with a mask image, (multiband TIFF goes through the same step); Eide's outer mask makes
 * ambiguous pixels that never train and never count; bad cubes fail once with exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { matFile, runCli, tempHome, writeStudy } from '../helpers.js';
import { syntheticHsi } from '../../datasets/synthetic-hsi.js';

const scene = syntheticHsi({ rows: 20, cols: 16, bands: 5, endmembers: 3, anomalies: 4, anomalySize: 2, noise: 0.02, seed: 4 });
const { rows, cols, bands } = scene;
const at = (r: number, c: number, b: number) => scene.data[(r * cols + c) * bands + b];

/** Column-major MATLAB data for dims given as (r, c, b) → index functions. */
function columnMajor(dims: number[], value: (idx: number[]) => number): number[] {
  const n = dims.reduce((a, b) => a * b, 1);
  const out = new Array<number>(n);
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    let rem = k;
    for (let d = 0; d < dims.length; d++) {
      idx[d] = rem % dims[d];
      rem = Math.floor(rem / dims[d]);
    }
    out[k] = value(idx);
  }
  return out;
}

const labels = columnMajor([rows, cols], ([r, c]) => scene.mask[r * cols + c]);
const rxStudy = (dataset: Record<string, unknown>) => ({ name: 'cube', base: { dataset, split: { train: 'all' }, model: { kind: 'rx' } } });

async function aucOf(home: string, study: unknown, name = 'study.json'): Promise<number> {
  const r = await runCli(['run', await writeStudy(home, study, name)], { GANTRY_HOME: join(home, 'gh-' + name) });
  assert.equal(r.code, 0, r.stderr);
  const q = await runCli(['query', "SELECT value FROM final_metrics WHERE name = 'auc'", '--format', 'csv'], { GANTRY_HOME: join(home, 'gh-' + name) });
  return Number(q.stdout.trim().split('\n')[1]);
}

test('the same scene as MAT (two dimension orders), ENVI (three interleaves, both byte orders) gives the same RX AUC', async () => {
  const home = await tempHome();
  await writeFile(join(home, 'hwc.mat'), matFile([{ name: 'data', dims: [rows, cols, bands], data: columnMajor([rows, cols, bands], ([r, c, b]) => at(r, c, b)) }, { name: 'map', dims: [rows, cols], data: labels }]));
  await writeFile(join(home, 'chw.mat'), matFile([{ name: 'cube', dims: [bands, rows, cols], data: columnMajor([bands, rows, cols], ([b, r, c]) => at(r, c, b)) }, { name: 'gt', dims: [rows, cols], data: labels }]));
  const reference = await aucOf(home, rxStudy({ kind: 'mat', path: 'hwc.mat' }), 'hwc.json');
  assert.ok(reference > 0.8, String(reference));
  assert.equal(await aucOf(home, rxStudy({ kind: 'mat', path: 'chw.mat', variable: 'cube', labels: 'gt', order: 'bands-rows-cols' }), 'chw.json'), reference);

  // The label map as a mask image beside ENVI rasters.
  await writeFile(join(home, 'mask.png'), await sharp(Buffer.from(Uint8Array.from(scene.mask, (v) => v * 255)), { raw: { width: cols, height: rows, channels: 1 } }).toColourspace('b-w').png().toBuffer());
  for (const interleave of ['bsq', 'bil', 'bip'] as const) {
    for (const byteOrder of [0, 1]) {
      const raw = Buffer.alloc(rows * cols * bands * 4);
      let k = 0;
      const put = (v: number) => (byteOrder ? raw.writeFloatBE(v, 4 * k++) : raw.writeFloatLE(v, 4 * k++));
      if (interleave === 'bsq') for (let b = 0; b < bands; b++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) put(at(r, c, b));
      if (interleave === 'bil') for (let r = 0; r < rows; r++) for (let b = 0; b < bands; b++) for (let c = 0; c < cols; c++) put(at(r, c, b));
      if (interleave === 'bip') for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let b = 0; b < bands; b++) put(at(r, c, b));
      const base = `scene-${interleave}-${byteOrder}`;
      await writeFile(join(home, `${base}.img`), raw);
      await writeFile(join(home, `${base}.hdr`), `ENVI\nsamples = ${cols}\nlines = ${rows}\nbands = ${bands}\nheader offset = 0\ndata type = 4\ninterleave = ${interleave}\nbyte order = ${byteOrder}\n`);
      const auc = await aucOf(home, rxStudy({ kind: 'envi', path: `${base}.hdr`, labels: { path: 'mask.png' } }), `${base}.json`);
      // float32 storage rounds the values: the AUC may differ in the last digits only.
      assert.ok(Math.abs(auc - reference) < 1e-6, `${base}: ${auc} vs ${reference}`);
    }
  }
});

test("Eide's outer mask: pixels inside it but outside the labels are ambiguous, never trained on, never counted", async () => {
  const home = await tempHome();
  // The outer mask: each anomalous pixel's 3×3 neighbourhood.
  const outer = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (scene.mask[r * cols + c]) for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) {
    const rr = r + dr, cc = c + dc;
    if (rr >= 0 && rr < rows && cc >= 0 && cc < cols) outer[rr * cols + cc] = 1;
  }
  let ambiguous = 0;
  for (let i = 0; i < outer.length; i++) if (outer[i] && !scene.mask[i]) ambiguous++;
  assert.ok(ambiguous > 0);
  await writeFile(join(home, 'o.mat'), matFile([
    { name: 'data', dims: [rows, cols, bands], data: columnMajor([rows, cols, bands], ([r, c, b]) => at(r, c, b)) },
    { name: 'map', dims: [rows, cols], data: labels },
    { name: 'outer', dims: [rows, cols], data: columnMajor([rows, cols], ([r, c]) => outer[r * cols + c]) },
  ]));
  const study = { name: 'eide', base: { dataset: { kind: 'mat', path: 'o.mat', outer: 'outer' }, model: { kind: 'rx' } } };
  const gh = join(home, 'gh');
  const r = await runCli(['run', await writeStudy(home, study)], { GANTRY_HOME: gh });
  assert.equal(r.code, 0, r.stderr);
  const q = await runCli(['query', "SELECT label, count(*) AS n FROM scores GROUP BY label ORDER BY label", '--format', 'csv'], { GANTRY_HOME: gh });
  const anomalies = scene.mask.reduce((a, b) => a + b, 0);
  assert.equal(q.stdout.trim(), `label,n\n0,${rows * cols - anomalies - ambiguous}\n1,${anomalies}\n2,${ambiguous}`);
  const { listRecords } = await import('../../infra/ledger.js');
  const { LocalStore } = await import('../../infra/store/local.js');
  const train = (await listRecords(new LocalStore(join(gh, 'store')))).find((x) => x.kind === 'train');
  assert.equal(train?.output?.trainSamples, rows * cols - anomalies - ambiguous, 'background pixels only');
});

test('bad cubes fail once, before training, with exit 2', async () => {
  const home = await tempHome();
  const hwc = columnMajor([rows, cols, bands], ([r, c, b]) => at(r, c, b));
  const cases: [string, Buffer, Record<string, unknown>, RegExp][] = [
    ['missing variable', matFile([{ name: 'data', dims: [rows, cols, bands], data: hwc }]), {}, /no label variable 'map' \(found: data\)/],
    ['labels of another size', matFile([{ name: 'data', dims: [rows, cols, bands], data: hwc }, { name: 'map', dims: [rows, cols - 1], data: labels.slice(0, rows * (cols - 1)) }]), {}, /labels 'map' are 20×15×1, expected 20×16×1/],
    ['no anomalous pixel', matFile([{ name: 'data', dims: [rows, cols, bands], data: hwc }, { name: 'map', dims: [rows, cols], data: labels.map(() => 0) }]), {}, /no pixel is labelled anomalous/],
    ['pixels×bands without a shape', matFile([{ name: 'data', dims: [rows * cols, bands], data: hwc }, { name: 'map', dims: [rows, cols], data: labels }]), { order: 'pixels-bands' }, /rows|shape/],
  ];
  for (const [name, bytes, extra, expect] of cases) {
    const file = `${name.replace(/\W+/g, '-')}.mat`;
    await writeFile(join(home, file), bytes);
    const study = { name: 'bad', base: { dataset: { kind: 'mat', path: file, ...extra }, model: { kind: 'rx' } }, grid: [{}, { set: { 'filter.normalize': 'zscore' } }] };
    const r = await runCli(['run', await writeStudy(home, study, `${file}.json`)], { GANTRY_HOME: join(home, 'gh-' + file) });
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, expect, name);
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('error:')).length, 1, `${name}: said once for two trials: ${r.stderr}`);
  }
});

test('value filters: a noisy band is found and dropped, sqrt and per-band standardisation apply', async () => {
  const home = await tempHome();
  // The scene plus one band of pure noise at the end.
  const noisy = (r: number, c: number) => Math.sin(r * 12.9898 + c * 78.233) * 43758.5453 % 1;
  const data = columnMajor([rows, cols, bands + 1], ([r, c, b]) => (b < bands ? at(r, c, b) : 0.5 + 0.5 * noisy(r, c)));
  await writeFile(join(home, 'n.mat'), matFile([{ name: 'data', dims: [rows, cols, bands + 1], data }, { name: 'map', dims: [rows, cols], data: labels }]));
  const study = { name: 'vf', base: { dataset: { kind: 'mat', path: 'n.mat' }, filter: { minBandSnr: 3, transform: 'sqrt', normalize: 'band-zscore' }, model: { kind: 'rx' } } };
  const gh = join(home, 'gh');
  const r = await runCli(['run', await writeStudy(home, study)], { GANTRY_HOME: gh });
  assert.equal(r.code, 0, r.stderr);
  const { listRecords } = await import('../../infra/ledger.js');
  const { LocalStore } = await import('../../infra/store/local.js');
  const filter = (await listRecords(new LocalStore(join(gh, 'store')))).find((x) => x.kind === 'filter');
  assert.deepEqual(filter?.output?.noisyBands, [bands], JSON.stringify(filter?.output));
  assert.equal(filter?.output?.bands, bands);
});

test('2-D points (the boundary study) travel as an n×1 cube of 2 bands: [n, 2] samples, kNN separates the outliers', async () => {
  const home = await tempHome();
  const study = {
    name: 'points',
    base: { dataset: { kind: 'synthetic-points', n: 600, modes: 'bimodal', anomalyFraction: 0.1, seed: 3 }, filter: { normalize: 'none' }, model: { kind: 'knn', k: 5 } },
  };
  const gh = join(home, 'gh');
  const r = await runCli(['run', await writeStudy(home, study)], { GANTRY_HOME: gh });
  assert.equal(r.code, 0, r.stderr);
  const { listRecords } = await import('../../infra/ledger.js');
  const { LocalStore } = await import('../../infra/store/local.js');
  const recs = await listRecords(new LocalStore(join(gh, 'store')));
  const tile = recs.find((x) => x.kind === 'tile');
  assert.deepEqual([tile?.output?.n, tile?.output?.dim, tile?.output?.train], [600, 2, 540]);
  const q = await runCli(['query', "SELECT value FROM final_metrics WHERE name = 'auc'", '--format', 'csv'], { GANTRY_HOME: gh });
  assert.ok(Number(q.stdout.trim().split('\n')[1]) > 0.95, q.stdout);
});

test("Eide's 80/20 background split: split.validation holds pixels out of training, per seed, disjoint", async () => {
  const home = await tempHome();
  await writeFile(join(home, 'v.mat'), matFile([{ name: 'data', dims: [rows, cols, bands], data: columnMajor([rows, cols, bands], ([r, c, b]) => at(r, c, b)) }, { name: 'map', dims: [rows, cols], data: labels }]));
  const study = { name: 'val', base: { dataset: { kind: 'mat', path: 'v.mat' }, split: { validation: 0.2 }, model: { kind: 'wgan-gp', iterations: 2, hidden: 8, batchSize: 16, criticIters: 1, scoreRestarts: 1, scoreIterations: 2, logEvery: 1 } }, seeds: [0, 1] };
  const gh = join(home, 'gh');
  const r = await runCli(['run', await writeStudy(home, study)], { GANTRY_HOME: gh });
  assert.equal(r.code, 0, r.stderr);
  const { listRecords } = await import('../../infra/ledger.js');
  const { LocalStore } = await import('../../infra/store/local.js');
  const { getVerified } = await import('../../infra/store/store.js');
  const { decodeNd } = await import('../../datasets/tensor-file.js');
  const store = new LocalStore(join(gh, 'store'));
  const tiles = (await listRecords(store)).filter((x) => x.kind === 'tile');
  assert.equal(tiles.length, 2, 'one split per seed');
  const background = rows * cols - scene.mask.reduce((a, b) => a + b, 0);
  const vals: string[] = [];
  for (const t of tiles) {
    const train = decodeNd(await getVerified(store, t.artifacts['train-index'])).data as Int32Array;
    const val = decodeNd(await getVerified(store, t.artifacts['val-index'])).data as Int32Array;
    assert.equal(val.length, Math.floor(background * 0.2));
    assert.equal(train.length + val.length, background);
    const inTrain = new Set(train);
    assert.ok([...val].every((i) => !inTrain.has(i) && scene.mask[i] === 0), 'validation pixels are background, never trained on');
    assert.equal(t.output?.validation, val.length);
    vals.push([...val].join(','));
  }
  assert.notEqual(vals[0], vals[1], 'the split is re-drawn per seed');
  const trains = (await listRecords(store)).filter((x) => x.kind === 'train');
  assert.ok(trains.every((x) => x.output?.trainSamples === background - Math.floor(background * 0.2)));
});
