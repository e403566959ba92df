/**
 * Pixel-level metrics of anomaly maps against ground-truth masks: pixel AUROC, and the PRO curve
 * with its normalised area AUPRO (Bergmann et al., 2021; MVTec AD's evaluation code; anomalib's
 * AUPRO metric). A pixel is flagged when its score is >= the threshold; mask pixels are 1
 * (anomalous) or 0 (normal). Every image's pixels count, flattened, over all images at once.
 *
 * PRO, exactly: the ground-truth regions are the connected components of each image's mask with
 * 8-connectivity (scipy.ndimage.label with a 3×3 structure of ones; cv2's connectivity=8 in
 * anomalib), numbered across images. At a threshold t, FPR(t) is the fraction of all normal
 * pixels flagged, and PRO(t) the mean over regions of the fraction of the region's pixels
 * flagged. The curve has one point per distinct score (tied pixels move together), from (0, 0)
 * at t = +Infinity to (1, 1). AUPRO is its trapezoidal area over FPR ∈ [0, limit] (0.3 by
 * default) divided by limit; when no point falls at FPR = limit exactly, the curve is cut there
 * by linear interpolation of PRO between the last point with FPR ≤ limit and the next one
 * (MVTec AD's `trapezoid(…, x_max)`). anomalib resamples each region's ROC by index before
 * averaging; this is the exact curve that resampling approximates.
 */
import { UserError } from '../core/errors.js';
import { sortScores, splitByLabel } from './inputs.js';
import { mannWhitney } from './roc.js';

export interface AnomalyMap {
  width: number;
  height: number;
  /** width·height scores, row-major. */
  scores: ArrayLike<number>;
  /** width·height ground-truth pixels, 0 or 1, row-major. */
  mask: ArrayLike<number>;
}

/** Checks every map's size and mask values, and counts NaN scores over all of them. */
function checkMaps(maps: readonly AnomalyMap[], what: string): number {
  if (maps.length === 0) throw new UserError(`${what}: no anomaly maps`);
  let total = 0;
  let nan = 0;
  for (const [k, m] of maps.entries()) {
    const n = m.width * m.height;
    if (!Number.isInteger(m.width) || !Number.isInteger(m.height) || m.width < 1 || m.height < 1) throw new UserError(`${what}: map ${k} is ${m.width}×${m.height}`);
    if (m.scores.length !== n) throw new UserError(`${what}: map ${k} is ${m.width}×${m.height} but has ${m.scores.length} scores`);
    if (m.mask.length !== n) throw new UserError(`${what}: map ${k} is ${m.width}×${m.height} but its mask has ${m.mask.length} pixels`);
    for (let i = 0; i < n; i++) {
      const v = m.mask[i];
      if (v !== 0 && v !== 1) throw new UserError(`${what}: map ${k}: mask values must be 0 or 1, found ${v} at pixel ${i}`, { hint: 'binarise the masks first' });
      if (Number.isNaN(m.scores[i])) nan++;
    }
    total += n;
  }
  if (nan > 0) throw new UserError(`${what}: ${nan} of ${total} pixel scores are NaN`, { hint: 'the detector produced NaN scores; check the model and the data for NaN' });
  return total;
}

/** ROC AUC over every pixel of every map (= sklearn's roc_auc_score of the flattened masks and scores). */
export function pixelRocAuc(maps: readonly AnomalyMap[]): number {
  const what = 'pixelRocAuc';
  const total = checkMaps(maps, what);
  const scores = new Float64Array(total);
  const labels = new Uint8Array(total);
  let at = 0;
  for (const m of maps) {
    for (let i = 0; i < m.scores.length; i++, at++) {
      scores[at] = m.scores[i];
      labels[at] = m.mask[i];
    }
  }
  const { pos, neg } = splitByLabel(scores, labels, what, 'both', 'pixel ROC');
  return mannWhitney(pos, neg);
}

export interface Regions {
  /** Per pixel: 0 outside the mask, else the region's number, 1…count in raster order of first pixel. */
  labels: Int32Array;
  count: number;
  /** Pixels per region; sizes[r − 1] is region r's. */
  sizes: number[];
}

/** Connected components of a 0/1 mask with 8-connectivity (scipy.ndimage.label, structure = 3×3 ones). */
export function labelRegions(mask: ArrayLike<number>, width: number, height: number): Regions {
  const n = width * height;
  if (mask.length !== n) throw new UserError(`labelRegions: a ${width}×${height} mask needs ${n} pixels, got ${mask.length}`);
  const labels = new Int32Array(n);
  const sizes: number[] = [];
  const stack = new Int32Array(n);
  for (let start = 0; start < n; start++) {
    if (mask[start] !== 1 || labels[start] !== 0) continue;
    const r = sizes.length + 1;
    let top = 0;
    let size = 0;
    labels[start] = r;
    stack[top++] = start;
    while (top > 0) {
      const p = stack[--top];
      size++;
      const y = (p / width) | 0;
      const x = p - y * width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (mask[q] === 1 && labels[q] === 0) {
            labels[q] = r;
            stack[top++] = q;
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, count: sizes.length, sizes };
}

export interface ProCurve {
  /** Points from the highest threshold down: (0, 0) at +Infinity, one per distinct score, ending at (1, 1). */
  fpr: Float64Array;
  pro: Float64Array;
  thresholds: Float64Array;
  /** Ground-truth regions over all maps. */
  regions: number;
}

/** The exact PRO curve; see the module comment. O(n log n) in the number of pixels. */
export function proCurve(maps: readonly AnomalyMap[]): ProCurve {
  const what = 'proCurve';
  const total = checkMaps(maps, what);
  // Each anomalous pixel adds 1/|its region| to the sum of region overlaps when it is flagged.
  let nAnomalous = 0;
  for (const m of maps) for (let i = 0; i < m.mask.length; i++) nAnomalous += m.mask[i];
  const N = total - nAnomalous;
  const neg = new Float64Array(N);
  const anom = new Float64Array(nAnomalous);
  const weight = new Float64Array(nAnomalous);
  let regions = 0;
  for (let k = 0, q = 0, a = 0; k < maps.length; k++) {
    const m = maps[k];
    const { labels, count, sizes } = labelRegions(m.mask, m.width, m.height);
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] === 0) neg[q++] = m.scores[i];
      else {
        anom[a] = m.scores[i];
        weight[a++] = 1 / sizes[labels[i] - 1];
      }
    }
    regions += count;
  }
  if (regions === 0) throw new UserError(`${what}: no anomalous pixel in any of the ${maps.length} masks; PRO is undefined`);
  if (N === 0) throw new UserError(`${what}: no normal pixel in any of the ${maps.length} masks; the false-positive rate is undefined`);
  sortScores(neg);
  sortScores(anom, weight);

  // At most one point per pixel, plus the start.
  const fpr = new Float64Array(total + 1);
  const pro = new Float64Array(total + 1);
  const thr = new Float64Array(total + 1);
  thr[0] = Infinity;
  let m = 1;
  let i = nAnomalous - 1;
  let j = N - 1;
  // Neumaier-compensated running sum of the overlaps.
  let sum = 0;
  let comp = 0;
  while (i >= 0 || j >= 0) {
    const s = Math.max(i >= 0 ? anom[i] : -Infinity, j >= 0 ? neg[j] : -Infinity);
    for (; i >= 0 && anom[i] === s; i--) {
      const w = weight[i];
      const t = sum + w;
      comp += Math.abs(sum) >= w ? sum - t + w : w - t + sum;
      sum = t;
    }
    while (j >= 0 && neg[j] === s) j--;
    fpr[m] = (N - 1 - j) / N;
    pro[m] = Math.min(1, (sum + comp) / regions);
    thr[m] = s;
    m++;
  }
  return { fpr: fpr.slice(0, m), pro: pro.slice(0, m), thresholds: thr.slice(0, m), regions };
}

/** Normalised area under the PRO curve over FPR ∈ [0, limit]; see the module comment for the cut at limit. */
export function aupro(maps: readonly AnomalyMap[], limit = 0.3): number {
  if (typeof limit !== 'number' || !(limit > 0 && limit <= 1)) throw new UserError(`aupro: the FPR limit must be in (0, 1], got ${limit}`);
  const { fpr, pro } = proCurve(maps);
  let area = 0;
  for (let k = 1; k < fpr.length; k++) {
    const x0 = fpr[k - 1];
    const x1 = fpr[k];
    const y0 = pro[k - 1];
    const y1 = pro[k];
    if (x1 <= limit) {
      area += (x1 - x0) * 0.5 * (y0 + y1);
      continue;
    }
    // x0 ≤ limit < x1: the segment is cut at limit.
    const yl = y0 + ((y1 - y0) * (limit - x0)) / (x1 - x0);
    area += (limit - x0) * 0.5 * (y0 + yl);
    break;
  }
  return area / limit;
}
