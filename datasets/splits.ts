/**
 * Train / val / test splits of items (images, or whatever one sample's source is), one-class:
 * anomalous items never reach train. Splitting is per item; patches and crops inherit their
 * item's split elsewhere, so nothing cut from a test image can reach training.
 *
 * Determinism: the result depends only on the set of items and the seed, not on their order.
 * Items are sorted by id (UTF-16 code-unit order, not locale order, so every machine agrees) and
 * grouped by (normal/anomalous, cls); each group is shuffled with its own Prng seeded from
 * `split:<seed>:<n|a>:<cls>`, so adding a class does not move the items of another.
 *
 * Rounding (fractions of a group of n items): largest remainder — each split first gets
 * floor(f·n), the items left over go one each to the splits with the largest fractional parts,
 * ties to test, then val, then train, then unused; every count is within 1 of f·n. Then, when a
 * group has ≥ 2 items, a test fraction > 0 and still no test item, one item moves to test from the
 * fullest other split, so small classes are still evaluated. After the shuffle the group is cut in
 * the order train, val, test, unused.
 */
import { UserError } from '../core/errors.js';
import { Prng } from './prng.js';

export type SplitName = 'train' | 'val' | 'test';

export interface SplitItem {
  id: string;
  /** stratum (class) */
  cls: string;
  anomalous: boolean;
  /** the split the dataset's own layout puts the item in (MVTec's train/ and test/ folders) */
  given?: 'train' | 'test';
}

export type SplitAssignment = Map<string, SplitName | 'unused'>;

export type SplitProtocol =
  /** train/val/test fractions per group, stratified by cls; fractions may sum to < 1, the rest is unused */
  | { kind: 'fractions'; normal: [number, number, number]; anomalous: [number, number, number] }
  /** Eide 2018: normals (background) 80 % train, 20 % val; anomalies to test */
  | { kind: 'eide' }
  /** Murase 2022 MTD: normals 50/25/25 train/val/test, anomalies 50/50 val/test, re-drawn per seed */
  | { kind: 'murase-mtd' }
  /** Murase 2022 MVTec: the layout's train (good) → train; its test → half val, half test, stratified by defect, per seed */
  | { kind: 'mvtec' }
  /** Murase 2022 COIL-100: normals 60/20/20, anomalies 50/50 val/test */
  | { kind: 'coil100' }
  /** ids given (e.g. DifferNet's MTD list of training files); every item not listed → test */
  | { kind: 'list'; train: string[]; val?: string[]; test?: string[] };

type Slot = 'train' | 'val' | 'test' | 'unused';
type Fractions = readonly [number, number, number];

const MURASE_MTD = { normal: [0.5, 0.25, 0.25], anomalous: [0, 0.5, 0.5] } as const;
const COIL100 = { normal: [0.6, 0.2, 0.2], anomalous: [0, 0.5, 0.5] } as const;

/** Sorted copy (code-unit order); throws a UserError on a duplicate id (the data lists one item twice). */
function sortedItems(items: readonly SplitItem[]): SplitItem[] {
  const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].id === sorted[i - 1].id) throw new UserError(`item id '${sorted[i].id}' appears twice in the dataset`, { hint: 'ids must be unique' });
  }
  return sorted;
}

/** Groups by (anomalous, cls) in sorted key order, items keeping their sorted order. */
function groups(items: readonly SplitItem[]): { key: string; anomalous: boolean; cls: string; items: SplitItem[] }[] {
  const map = new Map<string, { key: string; anomalous: boolean; cls: string; items: SplitItem[] }>();
  for (const it of items) {
    const key = `${it.anomalous ? 'a' : 'n'}:${it.cls}`;
    let g = map.get(key);
    if (!g) map.set(key, (g = { key, anomalous: it.anomalous, cls: it.cls, items: [] }));
    g.items.push(it);
  }
  return [...map.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function checkFractions(f: Fractions, what: string): void {
  if (f.length !== 3 || f.some((v) => !(v >= 0 && v <= 1))) throw new UserError(`split fractions for ${what} must be three numbers in [0, 1], got [${f.join(', ')}]`);
  const sum = f[0] + f[1] + f[2];
  if (sum > 1 + 1e-9) throw new UserError(`split fractions for ${what} sum to ${sum}, more than 1`);
}

/** Counts per slot for n items (see the module comment for the rounding). Exported for tests. */
export function cutCounts(n: number, f: Fractions): Record<Slot, number> {
  const rest = 1 - f[0] - f[1] - f[2];
  const frac = [f[0], f[1], f[2], rest > 1e-9 ? rest : 0];
  // Fractions like 0.1 are not exact in binary: treat a product within 1e-9 of an integer as that integer.
  const exact = frac.map((v) => v * n);
  const floor = exact.map((v) => Math.floor(v + 1e-9));
  const rem = exact.map((v, i) => Math.max(0, v - floor[i]));
  let left = n - floor.reduce((a, b) => a + b, 0);
  const tieOrder = [2, 1, 0, 3]; // test, val, train, unused
  const order = [...tieOrder].sort((a, b) => (rem[b] - rem[a] > 1e-9 ? 1 : rem[a] - rem[b] > 1e-9 ? -1 : tieOrder.indexOf(a) - tieOrder.indexOf(b)));
  for (const i of order) {
    if (left <= 0) break;
    if (frac[i] === 0) continue;
    floor[i]++;
    left--;
  }
  // Whatever is still left (only when every remainder was ~0) goes to the largest fraction.
  if (left > 0) floor[frac.indexOf(Math.max(...frac))] += left;
  const out = { train: floor[0], val: floor[1], test: floor[2], unused: floor[3] };
  if (n >= 2 && f[2] > 0 && out.test === 0) {
    const donor = (['train', 'unused', 'val'] as const).reduce((best, s) => (out[s] > out[best] ? s : best), 'train' as 'train' | 'unused' | 'val');
    out[donor]--;
    out.test++;
  }
  return out;
}

function groupRng(seed: number, anomalous: boolean, cls: string): Prng {
  return new Prng(`split:${seed}:${anomalous ? 'a' : 'n'}:${cls}`);
}

/** Shuffles each group with its own Prng and cuts it by the fractions for its kind. */
function stratified(items: readonly SplitItem[], fr: { normal: Fractions; anomalous: Fractions }, seed: number, out: SplitAssignment): void {
  for (const g of groups(items)) {
    const f = g.anomalous ? fr.anomalous : fr.normal;
    const ids = groupRng(seed, g.anomalous, g.cls).shuffle(g.items.map((i) => i.id));
    const c = cutCounts(ids.length, f);
    let k = 0;
    for (const slot of ['train', 'val', 'test', 'unused'] as const) {
      for (let j = 0; j < c[slot]; j++) out.set(ids[k++], slot);
    }
  }
}

/**
 * Assigns every item to train, val, test or unused under `protocol`, reproducibly from (the set of
 * items, seed). Protocols:
 * - fractions: as given per group; anomalous fractions must put nothing in train.
 * - eide: normals 80 % train / 20 % val, val getting floor(n/5) as Eide's np.array_split(…, 5)
 *   (train = the first four parts); anomalies all to test. Eide evaluates during training on the
 *   val background against the anomaly windows; here those anomalies are the test split, and
 *   a study that selects on val needs anomalous val items from another protocol.
 * - murase-mtd, coil100: Murase's fractions (see SplitProtocol); re-drawn per seed.
 * - mvtec: needs `given` on every item; given 'train' → train (must be normal), given 'test' →
 *   half val, half test per (normal/anomalous, defect class), an odd one to test.
 * - list: listed ids go where listed, every other item to test (normal or not); the seed is unused.
 *   A listed id that is not an item, an id in two lists or an anomalous id in train is a UserError.
 * Throws a UserError when no normal item ends in train.
 */
export function splitItems(items: readonly SplitItem[], protocol: SplitProtocol, seed: number): SplitAssignment {
  if (!Number.isFinite(seed)) throw new UserError(`split seed must be a number, got ${seed}`);
  const sorted = sortedItems(items);
  const out: SplitAssignment = new Map();
  switch (protocol.kind) {
    case 'fractions': {
      checkFractions(protocol.normal, 'normal items');
      checkFractions(protocol.anomalous, 'anomalous items');
      if (protocol.anomalous[0] !== 0) {
        throw new UserError(`split fractions put ${protocol.anomalous[0]} of the anomalous items in train`, { hint: 'training is one-class: the anomalous train fraction must be 0' });
      }
      stratified(sorted, protocol, seed, out);
      break;
    }
    case 'murase-mtd':
      stratified(sorted, MURASE_MTD, seed, out);
      break;
    case 'coil100':
      stratified(sorted, COIL100, seed, out);
      break;
    case 'eide': {
      for (const g of groups(sorted)) {
        const ids = groupRng(seed, g.anomalous, g.cls).shuffle(g.items.map((i) => i.id));
        if (g.anomalous) {
          for (const id of ids) out.set(id, 'test');
          continue;
        }
        const nVal = Math.floor(ids.length / 5);
        ids.forEach((id, k) => out.set(id, k < ids.length - nVal ? 'train' : 'val'));
      }
      break;
    }
    case 'mvtec': {
      const test: SplitItem[] = [];
      for (const it of sorted) {
        if (it.given === undefined) throw new UserError(`split 'mvtec' needs each item's layout split; item '${it.id}' has none`, { hint: "set given: 'train' | 'test' from the dataset's folders" });
        if (it.given === 'train') {
          if (it.anomalous) throw new UserError(`item '${it.id}' is anomalous but in the layout's train folder`, { hint: 'MVTec-AD train/ holds only good images' });
          out.set(it.id, 'train');
        } else {
          test.push(it);
        }
      }
      stratified(test, { normal: [0, 0.5, 0.5], anomalous: [0, 0.5, 0.5] }, seed, out);
      break;
    }
    case 'list': {
      const known = new Map(sorted.map((it) => [it.id, it]));
      const listed = new Map<string, SplitName>();
      for (const name of ['train', 'val', 'test'] as const) {
        for (const id of protocol[name] ?? []) {
          const it = known.get(id);
          if (!it) throw new UserError(`split list names '${id}' (${name}), which is not an item of the dataset`, { hint: 'check the list against the dataset\'s ids' });
          const prev = listed.get(id);
          if (prev && prev !== name) throw new UserError(`split list puts '${id}' in both ${prev} and ${name}`);
          if (name === 'train' && it.anomalous) throw new UserError(`split list puts anomalous item '${id}' in train`, { hint: 'training is one-class: list only normal items for train' });
          listed.set(id, name);
        }
      }
      for (const it of sorted) out.set(it.id, listed.get(it.id) ?? 'test');
      break;
    }
    default: {
      const k: never = protocol;
      throw new UserError(`unknown split protocol '${(k as { kind: string }).kind}'`);
    }
  }
  return finish(sorted, protocol.kind, out);
}

/** The assignment in sorted id order (groups fill it group by group), checked. */
function finish(sorted: readonly SplitItem[], kind: string, byId: SplitAssignment): SplitAssignment {
  const out: SplitAssignment = new Map();
  for (const it of sorted) out.set(it.id, byId.get(it.id)!);
  let normals = 0;
  let trained = 0;
  for (const it of sorted) {
    if (it.anomalous) continue;
    normals++;
    if (out.get(it.id) === 'train') trained++;
  }
  if (trained === 0) throw new UserError(`split '${kind}' leaves no normal training item (${normals} normal items)`);
  checkSplit(sorted, out);
  return out;
}

/**
 * Counts per split. Throws a plain Error (a bug in whatever made the assignment) when an anomalous
 * item is in train (every protocol here is one-class), an id is listed twice among the items, an
 * item has no assignment or an unknown one, or the assignment names an id that is not an item.
 */
export function checkSplit(items: readonly SplitItem[], a: SplitAssignment): { train: number; val: number; test: number; unused: number } {
  const counts = { train: 0, val: 0, test: 0, unused: 0 };
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.id)) throw new Error(`split check: id '${it.id}' appears twice`);
    seen.add(it.id);
    const s = a.get(it.id);
    if (s === undefined) throw new Error(`split check: item '${it.id}' has no split`);
    if (s !== 'train' && s !== 'val' && s !== 'test' && s !== 'unused') throw new Error(`split check: item '${it.id}' has unknown split '${String(s)}'`);
    if (s === 'train' && it.anomalous) throw new Error(`split check: anomalous item '${it.id}' is in train (one-class training)`);
    counts[s]++;
  }
  for (const id of a.keys()) if (!seen.has(id)) throw new Error(`split check: the assignment names '${id}', which is not an item`);
  return counts;
}
