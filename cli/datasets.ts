/**
 * `gantry datasets`: look at a dataset before a study uses it (`inspect`: format, shapes, classes
 * and counts, mask coverage, a contact sheet), and at what a study's tiling made of it (`tiles`).
 */
import { studyTrialIds } from '../activities/launches.js';
import { readdir, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { UserError } from '../core/errors.js';
import { scanImages, detectLayout, type ImageItem, type Layout } from '../datasets/images/layouts.js';
import { decodeImage, decodeMask, imageInfo } from '../datasets/images/decode.js';
import { readMatFile } from '../datasets/mat.js';
import { readEnvi } from '../datasets/envi.js';
import { readTiffCube } from '../datasets/tiff-cube.js';
import { parseItemList } from '../datasets/item-list.js';
import { readImageArray, type ArrayFormat } from '../datasets/image-arrays.js';
import { readRecord } from '../infra/ledger.js';
import { getVerified, NotFoundError, type ArtifactStore } from '../infra/store/store.js';
import { readStudyFile, readTrialFile } from '../activities/record.js';
import { decodeNd } from '../datasets/tensor-file.js';
import { renderTable } from './format.js';
import { SPLIT_NAMES } from '../activities/samples.js';

export interface ClassSummary {
  class: string;
  anomalous: boolean;
  images: number;
  masks: number;
  /** Mean fraction of mask pixels that are anomalous, over this class's masks. */
  maskCoverage: number | null;
}

export interface FolderReport {
  path: string;
  format: 'images';
  layout: Layout;
  images: number;
  normal: number;
  anomalous: number;
  classes: ClassSummary[];
  sizes: { minWidth: number; maxWidth: number; minHeight: number; maxHeight: number };
  channels: number[];
  bitDepths: number[];
  problems: { rel: string; reason: string }[];
  preview?: string;
}

export type InspectReport = FolderReport | { path: string; format: string; variables: { name: string; shape: number[]; dtype: string }[] };

/** Inspect a folder of images (any known layout) or an array file (.mat, ENVI .hdr, multiband TIFF). */
export async function inspectDataset(path: string, opts: { layout?: Layout; preview?: string; perClass?: number; progress?: (done: number, total: number) => void } = {}): Promise<InspectReport> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UserError(`${path} does not exist`);
  if (!st.isDirectory()) return inspectFile(path);
  const arrays = await inspectArrays(path);
  if (arrays) return arrays;
  const layout = opts.layout ?? (await detectLayout(path));
  const scan = await scanImages(path, layout);
  const byClass = new Map<string, { items: ImageItem[]; coverage: number[] }>();
  for (const it of scan.items) {
    const c = byClass.get(it.class) ?? { items: [], coverage: [] };
    c.items.push(it);
    byClass.set(it.class, c);
  }
  const sizes = { minWidth: Infinity, maxWidth: 0, minHeight: Infinity, maxHeight: 0 };
  const channels = new Set<number>();
  const depths = new Set<number>();
  const problems = [...scan.problems];
  let done = 0;
  for (const [, c] of byClass) {
    for (const it of c.items) {
      try {
        const info = await imageInfo(it.path, it.rel);
        sizes.minWidth = Math.min(sizes.minWidth, info.width);
        sizes.maxWidth = Math.max(sizes.maxWidth, info.width);
        sizes.minHeight = Math.min(sizes.minHeight, info.height);
        sizes.maxHeight = Math.max(sizes.maxHeight, info.height);
        channels.add(info.channels);
        depths.add(info.bitDepth);
        if (it.mask && it.anomalous) {
          const m = await decodeMask(it.mask, { width: info.width, height: info.height }, it.mask, 0.5);
          let on = 0;
          for (const v of m.data) on += v;
          c.coverage.push(on / m.data.length);
        }
      } catch (e) {
        problems.push({ rel: it.rel, reason: (e as Error).message });
      }
      opts.progress?.(++done, scan.items.length);
    }
  }
  const classes = [...byClass.entries()]
    .map(([cls, c]) => ({
      class: cls,
      anomalous: c.items.some((i) => i.anomalous),
      images: c.items.length,
      masks: c.items.filter((i) => i.mask).length,
      maskCoverage: c.coverage.length ? c.coverage.reduce((a, b) => a + b, 0) / c.coverage.length : null,
    }))
    .sort((a, b) => Number(a.anomalous) - Number(b.anomalous) || (a.class < b.class ? -1 : 1));
  const report: FolderReport = {
    path, format: 'images', layout, images: scan.items.length,
    normal: scan.items.filter((i) => !i.anomalous).length, anomalous: scan.items.filter((i) => i.anomalous).length,
    classes, sizes, channels: [...channels].sort(), bitDepths: [...depths].sort(), problems,
  };
  if (opts.preview) report.preview = await contactSheet(byClass, opts.preview, opts.perClass ?? 8);
  return report;
}

/** A PNG with one row per class: its first images as 96×96 thumbnails, masks outlined in red beside anomalous ones. */
async function contactSheet(byClass: Map<string, { items: ImageItem[] }>, out: string, perClass: number): Promise<string> {
  const T = 96;
  const GAP = 4;
  const rows = [...byClass.entries()];
  const tiles: OverlayOptions[] = [];
  let cols = 0;
  for (const [r, [, c]] of rows.entries()) {
    let col = 0;
    for (const it of c.items.slice(0, perClass)) {
      const thumb = async (file: string) => sharp(file).resize(T, T, { fit: 'contain', background: '#000' }).removeAlpha().toColourspace('srgb').png().toBuffer();
      try {
        tiles.push({ input: await thumb(it.path), left: col * (T + GAP), top: r * (T + GAP) });
        col++;
        if (it.mask && it.anomalous) {
          const mask = await sharp(it.mask).resize(T, T, { fit: 'contain', background: '#000' }).greyscale().removeAlpha().raw().toBuffer();
          const rgb = Buffer.alloc(T * T * 3);
          for (let i = 0; i < T * T; i++) rgb[3 * i] = mask[i] > 0 ? 255 : 40;
          tiles.push({ input: await sharp(rgb, { raw: { width: T, height: T, channels: 3 } }).png().toBuffer(), left: col * (T + GAP), top: r * (T + GAP) });
          col++;
        }
      } catch {
        /* an undecodable file is listed among the problems; the sheet skips it */
      }
    }
    cols = Math.max(cols, col);
  }
  const width = Math.max(1, cols * (T + GAP) - GAP);
  const height = Math.max(1, rows.length * (T + GAP) - GAP);
  await sharp({ create: { width, height, channels: 3, background: '#202020' } }).composite(tiles).png().toFile(out);
  return out;
}

/** A folder of MNIST idx files or CIFAR-10 batches: its parts and classes; undefined for other folders. */
async function inspectArrays(path: string): Promise<InspectReport | undefined> {
  const names = await readdir(path);
  const format: ArrayFormat | undefined = names.some((n) => /^train-images[.-]idx3-ubyte/.test(n)) ? 'mnist' : names.includes('test_batch.bin') ? 'cifar10' : undefined;
  if (!format) return undefined;
  const variables: { name: string; shape: number[]; dtype: string }[] = [];
  const counts: string[] = [];
  for (const part of ['train', 'test'] as const) {
    if (format === 'cifar10' && part === 'train' && !names.includes('data_batch_1.bin')) continue;
    const a = await readImageArray(path, format, part);
    variables.push({ name: `${part} images`, shape: [a.n, a.rows, a.cols, a.channels], dtype: 'uint8' });
    const per = new Map<string, number>();
    for (const l of a.labels) per.set(a.classNames[l] ?? String(l), (per.get(a.classNames[l] ?? String(l)) ?? 0) + 1);
    counts.push(`${part}: ${[...per].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  }
  return { path, format: `${format} (classes per part — ${counts.join('; ')})`, variables };
}

async function inspectFile(path: string): Promise<InspectReport> {
  const ext = extname(path).toLowerCase();
  if (ext === '.mat') {
    const vars = await readMatFile(path);
    return { path, format: 'mat', variables: [...vars.entries()].map(([name, v]) => ({ name, shape: v.dims, dtype: v.storedAs && v.storedAs !== v.className ? `${v.className} (stored as ${v.storedAs})` : v.className })) };
  }
  if (ext === '.hdr' || ext === '.img' || ext === '.raw' || ext === '.dat' || ext === '.bsq' || ext === '.bil' || ext === '.bip') {
    const c = await readEnvi(path);
    return { path, format: `envi (${c.header.interleave}, data type ${c.header.dataType})`, variables: [{ name: 'cube', shape: [c.rows, c.cols, c.bands], dtype: `ENVI ${c.header.dataType}` }] };
  }
  if (ext === '.tif' || ext === '.tiff') {
    const c = await readTiffCube(path);
    return { path, format: 'tiff', variables: [{ name: 'cube', shape: [c.rows, c.cols, c.bands], dtype: c.dtype }] };
  }
  if (['.png', '.jpg', '.jpeg', '.bmp'].includes(ext)) {
    const img = await decodeImage(path, {}, path);
    return { path, format: ext.slice(1), variables: [{ name: 'image', shape: [img.height, img.width, img.channels], dtype: `uint${img.bitDepth}` }] };
  }
  throw new UserError(`${path}: unknown dataset format '${ext || '(no extension)'}'`, { hint: 'inspect a folder of images, a .mat, an ENVI .hdr or a TIFF' });
}

export function formatInspect(r: InspectReport): string {
  if (!('classes' in r)) {
    return `${r.path}: ${r.format}\n` + renderTable(['variable', 'shape', 'dtype'], r.variables.map((v) => [v.name, v.shape.join('×'), v.dtype]));
  }
  const lines = [
    `${r.path}: images, layout ${r.layout}; ${r.images} images (${r.normal} normal, ${r.anomalous} anomalous)`,
    `sizes ${r.sizes.minWidth}–${r.sizes.maxWidth} × ${r.sizes.minHeight}–${r.sizes.maxHeight} px; channels ${r.channels.join(', ')}; bit depth ${r.bitDepths.join(', ')}`,
    renderTable(['class', 'role', 'images', 'masks', 'mask coverage'], r.classes.map((c) => [c.class, c.anomalous ? 'anomalous' : 'normal', c.images, c.masks, c.maskCoverage === null ? '' : `${(100 * c.maskCoverage).toFixed(2)} %`])),
  ];
  if (r.problems.length) lines.push(`${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:`, ...r.problems.slice(0, 20).map((p) => `  ${p.rel}: ${p.reason}`), ...(r.problems.length > 20 ? [`  … ${r.problems.length - 20} more`] : []));
  if (r.preview) lines.push(`preview: ${r.preview}`);
  return lines.join('\n');
}

export interface TilesReport {
  study: string;
  trial: string;
  step: string;
  samples: number;
  shape: number[];
  labels: Record<string, number>;
  splits?: Record<string, number>;
  removed: Record<string, number>;
  sample: { sample: number; rel: string; sha256: string; y: number; x: number; label: number }[];
}

/** What a trial's extract step produced: counts per label and split, and the first samples' sources. */
export async function tilesReport(store: ArtifactStore, study: string, trialId?: string, show = 10): Promise<TilesReport> {
  const s = await readStudyFile(store, study).catch((e: unknown) => (e instanceof NotFoundError ? undefined : Promise.reject(e)));
  if (!s) throw new UserError(`no study '${study}' in the store ${store.url}`, { hint: 'run it first' });
  const ids = await studyTrialIds(store, s);
  const id = trialId ?? ids[0];
  if (!ids.includes(id)) throw new UserError(`study '${study}' has no trial ${id}`);
  const t = await readTrialFile(store, id);
  const ext = t.steps.find((x) => x.kind === 'extract' || x.kind === 'tile');
  if (!ext) throw new UserError(`trial ${id} has no tiling step`);
  const rec = await readRecord(store, ext.key);
  if (rec?.status !== 'done') throw new UserError(`trial ${id}: its ${ext.kind} step has not run yet (${rec?.status ?? 'pending'})`);
  const read = (name: string) => getVerified(store, rec.artifacts[name]);
  const labels = decodeNd(await read('labels'), 'labels').data as Uint8Array;
  const names = ['normal', 'anomalous', 'ambiguous'];
  const counts: Record<string, number> = {};
  for (const l of labels) counts[names[l] ?? String(l)] = (counts[names[l] ?? String(l)] ?? 0) + 1;
  const report: TilesReport = { study, trial: id, step: ext.key, samples: labels.length, shape: (rec.output?.shape as number[]) ?? [Number(rec.output?.dim)], labels: counts, removed: {}, sample: [] };
  const screen = t.steps.find((x) => x.kind === 'screen');
  if (ext.kind === 'extract' && screen) {
    const sr = await readRecord(store, screen.key);
    const list = parseItemList(await getVerified(store, sr!.artifacts['items.json']), 'screened items');
    for (const r of list.removed) report.removed[r.filter] = (report.removed[r.filter] ?? 0) + 1;
    const groups = decodeNd(await read('groups'), 'groups').data as Int32Array;
    const coords = decodeNd(await read('coords'), 'coords').data as Int32Array;
    const split = t.steps.find((x) => x.kind === 'split');
    const spr = split && (await readRecord(store, split.key));
    if (spr?.status === 'done') {
      const codes = decodeNd(await getVerified(store, spr.artifacts['assignment']), 'assignment').data as Uint8Array;
      report.splits = {};
      for (const g of groups) {
        const name = SPLIT_NAMES[codes[g] as 0 | 1 | 2 | 3] ?? 'unused';
        report.splits[name] = (report.splits[name] ?? 0) + 1;
      }
    }
    // A few of each label, so a look at the sources shows both.
    const picks: number[] = [];
    for (const want of [1, 0]) for (let i = 0; i < labels.length && picks.filter((p) => labels[p] === want).length < Math.ceil(show / 2); i++) if (labels[i] === want) picks.push(i);
    report.sample = picks.map((i) => ({ sample: i, rel: list.items[groups[i]].rel, sha256: list.items[groups[i]].sha256.slice(0, 12), y: coords[2 * i], x: coords[2 * i + 1], label: labels[i] }));
  }
  return report;
}

export function formatTiles(r: TilesReport): string {
  const kv = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [`${r.study}, trial ${r.trial}: ${r.samples} samples of shape [${r.shape.join(', ')}] (step ${r.step.slice(0, 12)})`, `labels: ${kv(r.labels)}`];
  if (r.splits) lines.push(`splits (samples): ${kv(r.splits)}`);
  lines.push(`removed before tiling: ${kv(r.removed)}`);
  if (r.sample.length) lines.push(renderTable(['sample', 'label', 'source', 'sha256', 'y', 'x'], r.sample.map((s) => [s.sample, s.label, s.rel, s.sha256, s.y, s.x])));
  return lines.join('\n');
}
