/**
 * The report's figures: Vega-Lite specs built from report data (pure), rendered headless in Node
 * to SVG by Vega and rasterised to PNG by sharp. Maps over scenes are rasters from the start
 * (a 100×100 scene is 10,000 marks as SVG), coloured with viridis by sharp.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import sharp from 'sharp';
import { paintPatchMap } from './image-maps.js';

export interface Figure {
  /** File stem, e.g. 'roc'. */
  name: string;
  title: string;
  /** What the figure shows and how to read it (the caption). */
  caption: string;
  /** The Vega-Lite spec, kept beside the images so a reader can restyle it. */
  spec?: TopLevelSpec;
  svg?: string;
  png: Uint8Array;
}

const CONFIG = {
  font: 'DejaVu Sans',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 900 },
  title: { fontSize: 14, anchor: 'start' as const },
};

/** Render a Vega-Lite spec to SVG and PNG (2× density for crisp raster text). */
export async function renderSpec(spec: TopLevelSpec): Promise<{ svg: string; png: Uint8Array }> {
  const view = new vega.View(vega.parse(compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
    return { svg, png: new Uint8Array(png) };
  } finally {
    view.finalize();
  }
}

/** One colour per cell, the same in every figure (the domain is the report's cell order). */
function cellColor(cells: string[]) {
  return { field: 'cell', type: 'nominal' as const, title: 'cell', scale: { domain: cells, scheme: 'tableau10' }, legend: { orient: 'bottom' as const, columns: 1 } };
}

export interface CurvePoint {
  series: string;
  cell: string;
  x: number;
  y: number;
}

/** ROC curves, one line per trial coloured by cell, with the chance diagonal. */
export function rocSpec(points: CurvePoint[], opts: { logX?: boolean; title: string; xFloor?: number; cells: string[] }): TopLevelSpec {
  const x = opts.logX
    ? { field: 'x', type: 'quantitative' as const, title: 'false-positive rate (log scale)', scale: { type: 'log' as const, domain: [opts.xFloor ?? 1e-4, 1] } }
    : { field: 'x', type: 'quantitative' as const, title: 'false-positive rate', scale: { domain: [0, 1] } };
  // Chance is y = x: a curve on a log axis, so it needs points along it.
  const lo = Math.log10(opts.xFloor ?? 1e-4);
  const chance = opts.logX ? Array.from({ length: 60 }, (_, i) => 10 ** (lo - (lo * i) / 59)).map((v) => ({ x: v, y: v })) : [{ x: 0, y: 0 }, { x: 1, y: 1 }];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    width: 420,
    height: 340,
    layer: [
      { data: { values: chance }, mark: { type: 'line', strokeDash: [4, 4], color: '#999' }, encoding: { x, y: { field: 'y', type: 'quantitative' } } },
      {
        data: { values: points },
        // The points are the curve's vertices (ties make diagonal segments), so straight lines join them.
        mark: { type: 'line', strokeWidth: 1.6, opacity: 0.85 },
        encoding: {
          x,
          y: { field: 'y', type: 'quantitative', title: 'true-positive rate', scale: { domain: [0, 1] } },
          color: cellColor(opts.cells),
          detail: { field: 'series', type: 'nominal' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Training and validation curves: one panel per metric, one line per trial coloured by cell. */
export function curvesSpec(points: (CurvePoint & { metric: string })[], title: string, cells: string[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: points },
    facet: { row: { field: 'metric', type: 'nominal', title: null, header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontSize: 12, labelFontWeight: 'bold' } } },
    spec: {
      width: 460,
      height: 130,
      mark: { type: 'line', strokeWidth: 1.2, opacity: 0.8 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: 'iteration' },
        y: { field: 'y', type: 'quantitative', title: null, scale: { zero: false } },
        color: cellColor(cells),
        detail: { field: 'series', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export interface HistogramBar {
  cell: string;
  cls: 'normal' | 'anomalous';
  lo: number;
  hi: number;
  /** Fraction of the class's samples in the bin (classes are far from balanced). */
  fraction: number;
}

/** Score histograms per class, normalised within each class, one panel per cell. */
export function histogramSpec(bars: HistogramBar[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: bars },
    facet: { row: { field: 'cell', type: 'nominal', title: null, sort: null, header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontSize: 12, labelFontWeight: 'bold', labelLimit: 900 } } },
    spec: {
      width: 460,
      height: 110,
      mark: { type: 'rect', opacity: 0.6 },
      encoding: {
        x: { field: 'lo', type: 'quantitative', title: 'score (higher = more anomalous)' },
        x2: { field: 'hi' },
        y: { field: 'fraction', type: 'quantitative', title: 'fraction of class', stack: null },
        color: { field: 'cls', type: 'nominal', title: 'class', scale: { domain: ['normal', 'anomalous'], range: ['#4c78a8', '#e45756'] } },
      },
    },
    resolve: { scale: { x: 'independent' } },
  } as TopLevelSpec;
}

/** Histogram bars of scores per class over `bins` equal-width bins spanning both classes. */
export function histogramBars(cell: string, values: Float64Array, labels: Uint8Array, bins = 40): HistogramBar[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (!(hi > lo)) hi = lo + 1;
  const width = (hi - lo) / bins;
  const counts = [new Float64Array(bins), new Float64Array(bins)];
  const totals = [0, 0];
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]) || labels[i] > 1) continue;
    counts[labels[i]][Math.min(bins - 1, Math.floor((values[i] - lo) / width))]++;
    totals[labels[i]]++;
  }
  const bars: HistogramBar[] = [];
  for (const c of [0, 1] as const) {
    if (!totals[c]) continue;
    for (let b = 0; b < bins; b++) if (counts[c][b]) bars.push({ cell, cls: c ? 'anomalous' : 'normal', lo: lo + b * width, hi: lo + (b + 1) * width, fraction: counts[c][b] / totals[c] });
  }
  return bars;
}

/** Viridis at 9 stops (matplotlib's), interpolated linearly. */
const VIRIDIS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((k) => Math.round(VIRIDIS[i][k] + f * (VIRIDIS[i + 1][k] - VIRIDIS[i][k]))) as [number, number, number];
}

/**
 * A scene's anomaly map beside its ground truth, as one PNG: scores min–max scaled over the
 * scene for display only (metrics never see this scaling), labels white (anomalous), black
 * (normal) and grey (ambiguous). Upscaled by whole pixels so small scenes stay readable.
 */
export async function sceneMapPng(values: Float64Array, labels: Uint8Array, rows: number, cols: number): Promise<Uint8Array> {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  const span = hi > lo ? hi - lo : 1;
  const gap = 2;
  const width = cols * 2 + gap;
  const raw = new Uint8Array(rows * width * 3).fill(255);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const rgb = Number.isFinite(values[i]) ? viridis((values[i] - lo) / span) : [255, 0, 255];
      raw.set(rgb, (r * width + c) * 3);
      const g = labels[i] === 1 ? 255 : labels[i] === 2 ? 128 : 0;
      raw.set([g, g, g], (r * width + cols + gap + c) * 3);
    }
  }
  const scale = Math.max(1, Math.floor(480 / Math.max(rows, cols)));
  const png = await sharp(raw, { raw: { width, height: rows, channels: 3 } })
    .resize({ width: width * scale, height: rows * scale, kernel: 'nearest' })
    .png()
    .toBuffer();
  return new Uint8Array(png);
}

export interface ImageMapEntry {
  /** The image file and its mask file (absent: no mask). */
  image: string;
  mask?: string;
  /** Patch side and each patch's top-left corner and score. */
  size: number;
  patches: { y: number; x: number; value: number }[];
}

/** Rows of [image | anomaly map | mask] panels, each `height` pixels high, `gap` apart. */
const PANEL_HEIGHT = 180;

/**
 * Anomaly maps over images from patch scores: each pixel takes the highest score of the patches
 * covering it, coloured with viridis between `lo` and `hi` (one scale for every row, so rows
 * compare); beside it the image (grey) and its ground-truth mask (white = defect). Pixels no
 * patch covers are white.
 */
export async function imageMapsPng(entries: ImageMapEntry[], lo: number, hi: number): Promise<Uint8Array> {
  const span = hi > lo ? hi - lo : 1;
  const gap = 6;
  const rows: { panels: Buffer[]; width: number }[] = [];
  for (const e of entries) {
    const img = sharp(e.image).grayscale();
    const { width: w = 0, height: h = 0 } = await img.metadata();
    const heat = paintPatchMap(e.patches, e.size, w, h);
    const rgb = new Uint8Array(w * h * 3).fill(255);
    for (let i = 0; i < w * h; i++) if (heat[i] > -Infinity) rgb.set(viridis((heat[i] - lo) / span), i * 3);
    const scale = PANEL_HEIGHT / h;
    const width = Math.max(1, Math.round(w * scale));
    const fit = (s: ReturnType<typeof sharp>) => s.resize({ width, height: PANEL_HEIGHT, fit: 'fill' }).removeAlpha().toColourspace('srgb').png().toBuffer();
    const mask = e.mask ? fit(sharp(e.mask).grayscale().threshold(1)) : fit(sharp({ create: { width: w, height: h, channels: 3, background: '#000' } }));
    rows.push({ panels: await Promise.all([fit(img.clone()), fit(sharp(rgb, { raw: { width: w, height: h, channels: 3 } })), mask]), width });
  }
  const total = { width: Math.max(...rows.map((r) => r.width * 3 + gap * 2)), height: rows.length * PANEL_HEIGHT + (rows.length - 1) * gap };
  const composite = rows.flatMap((r, i) => r.panels.map((input, k) => ({ input, left: k * (r.width + gap), top: i * (PANEL_HEIGHT + gap) })));
  const png = await sharp({ create: { ...total, channels: 3, background: '#fff' } }).composite(composite).png().toBuffer();
  return new Uint8Array(png);
}

export interface ScoredPoint {
  x: number;
  y: number;
  score: number;
  cls: 'normal' | 'anomalous' | 'ambiguous';
}

/** 2-D samples coloured by score (viridis), shaped by class: where the detector puts its boundary. */
export function pointsSpec(points: ScoredPoint[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: 420,
    data: { values: points },
    mark: { type: 'point', filled: true, size: 28, opacity: 0.85 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'x₁', scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: 'x₂', scale: { zero: false } },
      color: { field: 'score', type: 'quantitative', title: 'score', scale: { scheme: 'viridis' } },
      shape: { field: 'cls', type: 'nominal', title: 'class', scale: { domain: ['normal', 'anomalous', 'ambiguous'], range: ['circle', 'triangle-up', 'square'] } },
    },
  } as TopLevelSpec;
}
