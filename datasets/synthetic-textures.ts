/**
 * Seeded synthetic defect textures with pixel masks (for tests and the quickstart), in the spirit
 * of the Magnetic Tile Defects set: gray surfaces, some with a scratch, a blob (stain) or a crack.
 *
 * Surface: a base gray level plus a few low-frequency sinusoids of random orientation, frequency,
 * phase and amplitude (so every image differs, but smoothly) plus mild pixel noise. A defect
 * shifts the intensity of its pixels by 55–90 gray levels (a scratch brighter or darker, a blob
 * and a crack darker), a clear local signal on a background whose own variation is ~±30. The mask
 * is 1 exactly on the pixels a defect changed.
 *
 * Item k draws only from a Prng seeded by (seed, id), so it is the same whatever `normals` and
 * `anomalies` are: growing a set keeps its first items. Anomalous item j has defect
 * `defects[j % defects.length]`, so the kinds stay balanced.
 */
import { UserError } from '../core/errors.js';
import { Prng } from './prng.js';

export type DefectKind = 'scratch' | 'blob' | 'crack';

export interface TextureSpec {
  normals: number;
  anomalies: number;
  /** Square side in pixels (≥ 8), e.g. 64. */
  size: number;
  channels: 1 | 3;
  seed: number;
  /** Defect kinds to cycle through (default all three). */
  defects?: DefectKind[];
}

export interface TextureItem {
  /** 'normal/000', 'anomalous/000' (numbered within their group). */
  id: string;
  cls: 'normal' | DefectKind;
  anomalous: boolean;
  /** Row-major HWC, 0..255. */
  image: { width: number; height: number; channels: number; data: Uint8Array };
  /** 0/1 per pixel; all 0 for normals. */
  mask: { width: number; height: number; data: Uint8Array };
}

const ALL_DEFECTS: DefectKind[] = ['scratch', 'blob', 'crack'];

function validate(spec: TextureSpec): void {
  const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
  if (!int(spec.normals, 0) || !int(spec.anomalies, 0)) throw new UserError(`synthetic textures: normals and anomalies must be whole numbers ≥ 0, got ${spec.normals} and ${spec.anomalies}`);
  if (!int(spec.size, 8) || spec.size > 4096) throw new UserError(`synthetic textures: size must be a whole number in 8..4096, got ${spec.size}`);
  if (spec.channels !== 1 && spec.channels !== 3) throw new UserError(`synthetic textures: channels must be 1 or 3, got ${spec.channels}`);
  if (!Number.isFinite(spec.seed)) throw new UserError(`synthetic textures: seed must be a number, got ${spec.seed}`);
  if (spec.defects !== undefined) {
    if (spec.defects.length === 0) throw new UserError('synthetic textures: defects is empty', { hint: "list at least one of 'scratch', 'blob', 'crack', or leave it out" });
    const bad = spec.defects.filter((d) => !ALL_DEFECTS.includes(d));
    if (bad.length) throw new UserError(`synthetic textures: unknown defect kind ${bad.map((d) => `'${d}'`).join(', ')}`, { hint: "use 'scratch', 'blob' or 'crack'" });
  }
}

export function syntheticTextures(spec: TextureSpec): TextureItem[] {
  validate(spec);
  const out: TextureItem[] = [];
  for (let k = 0; k < spec.normals + spec.anomalies; k++) out.push(syntheticTexture(spec, k));
  return out;
}

/** Item `index` of the set: index < normals → normal/<index>, else anomalous/<index − normals>. */
export function syntheticTexture(spec: TextureSpec, index: number): TextureItem {
  validate(spec);
  const total = spec.normals + spec.anomalies;
  if (!Number.isInteger(index) || index < 0 || index >= total) throw new UserError(`synthetic textures: item ${index} is outside 0..${total - 1}`);
  const anomalous = index >= spec.normals;
  const j = anomalous ? index - spec.normals : index;
  const id = `${anomalous ? 'anomalous' : 'normal'}/${String(j).padStart(3, '0')}`;
  const defects = spec.defects ?? ALL_DEFECTS;
  const cls: TextureItem['cls'] = anomalous ? defects[j % defects.length] : 'normal';

  const n = spec.size;
  const root = new Prng(`synthetic-textures/${spec.seed}/${id}`);
  // Separate streams: the surface of an item does not depend on whether or which defect it gets.
  const rSurface = root.fork('surface');
  const rNoise = root.fork('noise');
  const rDefect = root.fork('defect');

  const gray = surface(rSurface, rNoise, n);
  const mask = new Uint8Array(n * n);
  if (anomalous) implant(cls as DefectKind, rDefect, gray, mask, n);

  const c = spec.channels;
  const data = new Uint8Array(n * n * c);
  // Colour: the same gray with a slight per-item tint per channel; the defect shows in every channel.
  const tint = c === 3 ? [0, 1, 2].map(() => (rSurface.uniform() - 0.5) * 16) : [0];
  for (let i = 0; i < n * n; i++) for (let ch = 0; ch < c; ch++) data[i * c + ch] = clampByte(gray[i] + tint[ch]);
  return { id, cls, anomalous, image: { width: n, height: n, channels: c, data }, mask: { width: n, height: n, data: mask } };
}

function clampByte(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

/** Base level 95..160, four sinusoids of 1–5 cycles per image with amplitude 3–9 each, noise σ 3. */
function surface(r: Prng, noise: Prng, n: number): Float64Array {
  const base = 95 + r.uniform() * 65;
  const waves = Array.from({ length: 4 }, () => {
    const theta = r.uniform() * Math.PI;
    const f = ((1 + r.uniform() * 4) * 2 * Math.PI) / n;
    return { kx: f * Math.cos(theta), ky: f * Math.sin(theta), phase: r.uniform() * 2 * Math.PI, amp: 3 + r.uniform() * 6 };
  });
  const out = new Float64Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      let v = base;
      for (const w of waves) v += w.amp * Math.sin(w.kx * x + w.ky * y + w.phase);
      out[y * n + x] = v + noise.normal() * 3;
    }
  }
  return out;
}

/** Shift the defect's pixels by `delta` and mark them; the background stays as it was elsewhere. */
function implant(kind: DefectKind, r: Prng, gray: Float64Array, mask: Uint8Array, n: number): void {
  const shape = new Uint8Array(n * n);
  let delta: number;
  if (kind === 'scratch') {
    drawScratch(r, shape, n);
    delta = (r.uniform() < 0.5 ? 1 : -1) * (60 + r.uniform() * 30);
  } else if (kind === 'blob') {
    drawBlob(r, shape, n);
    delta = -(55 + r.uniform() * 30);
  } else {
    drawCrack(r, shape, n);
    delta = -(65 + r.uniform() * 25);
  }
  for (let i = 0; i < n * n; i++) {
    if (!shape[i]) continue;
    gray[i] += delta;
    mask[i] = 1;
  }
}

/** Mark pixels whose centre lies within `halfWidth` of segment (x0,y0)–(x1,y1). */
function stampSegment(shape: Uint8Array, n: number, x0: number, y0: number, x1: number, y1: number, halfWidth: number): void {
  const minX = Math.max(0, Math.floor(Math.min(x0, x1) - halfWidth));
  const maxX = Math.min(n - 1, Math.ceil(Math.max(x0, x1) + halfWidth));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1) - halfWidth));
  const maxY = Math.min(n - 1, Math.ceil(Math.max(y0, y1) + halfWidth));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  for (let y = minY; y <= maxY; y++) {
    for (let x = minX; x <= maxX; x++) {
      const t = len2 > 0 ? Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / len2)) : 0;
      const ex = x0 + t * dx - x;
      const ey = y0 + t * dy - y;
      if (ex * ex + ey * ey <= halfWidth * halfWidth) shape[y * n + x] = 1;
    }
  }
}

/** A straight, thin line across 30–60% of the image, starting in its central half. */
function drawScratch(r: Prng, shape: Uint8Array, n: number): void {
  const x0 = n * (0.25 + r.uniform() * 0.5);
  const y0 = n * (0.25 + r.uniform() * 0.5);
  const theta = r.uniform() * 2 * Math.PI;
  const len = n * (0.3 + r.uniform() * 0.3);
  const halfWidth = Math.max(0.75, n / 64) * (0.8 + r.uniform() * 0.6);
  stampSegment(shape, n, x0, y0, x0 + len * Math.cos(theta), y0 + len * Math.sin(theta), halfWidth);
}

/** An irregular ellipse (radius modulated by two harmonics) of radius 8–15% of the side. */
function drawBlob(r: Prng, shape: Uint8Array, n: number): void {
  const cx = n * (0.25 + r.uniform() * 0.5);
  const cy = n * (0.25 + r.uniform() * 0.5);
  const ra = Math.max(1.5, n * (0.08 + r.uniform() * 0.07));
  const rb = ra * (0.6 + r.uniform() * 0.4);
  const rot = r.uniform() * Math.PI;
  const h2 = { a: r.uniform() * 0.15, p: r.uniform() * 2 * Math.PI };
  const h3 = { a: r.uniform() * 0.12, p: r.uniform() * 2 * Math.PI };
  const reach = Math.ceil(ra * 1.3) + 1;
  for (let y = Math.max(0, Math.floor(cy - reach)); y <= Math.min(n - 1, Math.ceil(cy + reach)); y++) {
    for (let x = Math.max(0, Math.floor(cx - reach)); x <= Math.min(n - 1, Math.ceil(cx + reach)); x++) {
      const dx = x - cx;
      const dy = y - cy;
      const u = dx * Math.cos(rot) + dy * Math.sin(rot);
      const v = -dx * Math.sin(rot) + dy * Math.cos(rot);
      const phi = Math.atan2(v, u);
      const wobble = 1 + h2.a * Math.sin(2 * phi + h2.p) + h3.a * Math.sin(3 * phi + h3.p);
      if ((u / ra) ** 2 + (v / rb) ** 2 <= wobble * wobble) shape[y * n + x] = 1;
    }
  }
  shape[Math.floor(cy) * n + Math.floor(cx)] = 1; // never empty, even at the smallest size
}

/** A jagged random walk (with one side branch) of 1-px-wide segments. */
function drawCrack(r: Prng, shape: Uint8Array, n: number): void {
  const halfWidth = Math.max(0.6, n / 96);
  const walk = (x: number, y: number, theta: number, steps: number, depth: number): void => {
    const seg = Math.max(1.5, n / 24);
    for (let s = 0; s < steps; s++) {
      theta += (r.uniform() - 0.5) * 1.2;
      const nx = x + seg * Math.cos(theta);
      const ny = y + seg * Math.sin(theta);
      stampSegment(shape, n, x, y, nx, ny, halfWidth);
      x = nx;
      y = ny;
      if (x < 0 || y < 0 || x >= n || y >= n) return;
      if (depth === 0 && s === Math.floor(steps / 2)) walk(x, y, theta + (r.uniform() < 0.5 ? 1 : -1) * (0.6 + r.uniform() * 0.6), Math.ceil(steps / 2), 1);
    }
  };
  walk(n * (0.3 + r.uniform() * 0.4), n * (0.3 + r.uniform() * 0.4), r.uniform() * 2 * Math.PI, 8 + r.int(6), 0);
}
