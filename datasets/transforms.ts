/**
 * Image transforms for the seeds' preprocessing: resize (Murase: 256×256), centre crop (224),
 * channel stacking (Murase: [R, G, B, max, mean]), flips and quarter-turn rotations, seeded
 * augmentation, and masked squares (Mammadova: 128×128). All deterministic; anything random takes
 * a Prng. Every function returns a new image and leaves its input alone.
 */
import { UserError } from '../core/errors.js';
import { checkPixels, type Mask, type Pixels } from './patches.js';
import type { Prng } from './prng.js';

type Data = Pixels['data'];

/** A zeroed array of the same element type as `like`. */
function alloc(like: Data, n: number): Data {
  if (like instanceof Uint8Array) return new Uint8Array(n);
  if (like instanceof Uint16Array) return new Uint16Array(n);
  return new Float32Array(n);
}

function checkSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new UserError(`${what} size must be positive integers, got ${width}×${height}`);
  }
}

/** Resampling taps for one axis: output i reads n[i] inputs from start[i] with weights w[i·k …]. */
interface Taps {
  start: Int32Array;
  n: Int32Array;
  w: Float64Array;
  k: number;
}

function taps(inSize: number, outSize: number, antialias: boolean): Taps {
  const scale = inSize / outSize;
  // Antialiased downscaling widens the triangle to cover every input pixel under an output pixel.
  const filterScale = antialias ? Math.max(scale, 1) : 1;
  const support = filterScale;
  const k = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const n = new Int32Array(outSize);
  const w = new Float64Array(outSize * k);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const d = Math.abs((j - centre + 0.5) / filterScale);
      const v = d < 1 ? 1 - d : 0;
      w[i * k + (j - lo)] = v;
      sum += v;
    }
    // Taps outside the image are left out and the rest renormalised: edge pixels are clamped.
    if (sum !== 0) for (let j = 0; j < hi - lo; j++) w[i * k + j] /= sum;
    start[i] = lo;
    n[i] = hi - lo;
  }
  return { start, n, w, k };
}

/**
 * Bilinear resize to width×height; float32 result in the input's units (no rounding or clamping).
 *
 * Sampling convention: half-pixel centres, as PIL, OpenCV and torch (align_corners=False). Output
 * pixel i samples input position (i + 0.5)·in/out − 0.5, interpolating its two nearest input
 * pixels; positions beyond the outermost pixel centres take the edge pixel. Computed separably
 * (horizontal, then vertical) in double.
 *
 * Default (antialias false): that two-tap interpolation at every scale — OpenCV's INTER_LINEAR and
 * torch's antialias=False (up to their fixed-point rounding). It equals PIL's BILINEAR when
 * upscaling. When downscaling PIL widens the triangle filter by the scale factor, so each output
 * averages every input under it; `antialias: true` does the same (the convention of
 * torchvision's Resize on PIL images). At 2× downscaling, plain bilinear averages the 2 nearest
 * inputs per axis, the antialiased one 4 with weights 1/8, 3/8, 3/8, 1/8; beyond 2× plain bilinear
 * skips inputs altogether (aliasing).
 */
export function resizeBilinear(img: Pixels, width: number, height: number, opts: { antialias?: boolean } = {}): Pixels {
  checkPixels(img);
  checkSize(width, height, 'resize');
  if (img.width < 1 || img.height < 1) throw new UserError(`cannot resize an empty ${img.width}×${img.height} image`);
  const antialias = opts.antialias ?? false;
  const { channels: C, data } = img;
  let cur: Float64Array | Data = data;
  let curW = img.width;
  const H = img.height;
  if (width !== img.width) {
    const t = taps(img.width, width, antialias);
    const tmp = new Float64Array(width * H * C);
    for (let y = 0; y < H; y++) {
      const row = y * img.width;
      for (let x = 0; x < width; x++) {
        const s0 = t.start[x];
        const nt = t.n[x];
        const wb = x * t.k;
        const o = (y * width + x) * C;
        for (let c = 0; c < C; c++) {
          let acc = 0;
          for (let j = 0; j < nt; j++) acc += t.w[wb + j] * data[(row + s0 + j) * C + c];
          tmp[o + c] = acc;
        }
      }
    }
    cur = tmp;
    curW = width;
  }
  const out = new Float32Array(width * height * C);
  if (height !== H) {
    const t = taps(H, height, antialias);
    const pitch = curW * C;
    for (let y = 0; y < height; y++) {
      const s0 = t.start[y];
      const nt = t.n[y];
      const wb = y * t.k;
      const o = y * pitch;
      for (let i = 0; i < pitch; i++) {
        let acc = 0;
        for (let j = 0; j < nt; j++) acc += t.w[wb + j] * cur[(s0 + j) * pitch + i];
        out[o + i] = acc;
      }
    }
  } else {
    for (let i = 0; i < out.length; i++) out[i] = cur[i];
  }
  return { width, height, channels: C, data: out };
}

/** Python's round(): halves to the even neighbour. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The central width×height region, same element type. The offset is round((H − h)/2) with halves
 * to even, as torchvision's CenterCrop, so crops match PyTorch pipelines (256 → 224: offset 16).
 */
export function centreCrop(img: Pixels, width: number, height: number): Pixels {
  checkPixels(img);
  checkSize(width, height, 'crop');
  if (width > img.width || height > img.height) {
    throw new UserError(`a ${width}×${height} centre crop does not fit a ${img.width}×${img.height} image`);
  }
  const top = roundHalfEven((img.height - height) / 2);
  const left = roundHalfEven((img.width - width) / 2);
  const C = img.channels;
  const out = alloc(img.data, width * height * C);
  const rowLen = width * C;
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * C;
    out.set(img.data.subarray(s, s + rowLen), y * rowLen);
  }
  return { width, height, channels: C, data: out };
}

export type ChannelName = 'r' | 'g' | 'b' | 'gray' | 'max' | 'mean';

/**
 * Builds a new image from named planes, float32, in the order given (Murase: ['r','g','b','max',
 * 'mean'] for RGB, ['gray','max','mean'] for grayscale). 'r', 'g', 'b' need a 3-channel image;
 * 'gray' is the channel itself on a 1-channel image and 0.299R + 0.587G + 0.114B (ITU-R 601 luma,
 * PIL's convert('L') weights, unrounded) on a 3-channel one; 'max' and 'mean' are over all channels.
 */
export function stackChannels(img: Pixels, which: readonly ChannelName[]): Pixels {
  checkPixels(img);
  if (which.length === 0) throw new UserError('stackChannels: no channels asked for');
  const C = img.channels;
  for (const name of which) {
    if ((name === 'r' || name === 'g' || name === 'b') && C !== 3) {
      throw new UserError(`channel '${name}' needs an RGB image, this one has ${C} channel${C === 1 ? '' : 's'}`, { hint: "use 'gray' for grayscale images" });
    }
    if (name === 'gray' && C !== 1 && C !== 3) throw new UserError(`channel 'gray' needs a 1- or 3-channel image, this one has ${C}`);
    if (!['r', 'g', 'b', 'gray', 'max', 'mean'].includes(name)) throw new UserError(`unknown channel '${name}'`, { hint: 'one of r, g, b, gray, max, mean' });
  }
  const K = which.length;
  const n = img.width * img.height;
  const out = new Float32Array(n * K);
  const src = img.data;
  for (let p = 0; p < n; p++) {
    const s = p * C;
    const o = p * K;
    for (let q = 0; q < K; q++) {
      const name = which[q];
      let v: number;
      if (name === 'r') v = src[s];
      else if (name === 'g') v = src[s + 1];
      else if (name === 'b') v = src[s + 2];
      else if (name === 'gray') v = C === 1 ? src[s] : 0.299 * src[s] + 0.587 * src[s + 1] + 0.114 * src[s + 2];
      else if (name === 'max') {
        v = src[s];
        for (let c = 1; c < C; c++) if (src[s + c] > v) v = src[s + c];
      } else {
        v = 0;
        for (let c = 0; c < C; c++) v += src[s + c];
        v /= C;
      }
      out[o + q] = v;
    }
  }
  return { width: img.width, height: img.height, channels: K, data: out };
}

/** Mirror: 'h' reverses each row (left ↔ right, x → W−1−x), 'v' reverses the rows (top ↔ bottom). */
export function flip(img: Pixels, axis: 'h' | 'v'): Pixels {
  checkPixels(img);
  const { width: W, height: H, channels: C, data } = img;
  const out = alloc(data, data.length);
  const rowLen = W * C;
  if (axis === 'v') {
    for (let y = 0; y < H; y++) out.set(data.subarray((H - 1 - y) * rowLen, (H - y) * rowLen), y * rowLen);
  } else if (axis === 'h') {
    for (let y = 0; y < H; y++) {
      const r = y * rowLen;
      for (let x = 0; x < W; x++) {
        const s = r + (W - 1 - x) * C;
        const o = r + x * C;
        for (let c = 0; c < C; c++) out[o + c] = data[s + c];
      }
    }
  } else {
    throw new UserError(`flip axis must be 'h' or 'v', got '${String(axis)}'`);
  }
  return { width: W, height: H, channels: C, data: out };
}

/**
 * Rotation by k·90° counter-clockwise, as numpy.rot90(a, k) on an (H, W, C) array; k 1 and 3 swap
 * width and height.
 */
export function rotate90(img: Pixels, k: 0 | 1 | 2 | 3): Pixels {
  checkPixels(img);
  if (k !== 0 && k !== 1 && k !== 2 && k !== 3) throw new UserError(`rotate90: k must be 0, 1, 2 or 3, got ${String(k)}`);
  const { width: W, height: H, channels: C, data } = img;
  const out = alloc(data, data.length);
  if (k === 0) {
    out.set(data);
    return { width: W, height: H, channels: C, data: out };
  }
  const oW = k === 2 ? W : H;
  const oH = k === 2 ? H : W;
  for (let y = 0; y < oH; y++) {
    for (let x = 0; x < oW; x++) {
      // Source pixel of output (y, x).
      let sy: number, sx: number;
      if (k === 1) { sy = x; sx = W - 1 - y; }
      else if (k === 2) { sy = H - 1 - y; sx = W - 1 - x; }
      else { sy = H - 1 - x; sx = y; }
      const s = (sy * W + sx) * C;
      const o = (y * oW + x) * C;
      for (let c = 0; c < C; c++) out[o + c] = data[s + c];
    }
  }
  return { width: oW, height: oH, channels: C, data: out };
}

/**
 * A random augmentation: with `flip` on (true = both axes, or 'h' / 'v' for one, as Murase's
 * per-category table), each allowed flip is applied with probability p (default 0.5); with
 * `rotate` on, a counter-clockwise rotation by k·90°, k uniform in 0…3. The draws are always made
 * in the order flip-h, flip-v, rotation, whatever their outcome, so the rng advances by the same
 * amount every call. `op` names what was applied in that order, joined by '+', e.g.
 * 'flip-h+rot90x3', or 'none'.
 */
export function augment(img: Pixels, rng: Prng, opts: { flip?: boolean | 'h' | 'v'; rotate?: boolean; p?: number }): { img: Pixels; op: string } {
  const p = opts.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new UserError(`augment: flip probability must be in [0, 1], got ${p}`);
  const f = opts.flip ?? false;
  const ops: string[] = [];
  let out = img;
  if (f === true || f === 'h') {
    if (rng.uniform() < p) { out = flip(out, 'h'); ops.push('flip-h'); }
  }
  if (f === true || f === 'v') {
    if (rng.uniform() < p) { out = flip(out, 'v'); ops.push('flip-v'); }
  }
  if (opts.rotate) {
    const k = rng.int(4) as 0 | 1 | 2 | 3;
    if (k !== 0) { out = rotate90(out, k); ops.push(`rot90x${k}`); }
  }
  if (out === img) {
    // Always a fresh image, so callers may write into the result.
    checkPixels(img);
    const data = alloc(img.data, img.data.length);
    data.set(img.data);
    out = { width: img.width, height: img.height, channels: img.channels, data };
  }
  return { img: out, op: ops.length ? ops.join('+') : 'none' };
}

/**
 * One size×size square, uniform over the positions that fit (y drawn first, then x), set to `fill`
 * in every channel (in the image's own units, before any scaling; default 0). Returns a copy of
 * the image and the mask of the square (1 inside). Mammadova's masked Skip-GANomaly: 128×128 on
 * 256×256 images.
 */
export function maskRegion(img: Pixels, size: number, rng: Prng, fill = 0): { img: Pixels; mask: Mask } {
  checkPixels(img);
  const { width: W, height: H, channels: C, data } = img;
  if (!Number.isInteger(size) || size < 1) throw new UserError(`mask size must be a positive integer, got ${size}`);
  if (size > W || size > H) throw new UserError(`a ${size}×${size} mask does not fit a ${W}×${H} image`);
  if (data instanceof Uint8Array || data instanceof Uint16Array) {
    const max = data instanceof Uint8Array ? 255 : 65535;
    if (!Number.isInteger(fill) || fill < 0 || fill > max) {
      throw new UserError(`mask fill ${fill} is not a value of this image's type (integers 0…${max})`, { hint: 'convert to float32 first to fill with e.g. −1' });
    }
  }
  const y0 = rng.int(H - size + 1);
  const x0 = rng.int(W - size + 1);
  const out = alloc(data, data.length);
  out.set(data);
  const m = new Uint8Array(W * H);
  for (let y = y0; y < y0 + size; y++) {
    out.fill(fill, (y * W + x0) * C, (y * W + x0 + size) * C);
    m.fill(1, y * W + x0, y * W + x0 + size);
  }
  return { img: { width: W, height: H, channels: C, data: out }, mask: { width: W, height: H, data: m } };
}
