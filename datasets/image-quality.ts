/**
 * Image-quality screens for item datasets: sharpness (variance of the Laplacian, low = blurry) and
 * near-duplicate detection (a 64-bit perceptual hash compared by Hamming distance). Pure compute.
 */
import { UserError } from '../core/errors.js';

/**
 * A decoded image, row-major HWC interleaved: data[(y*width + x)*channels + c].
 * Value ranges: Uint8Array 0..255, Uint16Array 0..65535, Float32Array 0..1.
 */
export type Pixels = { width: number; height: number; channels: number; data: Uint8Array | Uint16Array | Float32Array };

/** Factor that maps a sample of this array type onto the 0..255 scale the thresholds are stated in. */
function scaleTo255(data: Pixels['data']): number {
  if (data instanceof Uint8Array) return 1;
  if (data instanceof Uint16Array) return 255 / 65535;
  return 255; // Float32Array: taken as 0..1
}

function checkShape(img: Pixels): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || !Number.isInteger(channels) || width < 1 || height < 1 || channels < 1) {
    throw new UserError(`image has an invalid shape ${width}×${height}×${channels}`);
  }
  if (data.length !== width * height * channels) {
    throw new UserError(`image data has ${data.length} values, expected ${width}×${height}×${channels} = ${width * height * channels}`);
  }
}

/** Luminance as the mean of the channels, on the 0..255 scale, float64. */
function luminance(img: Pixels): Float64Array {
  checkShape(img);
  const { width, height, channels, data } = img;
  const n = width * height;
  const out = new Float64Array(n);
  const k = scaleTo255(data) / channels;
  for (let i = 0, j = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += data[j++];
    out[i] = s * k;
  }
  return out;
}

/**
 * Variance of the 3×3 Laplacian (0 1 0 / 1 -4 1 / 0 1 0) of the luminance (mean of channels,
 * on 0..255; uint16 scaled by 255/65535, float32 taken as 0..1 and scaled by 255), over interior
 * pixels only (no padding, so borders add no artificial edges). Population variance (÷N).
 * Low = blurry. UserError when the image has no interior pixel (a side under 3).
 */
export function laplacianVariance(img: Pixels): number {
  const lum = luminance(img);
  const { width: w, height: h } = img;
  if (w < 3 || h < 3) throw new UserError(`image ${w}×${h} is too small for a sharpness measure (needs at least 3×3)`);
  const n = (w - 2) * (h - 2);
  const lap = new Float64Array(n);
  let k = 0;
  let sum = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const v = lum[i - w] + lum[i + w] + lum[i - 1] + lum[i + 1] - 4 * lum[i];
      lap[k++] = v;
      sum += v;
    }
  }
  // Two passes: the one-pass formula loses precision on large, sharp images.
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (lap[i] - mean) * (lap[i] - mean);
  return ss / n;
}

/**
 * Area-average a w×h plane onto tw×th: each output cell is the mean of the source area it covers,
 * with fractional pixel coverage at cell edges, so the thumbnail does not depend on which pixels a
 * nearest-neighbour sampler happens to hit. Works when upsampling too. Separable: rows, then columns.
 */
function areaResize(src: Float64Array, w: number, h: number, tw: number, th: number): Float64Array {
  const wx = axisWeights(w, tw);
  const wy = axisWeights(h, th);
  const tmp = new Float64Array(h * tw);
  for (let y = 0; y < h; y++) {
    for (let o = 0; o < tw; o++) {
      let s = 0;
      for (const [x, wt] of wx[o]) s += src[y * w + x] * wt;
      tmp[y * tw + o] = s;
    }
  }
  const out = new Float64Array(th * tw);
  for (let o = 0; o < th; o++) {
    for (let x = 0; x < tw; x++) {
      let s = 0;
      for (const [y, wt] of wy[o]) s += tmp[y * tw + x] * wt;
      out[o * tw + x] = s;
    }
  }
  return out;
}

/** For each of `m` output cells, the source indices it overlaps and normalised overlap weights. */
function axisWeights(n: number, m: number): [number, number][][] {
  const step = n / m;
  const cells: [number, number][][] = [];
  for (let o = 0; o < m; o++) {
    const a = o * step;
    const b = (o + 1) * step;
    const cell: [number, number][] = [];
    for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
      const overlap = Math.min(b, i + 1) - Math.max(a, i);
      if (overlap > 0) cell.push([i, overlap / step]);
    }
    cells.push(cell);
  }
  return cells;
}

/**
 * 64-bit difference hash (dHash) as 16 lowercase hex digits. The luminance is area-averaged onto a
 * 9×8 thumbnail; bit (r, c) for r, c in 0..7 is 1 when thumbnail[r][c+1] > thumbnail[r][c]
 * (brighter to the right). Bits are taken row by row, the first bit being the most significant
 * of the first hex digit. Insensitive to uniform brightness/contrast changes and to resizing;
 * a constant image hashes to all zeros.
 */
export function perceptualHash(img: Pixels): string {
  const lum = luminance(img);
  const t = areaResize(lum, img.width, img.height, 9, 8);
  let hex = '';
  let nibble = 0;
  let bits = 0;
  for (let r = 0; r < 8; r++) {
    for (let c = 0; c < 8; c++) {
      // A tolerance so float rounding in the resize cannot turn equal cells into a difference.
      const bit = t[r * 9 + c + 1] - t[r * 9 + c] > 1e-9 ? 1 : 0;
      nibble = (nibble << 1) | bit;
      if (++bits === 4) {
        hex += nibble.toString(16);
        nibble = 0;
        bits = 0;
      }
    }
  }
  return hex;
}

const HEX64 = /^[0-9a-fA-F]{16}$/;

/** The hash as two uint32 words (high, low). */
function parseHash(h: string): [number, number] {
  if (!HEX64.test(h)) throw new UserError(`'${h}' is not a 64-bit perceptual hash (16 hex digits)`);
  return [parseInt(h.slice(0, 8), 16) >>> 0, parseInt(h.slice(8), 16) >>> 0];
}

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Number of differing bits between two 16-hex-digit hashes (0..64). */
export function hammingDistance(a: string, b: string): number {
  const [ah, al] = parseHash(a);
  const [bh, bl] = parseHash(b);
  return popcount32((ah ^ bh) >>> 0) + popcount32((al ^ bl) >>> 0);
}

/**
 * Near-duplicates, greedily in input order: an item is compared with the earlier items that were
 * kept (not themselves reported); if one is within `maxDistance` bits it is reported with the
 * nearest such item's id (ties: the earliest). So every `duplicateOf` is a kept item, the kept
 * items are pairwise more than `maxDistance` apart, and chains (a≈b≈c, a≉c) keep a and c.
 * O(n × kept).
 */
export function findNearDuplicates(hashes: readonly { id: string; hash: string }[], maxDistance: number): { id: string; duplicateOf: string; distance: number }[] {
  if (!(maxDistance >= 0)) throw new UserError(`near-duplicate distance must be ≥ 0, got ${maxDistance}`);
  const keptHi: number[] = [];
  const keptLo: number[] = [];
  const keptId: string[] = [];
  const out: { id: string; duplicateOf: string; distance: number }[] = [];
  for (const { id, hash } of hashes) {
    const [hi, lo] = parseHash(hash);
    let best = -1;
    let bestD = Infinity;
    for (let k = 0; k < keptId.length; k++) {
      const d = popcount32((hi ^ keptHi[k]) >>> 0) + popcount32((lo ^ keptLo[k]) >>> 0);
      if (d < bestD) {
        bestD = d;
        best = k;
        if (d === 0) break;
      }
    }
    if (best >= 0 && bestD <= maxDistance) {
      out.push({ id, duplicateOf: keptId[best], distance: bestD });
    } else {
      keptHi.push(hi);
      keptLo.push(lo);
      keptId.push(id);
    }
  }
  return out;
}
