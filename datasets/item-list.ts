/**
 * The items of an item dataset (images, with optional masks) as the scan and screen steps record
 * them: paths relative to the dataset root (so a store moves between machines), the content
 * hash of each file (lineage), class and role. Validated with zod whenever a step reads it.
 */
import { z } from 'zod';

export const itemSchema = z.object({
  /** Path relative to the dataset root ('/' separators), or a synthetic item's id. */
  rel: z.string().min(1),
  sha256: z.string(),
  cls: z.string(),
  anomalous: z.boolean(),
  mask: z.string().optional(),
  maskSha256: z.string().optional(),
  /** A split the layout itself fixes (MVTec-AD train/ and test/). */
  given: z.enum(['train', 'test']).optional(),
  category: z.string().optional(),
  meta: z.record(z.string(), z.string()).default({}),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
});
export type Item = z.output<typeof itemSchema>;

/** An item a step left out, and why: what `gantry datasets` and the catalog's `removed_items` show. */
export const removalSchema = z.object({ rel: z.string(), step: z.string(), filter: z.string(), reason: z.string() });
export type Removal = z.output<typeof removalSchema>;

export const itemListSchema = z.object({
  version: z.literal(1),
  /** Where the items come from: a folder layout, or a generator that `extract` re-runs. */
  source: z.union([
    z.object({ kind: z.literal('folder'), layout: z.string() }),
    z.object({ kind: z.literal('synthetic-textures'), spec: z.record(z.string(), z.unknown()) }),
    z.object({ kind: z.literal('arrays'), format: z.enum(['mnist', 'cifar10']) }),
  ]),
  channels: z.enum(['keep', 'gray', 'rgb']).default('keep'),
  /** Mask pixels above this fraction of white are anomalous. */
  maskThreshold: z.number().min(0).max(1).default(0.5),
  items: z.array(itemSchema),
  removed: z.array(removalSchema).default([]),
  /** Problems that kept the item (a mask missing where masks are optional, a CSV row that matches nothing). */
  notes: z.array(removalSchema).default([]),
});
export type ItemList = z.output<typeof itemListSchema>;

export function parseItemList(bytes: Uint8Array, what: string): ItemList {
  const r = itemListSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  if (!r.success) throw new Error(`${what}: malformed item list (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`);
  return r.data;
}
