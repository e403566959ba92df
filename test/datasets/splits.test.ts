import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSplit, cutCounts, splitItems, type SplitAssignment, type SplitItem, type SplitProtocol } from '../../datasets/splits.js';
import { Prng } from '../../datasets/prng.js';
import { UserError } from '../../core/errors.js';

/** The part of MTD in ../shared/data/mtd: 476 defect-free, 115 + 85 + 57 defective. */
function mtdItems(): SplitItem[] {
  const items: SplitItem[] = [];
  const add = (cls: string, n: number, anomalous: boolean) => {
    for (let i = 0; i < n; i++) items.push({ id: `MT_${cls}/exp_${String(i * 37 + 11).padStart(5, '0')}`, cls, anomalous });
  };
  add('Free', 476, false);
  add('Blowhole', 115, true);
  add('Break', 85, true);
  add('Crack', 57, true);
  return items;
}

function counts(items: readonly SplitItem[], a: SplitAssignment, anomalous: boolean, cls?: string) {
  const c = { train: 0, val: 0, test: 0, unused: 0 };
  for (const it of items) if (it.anomalous === anomalous && (cls === undefined || it.cls === cls)) c[a.get(it.id)!]++;
  return c;
}

test('murase-mtd on 476 normals + 257 anomalies: 238/119/119 normals, anomalies halved per defect class (odd one to test)', () => {
  const items = mtdItems();
  const a = splitItems(items, { kind: 'murase-mtd' }, 0);
  assert.deepEqual(counts(items, a, false), { train: 238, val: 119, test: 119, unused: 0 });
  assert.deepEqual(counts(items, a, true, 'Blowhole'), { train: 0, val: 57, test: 58, unused: 0 });
  assert.deepEqual(counts(items, a, true, 'Break'), { train: 0, val: 42, test: 43, unused: 0 });
  assert.deepEqual(counts(items, a, true, 'Crack'), { train: 0, val: 28, test: 29, unused: 0 });
  assert.deepEqual(checkSplit(items, a), { train: 238, val: 119 + 127, test: 119 + 130, unused: 0 });
  assert.equal(a.size, items.length);
});

test('splits are reproducible per seed, differ across seeds, and ignore input order', () => {
  const items = mtdItems();
  for (const protocol of [{ kind: 'murase-mtd' }, { kind: 'coil100' }, { kind: 'eide' }] as SplitProtocol[]) {
    const a = splitItems(items, protocol, 3);
    assert.deepEqual(splitItems(items, protocol, 3), a);
    const shuffled = new Prng(99).shuffle([...items]);
    assert.notDeepEqual(shuffled.map((i) => i.id), items.map((i) => i.id));
    const b = splitItems(shuffled, protocol, 3);
    assert.deepEqual([...b.entries()], [...a.entries()], `${protocol.kind}: same assignment, same (sorted) order`);
    const c = splitItems(items, protocol, 4);
    const moved = items.filter((it) => a.get(it.id) !== c.get(it.id)).length;
    assert.ok(moved > items.length / 10, `${protocol.kind}: seed 4 moves ${moved} items`);
    assert.deepEqual(checkSplit(items, c), checkSplit(items, a), `${protocol.kind}: counts do not depend on the seed`);
  }
});

test('fractions protocol: per-class counts within ±1 of fraction·n, ≥ 1 test item from 2 items, no anomalous in train', () => {
  const rng = new Prng(1);
  const items: SplitItem[] = [];
  const sizes = [1, 2, 3, 4, 5, 7, 10, 13, 29, 101];
  sizes.forEach((n, k) => {
    for (let i = 0; i < n; i++) items.push({ id: `n${k}-${i}`, cls: `c${k}`, anomalous: false });
    for (let i = 0; i < n; i++) items.push({ id: `a${k}-${i}`, cls: `c${k}`, anomalous: true });
  });
  const protocols: [number, number, number][][] = [
    [[0.5, 0.25, 0.25], [0, 0.5, 0.5]],
    [[0.6, 0.2, 0.2], [0, 0.5, 0.5]],
    [[0.7, 0.1, 0.2], [0, 0.3, 0.7]],
    [[0.34, 0.33, 0.33], [0, 0.1, 0.9]],
    [[0.5, 0.1, 0.1], [0, 0.2, 0.2]], // the rest unused
  ];
  for (const [normal, anomalous] of protocols) {
    const seed = rng.int(1000);
    const a = splitItems(items, { kind: 'fractions', normal, anomalous }, seed);
    checkSplit(items, a);
    sizes.forEach((n, k) => {
      for (const [isAnom, f] of [[false, normal], [true, anomalous]] as const) {
        const c = counts(items, a, isAnom, `c${k}`);
        const fr = { train: f[0], val: f[1], test: f[2], unused: 1 - f[0] - f[1] - f[2] };
        for (const s of ['train', 'val', 'test', 'unused'] as const) {
          assert.ok(Math.abs(c[s] - fr[s] * n) <= 1 + 1e-9, `${normal}/${anomalous} class of ${n} ${isAnom ? 'anomalous' : 'normal'}: ${s} ${c[s]} vs ${fr[s] * n}`);
        }
        assert.equal(c.train + c.val + c.test + c.unused, n);
        if (isAnom) assert.equal(c.train, 0);
        if (n >= 2) assert.ok(c.test >= 1, `class of ${n}: a test item`);
      }
    });
  }
});

test('cutCounts: largest remainder, ties to test then val; small groups get a test item', () => {
  assert.deepEqual(cutCounts(2, [0.5, 0.25, 0.25]), { train: 1, val: 0, test: 1, unused: 0 });
  assert.deepEqual(cutCounts(3, [0.5, 0.25, 0.25]), { train: 1, val: 1, test: 1, unused: 0 });
  assert.deepEqual(cutCounts(1, [0.5, 0.25, 0.25]), { train: 1, val: 0, test: 0, unused: 0 });
  assert.deepEqual(cutCounts(1, [0, 0.5, 0.5]), { train: 0, val: 0, test: 1, unused: 0 });
  assert.deepEqual(cutCounts(2, [0.8, 0.1, 0.1]), { train: 1, val: 0, test: 1, unused: 0 });
  assert.deepEqual(cutCounts(10, [0.7, 0.1, 0.2]), { train: 7, val: 1, test: 2, unused: 0 });
  assert.deepEqual(cutCounts(100, [0.29, 0.71, 0]), { train: 29, val: 71, test: 0, unused: 0 });
  assert.deepEqual(cutCounts(10, [0.5, 0.1, 0.1]), { train: 5, val: 1, test: 1, unused: 3 });
});

test('eide: normals 80/20 train/val with val = floor(n/5) as np.array_split, anomalies all to test', () => {
  const items: SplitItem[] = [];
  for (let i = 0; i < 13; i++) items.push({ id: `bg${i}`, cls: 'background', anomalous: false });
  for (let i = 0; i < 4; i++) items.push({ id: `t${i}`, cls: 'background', anomalous: true });
  const a = splitItems(items, { kind: 'eide' }, 0);
  assert.deepEqual(checkSplit(items, a), { train: 11, val: 2, test: 4, unused: 0 });
  assert.deepEqual(counts(items, a, true), { train: 0, val: 0, test: 4, unused: 0 });
});

test('coil100: normals 60/20/20, anomalies 50/50 val/test', () => {
  const items: SplitItem[] = [];
  for (let c = 0; c < 100; c++) {
    for (let i = 0; i < 72; i++) items.push({ id: `obj${c + 1}__${i * 5}`, cls: `obj${c + 1}`, anomalous: c >= 10 });
  }
  const a = splitItems(items, { kind: 'coil100' }, 7);
  // 72 per class: 43.2/14.4/14.4 → 43/14/15 (the one left over goes to test: largest remainder, ties to test).
  assert.deepEqual(counts(items, a, false, 'obj1'), { train: 43, val: 14, test: 15, unused: 0 });
  assert.deepEqual(counts(items, a, true, 'obj50'), { train: 0, val: 36, test: 36, unused: 0 });
  assert.deepEqual(checkSplit(items, a), { train: 430, val: 140 + 90 * 36, test: 150 + 90 * 36, unused: 0 });
});

test('mvtec: layout train → train, layout test halved into val/test per defect class, per seed', () => {
  const items: SplitItem[] = [];
  for (let i = 0; i < 209; i++) items.push({ id: `bottle/train/good/${i}`, cls: 'good', anomalous: false, given: 'train' });
  for (let i = 0; i < 20; i++) items.push({ id: `bottle/test/good/${i}`, cls: 'good', anomalous: false, given: 'test' });
  for (const [d, n] of [['broken_large', 20], ['broken_small', 22], ['contamination', 21]] as const) {
    for (let i = 0; i < n; i++) items.push({ id: `bottle/test/${d}/${i}`, cls: d, anomalous: true, given: 'test' });
  }
  const a = splitItems(items, { kind: 'mvtec' }, 1);
  for (const it of items) if (it.given === 'train') assert.equal(a.get(it.id), 'train');
  assert.deepEqual(counts(items, a, false), { train: 209, val: 10, test: 10, unused: 0 });
  assert.deepEqual(counts(items, a, true, 'contamination'), { train: 0, val: 10, test: 11, unused: 0 });
  assert.deepEqual(checkSplit(items, a), { train: 209, val: 10 + 10 + 11 + 10, test: 10 + 10 + 11 + 11, unused: 0 });
  assert.notDeepEqual(splitItems(items, { kind: 'mvtec' }, 2), a);
  assert.throws(() => splitItems([...items, { id: 'x', cls: 'good', anomalous: false }], { kind: 'mvtec' }, 1), UserError);
  assert.throws(() => splitItems([...items, { id: 'y', cls: 'crack', anomalous: true, given: 'train' }], { kind: 'mvtec' }, 1), UserError);
});

test('list protocol: listed ids where listed, everything else to test; bad lists are UserErrors', () => {
  const items = mtdItems();
  const normals = items.filter((i) => !i.anomalous).map((i) => i.id);
  const train = normals.slice(0, 300);
  const val = [...normals.slice(300, 350), items.find((i) => i.anomalous)!.id];
  const a = splitItems(items, { kind: 'list', train, val }, 0);
  assert.deepEqual(checkSplit(items, a), { train: 300, val: 51, test: items.length - 351, unused: 0 });
  for (const id of train) assert.equal(a.get(id), 'train');
  assert.equal(a.get(normals[400]), 'test', 'an unlisted normal goes to test');
  assert.deepEqual(splitItems(items, { kind: 'list', train, val }, 5), a, 'the seed does not matter');
  assert.throws(() => splitItems(items, { kind: 'list', train: [...train, 'nope'] }, 0), (e: unknown) => e instanceof UserError && /'nope'/.test(e.message));
  assert.throws(() => splitItems(items, { kind: 'list', train, test: [train[0]] }, 0), (e: unknown) => e instanceof UserError && /both train and test/.test(e.message));
  assert.throws(() => splitItems(items, { kind: 'list', train: [val[50]] }, 0), (e: unknown) => e instanceof UserError && /anomalous/.test(e.message));
});

test('a split with no normal training item is a UserError naming the protocol and the normal count', () => {
  const anomalies: SplitItem[] = [{ id: 'a', cls: 'x', anomalous: true }, { id: 'b', cls: 'x', anomalous: true }];
  assert.throws(() => splitItems(anomalies, { kind: 'murase-mtd' }, 0), (e: unknown) => e instanceof UserError && e.message === "split 'murase-mtd' leaves no normal training item (0 normal items)");
  const items = mtdItems();
  assert.throws(() => splitItems(items, { kind: 'list', train: [] }, 0), (e: unknown) => e instanceof UserError && e.message === "split 'list' leaves no normal training item (476 normal items)");
  assert.throws(() => splitItems(items, { kind: 'fractions', normal: [0, 0.5, 0.5], anomalous: [0, 0.5, 0.5] }, 0), /leaves no normal training item \(476 normal items\)/);
  assert.throws(() => splitItems(items, { kind: 'fractions', normal: [0.5, 0.5, 0], anomalous: [0.1, 0.4, 0.5] }, 0), (e: unknown) => e instanceof UserError && /one-class/.test(String((e as UserError).hint)));
  assert.throws(() => splitItems(items, { kind: 'fractions', normal: [0.8, 0.2, 0.2], anomalous: [0, 0.5, 0.5] }, 0), UserError);
  assert.throws(() => splitItems([...items, items[3]], { kind: 'murase-mtd' }, 0), (e: unknown) => e instanceof UserError && /twice/.test(e.message));
});

test('checkSplit: throws a plain Error on anomalous-in-train, a missing, unknown or foreign id, a duplicate item', () => {
  const items: SplitItem[] = [{ id: 'n1', cls: 'c', anomalous: false }, { id: 'a1', cls: 'c', anomalous: true }];
  const ok: SplitAssignment = new Map([['n1', 'train'], ['a1', 'test']]);
  assert.deepEqual(checkSplit(items, ok), { train: 1, val: 0, test: 1, unused: 0 });
  const isPlain = (re: RegExp) => (e: unknown) => e instanceof Error && !(e instanceof UserError) && re.test(e.message);
  assert.throws(() => checkSplit(items, new Map([['n1', 'train'], ['a1', 'train']])), isPlain(/anomalous item 'a1' is in train/));
  assert.throws(() => checkSplit(items, new Map([['n1', 'train']])), isPlain(/'a1' has no split/));
  assert.throws(() => checkSplit(items, new Map([['n1', 'train'], ['a1', 'test'], ['zz', 'val']])), isPlain(/'zz'/));
  assert.throws(() => checkSplit([...items, items[0]], ok), isPlain(/twice/));
  assert.throws(() => checkSplit(items, new Map([['n1', 'train'], ['a1', 'tset' as 'test']])), isPlain(/unknown split/));
});
