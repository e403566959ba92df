/**
 * The report's figures, read from the catalog and store and rendered once it is closed: ROC and
 * semi-log ROC, training curves, score histograms, maps over scenes and over images, 2-D samples
 * by score, reconstruction grids.
 */
import type { Catalog } from '../infra/catalog.js';
import { getVerified, type ArtifactStore } from '../infra/store/store.js';
import { readableRecord } from '../infra/ledger.js';
import { decodeNd } from '../datasets/tensor-file.js';
import { rocCurve } from '../evaluation/roc.js';
import { doneTrials as done, patchScores, sceneScores, trialCurves, trialScores, type CellData } from './data.js';
import { curvesSpec, histogramBars, histogramSpec, imageMapsPng, pointsSpec, renderSpec, rocSpec, sceneMapPng, type CurvePoint, type Figure, type ImageMapEntry } from './plots.js';
import { imageFiles } from './image-maps.js';
import { bestReconstructions, reconstructionGridPng, type ReconstructionGrid } from './reconstructions.js';
import { QUERIES, sql } from './queries.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** A figure before rendering: a Vega-Lite spec, a scene's map, maps over images or a reconstruction grid. Rendering waits until the catalog is closed. */
export interface PendingFigure extends Omit<Figure, 'png' | 'svg'> {
  map?: { values: Float64Array; labels: Uint8Array; rows: number; cols: number };
  images?: { entries: ImageMapEntry[]; lo: number; hi: number };
  reconstructions?: ReconstructionGrid;
}

async function rocFigures(catalog: Catalog, cells: CellData[]): Promise<PendingFigure[]> {
  const points: CurvePoint[] = [];
  const log: CurvePoint[] = [];
  let floor = 1;
  for (const c of cells) {
    for (const t of done(c)) {
      const s = await trialScores(catalog, t);
      if (!s || !s.labels.includes(0) || !s.labels.includes(1)) continue;
      const curve = rocCurve(s.values, s.labels, 300);
      const negatives = s.labels.length - s.labels.reduce((a, b) => a + b, 0);
      // Eide's floor: a threshold with no false positive counts as half of one.
      const l = 0.5 / negatives;
      floor = Math.min(floor, l);
      const series = `${c.label} / seed ${t.seed}`;
      for (let i = 0; i < curve.fpr.length; i++) {
        points.push({ series, cell: c.label, x: curve.fpr[i], y: curve.tpr[i] });
        log.push({ series, cell: c.label, x: Math.max(l, curve.fpr[i]), y: curve.tpr[i] });
      }
    }
  }
  if (!points.length) return [];
  const title = 'ROC on the test split';
  const domain = cells.map((c) => c.label);
  const linear = rocSpec(points, { title, cells: domain });
  const semilog = rocSpec(log, { title: 'Semi-log ROC on the test split', logX: true, xFloor: floor, cells: domain });
  return [
    { name: 'roc', title, caption: 'One line per trial (seed), coloured by cell, from the primary score set; dashed: chance.', spec: linear },
    {
      name: 'roc-semilog',
      title: 'Semi-log ROC',
      caption: "The same curves over a log false-positive axis (Eide 2018): the low false-alarm region detection lives in. A threshold with no false positive is drawn at half a false positive (0.5 / negatives).",
      spec: semilog,
    },
  ];
}

async function curveFigure(catalog: Catalog, cells: CellData[]): Promise<PendingFigure[]> {
  const points: (CurvePoint & { metric: string })[] = [];
  for (const c of cells) {
    for (const t of c.trials) {
      for (const [metric, pts] of await trialCurves(catalog, t.id)) {
        for (const p of pts) if (Number.isFinite(p.value)) points.push({ metric, series: `${c.label} / seed ${t.seed}`, cell: c.label, x: p.step, y: p.value });
      }
    }
  }
  if (!points.length) return [];
  const spec = curvesSpec(points, 'Training and validation curves', cells.map((c) => c.label));
  return [{ name: 'curves', title: 'Training and validation curves', caption: 'Every logged loss and validation metric per trial (at most 400 points each, evenly thinned), coloured by cell.', spec }];
}

async function histogramFigure(catalog: Catalog, cells: CellData[]): Promise<PendingFigure[]> {
  const bars = [];
  for (const c of cells.slice(0, 8)) {
    const t = done(c)[0];
    const s = t && (await trialScores(catalog, t));
    if (s) bars.push(...histogramBars(`${c.label} (seed ${t.seed})`, s.values, s.labels));
  }
  if (!bars.length) return [];
  const spec = histogramSpec(bars, 'Scores per class on the test split');
  return [{ name: 'histograms', title: 'Score histograms', caption: "The primary score of each cell's first seed, normal against anomalous samples, each class normalised to sum to 1 (classes are far from balanced).", spec }];
}

async function sceneFigures(catalog: Catalog, cells: CellData[]): Promise<PendingFigure[]> {
  const out: PendingFigure[] = [];
  for (const [i, c] of cells.slice(0, 4).entries()) {
    const t = done(c).find((x) => x.scene);
    const s = t && (await sceneScores(catalog, t));
    if (!t || !s) continue;
    out.push({
      name: `map-${i + 1}`,
      title: `Anomaly map: ${c.label}, seed ${t.seed}`,
      caption: `Left: the primary score per pixel (viridis, scaled over the scene for display only); right: the ground truth (white anomalous, grey ambiguous, black normal). ${t.scene!.rows}×${t.scene!.cols} pixels.`,
      map: { values: s.values, labels: s.labels, rows: t.scene!.rows, cols: t.scene!.cols },
    });
  }
  return out;
}

/** 2-D data (points): the best cell's first seed, every sample coloured by its primary score. */
async function pointsFigure(catalog: Catalog, store: ArtifactStore, cells: CellData[]): Promise<PendingFigure[]> {
  for (const c of cells) {
    const t = done(c).find((x) => x.points && x.primarySet);
    if (!t) continue;
    const rec = await readableRecord(store, t.points!);
    if (!rec?.artifacts.samples) continue;
    const xy = decodeNd(await getVerified(store, rec.artifacts.samples), 'samples').data as Float32Array;
    const r = await catalog.query(sql(QUERIES.sceneScores, t.id, t.primarySet!));
    const points = (r.rows as [number, number, number][]).map(([i, score, label]) => ({ x: xy[2 * i], y: xy[2 * i + 1], score, cls: (['normal', 'anomalous', 'ambiguous'] as const)[label] ?? 'ambiguous' }));
    if (!points.length) continue;
    const spec = pointsSpec(points, `Samples by score: ${c.label}, seed ${t.seed}`);
    return [{ name: 'points', title: `Samples by score: ${c.label}`, caption: 'Every 2-D sample, coloured by the primary score (higher = more anomalous), shaped by its label: where the detector draws the edge of the normal data.', spec }];
  }
  return [];
}

/**
 * Anomaly maps over test images for the best cell cut into patches: its three highest-scoring
 * anomalous images and two highest-scoring normal ones (the worst false alarms), where the
 * dataset's files are at hand.
 */
async function imageMapFigure(catalog: Catalog, store: ArtifactStore, cells: CellData[], dataRoot: string, notes: string[]): Promise<PendingFigure[]> {
  const c = cells.find((x) => done(x).some((t) => t.patches && t.primarySet));
  const t = c && done(c).find((x) => x.patches && x.primarySet);
  if (!c || !t || !t.patches) return [];
  const items = await patchScores(catalog, t);
  if (!items.length) return [];
  const files = await imageFiles(store, t, t.patches.datasetPath, dataRoot);
  if (typeof files === 'string') {
    notes.push(`No anomaly maps over images: ${files}.`);
    return [];
  }
  const { root, masks } = files;
  const top = (xs: typeof items) => [...xs].sort((a, b) => Math.max(...b.patches.map((p) => p.value)) - Math.max(...a.patches.map((p) => p.value))).slice(0, 3);
  const chosen = [...top(items.filter((i) => i.anomalous)), ...top(items.filter((i) => !i.anomalous)).slice(0, 2)];
  let lo = Infinity;
  let hi = -Infinity;
  for (const it of items) for (const p of it.patches) (lo = Math.min(lo, p.value)), (hi = Math.max(hi, p.value));
  const entries = chosen.map((it) => {
    const mask = masks.get(it.rel);
    return { image: join(root, it.rel), ...(mask && existsSync(join(root, mask)) ? { mask: join(root, mask) } : {}), size: t.patches!.size, patches: it.patches };
  });
  return [
    {
      name: 'image-maps',
      title: `Anomaly maps over test images: ${c.label}, seed ${t.seed}`,
      caption: `Rows: ${chosen.map((i) => `${i.rel} (${i.anomalous ? 'anomalous' : 'normal'})`).join('; ')}. Left: the image; middle: each pixel's highest patch score (${t.patches.size}×${t.patches.size} patches; viridis over the trial's test scores, one scale for all rows); right: the ground-truth mask (white = defect; black where there is none). The first rows are the highest-scoring anomalous images, the last the highest-scoring normal ones (the worst false alarms).`,
      images: { entries, lo, hi },
    },
  ];
}

/** Every figure of a report on these cells (the best first); `notes` gets what could not be drawn, and why. */
export async function reportFigures(catalog: Catalog, store: ArtifactStore, shown: CellData[], dataRoot: string, notes: string[]): Promise<PendingFigure[]> {
  const figures: PendingFigure[] = [];
  figures.push(...(await rocFigures(catalog, shown)), ...(await histogramFigure(catalog, shown)), ...(await curveFigure(catalog, shown)), ...(await sceneFigures(catalog, shown)));
  figures.push(...(await imageMapFigure(catalog, store, shown, dataRoot, notes)));
  figures.push(...(await pointsFigure(catalog, store, shown)));
  const rec = await bestReconstructions(store, shown);
  if (rec) {
    const normals = rec.grid.labels.filter((l) => l === 0).length;
    figures.push({
      name: 'reconstructions',
      title: `Reconstructions: ${rec.cell.label}, seed ${rec.trial.seed}`,
      caption: `The first ${normals} normal and ${rec.grid.labels.length - normals} anomalous test samples (left and right of the wider gap). Rows: the input; the trained model's reconstruction (inference mode, computed again from the stored weights); the absolute difference, black 0 to white the grid's largest. Inputs and reconstructions share one grey scale.`,
      reconstructions: rec.grid,
    });
  }
  return figures;
}

/** Render the figures: Vega-Lite to SVG and PNG, maps and grids to PNG. Needs no catalog. */
export async function renderFigures(pending: PendingFigure[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const f of pending) {
    const { map, images, reconstructions, ...rest } = f;
    if (map) figures.push({ ...rest, png: await sceneMapPng(map.values, map.labels, map.rows, map.cols) });
    else if (reconstructions) figures.push({ ...rest, png: await reconstructionGridPng(reconstructions) });
    else if (images) figures.push({ ...rest, png: await imageMapsPng(images.entries, images.lo, images.hi) });
    else if (f.spec) figures.push({ ...rest, ...(await renderSpec(f.spec)) });
  }
  return figures;
}
