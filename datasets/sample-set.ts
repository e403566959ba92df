/**
 * Sample sets as step artifacts: items in shards of about `shardBytes` each (`shard-00000`, …,
 * gantry array files of [count, ...shape]), with per-item labels, the source item each came from
 * (`groups`, an index into the step's `sources`) and its position there (`coords`: y, x), and a
 * manifest (`samples.json`). Written as items are produced and read back shard by shard, so no
 * sample set has to fit in memory: a reader holds at most a few shards at a time.
 */
import { z } from 'zod';
import { decodeNd, encodeNd, ndarray } from './tensor-file.js';
import { itemSize, memorySource, type SampleSource } from '../core/samples.js';

/** Label codes: 0 normal, 1 anomalous, 2 ambiguous (kept out of training and of metrics). */
export const LABEL = { normal: 0, anomalous: 1, ambiguous: 2 } as const;

const manifestSchema = z.object({
  version: z.literal(1),
  n: z.number().int().min(0),
  shape: z.array(z.number().int().min(1)),
  shards: z.array(z.object({ name: z.string(), count: z.number().int().min(1) })),
  hasCoords: z.boolean(),
});
export type SampleManifest = z.output<typeof manifestSchema>;

type Write = (name: string, data: Uint8Array | string) => Promise<unknown>;
type Read = (name: string) => Promise<Uint8Array>;

export const DEFAULT_SHARD_BYTES = 32 * 2 ** 20;

export class SampleSetWriter {
  private readonly dim: number;
  private readonly perShard: number;
  private buf: Float32Array;
  private filled = 0;
  private readonly shards: SampleManifest['shards'] = [];
  private labels: number[] = [];
  private groups: number[] = [];
  private coords: number[] = [];

  constructor(private readonly write: Write, readonly shape: readonly number[], shardBytes = DEFAULT_SHARD_BYTES) {
    this.dim = itemSize(shape);
    this.perShard = Math.max(1, Math.floor(shardBytes / (this.dim * 4)));
    this.buf = new Float32Array(0);
  }

  get n(): number {
    return this.labels.length;
  }

  labelCounts(): { normal: number; anomalous: number; ambiguous: number } {
    const c = { normal: 0, anomalous: 0, ambiguous: 0 };
    for (const l of this.labels) {
      if (l === LABEL.normal) c.normal++;
      else if (l === LABEL.anomalous) c.anomalous++;
      else c.ambiguous++;
    }
    return c;
  }

  /** Room for `count` more items, to be filled in place by the caller at `reserve().at`, then `commit(count, …)`. */
  reserve(count: number): { data: Float32Array; at: number } {
    const need = (this.filled + count) * this.dim;
    if (this.buf.length < need) {
      const grown = new Float32Array(Math.max(need, Math.min(this.perShard, this.filled + Math.max(count, 1024)) * this.dim));
      grown.set(this.buf.subarray(0, this.filled * this.dim));
      this.buf = grown;
    }
    return { data: this.buf, at: this.filled };
  }

  /** The `count` items just filled in after `reserve(count)`: their labels, source item and (y, x). */
  async commit(count: number, labels: ArrayLike<number>, group: number | ArrayLike<number>, coords?: { ys: ArrayLike<number>; xs: ArrayLike<number> }): Promise<void> {
    for (let i = 0; i < count; i++) {
      this.labels.push(labels[i]);
      this.groups.push(typeof group === 'number' ? group : group[i]);
      if (coords) this.coords.push(coords.ys[i], coords.xs[i]);
    }
    this.filled += count;
    while (this.filled >= this.perShard) await this.flush(this.perShard);
  }

  /** Append items given as one array of `count` items. */
  async append(data: Float32Array, count: number, labels: ArrayLike<number>, group: number | ArrayLike<number>, coords?: { ys: ArrayLike<number>; xs: ArrayLike<number> }): Promise<void> {
    const { data: buf, at } = this.reserve(count);
    buf.set(data.subarray(0, count * this.dim), at * this.dim);
    await this.commit(count, labels, group, coords);
  }

  private async flush(count: number): Promise<void> {
    if (count === 0) return;
    const name = `shard-${String(this.shards.length).padStart(5, '0')}`;
    await this.write(name, encodeNd(ndarray(this.buf.slice(0, count * this.dim), [count, ...this.shape])));
    this.buf.copyWithin(0, count * this.dim, this.filled * this.dim);
    this.filled -= count;
    this.shards.push({ name, count });
  }

  /** Write the last shard, the per-item arrays and the manifest. */
  async finish(): Promise<SampleManifest> {
    await this.flush(this.filled);
    const n = this.labels.length;
    if (this.coords.length && this.coords.length !== 2 * n) throw new Error('sample set: coordinates given for some items only');
    await this.write('labels', encodeNd(ndarray(Uint8Array.from(this.labels), [n])));
    await this.write('groups', encodeNd(ndarray(Int32Array.from(this.groups), [n])));
    if (this.coords.length) await this.write('coords', encodeNd(ndarray(Int32Array.from(this.coords), [n, 2])));
    const manifest: SampleManifest = { version: 1, n, shape: [...this.shape], shards: this.shards, hasCoords: this.coords.length > 0 };
    await this.write('samples.json', JSON.stringify(manifest));
    return manifest;
  }
}

export interface SampleSet {
  source: SampleSource;
  labels: Uint8Array;
  /** Source item of each sample (index into the producing step's sources); absent for legacy pixel sets. */
  groups?: Int32Array;
  coords?: Int32Array;
}

/** Keeps the last few decoded shards: reads in order touch each shard once, gathers nearby ones reuse it. */
class ShardCache {
  private readonly cache = new Map<string, Float32Array>();
  private bytes = 0;
  constructor(private readonly read: Read, private readonly maxBytes: number) {}

  async get(name: string): Promise<Float32Array> {
    const hit = this.cache.get(name);
    if (hit) {
      this.cache.delete(name);
      this.cache.set(name, hit);
      return hit;
    }
    const data = decodeNd(await this.read(name), name).data as Float32Array;
    this.cache.set(name, data);
    this.bytes += data.byteLength;
    while (this.bytes > this.maxBytes && this.cache.size > 1) {
      const [oldest, v] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      this.bytes -= v.byteLength;
    }
    return data;
  }
}

/** Bytes of decoded shards a reader keeps (GANTRY_SHARD_CACHE_MB, default 256). */
export function shardCacheBytes(env: NodeJS.ProcessEnv = process.env): number {
  const mb = Number(env.GANTRY_SHARD_CACHE_MB);
  return (Number.isFinite(mb) && mb > 0 ? mb : 256) * 2 ** 20;
}

/** A sharded source over a manifest. */
export function shardedSource(m: SampleManifest, read: Read, cacheBytes = shardCacheBytes()): SampleSource {
  const dim = itemSize(m.shape);
  const starts: number[] = [];
  let total = 0;
  for (const s of m.shards) {
    starts.push(total);
    total += s.count;
  }
  if (total !== m.n) throw new Error(`sample set: shards hold ${total} items, manifest says ${m.n}`);
  const cache = new ShardCache(read, cacheBytes);
  const shardOf = (i: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const check = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= m.n) throw new RangeError(`sample ${i} out of range [0, ${m.n})`);
  };
  return {
    n: m.n,
    shape: m.shape,
    dim,
    async read(start, count) {
      const out = new Float32Array(count * dim);
      if (count === 0) return out;
      check(start);
      check(start + count - 1);
      let at = start;
      while (at < start + count) {
        const s = shardOf(at);
        const data = await cache.get(m.shards[s].name);
        const from = at - starts[s];
        const take = Math.min(m.shards[s].count - from, start + count - at);
        out.set(data.subarray(from * dim, (from + take) * dim), (at - start) * dim);
        at += take;
      }
      return out;
    },
    async gather(indices) {
      const out = new Float32Array(indices.length * dim);
      // Visit shards in order so each is decoded once per call, whatever the index order.
      const order = Array.from({ length: indices.length }, (_, k) => k).sort((a, b) => indices[a] - indices[b]);
      for (const k of order) {
        const i = indices[k];
        check(i);
        const s = shardOf(i);
        const data = await cache.get(m.shards[s].name);
        const from = i - starts[s];
        out.set(data.subarray(from * dim, (from + 1) * dim), k * dim);
      }
      return out;
    },
  };
}

/** Whether a step's output describes a sharded sample set (else it holds the legacy single `samples` array). */
export function isSharded(output: Record<string, unknown>): boolean {
  return typeof output.shards === 'number';
}

/** Open a step's sample set: sharded (image and patch steps) or the pixel tiler's single array. */
export async function openSampleSet(input: { output: Record<string, unknown>; read: Read }): Promise<SampleSet> {
  const labels = decodeNd(await input.read('labels'), 'labels').data as Uint8Array;
  if (!isSharded(input.output)) {
    const a = decodeNd(await input.read('samples'), 'samples');
    const [n, dim] = a.shape;
    return { source: memorySource({ n, dim, data: a.data as Float32Array }), labels };
  }
  const m = manifestSchema.parse(JSON.parse(Buffer.from(await input.read('samples.json')).toString('utf8')));
  const groups = decodeNd(await input.read('groups'), 'groups').data as Int32Array;
  const coords = m.hasCoords ? (decodeNd(await input.read('coords'), 'coords').data as Int32Array) : undefined;
  if (labels.length !== m.n || groups.length !== m.n) throw new Error(`sample set: ${labels.length} labels and ${groups.length} groups for ${m.n} items`);
  return { source: shardedSource(m, input.read), labels, groups, ...(coords ? { coords } : {}) };
}
