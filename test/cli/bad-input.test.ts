/**
 * Bad input fails before work (issue 13, rows 10, 11, 12 and 14, and impossible filters): through
 * the real CLI on a temporary GANTRY_HOME, each case exits 2 with one `error:` line naming the
 * right cause, no training step ran (no train, score or evaluate record in the store) and no
 * partial artifact is visible. Where the spec alone shows the problem, nothing is written at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { matFile, runCli, tempHome, writeStudy, type CliResult } from '../helpers.js';
import { listRecords } from '../../infra/ledger.js';
import { LocalStore } from '../../infra/store/local.js';

const MODEL_STEPS = new Set(['train', 'score', 'evaluate', 'export']);

/** Exit 2, one `error:` line matching `cause`, no stack trace. */
function assertOneLine(r: CliResult, cause: RegExp): string {
  assert.equal(r.code, 2, `exit ${r.code}\n${r.stderr}`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], cause);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  return errors[0];
}

/** No model step ran, and every artifact in the store belongs to a step recorded done. */
async function assertNoTraining(home: string): Promise<void> {
  const store = join(home, 'store');
  if (!existsSync(store)) return;
  const s = new LocalStore(store);
  const records = await listRecords(s);
  const model = records.filter((r) => MODEL_STEPS.has(r.kind));
  assert.deepEqual(model.map((r) => `${r.kind} ${r.status}`), [], 'no training, scoring or evaluation may start');
  const done = new Set(records.filter((r) => r.status === 'done').map((r) => r.key));
  for (const k of await s.list('steps')) if (k.includes('/out/')) assert.ok(done.has(k.split('/')[1]), `partial artifact visible: ${k}`);
}

/** A cube study on a .mat file beside it, RX only (nothing to wait for). */
function matStudy(path: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'bad', base: { dataset: { kind: 'mat', path }, model: { kind: 'rx' }, ...over }, grid: [{}], seeds: [0] };
}

const cube = (rows: number, cols: number, bands: number, value?: number) => ({ name: 'data', dims: [rows, cols, bands], data: Array.from({ length: rows * cols * bands }, (_, i) => value ?? (i * 7) % 11) });
const map = (rows: number, cols: number, anomalous: (i: number) => boolean) => ({ name: 'map', dims: [rows, cols], data: Array.from({ length: rows * cols }, (_, i) => (anomalous(i) ? 1 : 0)) });

async function run(home: string, study: unknown, args: string[] = [], name = 'study.json'): Promise<CliResult> {
  return runCli(['run', await writeStudy(home, study, name), ...args], { GANTRY_HOME: home });
}

test('row 10: labels all normal fail in the load step, before training, naming the label map', async () => {
  const home = await tempHome();
  await writeFile(join(home, 'normal.mat'), matFile([cube(6, 5, 3), map(6, 5, () => false)]));
  const r = await run(home, matStudy('normal.mat'));
  assertOneLine(r, /load step failed: .*normal\.mat: no pixel is labelled anomalous/);
  await assertNoTraining(home);
});

test('row 10: patches that are never anomalous (tiling threshold above every defect) fail in the extract step, not after training', async () => {
  // Before: training ran, then evaluate said "rocAuc: no positive (label 1) samples" (exit 1).
  const home = await tempHome();
  const study = {
    name: 'bad',
    base: {
      dataset: { kind: 'synthetic-textures', normals: 12, anomalies: 6, size: 32 },
      tiling: { kind: 'patches', size: 16, stride: 16, threshold: 0.99 },
      split: { protocol: 'fractions', normal: [0.5, 0.25, 0.25], anomalous: [0, 0.5, 0.5] },
      model: { kind: 'rx' },
    },
    grid: [{}],
    seeds: [0],
  };
  const r = await run(home, study);
  assertOneLine(r, /extract step failed: no anomalous patch: .*6 anomalous items.*tiling\.threshold 0\.99.*\(lower tiling\.threshold/);
  await assertNoTraining(home);
});

test('row 10: anomalous patches only in validation items (the test items\' defects too small for any patch) fail before training, naming the test split', async () => {
  // Before: the split (per item) and the extract step (some anomalous patch) passed, training ran,
  // then evaluate said "rocAuc: no positive (label 1) samples" (exit 1).
  const home = await tempHome();
  const root = join(home, 'images');
  for (const d of ['normal', 'anomalous', 'masks']) await mkdir(join(root, d), { recursive: true });
  const gray = (seed: number) => sharp(Buffer.from(Array.from({ length: 32 * 32 }, (_, i) => 100 + ((i * 31 + seed * 17) % 40))), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer();
  const mask = (size: number) => sharp(Buffer.from(Array.from({ length: 32 * 32 }, (_, i) => ((i % 32) < size && Math.floor(i / 32) < size ? 255 : 0))), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer();
  for (let i = 0; i < 8; i++) await writeFile(join(root, 'normal', `n${i}.png`), await gray(i));
  // Two with a 16×16 defect (a whole patch), two with a 2×2 one (no patch over the threshold).
  for (const [name, size] of [['big0', 16], ['big1', 16], ['dot0', 2], ['dot1', 2]] as const) {
    await writeFile(join(root, 'anomalous', `${name}.png`), await gray(name.length + size));
    await writeFile(join(root, 'masks', `${name}.png`), await mask(size));
  }
  const study = {
    name: 'bad',
    base: {
      dataset: { kind: 'images', path: 'images', layout: 'folders' },
      tiling: { kind: 'patches', size: 16, stride: 16, threshold: 0.5 },
      split: { protocol: 'list', train: ['normal/n0.png', 'normal/n1.png', 'normal/n2.png', 'normal/n3.png'], val: ['normal/n4.png', 'normal/n5.png', 'anomalous/big0.png', 'anomalous/big1.png'], test: ['normal/n6.png', 'normal/n7.png', 'anomalous/dot0.png', 'anomalous/dot1.png'] },
      model: { kind: 'rx' },
    },
    grid: [{}],
    seeds: [0],
  };
  const r = await run(home, study);
  assertOneLine(r, /error: dataset: the test split holds \d+ normal and 0 anomalous samples: AUROC needs both .*lower tiling\.threshold/);
  await assertNoTraining(home);
});

test('row 10: model selection on validation AUROC where validation can hold no anomaly is refused at validation', async () => {
  const home = await tempHome();
  const study = {
    name: 'bad',
    base: { dataset: { kind: 'synthetic-hsi', rows: 16, cols: 16, bands: 6, anomalies: 4 }, split: { validation: 0.2 }, model: { kind: 'algan', iterations: 4, select: 'val-auc' } },
    grid: [{}],
    seeds: [0],
  };
  const r = await run(home, study);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /invalid study spec 'bad'/);
  assert.match(r.stderr, /model\.select: select 'val-auc' needs anomalous validation pixels.*'background'/);
  assert.ok(!existsSync(join(home, 'store')), 'no work may start');
});

test('row 11: a 0×0×8 cube is said to be empty, not that every pixel is anomalous', async () => {
  const home = await tempHome();
  await writeFile(join(home, 'empty.mat'), matFile([{ name: 'data', dims: [0, 0, 8], data: [] }, { name: 'map', dims: [0, 0], data: [] }]));
  const line = assertOneLine(await run(home, matStudy('empty.mat')), /empty\.mat: the cube is 0×0×8: empty/);
  assert.doesNotMatch(line, /anomalous/);
  // Without a label variable at all, the emptiness is still what is said (it comes first).
  const home2 = await tempHome();
  await writeFile(join(home2, 'empty.mat'), matFile([{ name: 'data', dims: [0, 5, 8], data: [] }]));
  assertOneLine(await run(home2, matStudy('empty.mat')), /the cube is 0×5×8: empty/);
  await assertNoTraining(home);
  await assertNoTraining(home2);
});

test('row 12: a band range beyond a synthetic cube, or an empty one, is refused at validation, before any work', async () => {
  const home = await tempHome();
  const base = (bands: Record<string, unknown>) => ({ name: 'bad', base: { dataset: { kind: 'synthetic-hsi', rows: 16, cols: 16, bands: 6, anomalies: 4 }, filter: { bands }, model: { kind: 'rx' } }, grid: [{}], seeds: [0] });
  const r = await run(home, base({ start: 2, end: 10 }));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /filter\.bands: \[2, 10\) does not fit the dataset's 6 bands/);
  const r2 = await run(home, base({ start: 4, end: 4 }), [], 'empty-range.json');
  assert.equal(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /filter\.bands\.end: start must be below end/);
  assert.ok(!existsSync(join(home, 'store')), 'no work may start');
});

test('row 12: a band range beyond a cube file is said once, before any trial trains', async () => {
  const home = await tempHome();
  await writeFile(join(home, 'three.mat'), matFile([cube(6, 5, 3), map(6, 5, (i) => i === 3)]));
  // Two trials share the filter step: the problem is one line, not one per trial.
  const study = { ...matStudy('three.mat', { filter: { bands: { start: 10 } } }), grid: [{}, { set: { 'evaluation.metrics': ['auc'] } }] };
  const r = await run(home, study);
  assertOneLine(r, /filter step failed: band selection \[10, 3\) does not fit a cube of 3 bands/);
  assert.equal(r.stderr.match(/does not fit/g)?.length, 1, r.stderr);
  await assertNoTraining(home);
});

test('degenerate data: a constant cube is refused in the filter step', async () => {
  const home = await tempHome();
  await writeFile(join(home, 'flat.mat'), matFile([cube(6, 5, 3, 5), map(6, 5, (i) => i === 3)]));
  assertOneLine(await run(home, matStudy('flat.mat')), /filter step failed: every value of the 6×5×3 cube is 5/);
  await assertNoTraining(home);
});

test('row 14: a truncated .mat is bad input (exit 2) naming the file', async () => {
  const home = await tempHome();
  const good = matFile([cube(6, 5, 3), map(6, 5, (i) => i === 3)]);
  await writeFile(join(home, 'cut.mat'), good.subarray(0, 300));
  assertOneLine(await run(home, matStudy('cut.mat')), /load step failed: .*cut\.mat: truncated/);
  await assertNoTraining(home);
});

test('row 14: a .mjs study that throws, or does not parse, is bad input (exit 2) naming the file', async () => {
  const home = await tempHome();
  await writeFile(join(home, 'throws.mjs'), "throw new Error('no such dataset in the lab share');\n");
  const r = await runCli(['run', join(home, 'throws.mjs')], { GANTRY_HOME: home });
  assertOneLine(r, /study file .*throws\.mjs failed to load: Error: no such dataset in the lab share/);
  assert.doesNotMatch(r.stderr, /--verbose for details/, 'bad input is not an internal error');
  await writeFile(join(home, 'broken.mjs'), 'export default {\n');
  assertOneLine(await runCli(['run', join(home, 'broken.mjs')], { GANTRY_HOME: home }), /study file .*broken\.mjs failed to load: SyntaxError/);
  assert.ok(!existsSync(join(home, 'store')), 'no work may start');
});

test('impossible filters: one that removes everything, one that removes every anomalous item, a metadata predicate nothing matches', async () => {
  const textures = (filter: Record<string, unknown>) => ({ name: 'bad', base: { dataset: { kind: 'synthetic-textures', normals: 6, anomalies: 3, size: 32 }, filter, tiling: { kind: 'patches', size: 16, stride: 16 }, model: { kind: 'rx' } }, grid: [{}], seeds: [0] });
  const h1 = await tempHome();
  assertOneLine(await run(h1, textures({ minSize: 1000 })), /screen step failed: no items left after filtering \(minSize: 9\); e\.g\. .*below 1000 px/);
  await assertNoTraining(h1);

  // Before: the split step said it ("0 anomalous test items"), without naming the filter that did it.
  const h2 = await tempHome();
  assertOneLine(await run(h2, textures({ classes: { kind: 'select', normal: ['normal'], anomalous: [] } })), /screen step failed: no anomalous item left after filtering \(6 normal kept; anomalous items removed by classes: 3\)/);
  await assertNoTraining(h2);

  // An image folder with a metadata CSV, and a predicate on a column value that no row has.
  const h3 = await tempHome();
  const data = join(h3, 'data');
  const png = (v: number) => sharp(Buffer.alloc(32 * 32, v), { raw: { width: 32, height: 32, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  for (const sub of ['normal', 'anomalous']) await mkdir(join(data, sub), { recursive: true });
  for (let i = 0; i < 4; i++) await writeFile(join(data, 'normal', `n${i}.png`), await png(40 + i * 9));
  for (let i = 0; i < 2; i++) await writeFile(join(data, 'anomalous', `a${i}.png`), await png(200 + i));
  await writeFile(join(h3, 'meta.csv'), 'file,camera\n' + ['n0', 'n1', 'n2', 'n3', 'a0', 'a1'].map((f) => `${f}.png,left`).join('\n') + '\n');
  const study = {
    name: 'bad',
    base: { dataset: { kind: 'images', path: 'data', layout: 'folders', metadata: { path: 'meta.csv' } }, filter: { metadata: { field: 'camera', eq: 'right' } }, tiling: { kind: 'resize', size: 16 }, model: { kind: 'rx' } },
    grid: [{}],
    seeds: [0],
  };
  assertOneLine(await run(h3, study), /screen step failed: no items left after filtering \(metadata: 6\); e\.g\. .*camera/);
  await assertNoTraining(h3);
});

test('a --set path that would reach Object.prototype is refused', async () => {
  const home = await tempHome();
  const r = await run(home, matStudy('x.mat'), ['--set', '__proto__.polluted=1']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /__proto__\.polluted: not a config key/);
});


