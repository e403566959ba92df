/**
 * Test vectors the metric tests share (hand-computed cases, the scikit-learn comparison): ties,
 * constant scores, a single positive, random vectors of a few thousand, and small random masks
 * for PRO. Seeded, so every run sees the same numbers. Not a test file itself.
 */
import assert from 'node:assert/strict';
import { isUserError } from '../../core/errors.js';
import { Prng } from '../../datasets/prng.js';
import type { AnomalyMap } from '../../evaluation/regions.js';

export interface BinaryVector {
  name: string;
  scores: number[];
  labels: number[];
  classes?: string[];
}

export function close(a: number, b: number, tol = 1e-12, msg?: string): void {
  assert.ok(Math.abs(a - b) <= tol, `${msg ? msg + ': ' : ''}${a} != ${b} (tol ${tol})`);
}

export function userError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isUserError(e), `expected UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

function random(name: string, seed: number, n: number, opts: { positives?: number; ties?: number; shift?: number; classes?: string[] } = {}): BinaryVector {
  const rng = new Prng(seed);
  const rate = opts.positives ?? 0.1;
  const labels = Array.from({ length: n }, (_, i) => (i === 0 ? 1 : i === 1 ? 0 : rng.uniform() < rate ? 1 : 0));
  const scores = labels.map((y) => {
    const s = rng.normal() + (opts.shift ?? 1) * y;
    return opts.ties ? Math.round(s * opts.ties) / opts.ties : s;
  });
  const v: BinaryVector = { name, scores, labels };
  if (opts.classes) v.classes = labels.map((y) => (y === 1 ? opts.classes![rng.int(opts.classes!.length)] : 'good'));
  return v;
}

/** The shared binary vectors; every one has at least one positive and one negative. */
export function binaryVectors(): BinaryVector[] {
  return [
    { name: 'sklearn docs example', scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1] },
    { name: 'ties across classes', scores: [0.5, 0.5, 0.2, 0.9, 0.5, 0.2, 0.9], labels: [1, 0, 0, 1, 1, 1, 0] },
    { name: 'constant scores', scores: [3, 3, 3, 3, 3], labels: [0, 1, 0, 1, 0] },
    { name: 'single positive, ranked third', scores: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], labels: [0, 0, 1, 0, 0, 0] },
    { name: 'single positive tied with two negatives', scores: [1, 2, 2, 2, 0], labels: [0, 1, 0, 0, 0] },
    { name: 'single negative', scores: [0.3, 0.1, 0.2, 0.4], labels: [1, 0, 1, 1] },
    { name: 'inverted ranking', scores: [5, 4, 3, 2, 1], labels: [0, 0, 0, 1, 1] },
    random('random 3000, continuous', 1, 3000),
    random('random 5000, rounded to 0.1 (heavy ties)', 2, 5000, { ties: 10, positives: 0.3 }),
    random('random 4000, integer scores (very heavy ties)', 3, 4000, { ties: 1, positives: 0.05, shift: 0.5 }),
    random('random 2000, 1% positives', 4, 2000, { positives: 0.01, shift: 2 }),
    random('random 3000 with classes', 5, 3000, { ties: 20, classes: ['crack', 'blowhole', 'fray'], shift: 1.5 }),
  ];
}

/** Random maps with blob-shaped masks (several regions, some touching only diagonally), tied scores. */
export function randomMaps(seed: number, count: number, width: number, height: number, ties = 0): AnomalyMap[] {
  const rng = new Prng(seed);
  const maps: AnomalyMap[] = [];
  for (let k = 0; k < count; k++) {
    const mask = new Uint8Array(width * height);
    const blobs = k % 3 === 2 ? 0 : 1 + rng.int(3);
    for (let b = 0; b < blobs; b++) {
      const cx = rng.int(width);
      const cy = rng.int(height);
      const r = 1 + rng.int(3);
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r && rng.uniform() < 0.9) mask[y * width + x] = 1;
    }
    // A lone diagonal pair: one region under 8-connectivity, two under 4.
    if (k % 2 === 1) {
      mask[0] = 1;
      mask[width + 1] = 1;
    }
    const scores = new Float64Array(width * height);
    for (let i = 0; i < scores.length; i++) {
      const s = rng.normal() + 1.5 * mask[i];
      scores[i] = ties ? Math.round(s * ties) / ties : s;
    }
    maps.push({ width, height, scores, mask });
  }
  return maps;
}
