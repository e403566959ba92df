/**
 * `gantry baseline rx <cube>`: the classical hyperspectral baselines on a cube with ground truth,
 * without a study — global RX (the scene's mean and covariance, or the background pixels' only)
 * and local dual-window RX — with AUC and Eide's logAUC over the labelled pixels.
 */
import { extname } from 'node:path';
import { UserError } from '../core/errors.js';
import { labelMap, matCube, readCubeFile, readMap, type Cube } from '../datasets/cube-file.js';
import { readMatFile, type CubeOrder } from '../datasets/mat.js';
import { LABEL } from '../datasets/sample-set.js';
import { fitRx, scoreRx } from '../models/rx/rx.js';
import { localRx } from '../models/rx/local.js';
import { eideRoc, rocAuc } from '../evaluation/roc.js';

export interface RxBaselineOptions {
  variable?: string;
  /** A .mat cube's label variable, or a label file (.mat with `map`, mask image, ENVI/TIFF). */
  labels?: string;
  outer?: string;
  order?: CubeOrder;
  inner?: number;
  window?: number;
  ridge?: number;
  progress?: (done: number, total: number) => void;
}

export interface RxBaselineRow {
  detector: string;
  fit: string;
  auc: number;
  logauc: number;
  seconds: number;
}

export interface RxBaselineReport {
  cube: string;
  rows: number;
  cols: number;
  bands: number;
  anomalous: number;
  ambiguous: number;
  results: RxBaselineRow[];
}

async function labelsFor(path: string, cube: Cube, o: RxBaselineOptions): Promise<Uint8Array> {
  const isMat = extname(path).toLowerCase() === '.mat';
  const load = async (ref: string): Promise<Cube> => {
    if (isMat && !/[./\\]/.test(ref)) {
      const v = (await readMatFile(path)).get(ref);
      if (!v) throw new UserError(`${path}: no label variable '${ref}'`, { hint: 'name it with --labels' });
      return matCube(v, {});
    }
    return readMap(ref, 'map');
  };
  if (!o.labels && !isMat) throw new UserError(`${path}: give the ground truth with --labels <file>`);
  const inner = await load(o.labels ?? 'map');
  const outer = o.outer ? await load(o.outer) : undefined;
  return labelMap(cube, inner, outer, { inner: o.labels ?? "'map'", ...(o.outer ? { outer: o.outer } : {}) });
}

export async function rxBaseline(path: string, o: RxBaselineOptions = {}): Promise<RxBaselineReport> {
  const cube = await readCubeFile(path, { ...(o.variable ? { variable: o.variable } : {}), ...(o.order ? { order: o.order } : {}) });
  const labels = await labelsFor(path, cube, o);
  const { rows, cols, bands } = cube;
  const n = rows * cols;
  const data = Float64Array.from(cube.data);
  const counted = Array.from({ length: n }, (_, i) => i).filter((i) => labels[i] !== LABEL.ambiguous);
  const y = Uint8Array.from(counted, (i) => labels[i]);
  const metrics = (scores: Float64Array) => {
    const s = Float64Array.from(counted, (i) => scores[i]);
    return { auc: rocAuc(s, y), logauc: eideRoc(s, y).logAuc };
  };
  const results: RxBaselineRow[] = [];
  const timed = (detector: string, fit: string, run: () => Float64Array) => {
    const t0 = performance.now();
    const scores = run();
    results.push({ detector, fit, ...metrics(scores), seconds: (performance.now() - t0) / 1000 });
  };
  timed('global RX', 'all pixels', () => scoreRx(fitRx(data, n, bands), data, n, bands));
  const background = Array.from({ length: n }, (_, i) => i).filter((i) => labels[i] === LABEL.normal);
  const bg = new Float64Array(background.length * bands);
  background.forEach((p, k) => bg.set(data.subarray(p * bands, (p + 1) * bands), k * bands));
  timed('global RX', 'background pixels (uses the labels)', () => scoreRx(fitRx(bg, background.length, bands), data, n, bands));
  const inner = o.inner ?? 5;
  const outer = o.window ?? 11;
  timed(`local RX ${inner}/${outer}`, 'each pixel\'s ring', () => localRx(data, rows, cols, bands, { inner, outer, ridge: o.ridge ?? 0.1, ...(o.progress ? { progress: o.progress } : {}) }));
  let anomalous = 0;
  let ambiguous = 0;
  for (const l of labels) {
    if (l === LABEL.anomalous) anomalous++;
    else if (l === LABEL.ambiguous) ambiguous++;
  }
  return { cube: path, rows, cols, bands, anomalous, ambiguous, results };
}
