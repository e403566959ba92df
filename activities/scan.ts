/**
 * scan: list an item dataset — the images of a folder layout with their masks, class and
 * content hash, joined to a metadata CSV when one is given — or the items a generator will
 * produce. Per-item problems (a jpg without its mask, an unmatched metadata row) are recorded
 * with the reason, never dropped silently.
 */
import { createHash } from 'node:crypto';
import { sha256File } from '../infra/hash.js';
import { join } from 'node:path';
import { z } from 'zod';
import { cifar10Spec, imageFolderSpec, mnistSpec, syntheticTexturesSpec } from '../experiments/spec.js';
import { arrayImage, readImageArray, type ArrayPart } from '../datasets/image-arrays.js';
import { scanImages } from '../datasets/images/layouts.js';
import { joinMetadata } from '../datasets/images/metadata.js';
import { syntheticTexture } from '../datasets/synthetic-textures.js';
import type { Item, ItemList, Removal } from '../datasets/item-list.js';
import { UserError } from '../core/errors.js';
import { defineStep } from './context.js';

const scanParams = z.discriminatedUnion('kind', [
  imageFolderSpec.omit({ path: true, metadata: true }).extend({ sha256: z.string(), metadata: z.object({ column: z.string().optional(), sha256: z.string() }).optional() }),
  syntheticTexturesSpec,
  mnistSpec.omit({ path: true }).extend({ sha256: z.string() }),
  cifar10Spec.omit({ path: true }).extend({ sha256: z.string() }),
]);

export const scanOutput = z.object({ items: z.number().int(), anomalous: z.number().int(), classes: z.record(z.string(), z.number().int()), problems: z.number().int(), layout: z.string() });

export const scan = defineStep('scan', { params: scanParams, output: scanOutput }, async (ctx, params) => {
  let list: ItemList;
  let problems = 0;
  if (params.kind === 'synthetic-textures') {
    const items: Item[] = [];
    const total = params.normals + params.anomalies;
    for (let i = 0; i < total; i++) {
      const t = syntheticTexture(params, i);
      items.push({ rel: t.id, sha256: createHash('sha256').update(t.image.data).digest('hex'), cls: t.cls, anomalous: t.anomalous, meta: { index: String(i) }, width: t.image.width, height: t.image.height });
    }
    list = { version: 1, source: { kind: 'synthetic-textures', spec: params }, channels: 'keep', maskThreshold: 0.5, items, removed: [], notes: [] };
  } else if (params.kind === 'mnist' || params.kind === 'cifar10') {
    const root = ctx.locator.path;
    const items: Item[] = [];
    const parts: ArrayPart[] = params.parts === 'train' || params.parts === 'test' ? [params.parts] : ['train', 'test'];
    for (const part of parts) {
      const a = await readImageArray(root, params.kind, part);
      const n = Math.min(a.n, params.limit ?? a.n);
      const width = String(a.n - 1).length;
      for (let i = 0; i < n; i++) {
        const cls = a.classNames[a.labels[i]] ?? String(a.labels[i]);
        items.push({ rel: `${part}/${String(i).padStart(width, '0')}`, sha256: createHash('sha256').update(arrayImage(a, i)).digest('hex'), cls, anomalous: false, given: part, meta: { part, index: String(i) }, width: a.cols, height: a.rows });
      }
    }
    list = { version: 1, source: { kind: 'arrays', format: params.kind }, channels: 'keep', maskThreshold: 0.5, items, removed: [], notes: [] };
  } else {
    const root = ctx.locator.path;
    const scanned = await scanImages(root, params.layout === 'auto' ? undefined : params.layout, params.category ? { category: params.category } : {});
    // Some problems keep the item ('missing mask (kept without one)'): only the others remove it.
    const kept = (reason: string) => /\(kept[^)]*\)\s*$/.test(reason);
    const removed: Removal[] = scanned.problems.filter((p) => !kept(p.reason)).map((p) => ({ rel: p.rel, step: 'scan', filter: 'layout', reason: p.reason }));
    const notes: Removal[] = scanned.problems.filter((p) => kept(p.reason)).map((p) => ({ rel: p.rel, step: 'scan', filter: 'layout', reason: p.reason }));
    let found = scanned.items;
    const metaPath = ctx.locator.metadata;
    if (params.metadata) {
      if (!metaPath) throw new Error('scan: metadata configured but no metadata file located');
      const joined = await joinMetadata(found, metaPath, params.metadata.column ? { column: params.metadata.column } : {});
      found = joined.items;
      // CSV problems never remove an image: an image without a row just has no metadata.
      for (const p of joined.problems) notes.push({ rel: p.rel, step: 'scan', filter: 'metadata', reason: p.reason });
    }
    const items: Item[] = [];
    for (const [i, it] of found.entries()) {
      const item: Item = { rel: it.rel, sha256: await sha256File(it.path), cls: it.class, anomalous: it.anomalous, meta: it.meta };
      if (it.mask) {
        item.mask = it.mask.startsWith(root) ? it.mask.slice(root.length).replace(/^[\\/]+/, '').split('\\').join('/') : it.mask;
        item.maskSha256 = await sha256File(join(root, item.mask));
      }
      if (it.given) item.given = it.given;
      if (it.category) item.category = it.category;
      items.push(item);
      ctx.progress(i + 1, found.length);
    }
    if (items.length === 0) throw new UserError(`${root}: no usable images (${removed.length} problem${removed.length === 1 ? '' : 's'}${removed[0] ? `, first: ${removed[0].rel}: ${removed[0].reason}` : ''})`);
    list = { version: 1, source: { kind: 'folder', layout: scanned.layout }, channels: 'keep', maskThreshold: params.maskThreshold ?? 0.5, items, removed, notes };
    problems = removed.length + notes.length;
  }
  await ctx.write('items.json', JSON.stringify(list));
  const classes: Record<string, number> = {};
  for (const it of list.items) classes[it.cls] = (classes[it.cls] ?? 0) + 1;
  return { items: list.items.length, anomalous: list.items.filter((i) => i.anomalous).length, classes, problems, layout: list.source.kind === 'folder' ? list.source.layout : list.source.kind === 'arrays' ? list.source.format : list.source.kind };
});
