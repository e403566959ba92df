/**
 * screen: the item filters — class protocol (which classes are normal, which anomalous, which
 * dropped), undecodable files and masks of the wrong size, too small, blurry, near-duplicate,
 * metadata predicates. Every removed item is kept in the list with its filter and reason (the
 * catalog's `removed_items`), and the counts per filter are the step's output.
 */
import { z } from 'zod';
import { itemFilterSpec } from '../experiments/spec.js';
import { parseItemList, type Item, type Removal } from '../datasets/item-list.js';
import { applyClassProtocol } from '../datasets/classes.js';
import { failsPredicate } from '../datasets/predicates.js';
import { findNearDuplicates, laplacianVariance, perceptualHash } from '../datasets/image-quality.js';
import { UserError, isUserError, oneLine } from '../core/errors.js';
import { itemPixels } from './items.js';
import { defineStep } from './context.js';

const screenParams = itemFilterSpec.extend({ channels: z.enum(['keep', 'gray', 'rgb']) });

export const screenOutput = z.object({
  kept: z.number().int(),
  normal: z.number().int(),
  anomalous: z.number().int(),
  /** Items removed, by filter (scan's problems included). */
  removed: z.record(z.string(), z.number().int()),
});

export const screen = defineStep('screen', { params: screenParams, output: screenOutput }, async (ctx, params) => {
  const scanned = await ctx.input('items');
  const list = parseItemList(await scanned.read('items.json'), 'scanned items');
  const removed: Removal[] = [...list.removed];
  const strict = params.onBadItem === 'fail';
  if (strict && removed.length) throw new UserError(`${removed.length} bad item${removed.length === 1 ? '' : 's'} in the dataset (first: ${removed[0].rel}: ${removed[0].reason})`, { hint: "fix them, or set filter.onBadItem to 'skip'" });
  // Each removed item's role when it was removed, to say which filter took a class away.
  const wasAnomalous = new Map<string, boolean>();
  const drop = (item: Item, filter: string, reason: string) => {
    wasAnomalous.set(item.rel, item.anomalous);
    if (strict && (filter === 'decode' || filter === 'mask')) throw new UserError(`${item.rel}: ${reason}`, { hint: "fix the file, or set filter.onBadItem to 'skip'" });
    removed.push({ rel: item.rel, step: 'screen', filter, reason });
  };

  let items = list.items;
  if (params.classes) {
    const roles = applyClassProtocol(items.map((i) => ({ cls: i.cls, anomalous: i.anomalous })), params.classes);
    const next: Item[] = [];
    items.forEach((it, k) => {
      const r = roles[k];
      if (r.role === 'dropped') drop(it, 'classes', r.reason ?? `class ${it.cls} not used`);
      else next.push({ ...it, anomalous: r.role === 'anomalous' });
    });
    items = next;
  }
  if (params.metadata) {
    const pred = params.metadata;
    items = items.filter((it) => {
      const why = failsPredicate(it.meta, pred);
      if (why) drop(it, 'metadata', why);
      return !why;
    });
  }

  const kept: Item[] = [];
  const hashes: { id: string; hash: string }[] = [];
  const root = ctx.locator.path;
  for (const [k, it] of items.entries()) {
    if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('aborted');
    let px;
    try {
      px = await itemPixels({ ...list, channels: params.channels }, it, root);
    } catch (e) {
      if (!isUserError(e)) throw e;
      // A content change since the scan is not a bad item: the whole scan is stale.
      if (/changed since|cannot read/.test(e.message)) throw e;
      drop(it, /mask/i.test(e.message) ? 'mask' : 'decode', oneLine(e));
      continue;
    }
    const { width, height } = px.image;
    if (params.minSize !== undefined && Math.min(width, height) < params.minSize) {
      drop(it, 'minSize', `${width}×${height} is below ${params.minSize} px`);
      continue;
    }
    if (params.minSharpness !== undefined) {
      const v = laplacianVariance(px.image);
      if (v < params.minSharpness) {
        drop(it, 'minSharpness', `blurry: Laplacian variance ${v.toFixed(1)} < ${params.minSharpness}`);
        continue;
      }
    }
    if (params.duplicates !== undefined) hashes.push({ id: it.rel, hash: perceptualHash(px.image) });
    kept.push({ ...it, width, height });
    ctx.progress(k + 1, items.length);
  }
  let final = kept;
  if (params.duplicates !== undefined) {
    const dups = new Map(findNearDuplicates(hashes, params.duplicates).map((d) => [d.id, d]));
    final = kept.filter((it) => {
      const d = dups.get(it.rel);
      if (d) drop(it, 'duplicates', `near-duplicate of ${d.duplicateOf} (hash distance ${d.distance})`);
      return !d;
    });
  }
  if (final.length === 0) {
    const by = countBy(removed);
    // The filter that removed most, with one of its reasons: a predicate on a misspelt field says so.
    const top = Object.entries(by).sort((a, b) => b[1] - a[1])[0];
    const example = top && removed.find((r) => r.filter === top[0]);
    throw new UserError(`no items left after filtering (${Object.entries(by).map(([f, n]) => `${f}: ${n}`).join(', ') || 'none to start with'})${example ? `; e.g. ${example.rel}: ${example.reason}` : ''}`, { hint: 'relax the filters' });
  }
  const normal = final.filter((i) => !i.anomalous).length;
  // Filters that took a whole class away: no split could train (no normal item) or evaluate (no
  // anomalous one), and only here can the filter be named. (A dataset without one of the classes
  // to begin with is the split step's to report.)
  for (const [left, which] of [[normal, 'normal'], [final.length - normal, 'anomalous']] as const) {
    const by = Object.entries(countBy(removed.filter((r) => wasAnomalous.get(r.rel) === (which === 'anomalous')))).map(([f, n]) => `${f}: ${n}`);
    if (left > 0 || by.length === 0) continue;
    throw new UserError(`no ${which} item left after filtering (${final.length} ${which === 'normal' ? 'anomalous' : 'normal'} kept; ${which} items removed by ${by.join(', ')})`, { hint: 'relax the filters' });
  }
  await ctx.write('items.json', JSON.stringify({ ...list, channels: params.channels, items: final, removed }));
  return { kept: final.length, normal, anomalous: final.length - normal, removed: countBy(removed) };
});

function countBy(removed: readonly Removal[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of removed) out[r.filter] = (out[r.filter] ?? 0) + 1;
  return out;
}
