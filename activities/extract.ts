/**
 * extract: cut each screened item into samples — size×size patches every `stride` pixels,
 * labelled by the fraction of anomalous mask pixels (Özgümüş), or the whole image resized (and
 * centre-cropped; Murase) — written as a sharded sample set that records each sample's source
 * item and position. Items are decoded one at a time: the dataset never has to fit in memory.
 * Values are scaled to [-1, 1], the range of the GANs' tanh outputs.
 */
import { z } from 'zod';
import { itemTilingSpec } from '../experiments/spec.js';
import { parseItemList } from '../datasets/item-list.js';
import { extractPatches, patchGrid, type Pixels } from '../datasets/patches.js';
import { centreCrop, resizeBilinear, stackChannels } from '../datasets/transforms.js';
import { LABEL, SampleSetWriter } from '../datasets/sample-set.js';
import { encodeNd, ndarray } from '../datasets/tensor-file.js';
import { UserError } from '../core/errors.js';
import { itemPixels } from './items.js';
import { defineStep } from './context.js';

const extractParams = z.object({ tiling: itemTilingSpec }).strict();

export const extractOutput = z.object({
  n: z.number().int(),
  dim: z.number().int(),
  shape: z.array(z.number().int()),
  shards: z.number().int(),
  items: z.number().int(),
  labels: z.object({ normal: z.number().int(), anomalous: z.number().int(), ambiguous: z.number().int() }),
});

export const extract = defineStep('extract', { params: extractParams, output: extractOutput }, async (ctx, { tiling }) => {
  const screened = await ctx.input('items');
  const list = parseItemList(await screened.read('items.json'), 'screened items');
  const root = ctx.locator.path;
  let writer: SampleSetWriter | undefined;
  let channels: number | undefined;
  const itemLabels = new Uint8Array(list.items.length);
  for (const [g, item] of list.items.entries()) {
    if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('aborted');
    const { image, mask } = await itemPixels(list, item, root);
    itemLabels[g] = item.anomalous ? LABEL.anomalous : LABEL.normal;
    if (channels === undefined) channels = image.channels;
    else if (image.channels !== channels) {
      throw new UserError(`${item.rel} has ${image.channels} channel${image.channels === 1 ? '' : 's'}, earlier images ${channels}`, { hint: "set dataset.channels to 'gray' or 'rgb'" });
    }
    const scale = 2 / (image.bitDepth === 16 ? 65535 : 255);
    if (tiling.kind === 'patches') {
      const { size, stride, threshold, ambiguous } = tiling;
      if (image.width < size || image.height < size) {
        throw new UserError(`${item.rel} is ${image.width}×${image.height}, smaller than a ${size}×${size} patch`, { hint: `drop small images with filter.minSize: ${size}` });
      }
      const grid = patchGrid(image.width, image.height, mask, { size, stride, threshold, ambiguous });
      // A normal item's patches are normal whatever its mask says: its role comes from the class protocol.
      if (!item.anomalous) grid.labels.fill(LABEL.normal);
      writer ??= new SampleSetWriter(ctx.write, [size, size, channels]);
      const room = writer.reserve(grid.count);
      // extractPatches counts its offset in values, not items.
      extractPatches(image as Pixels, grid, size, room.data, room.at * size * size * channels, scale, -1);
      await writer.commit(grid.count, grid.labels, g, grid);
    } else {
      // One sample per item: the image as it is, or resized (and centre-cropped); channels stacked on request.
      let px: Pixels = image as Pixels;
      if (tiling.kind === 'resize') {
        px = resizeBilinear(px, tiling.size, tiling.size);
        if (tiling.crop) px = centreCrop(px, tiling.crop, tiling.crop);
      }
      if (tiling.stack) px = stackChannels(px, tiling.stack);
      writer ??= new SampleSetWriter(ctx.write, [px.height, px.width, px.channels]);
      if (px.height !== writer.shape[0] || px.width !== writer.shape[1]) {
        throw new UserError(`${item.rel} is ${px.width}×${px.height}, earlier items ${writer.shape[1]}×${writer.shape[0]}`, { hint: "tiling 'whole' needs images of one size: use tiling 'resize'" });
      }
      const data = Float32Array.from(px.data as ArrayLike<number>, (v) => v * scale - 1);
      await writer.append(data, 1, [itemLabels[g]], g, { ys: [0], xs: [0] });
    }
    ctx.progress(g + 1, list.items.length);
  }
  if (!writer || writer.n === 0) throw new UserError('no samples extracted: every item was too small or dropped');
  // Evaluation ranks anomalous samples against normal ones: without any, it fails after training.
  const counts = writer.labelCounts();
  const anomalousItems = itemLabels.reduce((n, l) => n + (l === LABEL.anomalous ? 1 : 0), 0);
  if (anomalousItems > 0 && counts.anomalous === 0 && tiling.kind === 'patches') {
    throw new UserError(
      `no anomalous patch: in each of the ${anomalousItems} anomalous items, no ${tiling.size}×${tiling.size} patch has more than tiling.threshold ${tiling.threshold} of its pixels in the mask, so no detection metric can be computed`,
      { hint: 'lower tiling.threshold, use smaller patches, or check the masks' },
    );
  }
  const m = await writer.finish();
  await ctx.write('item-labels', encodeNd(ndarray(itemLabels, [itemLabels.length])));
  return { n: m.n, dim: m.shape.reduce((a, b) => a * b, 1), shape: m.shape, shards: m.shards.length, items: list.items.length, labels: writer.labelCounts() };
});
