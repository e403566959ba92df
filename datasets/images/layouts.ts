/**
 * Scanning an image dataset folder into items, by layout:
 * - `mtd`     Magnetic Tile Defects: MT_<class>/Imgs/<name>.jpg with its mask <name>.png beside it.
 * - `mvtec`   MVTec-AD: <category>/train/good/*.png, <category>/test/<defect>/*.png, masks in
 *             <category>/ground_truth/<defect>/<name>_mask.png; the root is the dataset or one category.
 * - `coil100` COIL-100: obj<k>__<angle>.png in one folder.
 * - `folders` normal/ and anomalous/ (subfolders name the class), optional masks/ mirroring anomalous/.
 *
 * Only names are read here, never pixels. Items are sorted by `rel` in byte order (UTF-8), so
 * the same tree gives the same list on every machine and locale. Things a user should hear
 * about but that need not stop a run (a missing mask, an unreadable folder) are `problems`.
 */
import { readdir, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../core/errors.js';

export type Layout = 'mtd' | 'mvtec' | 'coil100' | 'folders';
export const LAYOUTS: readonly Layout[] = ['mtd', 'mvtec', 'coil100', 'folders'];

export interface ImageItem {
  /** Absolute path of the image file. */
  path: string;
  /** Path relative to the dataset root, '/' separators: a stable id across machines. */
  rel: string;
  /** MTD: 'Free', 'Blowhole', … (MT_ dropped); MVTec: 'good' or the defect; COIL: 'obj<k>'; folders: 'normal' | 'anomalous' | subfolder. */
  class: string;
  anomalous: boolean;
  /** Absolute mask path when one exists. */
  mask?: string;
  /** A split the layout itself fixes (MVTec train/ vs test/). */
  given?: 'train' | 'test';
  /** MVTec category. */
  category?: string;
  /** E.g. COIL { object: '12', angle: '355' }. */
  meta: Record<string, string>;
}

export interface ScanProblem {
  rel: string;
  reason: string;
}

export interface ScanResult {
  root: string;
  layout: Layout;
  items: ImageItem[];
  problems: ScanProblem[];
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp']);

export function isImageFile(name: string): boolean {
  return IMAGE_EXT.has(path.extname(name).toLowerCase());
}

function stem(name: string): string {
  return name.slice(0, name.length - path.extname(name).length);
}

function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Sorted by the UTF-8 bytes of rel (what `sort` does under LC_ALL=C), whatever the locale. */
function sortByRel<T extends { rel: string }>(xs: T[]): T[] {
  const keyed = xs.map((x) => ({ k: Buffer.from(x.rel, 'utf8'), x }));
  keyed.sort((p, q) => Buffer.compare(p.k, q.k));
  return keyed.map((p) => p.x);
}

interface Entry {
  name: string;
  abs: string;
  rel: string;
  dir: boolean;
}

/**
 * A folder's entries (symlinks followed), sorted by name; null and a problem when unreadable.
 * Entries that are neither files nor folders (sockets, dangling links) are left out.
 */
async function list(abs: string, rel: string, problems: ScanProblem[]): Promise<Entry[] | null> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(abs, { withFileTypes: true });
  } catch (e) {
    problems.push({ rel: rel === '' ? '.' : rel, reason: `unreadable directory (${(e as NodeJS.ErrnoException).code ?? String(e)})` });
    return null;
  }
  const out: Entry[] = [];
  for (const d of dirents) {
    const entryAbs = path.join(abs, d.name);
    let dir = d.isDirectory();
    let file = d.isFile();
    if (d.isSymbolicLink()) {
      try {
        const s = await stat(entryAbs);
        dir = s.isDirectory();
        file = s.isFile();
      } catch {
        continue;
      }
    }
    if (dir || file) out.push({ name: d.name, abs: entryAbs, rel: joinRel(rel, d.name), dir });
  }
  return sortByRel(out);
}

async function subdirs(abs: string, rel: string, problems: ScanProblem[]): Promise<Entry[]> {
  return ((await list(abs, rel, problems)) ?? []).filter((e) => e.dir);
}

/** All image files under a folder, any depth, each with its folder's path relative to `abs` ('' at the top). */
async function walkImages(abs: string, rel: string, problems: ScanProblem[]): Promise<(Entry & { sub: string })[]> {
  const out: (Entry & { sub: string })[] = [];
  const walk = async (a: string, r: string, sub: string, depth: number): Promise<void> => {
    const entries = await list(a, r, problems);
    if (!entries) return;
    for (const e of entries) {
      if (!e.dir) {
        if (isImageFile(e.name)) out.push({ ...e, sub });
      } else if (depth >= 32) {
        // Symlinked folders may loop; no real dataset nests this deep.
        problems.push({ rel: e.rel, reason: 'folders nested too deep (a symlink loop?)' });
      } else await walk(e.abs, e.rel, joinRel(sub, e.name), depth + 1);
    }
  };
  await walk(abs, rel, '', 0);
  return out;
}

async function kind(p: string): Promise<'dir' | 'file' | 'missing'> {
  try {
    return (await stat(p)).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

async function isDir(p: string): Promise<boolean> {
  return (await kind(p)) === 'dir';
}

async function checkRoot(root: string): Promise<string> {
  const abs = path.resolve(root);
  const k = await kind(abs);
  if (k === 'missing') throw new UserError(`${root}: dataset folder not found`);
  if (k === 'file') throw new UserError(`${root}: not a folder`, { hint: 'give the dataset’s root folder' });
  try {
    await readdir(abs);
  } catch (e) {
    throw new UserError(`${root}: cannot read the dataset folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return abs;
}

const COIL_NAME = /^obj(\d+)__(\d+)\.[A-Za-z]+$/;

async function isMvtecCategory(abs: string): Promise<boolean> {
  return (await isDir(path.join(abs, 'train'))) && (await isDir(path.join(abs, 'test')));
}

const EXPECTED: Record<Layout, string> = {
  mtd: 'expected MT_<class>/Imgs/<name>.jpg with <name>.png masks',
  mvtec: 'expected <category>/train/good/ and <category>/test/<defect>/ (or train/ and test/ in the root)',
  coil100: 'expected obj<k>__<angle>.png files in the root',
  folders: 'expected normal/ and/or anomalous/ folders of images',
};

const LOOKED_FOR =
  'looked for mtd (MT_<class>/Imgs/), mvtec (train/ and test/, in the root or in category folders), ' +
  'folders (normal/ or anomalous/), coil100 (obj<k>__<angle>.png files)';

export async function detectLayout(root: string): Promise<Layout> {
  const abs = await checkRoot(root);
  const ignored: ScanProblem[] = [];
  const entries = (await list(abs, '', ignored)) ?? [];
  const dirs = entries.filter((e) => e.dir);
  for (const d of dirs) if (d.name.startsWith('MT_') && (await isDir(path.join(d.abs, 'Imgs')))) return 'mtd';
  if (await isMvtecCategory(abs)) return 'mvtec';
  for (const d of dirs) if (await isMvtecCategory(d.abs)) return 'mvtec';
  if (dirs.some((d) => d.name === 'normal' || d.name === 'anomalous')) return 'folders';
  if (entries.some((e) => !e.dir && isImageFile(e.name) && COIL_NAME.test(e.name))) return 'coil100';
  throw new UserError(`${root}: no known image layout found`, { hint: `${LOOKED_FOR}; or pass the layout explicitly` });
}

// ---- the layouts ----

async function scanMtd(root: string, problems: ScanProblem[]): Promise<ImageItem[]> {
  const items: ImageItem[] = [];
  for (const d of await subdirs(root, '', problems)) {
    if (!d.name.startsWith('MT_')) continue;
    const cls = d.name.slice(3);
    const imgs = path.join(d.abs, 'Imgs');
    const imgsRel = `${d.name}/Imgs`;
    if (!(await isDir(imgs))) {
      problems.push({ rel: d.name, reason: 'no Imgs folder' });
      continue;
    }
    const files = ((await list(imgs, imgsRel, problems)) ?? []).filter((e) => !e.dir && isImageFile(e.name));
    // In Imgs/ a .png is the mask of the photo with the same stem.
    const masks = new Map<string, Entry>();
    for (const f of files) if (path.extname(f.name).toLowerCase() === '.png') masks.set(stem(f.name), f);
    const used = new Set<string>();
    for (const f of files) {
      if (path.extname(f.name).toLowerCase() === '.png') continue;
      const m = masks.get(stem(f.name));
      if (!m) {
        problems.push({ rel: f.rel, reason: 'missing mask (skipped)' });
        continue;
      }
      used.add(m.name);
      items.push({ path: f.abs, rel: f.rel, class: cls, anomalous: cls !== 'Free', mask: m.abs, meta: {} });
    }
    for (const m of masks.values()) if (!used.has(m.name)) problems.push({ rel: m.rel, reason: 'mask without image' });
  }
  return items;
}

async function scanMvtec(root: string, problems: ScanProblem[], category?: string): Promise<ImageItem[]> {
  let cats: { name: string; abs: string; rel: string }[];
  if ((await isDir(path.join(root, 'train'))) || (await isDir(path.join(root, 'test')))) {
    const name = path.basename(root);
    if (category !== undefined && category !== name) {
      throw new UserError(`${root}: is the MVTec category folder '${name}', not '${category}'`, {
        hint: 'give the dataset root to choose a category, or leave the category out',
      });
    }
    cats = [{ name, abs: root, rel: '' }];
  } else {
    cats = [];
    for (const d of await subdirs(root, '', problems)) {
      if ((await isDir(path.join(d.abs, 'train'))) || (await isDir(path.join(d.abs, 'test')))) cats.push({ name: d.name, abs: d.abs, rel: d.name });
    }
    if (category !== undefined) {
      const found = cats.filter((c) => c.name === category);
      if (found.length === 0) {
        throw new UserError(`${root}: no MVTec category '${category}'`, {
          hint: cats.length ? `categories here: ${cats.map((c) => c.name).join(', ')}` : 'no category folders (with train/ or test/) found',
        });
      }
      cats = found;
    }
  }

  const items: ImageItem[] = [];
  for (const cat of cats) {
    // ground_truth/<defect>/<stem>_mask.<ext>, indexed by '<defect>/<stem>'.
    const masks = new Map<string, Entry>();
    const gtAbs = path.join(cat.abs, 'ground_truth');
    const gtRel = joinRel(cat.rel, 'ground_truth');
    if (await isDir(gtAbs)) {
      for (const f of await walkImages(gtAbs, gtRel, problems)) {
        const s = stem(f.name);
        const key = `${f.sub}/${s.endsWith('_mask') ? s.slice(0, -5) : s}`;
        if (!masks.has(key) || s.endsWith('_mask')) masks.set(key, f);
      }
    }
    const used = new Set<Entry>();
    for (const split of ['train', 'test'] as const) {
      const splitAbs = path.join(cat.abs, split);
      const splitRel = joinRel(cat.rel, split);
      if (!(await isDir(splitAbs))) continue;
      for (const f of await walkImages(splitAbs, splitRel, problems)) {
        if (f.sub === '') {
          problems.push({ rel: f.rel, reason: `image outside a class folder of ${split}/ (skipped)` });
          continue;
        }
        const cls = f.sub.split('/')[0];
        const item: ImageItem = { path: f.abs, rel: f.rel, class: cls, anomalous: cls !== 'good', given: split, category: cat.name, meta: {} };
        if (split === 'test') {
          const m = masks.get(`${f.sub}/${stem(f.name)}`);
          if (m) {
            item.mask = m.abs;
            used.add(m);
          } else if (item.anomalous) problems.push({ rel: f.rel, reason: 'missing mask (kept without one)' });
        }
        items.push(item);
      }
    }
    for (const m of masks.values()) if (!used.has(m)) problems.push({ rel: m.rel, reason: 'mask without image' });
  }
  return items;
}

async function scanCoil(root: string, problems: ScanProblem[]): Promise<ImageItem[]> {
  const items: ImageItem[] = [];
  for (const f of (await list(root, '', problems)) ?? []) {
    if (f.dir || !isImageFile(f.name)) continue;
    const m = COIL_NAME.exec(f.name);
    if (!m) {
      problems.push({ rel: f.rel, reason: 'not named obj<k>__<angle> (skipped)' });
      continue;
    }
    const object = String(Number(m[1]));
    items.push({ path: f.abs, rel: f.rel, class: `obj${object}`, anomalous: false, meta: { object, angle: String(Number(m[2])) } });
  }
  return items;
}

async function scanFolders(root: string, problems: ScanProblem[]): Promise<ImageItem[]> {
  const items: ImageItem[] = [];
  const masksAbs = path.join(root, 'masks');
  const haveMasks = await isDir(masksAbs);
  // masks/<sub>/<stem>.<ext> or <stem>_mask.<ext>, indexed by '<sub>/<stem>'; an exact stem wins.
  const masks = new Map<string, Entry[]>();
  if (haveMasks) {
    for (const f of await walkImages(masksAbs, 'masks', problems)) {
      const key = joinRel(f.sub, stem(f.name));
      const list = masks.get(key) ?? [];
      list.push(f);
      masks.set(key, list);
    }
  }
  const used = new Set<Entry>();
  for (const top of ['normal', 'anomalous'] as const) {
    const abs = path.join(root, top);
    if (!(await isDir(abs))) continue;
    for (const f of await walkImages(abs, top, problems)) {
      const cls = f.sub === '' ? top : f.sub.split('/')[0];
      const item: ImageItem = { path: f.abs, rel: f.rel, class: cls, anomalous: top === 'anomalous', meta: {} };
      if (top === 'anomalous' && haveMasks) {
        const key = joinRel(f.sub, stem(f.name));
        const found = masks.get(key) ?? masks.get(`${key}_mask`);
        if (found) {
          if (found.length > 1) problems.push({ rel: f.rel, reason: `several masks (${found.map((m) => m.name).join(', ')}); the first is used` });
          item.mask = found[0].abs;
          for (const m of found) used.add(m);
        } else problems.push({ rel: f.rel, reason: 'missing mask (kept without one)' });
      }
      items.push(item);
    }
  }
  for (const list of masks.values()) for (const m of list) if (!used.has(m)) problems.push({ rel: m.rel, reason: 'mask without image' });
  return items;
}

export async function scanImages(root: string, layout?: Layout, opts: { category?: string } = {}): Promise<ScanResult> {
  if (layout !== undefined && !LAYOUTS.includes(layout)) {
    throw new UserError(`unknown image layout '${String(layout)}'`, { hint: `one of ${LAYOUTS.join(', ')}` });
  }
  const abs = await checkRoot(root);
  const lay = layout ?? (await detectLayout(root));
  if (opts.category !== undefined && lay !== 'mvtec') {
    throw new UserError(`${root}: a category applies to the mvtec layout only, not ${lay}`);
  }
  const problems: ScanProblem[] = [];
  const items =
    lay === 'mtd'
      ? await scanMtd(abs, problems)
      : lay === 'mvtec'
        ? await scanMvtec(abs, problems, opts.category)
        : lay === 'coil100'
          ? await scanCoil(abs, problems)
          : await scanFolders(abs, problems);
  if (items.length === 0) {
    const first = problems[0];
    throw new UserError(`${root}: no images found for layout ${lay}`, {
      hint: first ? `${EXPECTED[lay]}; ${problems.length} problem(s), first: ${first.rel}: ${first.reason}` : EXPECTED[lay],
    });
  }
  return { root: abs, layout: lay, items: sortByRel(items), problems: sortByRel(problems) };
}
