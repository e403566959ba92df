/**
 * split: assign each screened item to train, validation or test, seeded and stratified, by the
 * study's protocol. Per item, so every sample of a test image is a test sample: no test item
 * reaches training or model selection (checkSplit asserts it).
 */
import { z } from 'zod';
import { itemSplitSpec } from '../experiments/spec.js';
import { parseItemList } from '../datasets/item-list.js';
import { checkSplit, splitItems, type SplitProtocol } from '../datasets/splits.js';
import { encodeNd, ndarray } from '../datasets/tensor-file.js';
import { UserError } from '../core/errors.js';
import { SPLIT_CODE } from './samples.js';
import { defineStep } from './context.js';

const splitParams = z.object({ split: itemSplitSpec, seed: z.number().int() }).strict();

const count = z.object({ normal: z.number().int(), anomalous: z.number().int() });
export const splitOutput = z.object({ protocol: z.string(), train: count, val: count, test: count, unused: z.number().int() });

function protocolOf(s: z.output<typeof itemSplitSpec>): SplitProtocol {
  switch (s.protocol) {
    case 'fractions':
      if (!s.normal || !s.anomalous) throw new UserError("split protocol 'fractions' needs split.normal and split.anomalous ([train, val, test] fractions)");
      return { kind: 'fractions', normal: s.normal, anomalous: s.anomalous };
    case 'list':
      if (!s.train?.length) throw new UserError("split protocol 'list' needs split.train (item paths relative to the dataset root)");
      return { kind: 'list', train: s.train, ...(s.val ? { val: s.val } : {}), ...(s.test ? { test: s.test } : {}) };
    default:
      return { kind: s.protocol } as SplitProtocol;
  }
}

export const split = defineStep('split', { params: splitParams, output: splitOutput }, async (ctx, params) => {
  const screened = await ctx.input('items');
  const { items } = parseItemList(await screened.read('items.json'), 'screened items');
  const splitItemsIn = items.map((it) => ({ id: it.rel, cls: it.cls, anomalous: it.anomalous, ...(it.given ? { given: it.given } : {}) }));
  const assignment = splitItems(splitItemsIn, protocolOf(params.split), params.seed);
  checkSplit(splitItemsIn, assignment);
  const codes = new Uint8Array(items.length);
  const out = { protocol: params.split.protocol, train: { normal: 0, anomalous: 0 }, val: { normal: 0, anomalous: 0 }, test: { normal: 0, anomalous: 0 }, unused: 0 };
  items.forEach((it, i) => {
    const s = assignment.get(it.rel) ?? 'unused';
    codes[i] = SPLIT_CODE[s];
    if (s === 'unused') out.unused++;
    else out[s][it.anomalous ? 'anomalous' : 'normal']++;
  });
  if (out.train.anomalous > 0) throw new Error(`split put ${out.train.anomalous} anomalous items into training`);
  if (out.train.normal === 0) throw new UserError(`split '${params.split.protocol}' leaves no normal training item (${items.filter((i) => !i.anomalous).length} normal items)`);
  if (out.test.normal === 0 || out.test.anomalous === 0) {
    throw new UserError(`split '${params.split.protocol}' leaves ${out.test.normal} normal and ${out.test.anomalous} anomalous test items: AUROC needs both`, { hint: 'the dataset needs anomalous items (check filter.classes)' });
  }
  await ctx.write('assignment', encodeNd(ndarray(codes, [codes.length])));
  return out;
});
