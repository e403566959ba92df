import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { detectLayout, scanImages, type ImageItem, type ScanResult } from '../../datasets/images/layouts.js';
import { joinMetadata } from '../../datasets/images/metadata.js';
import { decodeImage, decodeMask, imageInfo } from '../../datasets/images/decode.js';
import { isUserError, oneLine } from '../../core/errors.js';

const MTD = '/work/shared/data/mtd';

let tmp = '';
before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'gantry-layouts-'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A tree under a fresh folder: '.png'/'.jpg'/… get a tiny real image, anything else text. */
async function tree(name: string, files: string[]): Promise<string> {
  const root = path.join(tmp, name);
  for (const f of files) {
    const abs = path.join(root, f);
    await mkdir(path.dirname(abs), { recursive: true });
    const ext = path.extname(f).toLowerCase();
    const img = sharp({ create: { width: 4, height: 3, channels: 3, background: { r: 10, g: 20, b: 30 } } });
    if (ext === '.png') await img.png().toFile(abs);
    else if (ext === '.jpg' || ext === '.jpeg') await img.jpeg().toFile(abs);
    else if (ext === '.tif' || ext === '.tiff') await img.tiff().toFile(abs);
    else await writeFile(abs, 'not an image\n');
  }
  return root;
}

function rels(r: ScanResult): string[] {
  return r.items.map((i) => i.rel);
}

function byRel(r: ScanResult, rel: string): ImageItem {
  const it = r.items.find((i) => i.rel === rel);
  assert.ok(it, `no item ${rel} in ${rels(r).join(', ')}`);
  return it;
}

async function rejectsUser(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isUserError(e), String(e));
    assert.match(oneLine(e), re);
    assert.ok(!oneLine(e).includes('\n'), 'one line');
    return true;
  });
}

test('mtd: classes without MT_, every item has its png mask, a jpg without one is a problem', async () => {
  const root = await tree('mtd', [
    'MT_Free/Imgs/b.jpg', 'MT_Free/Imgs/b.png', 'MT_Free/Imgs/a.jpg', 'MT_Free/Imgs/a.png', 'MT_Free/Imgs/Thumbs.db',
    'MT_Blowhole/Imgs/c.jpg', 'MT_Blowhole/Imgs/c.png', 'MT_Blowhole/Imgs/d.jpg', 'MT_Blowhole/Imgs/e.png',
    'MT_Fray/readme.txt', 'README.md',
  ]);
  assert.equal(await detectLayout(root), 'mtd');
  const r = await scanImages(root);
  assert.equal(r.layout, 'mtd');
  assert.equal(r.root, root);
  assert.deepEqual(rels(r), ['MT_Blowhole/Imgs/c.jpg', 'MT_Free/Imgs/a.jpg', 'MT_Free/Imgs/b.jpg']);
  const c = byRel(r, 'MT_Blowhole/Imgs/c.jpg');
  assert.deepEqual(c, { path: path.join(root, 'MT_Blowhole/Imgs/c.jpg'), rel: 'MT_Blowhole/Imgs/c.jpg', class: 'Blowhole', anomalous: true, mask: path.join(root, 'MT_Blowhole/Imgs/c.png'), meta: {} });
  assert.equal(byRel(r, 'MT_Free/Imgs/a.jpg').class, 'Free');
  assert.equal(byRel(r, 'MT_Free/Imgs/a.jpg').anomalous, false);
  assert.deepEqual(r.problems, [
    { rel: 'MT_Blowhole/Imgs/d.jpg', reason: 'missing mask (skipped)' },
    { rel: 'MT_Blowhole/Imgs/e.png', reason: 'mask without image' },
    { rel: 'MT_Fray', reason: 'no Imgs folder' },
  ]);
});

test('mvtec: dataset root, one category by option, or a category folder as root', async () => {
  const root = await tree('mvtec', [
    'bottle/train/good/000.png', 'bottle/train/good/001.png', 'bottle/test/good/000.png',
    'bottle/test/broken_large/000.png', 'bottle/test/broken_large/001.png',
    'bottle/ground_truth/broken_large/000_mask.png', 'bottle/ground_truth/broken_large/001_mask.png', 'bottle/ground_truth/broken_large/007_mask.png',
    'bottle/license.txt',
    'cable/train/good/000.png', 'cable/test/cut/000.png', 'cable/test/stray.png',
    'readme.txt',
  ]);
  assert.equal(await detectLayout(root), 'mvtec');
  const all = await scanImages(root);
  assert.deepEqual(rels(all), [
    'bottle/test/broken_large/000.png', 'bottle/test/broken_large/001.png', 'bottle/test/good/000.png',
    'bottle/train/good/000.png', 'bottle/train/good/001.png', 'cable/test/cut/000.png', 'cable/train/good/000.png',
  ]);
  assert.deepEqual(byRel(all, 'bottle/test/broken_large/001.png'), {
    path: path.join(root, 'bottle/test/broken_large/001.png'), rel: 'bottle/test/broken_large/001.png', class: 'broken_large', anomalous: true,
    given: 'test', category: 'bottle', mask: path.join(root, 'bottle/ground_truth/broken_large/001_mask.png'), meta: {},
  });
  const good = byRel(all, 'bottle/train/good/000.png');
  assert.deepEqual([good.class, good.anomalous, good.given, good.category, good.mask], ['good', false, 'train', 'bottle', undefined]);
  assert.equal(byRel(all, 'bottle/test/good/000.png').given, 'test');
  assert.equal(byRel(all, 'bottle/test/good/000.png').mask, undefined);
  assert.deepEqual(all.problems, [
    { rel: 'bottle/ground_truth/broken_large/007_mask.png', reason: 'mask without image' },
    { rel: 'cable/test/cut/000.png', reason: 'missing mask (kept without one)' },
    { rel: 'cable/test/stray.png', reason: 'image outside a class folder of test/ (skipped)' },
  ]);

  const cable = await scanImages(root, 'mvtec', { category: 'cable' });
  assert.deepEqual(rels(cable), ['cable/test/cut/000.png', 'cable/train/good/000.png']);
  await rejectsUser(scanImages(root, 'mvtec', { category: 'screw' }), /no MVTec category 'screw'.*categories here: bottle, cable/);

  const one = await scanImages(path.join(root, 'bottle'));
  assert.equal(one.layout, 'mvtec');
  assert.deepEqual(rels(one), ['test/broken_large/000.png', 'test/broken_large/001.png', 'test/good/000.png', 'train/good/000.png', 'train/good/001.png']);
  assert.ok(one.items.every((i) => i.category === 'bottle'));
  assert.equal(byRel(one, 'test/broken_large/000.png').mask, path.join(root, 'bottle/ground_truth/broken_large/000_mask.png'));
  assert.equal((await scanImages(path.join(root, 'bottle'), 'mvtec', { category: 'bottle' })).items.length, 5);
  await rejectsUser(scanImages(path.join(root, 'bottle'), 'mvtec', { category: 'cable' }), /category folder 'bottle', not 'cable'/);
});

test('coil100: obj<k>__<angle> names give class and meta; byte order, not locale order', async () => {
  const root = await tree('coil', ['obj1__0.png', 'obj1__5.png', 'obj12__355.png', 'obj2__0.png', 'obj3__10.PNG', 'convertGroupppm.pl', 'other.png']);
  assert.equal(await detectLayout(root), 'coil100');
  const r = await scanImages(root);
  // '2' (0x32) sorts before '_' (0x5f): obj12 comes before obj1__.
  assert.deepEqual(rels(r), ['obj12__355.png', 'obj1__0.png', 'obj1__5.png', 'obj2__0.png', 'obj3__10.PNG']);
  assert.deepEqual(byRel(r, 'obj12__355.png'), { path: path.join(root, 'obj12__355.png'), rel: 'obj12__355.png', class: 'obj12', anomalous: false, meta: { object: '12', angle: '355' } });
  assert.ok(r.items.every((i) => !i.anomalous && i.given === undefined && i.mask === undefined));
  assert.deepEqual(r.problems, [{ rel: 'other.png', reason: 'not named obj<k>__<angle> (skipped)' }]);
});

test('folders: normal/ and anomalous/, subfolders name the class, masks/ mirrors anomalous/', async () => {
  const root = await tree('folders', [
    'normal/n1.png', 'normal/B.png', 'normal/é.png', 'normal/sub/n2.tif', 'normal/notes.txt',
    'anomalous/a1.png', 'anomalous/scratch/s1.png', 'anomalous/scratch/s2.jpg', 'anomalous/scratch/deep/s3.bmp.png',
    'masks/a1.png', 'masks/scratch/s1_mask.png', 'masks/scratch/deep/s3.bmp.png', 'masks/scratch/zzz.png',
  ]);
  assert.equal(await detectLayout(root), 'folders');
  const r = await scanImages(root);
  assert.deepEqual(rels(r), [
    'anomalous/a1.png', 'anomalous/scratch/deep/s3.bmp.png', 'anomalous/scratch/s1.png', 'anomalous/scratch/s2.jpg',
    'normal/B.png', 'normal/n1.png', 'normal/sub/n2.tif', 'normal/é.png',
  ]);
  const cls = Object.fromEntries(r.items.map((i) => [i.rel, [i.class, i.anomalous]]));
  assert.deepEqual(cls['anomalous/a1.png'], ['anomalous', true]);
  assert.deepEqual(cls['anomalous/scratch/s1.png'], ['scratch', true]);
  assert.deepEqual(cls['anomalous/scratch/deep/s3.bmp.png'], ['scratch', true]);
  assert.deepEqual(cls['normal/n1.png'], ['normal', false]);
  assert.deepEqual(cls['normal/sub/n2.tif'], ['sub', false]);
  assert.equal(byRel(r, 'anomalous/a1.png').mask, path.join(root, 'masks/a1.png'));
  assert.equal(byRel(r, 'anomalous/scratch/s1.png').mask, path.join(root, 'masks/scratch/s1_mask.png'));
  assert.equal(byRel(r, 'anomalous/scratch/deep/s3.bmp.png').mask, path.join(root, 'masks/scratch/deep/s3.bmp.png'));
  assert.equal(byRel(r, 'normal/n1.png').mask, undefined);
  assert.deepEqual(r.problems, [
    { rel: 'anomalous/scratch/s2.jpg', reason: 'missing mask (kept without one)' },
    { rel: 'masks/scratch/zzz.png', reason: 'mask without image' },
  ]);
});

test('folders: an unreadable subfolder is a problem, not a failure', async (t) => {
  if (process.getuid?.() === 0) return t.skip('running as root, which reads folders whatever their mode');
  const root = await tree('locked', ['normal/a.png', 'normal/locked/b.png']);
  await chmod(path.join(root, 'normal/locked'), 0o000);
  try {
    const r = await scanImages(root, 'folders');
    assert.deepEqual(rels(r), ['normal/a.png']);
    assert.deepEqual(r.problems, [{ rel: 'normal/locked', reason: 'unreadable directory (EACCES)' }]);
  } finally {
    await chmod(path.join(root, 'normal/locked'), 0o755);
  }
});

test('detectLayout and scanImages refuse what they cannot use, naming the root', async () => {
  const none = await tree('none', ['photos/x.png', 'x.txt']);
  await rejectsUser(detectLayout(none), new RegExp(`^${none}: no known image layout found \\(looked for mtd .*mvtec .*folders .*coil100 `));
  await rejectsUser(scanImages(none), /no known image layout/);
  await rejectsUser(detectLayout(path.join(tmp, 'nowhere')), /nowhere: dataset folder not found/);
  await rejectsUser(scanImages(path.join(none, 'x.txt')), /x\.txt: not a folder/);
  const coil = await tree('coil-only', ['obj1__0.png']);
  await rejectsUser(scanImages(coil, 'mtd'), new RegExp(`^${coil}: no images found for layout mtd \\(expected MT_`));
  const empty = await tree('empty-normal', ['normal/readme.txt']);
  await rejectsUser(scanImages(empty), /empty-normal: no images found for layout folders/);
  await rejectsUser(scanImages(coil, 'bogus' as never), /unknown image layout 'bogus'/);
  await rejectsUser(scanImages(coil, 'coil100', { category: 'bottle' }), /mvtec layout only/);
});

// ---- the real Magnetic Tile Defects folder ----

test('mtd on the real data: counts per class equal the folder, every item has a mask of its size', async (t) => {
  if (!existsSync(MTD)) return t.skip(`${MTD} not present`);
  const r = await scanImages(MTD);
  assert.equal(r.layout, 'mtd');
  assert.deepEqual(r.problems, []);
  const counts: Record<string, number> = {};
  for (const i of r.items) counts[i.class] = (counts[i.class] ?? 0) + 1;
  const onDisk: Record<string, number> = {};
  for (const d of readdirSync(MTD).filter((d) => d.startsWith('MT_'))) {
    onDisk[d.slice(3)] = readdirSync(path.join(MTD, d, 'Imgs')).filter((f) => f.toLowerCase().endsWith('.jpg')).length;
  }
  assert.deepEqual(counts, onDisk);
  assert.deepEqual(counts, { Blowhole: 115, Break: 85, Crack: 57, Free: 476 });
  for (const i of r.items) {
    assert.equal(i.anomalous, i.class !== 'Free', i.rel);
    assert.ok(i.mask && existsSync(i.mask), `${i.rel}: mask`);
    assert.equal(i.mask, i.path.replace(/\.jpg$/, '.png'));
  }
  assert.deepEqual(rels(r), [...rels(r)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  // Every mask decodes (strictly: failOn 'error') at its photo's size; defect masks are not empty.
  let emptyDefectMasks = 0;
  for (const i of r.items) {
    const info = await imageInfo(i.path);
    assert.deepEqual([info.format, info.channels, info.bitDepth], ['jpeg', 1, 8], i.rel);
    const m = await decodeMask(i.mask!, info, i.mask);
    const on = m.data.reduce((a, v) => a + v, 0);
    if (i.class === 'Free') assert.equal(on, 0, `${i.rel}: a defect-free mask is all zero`);
    else if (on === 0) emptyDefectMasks++;
  }
  assert.equal(emptyDefectMasks, 0, `${emptyDefectMasks} defect images have an empty mask`);
  // A few photos decode fully.
  for (const i of r.items.filter((_, k) => k % 97 === 0)) {
    const img = await decodeImage(i.path);
    assert.equal(img.data.length, img.width * img.height, i.rel);
  }
});

// ---- metadata join ----

function item(rel: string, meta: Record<string, string> = {}): ImageItem {
  return { path: `/data/${rel}`, rel, class: 'x', anomalous: false, meta };
}

test('joinMetadata: base names and rel paths, quoted commas and quotes, CRLF, malformed and unmatched rows', async () => {
  const csv = path.join(tmp, 'meta.csv');
  await writeFile(
    csv,
    '\uFEFFfile,label,note\r\n' +
      'a.png,1,"hello, world"\r\n' +
      'MT_Free/Imgs/b.jpg,0,"say ""hi"""\r\n' +
      'c.png,1\r\n' +
      '\r\n' +
      'zzz.png,0,"two\r\nlines"\r\n' +
      '000.png,1,ambiguous\r\n' +
      'd,1,by stem\r\n' +
      'a.png,9,again\r\n' +
      'bottle/test/e/000.png,0,"x"y\r\n' +
      'cable/test/cut/000.png,1,\r\n',
  );
  const items = [
    item('a.png', { object: '3' }), item('MT_Free/Imgs/b.jpg'), item('c.png'), item('d.png'), item('e.png'),
    item('bottle/test/e/000.png'), item('cable/test/cut/000.png'),
  ];
  const j = await joinMetadata(items, csv);
  assert.deepEqual(j.columns, ['label', 'note']);
  assert.deepEqual(j.items.map((i) => [i.rel, i.meta]), [
    ['a.png', { object: '3', label: '1', note: 'hello, world' }],
    ['MT_Free/Imgs/b.jpg', { label: '0', note: 'say "hi"' }],
    ['c.png', {}],
    ['d.png', { label: '1', note: 'by stem' }],
    ['e.png', {}],
    ['bottle/test/e/000.png', {}],
    ['cable/test/cut/000.png', { label: '1', note: '' }],
  ]);
  assert.deepEqual(items[0].meta, { object: '3' }, 'the input items are not changed');
  assert.deepEqual(j.problems, [
    { rel: 'meta.csv:4', reason: 'malformed row: 2 fields, the header has 3 (skipped)' },
    { rel: 'zzz.png', reason: 'line 6: matches no image' },
    { rel: '000.png', reason: 'line 8: matches 2 images (give the path relative to the dataset root)' },
    { rel: 'a.png', reason: 'line 10: second row for this image (line 2 is used)' },
    { rel: 'meta.csv:11', reason: 'malformed row: text after a closing quote (skipped)' },
    { rel: 'c.png', reason: 'no metadata row' },
    { rel: 'e.png', reason: 'no metadata row' },
    { rel: 'bottle/test/e/000.png', reason: 'no metadata row' },
  ]);
});

test('joinMetadata: choosing the file column, and files it cannot use', async () => {
  const items = [item('bottle/test/cut/000.png'), item('bottle/test/cut/001.png')];
  const f = path.join(tmp, 'names.csv');
  await writeFile(f, 'Label,FileName\nbad,test/cut/000.png\ngood,/data/bottle/test/cut/001.png\n');
  const j = await joinMetadata(items, f);
  assert.deepEqual(j.columns, ['Label']);
  assert.deepEqual(j.items.map((i) => i.meta.Label), ['bad', 'good']);
  assert.deepEqual(j.problems, []);

  const g = path.join(tmp, 'custom.csv');
  await writeFile(g, 'path;x,image,score\n000.png,a,0.5\n');
  const k = await joinMetadata(items, g, { column: 'path;x' });
  assert.deepEqual(k.items[0].meta, { image: 'a', score: '0.5' });
  await rejectsUser(joinMetadata(items, g, { column: 'nope' }), /custom\.csv: no column 'nope' \(columns: path;x, image, score\)/);
  const h = path.join(tmp, 'nofile.csv');
  await writeFile(h, 'a,b\n1,2\n');
  await rejectsUser(joinMetadata(items, h), /nofile\.csv: no file column \(looked for file, filename, image\)/);
  const u = path.join(tmp, 'open.csv');
  await writeFile(u, 'file,note\n000.png,ok\n001.png,"never closed\n');
  await rejectsUser(joinMetadata(items, u), /open\.csv: line 3: unterminated quoted field/);
  const e = path.join(tmp, 'empty.csv');
  await writeFile(e, '\n\n');
  await rejectsUser(joinMetadata(items, e), /empty\.csv: empty metadata file/);
  const d = path.join(tmp, 'dup.csv');
  await writeFile(d, 'file,a,a\n');
  await rejectsUser(joinMetadata(items, d), /dup\.csv: the header names column 'a' twice/);
  await rejectsUser(joinMetadata(items, path.join(tmp, 'missing.csv')), /missing\.csv: metadata file not found/);
});
