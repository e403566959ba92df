/**
 * `gantry report` beside a running study: --watch follows it until every trial is recorded,
 * without stopping the run (both take turns on the catalog), and leaves the final page without
 * its self-reload; the errors a user meets before there is anything to report; and anomaly maps
 * over the test images of a patch study, hottest where the defect's mask is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { Prng } from '../../datasets/prng.js';
import { join } from 'node:path';
import { REPO_ROOT, runCli, startCli, tempHome, toyStudy, writeStudy } from '../helpers.js';
import { Catalog } from '../../infra/catalog.js';
import { LocalStore } from '../../infra/store/local.js';
import { loadReportData } from '../../reports/data.js';
import { trialReconstructions } from '../../reports/reconstructions.js';

test('gantry report --watch follows a running study to its end', { timeout: 300_000 }, async (t) => {
  const home = await tempHome('gantry-report-watch-');
  t.after(() => rm(home, { recursive: true, force: true }));
  const env = { GANTRY_HOME: home };
  const none = await runCli(['report', 'toy'], env);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no study 'toy'/);

  const file = await writeStudy(home, toyStudy({ seeds: [0, 1] }));
  // Slow enough (a few seconds) for the watch to see trials being recorded.
  const run = startCli(['run', file, '--concurrency', '1', '--set', 'model.iterations=300'], env);
  // The study file appears as the run starts; the watch begins as soon as it is there.
  const deadline = Date.now() + 60_000;
  while (!(await readFile(join(home, 'store', 'studies', 'toy.json')).catch(() => undefined))) {
    assert.ok(Date.now() < deadline, 'the run wrote no study file');
    await new Promise((r) => setTimeout(r, 50));
  }
  const watch = await runCli(['report', 'toy', '--watch', '0.3', '--format', 'html'], env);
  const ran = await run.done;
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(watch.code, 0, watch.stderr);
  const counts = [...watch.stderr.matchAll(/(\d+)\/(\d+) trials recorded/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const refreshes = watch.stderr.split('\n').filter((l) => /trials recorded|waiting for the first trial/.test(l));
  assert.ok(refreshes.length >= 2, `the watch refreshed: ${watch.stderr}`);
  assert.deepEqual(counts.at(-1), [19, 19], 'it ends once every trial is recorded');
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i][0] >= counts[i - 1][0], 'counts never go back');
  assert.ok(counts.some(([n]) => n < 19) || /waiting for the first trial/.test(watch.stderr), `it saw the study before its end: ${watch.stderr}`);
  assert.match(watch.stdout, /stored as reports\/toy\//);
  const page = await readFile(join(home, 'reports', 'toy', 'index.html'), 'utf8');
  assert.doesNotMatch(page, /http-equiv="refresh"/, 'the final page does not reload itself');
  assert.match(page, /19 of 19 trials recorded/);

  // A folder that cannot be made: one line, exit 2, nothing half-written left behind.
  await writeFile(join(home, 'a-file'), 'x');
  const blocked = await runCli(['report', 'toy', '--no-store', '--out', join(home, 'a-file', 'report')], env);
  assert.equal(blocked.code, 2, blocked.stderr);
  assert.match(blocked.stderr, /^error: cannot write the report to .*a-file\/report \((EEXIST|ENOTDIR)\)/m);
  assert.doesNotMatch(blocked.stderr, /\n\s+at /, 'no stack trace');

  const bad = await runCli(['report', 'toy', '--format', 'pdf'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /pdf.*html, md, latex, csv|Allowed choices are html, md, latex, csv/);
});

test('item studies cut into patches get anomaly maps over their test images, brightest where the mask is', { timeout: 300_000 }, async (t) => {
  const home = await tempHome('gantry-report-maps-');
  t.after(() => rm(home, { recursive: true, force: true }));
  const data = join(home, 'data');
  const rng = new Prng(5);
  const texture = () => Buffer.from(Uint8Array.from({ length: 64 * 64 }, () => 100 + rng.int(40)));
  for (let i = 0; i < 24; i++) {
    await mkdir(join(data, 'normal'), { recursive: true });
    await sharp(texture(), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(join(data, 'normal', `n${String(i).padStart(2, '0')}.png`));
  }
  // Anomalies: a bright 12×12 square at a known place, and its mask.
  for (let i = 0; i < 8; i++) {
    const px = texture();
    const mask = Buffer.alloc(64 * 64);
    for (let y = 40; y < 52; y++) for (let x = 8; x < 20; x++) (px[y * 64 + x] = 250), (mask[y * 64 + x] = 255);
    await mkdir(join(data, 'anomalous', 'spot'), { recursive: true });
    await mkdir(join(data, 'masks', 'spot'), { recursive: true });
    await sharp(px, { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(join(data, 'anomalous', 'spot', `a${i}.png`));
    await sharp(mask, { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(join(data, 'masks', 'spot', `a${i}.png`));
  }
  const file = await writeStudy(home, {
    name: 'maps',
    base: {
      dataset: { kind: 'images', path: 'data', layout: 'folders', channels: 'gray' },
      tiling: { kind: 'patches', size: 16, stride: 8, threshold: 0 },
      split: { protocol: 'fractions', normal: [0.5, 0.25, 0.25], anomalous: [0, 0.5, 0.5] },
      model: { kind: 'pca', components: 4 },
    },
    // A whole-image GANomaly beside it: its pixel maps are |x − G(x)| at 16×16.
    grid: [{ name: 'pca' }, { name: 'gan', set: { tiling: { kind: 'resize', size: 16 }, model: { kind: 'ganomaly', ngf: 4, nz: 8, batchSize: 8, iterations: 12, validateEvery: 4 } } }],
  });
  const env = { GANTRY_HOME: home };
  const run = await runCli(['run', file], env);
  assert.equal(run.code, 0, run.stderr);
  // Without the study file the dataset's relative path cannot be found: the report says so and goes on.
  const without = await runCli(['report', 'maps', '--format', 'md', '--no-store'], env, '/');
  assert.equal(without.code, 0, without.stderr);
  assert.match(await readFile(join(home, 'reports', 'maps', 'report.md'), 'utf8'), /No anomaly maps over images: the dataset's files are not at/);
  const r = await runCli(['report', 'maps', '--format', 'md', '--spec', file, '--no-store'], env);
  assert.equal(r.code, 0, r.stderr);
  const md = await readFile(join(home, 'reports', 'maps', 'report.md'), 'utf8');
  assert.match(md, /!\[Anomaly maps over test images: [^\]]*\]\(plots\/image-maps\.png\)/);
  assert.match(md, /anomalous\/spot\/a\d\.png \(anomalous\)/);
  // Pixel metrics from the same maps: the square is easy, so both are high; GANomaly's are |x − G(x)|.
  const section = md.slice(md.indexOf('## Pixel-level metrics'), md.indexOf('## Trials')).split('\n');
  const pixel = section.find((l) => /^\| pca \| pca \| 1 \|/.test(l));
  assert.ok(pixel, `a pixel-level row for the PCA cell: ${section.join('\n')}`);
  const [auc, pro] = pixel.split('|').slice(4, 6).map((x) => Number(x.trim()));
  assert.ok(auc > 0.9 && auc <= 1 && pro > 0.5 && pro <= 1, `pixel AUROC ${auc}, AUPRO ${pro}`);
  const gan = section.find((l) => /^\| gan \| ganomaly \| 1 \|/.test(l));
  assert.ok(gan, `a pixel-level row for the reconstructing GANomaly: ${section.join('\n')}`);
  for (const v of gan.split('|').slice(4, 6).map((x) => Number(x.trim()))) assert.ok(v >= 0 && v <= 1, gan);
  // The first row is an anomalous image: its map's brightest (most yellow) pixel lies on the square.
  const { data: px, info } = await sharp(join(home, 'reports', 'maps', 'plots', 'image-maps.png')).raw().toBuffer({ resolveWithObject: true });
  const panel = 180; // rows are 180 px high; a 64-px image is drawn 180 px wide, panels 6 px apart
  let best = -Infinity;
  let at = [0, 0];
  for (let y = 0; y < panel; y++) {
    for (let x = panel + 6; x < 2 * panel + 6; x++) {
      const i = (y * info.width + x) * info.channels;
      const yellow = px[i] + px[i + 1] - 2 * px[i + 2];
      if (yellow > best) (best = yellow), (at = [(y * 64) / panel, ((x - panel - 6) * 64) / panel]);
    }
  }
  assert.ok(at[0] >= 32 && at[0] < 60 && at[1] >= 0 && at[1] < 28, `the hottest pixel (${at.map((v) => v.toFixed(0))}) is on the square's patches (y 40-52, x 8-20)`);
});

test("reconstruction grids redo what the detector saw: GANomaly's reconstruction score is the grid's mean |x − G(x)|", { timeout: 300_000 }, async (t) => {
  const home = await tempHome('gantry-report-recon-');
  t.after(() => rm(home, { recursive: true, force: true }));
  const env = { GANTRY_HOME: home };
  const run = await runCli(['run', 'mtd-gans', '--profile', 'tiny'], env, REPO_ROOT);
  assert.equal(run.code, 0, run.stderr);
  const r = await runCli(['report', 'mtd-gans', '--format', 'md', '--no-store'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(await readFile(join(home, 'reports', 'mtd-gans', 'report.md'), 'utf8'), /!\[Reconstructions: [^\]]+\]\(plots\/reconstructions\.png\)/);

  const store = new LocalStore(join(home, 'store'));
  const cat = await Catalog.openReadOnly(join(home, 'catalog.duckdb'));
  try {
    const data = await loadReportData(cat, store, 'mtd-gans');
    const trial = data.cells.find((c) => c.model === 'ganomaly')!.trials[0];
    const grid = (await trialReconstructions(store, trial))!;
    assert.ok(grid && grid.labels.includes(0) && grid.labels.includes(1), 'normal and anomalous test samples');
    const scores = await cat.query(`SELECT sample, value FROM scores WHERE trial_id = '${trial.id}' AND score_set = 'reconstruction' AND sample IN (${grid.indices.join(',')})`);
    const byIndex = new Map(scores.rows.map(([s, v]) => [Number(s), Number(v)]));
    const per = grid.shape.reduce((a, b) => a * b, 1);
    grid.indices.forEach((idx, k) => {
      let d = 0;
      for (let i = 0; i < per; i++) d += Math.abs(grid.inputs[k * per + i] - grid.outputs[k * per + i]);
      assert.ok(Math.abs(d / per - byIndex.get(idx)!) < 1e-5, `sample ${idx}: grid ${d / per} vs scored ${byIndex.get(idx)}`);
    });
    // ALGAN has no generator of x: no grid for it.
    assert.equal(await trialReconstructions(store, data.cells.find((c) => c.model === 'algan')!.trials[0]), undefined);
  } finally {
    cat.close();
  }
});

test('2-D data: every sample drawn at its coordinates, coloured by its score', { timeout: 120_000 }, async (t) => {
  const home = await tempHome('gantry-report-points-');
  t.after(() => rm(home, { recursive: true, force: true }));
  const env = { GANTRY_HOME: home };
  const file = await writeStudy(home, { name: 'points', base: { dataset: { kind: 'synthetic-points', n: 240, modes: 'bimodal', seed: 2 }, model: { kind: 'rx' }, split: { train: 'all' } } });
  const run = await runCli(['run', file], env);
  assert.equal(run.code, 0, run.stderr);
  const r = await runCli(['report', 'points', '--no-store'], env);
  assert.equal(r.code, 0, r.stderr);
  const spec = JSON.parse(await readFile(join(home, 'reports', 'points', 'plots', 'points.vl.json'), 'utf8')) as { data: { values: { x: number; y: number; score: number; cls: string }[] } };
  assert.equal(spec.data.values.length, 240, 'every sample');
  // RX's score is the Mahalanobis distance from the mean: the farthest point scores highest.
  const v = spec.data.values;
  const mx = v.reduce((a, p) => a + p.x, 0) / v.length;
  const my = v.reduce((a, p) => a + p.y, 0) / v.length;
  const far = v.reduce((a, p) => (Math.hypot(p.x - mx, p.y - my) > Math.hypot(a.x - mx, a.y - my) ? p : a));
  const top = v.reduce((a, p) => (p.score > a.score ? p : a));
  assert.ok(Math.hypot(top.x - mx, top.y - my) > 0.5 * Math.hypot(far.x - mx, far.y - my), 'the top-scored point lies far out');
  assert.ok(v.some((p) => p.cls === 'anomalous') && v.some((p) => p.cls === 'normal'));
  const page = await readFile(join(home, 'reports', 'points', 'index.html'), 'utf8');
  assert.match(page, /<img src="plots\/points\.svg"/);
});
