/**
 * The item pipeline end to end through the CLI: image folders → scan → screen → patches →
 * seeded split → a baseline → patch- and image-level AUROC on the test split; caching across
 * seeds; lineage in the catalog; and bad input failing once, before training, with exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli, tempHome, writeStudy, REPO_ROOT } from '../helpers.js';
import { syntheticTextures } from '../../datasets/synthetic-textures.js';
import { listRecords } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';

/** A `normal/` + `anomalous/` + `masks/` folder of synthetic defect textures, as PNG files. */
async function textureFolder(dir: string, opts: { normals?: number; anomalies?: number; size?: number } = {}): Promise<string> {
  const items = syntheticTextures({ normals: opts.normals ?? 24, anomalies: opts.anomalies ?? 12, size: opts.size ?? 48, channels: 1, seed: 5 });
  for (const sub of ['normal', 'anomalous', 'masks']) await mkdir(join(dir, sub), { recursive: true });
  for (const it of items) {
    const name = it.id.split('/')[1] + '.png';
    const png = (data: Uint8Array) => sharp(Buffer.from(data), { raw: { width: it.image.width, height: it.image.height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    await writeFile(join(dir, it.anomalous ? 'anomalous' : 'normal', name), await png(it.image.data));
    if (it.anomalous) await writeFile(join(dir, 'masks', name), await png(Uint8Array.from(it.mask.data, (v) => v * 255)));
  }
  return dir;
}

const grayPng = (width: number, height: number, value: number) => sharp(Buffer.alloc(width * height, value), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();

function study(path: string, over: Record<string, unknown> = {}, seeds = [0]): Record<string, unknown> {
  return {
    name: 'tex',
    base: {
      dataset: { kind: 'images', path, layout: 'folders' },
      tiling: { kind: 'patches', size: 16, stride: 16, threshold: 0 },
      split: { protocol: 'fractions', normal: [0.5, 0.25, 0.25], anomalous: [0, 0.5, 0.5] },
      model: { kind: 'pca', components: 4 },
      ...over,
    },
    seeds,
  };
}

async function query(home: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await runCli(['query', sql, '--format', 'json'], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Every artifact in the store belongs to a step whose record says done. */
async function assertNoPartialArtifacts(store: string): Promise<void> {
  if (!existsSync(store)) return;
  const s = new LocalStore(store);
  const done = new Set((await listRecords(s)).filter((r) => r.status === 'done').map((r) => r.key));
  for (const k of await s.list('steps')) if (k.includes('/out/')) assert.ok(done.has(k.split('/')[1]), `partial artifact visible: ${k}`);
}

test('an image folder runs end to end; a second seed shares scan, screen and extract; relaunch runs nothing', async () => {
  const home = await tempHome();
  await textureFolder(join(home, 'data'));
  const file = await writeStudy(home, study('data', {}, [0, 1]));
  const r = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const steps = await query(home, `SELECT kind, count(DISTINCT step_key) AS n FROM trial_steps GROUP BY kind ORDER BY kind`);
  const n = Object.fromEntries(steps.map((s) => [s.kind, Number(s.n)]));
  assert.deepEqual(n, { evaluate: 2, export: 2, extract: 1, scan: 1, score: 2, screen: 1, split: 2, train: 2 });
  const again = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 steps ran, 13 cached/);

  // Patch- and image-level AUROC, on the test split.
  const m = await query(home, `SELECT name, value FROM final_metrics WHERE name IN ('auc', 'image_auc', 'val_auc', 'val_image_auc') ORDER BY name`);
  assert.equal(m.length, 8, JSON.stringify(m));
  for (const row of m) assert.ok(Number(row.value) > 0.5 && Number(row.value) <= 1, JSON.stringify(row));

  // No test item reached training: per trial, an item has one split, and training items are normal.
  const leaks = await query(home, `SELECT trial_id, rel FROM scored_samples WHERE score_set = 'pca' GROUP BY trial_id, rel HAVING count(DISTINCT split) > 1`);
  assert.deepEqual(leaks, []);
  const trainAnomalous = await query(home, `SELECT count(*) AS n FROM scored_samples WHERE split = 'train' AND class <> 'normal'`);
  assert.equal(Number(trainAnomalous[0].n), 0);
  // The two seeds draw different splits.
  const splits = await query(home, `SELECT trial_id, string_agg(DISTINCT rel, ',' ORDER BY rel) AS items FROM scored_samples WHERE split = 'test' GROUP BY trial_id`);
  assert.equal(splits.length, 2);
  assert.notEqual(splits[0].items, splits[1].items);

  // Lineage: the source images of the highest-scored patches are one join away.
  const top = await query(home, `SELECT rel, sha256, y, x FROM scored_samples WHERE split = 'test' ORDER BY value DESC LIMIT 100`);
  assert.equal(top.length, 100);
  assert.ok(top.every((t) => typeof t.rel === 'string' && /^[0-9a-f]{64}$/.test(String(t.sha256))));
  // The 10 best-scored are all from anomalous images (the defects are strong).
  assert.ok(top.slice(0, 10).every((t) => String(t.rel).startsWith('anomalous/')), JSON.stringify(top.slice(0, 10)));

  // The catalog is an index: rebuilt from the store alone, the lineage tables come back the same.
  const lineageSql = `SELECT (SELECT count(*) FROM sample_sources), (SELECT count(*) FROM scored_samples), (SELECT count(*) FROM scores WHERE split IS NOT NULL), (SELECT string_agg(DISTINCT rel, ',' ORDER BY rel) FROM sample_sources)`;
  const before = await query(home, lineageSql);
  const rebuilt = await runCli(['catalog', 'rebuild'], { GANTRY_HOME: home });
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.deepEqual(await query(home, lineageSql), before);

  const tiles = await runCli(['datasets', 'tiles', 'tex'], { GANTRY_HOME: home });
  assert.equal(tiles.code, 0, tiles.stderr);
  assert.match(tiles.stdout, /labels: normal \d+, anomalous \d+/);
  assert.match(tiles.stdout, /anomalous\/\d+\.png/);
});

test('relative dataset paths start at the study file, whatever the working directory', async () => {
  const home = await tempHome();
  await textureFolder(join(home, 'studies', 'data'), { normals: 12, anomalies: 6 });
  const file = await writeStudy(join(home, 'studies'), study('data'));
  const r = await runCli(['run', file], { GANTRY_HOME: join(home, 'gh') }, REPO_ROOT);
  assert.equal(r.code, 0, r.stderr);
});

test('bad items are skipped and reported with file and reason; the catalog lists them', async () => {
  const home = await tempHome();
  const data = await textureFolder(join(home, 'data'));
  await writeFile(join(data, 'normal', 'broken.png'), Buffer.from('not a png at all'));
  await writeFile(join(data, 'anomalous', 'wrongmask.png'), await grayPng(48, 48, 128));
  await writeFile(join(data, 'masks', 'wrongmask.png'), await grayPng(40, 48, 0));
  const r = await runCli(['run', await writeStudy(home, study('data'))], { GANTRY_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const removed = await query(home, `SELECT rel, filter, reason FROM removed_items ORDER BY rel`);
  assert.deepEqual(removed.map((x) => [x.rel, x.filter]), [['anomalous/wrongmask.png', 'mask'], ['normal/broken.png', 'decode']]);
  assert.match(String(removed[0].reason), /40×48|40x48/);

  // The same with onBadItem 'fail': one line naming the file, exit 2, no training.
  const strict = await runCli(['run', await writeStudy(home, study('data', { filter: { onBadItem: 'fail' } }), 'strict.json')], { GANTRY_HOME: join(home, 'h2') });
  assert.equal(strict.code, 2, strict.stderr);
  assert.match(strict.stderr, /^error: dataset: screen step failed: .*(broken|wrongmask)\.png/m);
  assert.doesNotMatch(strict.stderr, /\n\s+at /);
  await assertNoPartialArtifacts(join(home, 'h2', 'store'));
  const trained = (await listRecords(new LocalStore(join(home, 'h2', 'store')))).filter((x) => x.kind === 'train');
  assert.deepEqual(trained, []);
});

/** Each case: a study that must fail before any training with exit 2 and a message matching `expect`. */
const BAD: { name: string; make: (home: string) => Promise<Record<string, unknown>>; expect: RegExp }[] = [
  { name: 'missing folder', make: async () => study('nowhere'), expect: /dataset folder nowhere .*does not exist/ },
  { name: 'empty folder', make: async (h) => (await mkdir(join(h, 'empty')), study('empty')), expect: /dataset folder empty .*is empty/ },
  {
    name: 'no known layout',
    make: async (h) => {
      await mkdir(join(h, 'odd'));
      await writeFile(join(h, 'odd', 'notes.txt'), 'x');
      return study('odd', { dataset: { kind: 'images', path: 'odd' } });
    },
    expect: /odd/,
  },
  { name: 'everything filtered out', make: async (h) => (await textureFolder(join(h, 'd'), { normals: 6, anomalies: 3 }), study('d', { filter: { minSize: 1000 } })), expect: /no items left after filtering \(minSize: 9\)/ },
  { name: 'no anomalous test item', make: async (h) => (await textureFolder(join(h, 'd'), { normals: 8, anomalies: 0 }), study('d')), expect: /leaves \d+ normal and 0 anomalous test items/ },
  { name: 'images smaller than a patch', make: async (h) => (await textureFolder(join(h, 'd'), { normals: 6, anomalies: 3, size: 12 }), study('d')), expect: /12×12, smaller than a 16×16 patch .*filter\.minSize/ },
  { name: 'fractions without fractions', make: async (h) => (await textureFolder(join(h, 'd'), { normals: 6, anomalies: 3 }), study('d', { split: { protocol: 'fractions' } })), expect: /'fractions' needs split\.normal/ },
  {
    name: 'gray and colour mixed',
    make: async (h) => {
      const d = await textureFolder(join(h, 'd'), { normals: 6, anomalies: 3 });
      await writeFile(join(d, 'normal', 'zz-colour.png'), await sharp({ create: { width: 48, height: 48, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toBuffer());
      return study('d');
    },
    expect: /zz-colour\.png has 3 channels, earlier images 1 .*dataset\.channels/,
  },
  { name: 'unknown class in the protocol', make: async (h) => (await textureFolder(join(h, 'd'), { normals: 6, anomalies: 3 }), study('d', { filter: { classes: { kind: 'one-class', normal: 'bottle' } } })), expect: /bottle/ },
  { name: 'missing metadata file', make: async (h) => (await textureFolder(join(h, 'd'), { normals: 6, anomalies: 3 }), study('d', { dataset: { kind: 'images', path: 'd', layout: 'folders', metadata: { path: 'meta.csv' } } })), expect: /meta\.csv .*does not exist/ },
];

for (const c of BAD) {
  test(`bad input fails once, before training, with exit 2: ${c.name}`, async () => {
    const home = await tempHome();
    const file = await writeStudy(home, await c.make(home));
    const r = await runCli(['run', file], { GANTRY_HOME: join(home, 'gh') });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, c.expect);
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('error:')).length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const store = join(home, 'gh', 'store');
    await assertNoPartialArtifacts(store);
    if (existsSync(store)) assert.deepEqual((await listRecords(new LocalStore(store))).filter((x) => x.kind === 'train'), []);
    await rm(home, { recursive: true, force: true });
  });
}

/** A tiny MNIST: `n` 12×12 digits per part; class 0 a centred blob, the others a bar at a class-dependent row. */
async function tinyMnist(dir: string, n: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const side = 12;
  for (const [images, labels] of [['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'], ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']] as const) {
    const img = Buffer.alloc(16 + n * side * side);
    img.writeUInt32BE(0x00000803, 0);
    img.writeUInt32BE(n, 4);
    img.writeUInt32BE(side, 8);
    img.writeUInt32BE(side, 12);
    const lab = Buffer.alloc(8 + n);
    lab.writeUInt32BE(0x00000801, 0);
    lab.writeUInt32BE(n, 4);
    for (let k = 0; k < n; k++) {
      const digit = k % 3;
      lab[8 + k] = digit;
      for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
        const blob = (y - 6) ** 2 + (x - 6) ** 2 < 9 + (k % 4);
        const bar = y === 2 + 3 * digit;
        img[16 + k * side * side + y * side + x] = (digit === 0 ? blob : bar) ? 230 : (k * 7 + x * 3 + y) % 20;
      }
    }
    await writeFile(join(dir, images), img);
    await writeFile(join(dir, labels), lab);
  }
}

test('MNIST idx files as an item dataset: one-class protocol, whole images, channel stacking', async () => {
  const home = await tempHome();
  await tinyMnist(join(home, 'mnist'), 30);
  const spec = {
    name: 'digits',
    base: {
      dataset: { kind: 'mnist', path: 'mnist' },
      filter: { classes: { kind: 'one-class', normal: '0' } },
      tiling: { kind: 'whole', stack: ['gray', 'max', 'mean'] },
      split: { protocol: 'fractions', normal: [0.6, 0.2, 0.2], anomalous: [0, 0.5, 0.5] },
      model: { kind: 'pca', components: 3 },
    },
  };
  const inspect = await runCli(['datasets', 'inspect', join(home, 'mnist')], {});
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /mnist \(classes per part — train: 0 10, 1 10, 2 10; test: 0 10, 1 10, 2 10\)/);
  assert.match(inspect.stdout, /train images\s+30×12×12×1\s+uint8/);
  const r = await runCli(['run', await writeStudy(home, spec)], { GANTRY_HOME: join(home, 'gh') });
  assert.equal(r.code, 0, r.stderr);
  const gh = join(home, 'gh');
  const tiles = await runCli(['datasets', 'tiles', 'digits', '--json'], { GANTRY_HOME: gh });
  const rep = JSON.parse(tiles.stdout);
  assert.deepEqual(rep.shape, [12, 12, 3]);
  assert.equal(rep.samples, 60);
  // Digits 1 and 2 are anomalous (40 of the 60 images), digit 0 normal.
  assert.deepEqual(rep.labels, { normal: 20, anomalous: 40 });
  const m = await runCli(['query', "SELECT value FROM final_metrics WHERE name = 'auc'", '--format', 'csv'], { GANTRY_HOME: gh });
  assert.ok(Number(m.stdout.trim().split('\n')[1]) > 0.9, m.stdout);

  // The default class protocol keeps every digit normal: the split has nothing to test against.
  const asIs = { ...spec, name: 'digits2', base: { ...spec.base, filter: {} } };
  const bad = await runCli(['run', await writeStudy(home, asIs, 'as-is.json')], { GANTRY_HOME: join(home, 'gh2') });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /0 anomalous test items.*filter\.classes/);
});

test('CIFAR-10 binary batches as an item dataset: the test batch alone, colour kept, one-class', async () => {
  const home = await tempHome();
  const dir = join(home, 'cifar');
  await mkdir(dir, { recursive: true });
  const n = 40;
  const rec = Buffer.alloc(n * 3073);
  for (let k = 0; k < n; k++) {
    const cls = k % 2; // 0 'airplane': bluish, 1 'automobile': reddish
    rec[k * 3073] = cls;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) rec[k * 3073 + 1 + c * 1024 + p] = (cls === 0 ? [40, 60, 200] : [200, 40, 40])[c] + ((k * 13 + p * 7) % 30);
  }
  await writeFile(join(dir, 'test_batch.bin'), rec);
  await writeFile(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  const spec = {
    name: 'cifar',
    base: {
      dataset: { kind: 'cifar10', path: 'cifar', parts: 'test' },
      filter: { classes: { kind: 'one-class', normal: 'airplane' } },
      tiling: { kind: 'whole' },
      split: { protocol: 'fractions', normal: [0.6, 0.2, 0.2], anomalous: [0, 0.5, 0.5] },
      model: { kind: 'pca', components: 2 },
    },
  };
  const gh = join(home, 'gh');
  const r = await runCli(['run', await writeStudy(home, spec)], { GANTRY_HOME: gh });
  assert.equal(r.code, 0, r.stderr);
  const tiles = JSON.parse((await runCli(['datasets', 'tiles', 'cifar', '--json'], { GANTRY_HOME: gh })).stdout);
  assert.deepEqual(tiles.shape, [32, 32, 3]);
  assert.deepEqual(tiles.labels, { normal: 20, anomalous: 20 });
  const classes = await query(gh, 'SELECT DISTINCT class FROM sample_sources ORDER BY class');
  assert.deepEqual(classes.map((c) => c.class), ['airplane', 'automobile']);
});
