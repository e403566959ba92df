/**
 * An item's pixels, for the steps that look at them (screen, extract): decoded from its file,
 * which must still hold the content the scan hashed, or regenerated for synthetic items.
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { convertChannels, decodeImage, decodeMask, type DecodedImage } from '../datasets/images/decode.js';
import { syntheticTexture, type TextureSpec } from '../datasets/synthetic-textures.js';
import type { Item, ItemList } from '../datasets/item-list.js';
import { arrayImage, readImageArray, type ArrayPart } from '../datasets/image-arrays.js';


export interface ItemPixels {
  image: DecodedImage;
  /** 0/1 per pixel; absent when the item has no mask (a normal image). */
  mask?: { width: number; height: number; data: Uint8Array };
}

async function verifiedFile(root: string, rel: string, sha256: string): Promise<Buffer> {
  const path = join(root, rel);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new UserError(`${rel}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}) under ${root}`, { hint: 'the dataset changed since it was scanned; run the study again to rescan it' });
  }
  if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
    throw new UserError(`${rel}: content changed since the dataset was scanned`, { hint: 'run the study again: a new scan picks up the change' });
  }
  return bytes;
}

export async function itemPixels(list: ItemList, item: Item, root: string | undefined): Promise<ItemPixels> {
  if (list.source.kind === 'synthetic-textures') {
    const index = Number(item.meta.index);
    const t = syntheticTexture(list.source.spec as unknown as TextureSpec, index);
    return { image: { ...t.image, channels: t.image.channels as 1 | 3, bitDepth: 8 }, ...(item.anomalous ? { mask: t.mask } : {}) };
  }
  if (!root) throw new Error('an item step needs the dataset root in its locator');
  if (list.source.kind === 'arrays') {
    const a = await readImageArray(root, list.source.format, item.meta.part as ArrayPart);
    const data = arrayImage(a, Number(item.meta.index));
    if (createHash('sha256').update(data).digest('hex') !== item.sha256) throw new UserError(`${item.rel}: content changed since the dataset was scanned`, { hint: 'run the study again: a new scan picks up the change' });
    const image: DecodedImage = { width: a.cols, height: a.rows, channels: a.channels, bitDepth: 8, data: Uint8Array.from(data) };
    return { image: convertChannels(image, list.channels) };
  }
  const image = await decodeImage(await verifiedFile(root, item.rel, item.sha256), { channels: list.channels }, item.rel);
  if (!item.mask) return { image };
  const mask = await decodeMask(await verifiedFile(root, item.mask, item.maskSha256 ?? ''), { width: image.width, height: image.height }, item.mask, list.maskThreshold);
  return { image, mask };
}
