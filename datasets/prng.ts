/**
 * Seeded, serializable pseudo-random numbers. Every random draw in gantry (synthetic data,
 * shuffles, weight init, GAN noise) comes from here, so a checkpoint can save the generator's
 * state and a resumed run draws exactly the numbers an uninterrupted run would have drawn.
 */

/** xoshiro128** state: four uint32 words. */
export type PrngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Prng {
  private s: Uint32Array;
  /** Cached second normal from Box–Muller; part of the state. */
  private spare: number | null = null;

  constructor(seed: number | string) {
    const n = typeof seed === 'number' ? seed : hashString(seed);
    const mix = splitmix32(n);
    this.s = new Uint32Array([mix(), mix(), mix(), mix()]);
    if (this.s.every((w) => w === 0)) this.s[0] = 1;
  }

  static fromState(state: { words: PrngState; spare: number | null }): Prng {
    const p = new Prng(0);
    p.s = new Uint32Array(state.words);
    p.spare = state.spare;
    return p;
  }

  state(): { words: PrngState; spare: number | null } {
    return { words: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  /** A new generator whose stream is independent of this one's (for sub-tasks). */
  fork(label: string): Prng {
    return new Prng((this.nextU32() ^ hashString(label)) >>> 0);
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  normals(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * scale;
    return out;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a, for turning labels into seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
