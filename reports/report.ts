/**
 * A study's report: its tables (per-cell summary beside the paper's numbers, per-trial results
 * with the checkpoint each training kept, the saved SQL) and figures (ROC and semi-log ROC,
 * training curves, score histograms per class, anomaly maps over scenes), built from the catalog
 * and store alone.
 */
import type { Catalog } from '../infra/catalog.js';
import type { ArtifactStore } from '../infra/store/store.js';
import type { ReportSpec } from '../experiments/spec.js';
import { perClassRocAuc, rocAuc, rocCurve } from '../evaluation/roc.js';
import { aupro, labelRegions, pixelRocAuc } from '../evaluation/regions.js';
import { METRIC_SIDE, metricMaps } from './image-maps.js';
import { bestReconstructions, reconstructionGridPng, reconstructionMaps, type ReconstructionGrid } from './reconstructions.js';
import { detectorFor } from '../models/registry.js';
import { classScores, loadReportData, patchScores, sceneScores, type ItemPatches, trialCurves, trialScores, type CellData, type ReportData, type TrialData } from './data.js';
import { curvesSpec, histogramBars, histogramSpec, imageMapsPng, pointsSpec, renderSpec, rocSpec, sceneMapPng, type CurvePoint, type Figure, type ImageMapEntry } from './plots.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readableRecord } from '../infra/ledger.js';
import { getVerified } from '../infra/store/store.js';
import { decodeNd } from '../datasets/tensor-file.js';
import { recordArtifacts, screenedItems } from '../activities/record.js';
import { QUERIES, sql } from './queries.js';
import { compareStudy, type CompareReport } from './compare.js';
import { DEFAULT_RESAMPLES, mean, sampleStd } from '../evaluation/statistics.js';
import { isUserError, oneLine } from '../core/errors.js';

export type TableValue = string | number | null;

export interface Table {
  name: string;
  title: string;
  columns: string[];
  rows: TableValue[][];
  notes: string[];
}

export interface Report {
  study: ReportData['study'];
  storeUrl: string;
  generatedAt: string;
  /** Trials the catalog holds / trials the study has. */
  recorded: number;
  planned: number;
  protocol: string[];
  paperSource?: string;
  tables: Table[];
  figures: Figure[];
  /** The saved SQL, for the appendix. */
  queries: Record<string, string>;
}

/** A figure before rendering: a Vega-Lite spec, or a scene's map. Rendering waits until the catalog is closed. */
export interface PendingFigure extends Omit<Figure, 'png' | 'svg'> {
  map?: { values: Float64Array; labels: Uint8Array; rows: number; cols: number };
  images?: { entries: ImageMapEntry[]; lo: number; hi: number };
  reconstructions?: ReconstructionGrid;
}

/** A report whose figures are not rendered yet (what is read from the catalog). */
export interface ReportDraft extends Omit<Report, 'figures'> {
  figures: PendingFigure[];
}

export interface ReportOptions {
  /** The study spec's report section (paper numbers, protocol notes), when the spec is at hand. */
  layout?: ReportSpec;
  /** At most this many cells in the figures (the best by the ranking metric). */
  maxCells?: number;
  /** Skip the figures (tables only: csv). */
  figures?: boolean;
  /** Where the study's relative dataset paths start (maps over images read the images and masks there). */
  dataRoot?: string;
}

/** Mean and sample standard deviation (none for one value). */
function meanStd(v: number[]): { mean: number; std: number | null } {
  return { mean: mean(v), std: v.length < 2 ? null : sampleStd(v) };
}

export const fmt = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));

function done(c: CellData): TrialData[] {
  return c.trials.filter((t) => t.status === 'done');
}

function paperValue(layout: ReportSpec | undefined, c: CellData, metric: string): { value: number; std?: number; note?: string } | undefined {
  const rows = layout?.paper?.rows ?? [];
  return rows.find((r) => r.metric === metric && r.block !== undefined && r.block === c.block) ?? rows.find((r) => r.metric === metric && r.block === undefined && r.model === c.model);
}

/**
 * Paired comparisons of the ranking metric over matched seeds (reports/compare.ts): every pair of
 * cells for small grids, the best cell against each other one for larger ones.
 */
async function comparisons(catalog: Catalog, data: ReportData): Promise<CompareReport | string> {
  if (data.cells.length < 2) return 'one cell: nothing to compare';
  const cells = data.cells.length > 6 ? [data.cells[0].id] : [];
  try {
    return await compareStudy(catalog, { study: data.study.study, cells, metric: data.rankBy, alpha: 0.05, test: 'auto', resamples: DEFAULT_RESAMPLES });
  } catch (e) {
    if (isUserError(e)) return `no comparison: ${oneLine(e)}`;
    throw e;
  }
}

function comparisonTable(cmp: CompareReport | string): Table {
  const columns = ['a', 'b', 'pairs', 'mean diff (a − b)', '95 % CI', 'rank-biserial', 'test', 'p', 'p (Holm)', 'holds'];
  if (typeof cmp === 'string') return { name: 'comparisons', title: 'Paired comparisons', columns, rows: [], notes: [cmp] };
  const rows = cmp.pairs.map((r) => [r.a, r.b, r.pairs, fmt(r.mean_diff, 4), r.diff_ci95_low === null ? '' : `[${fmt(r.diff_ci95_low, 4)}, ${fmt(r.diff_ci95_high, 4)}]`, fmt(r.rank_biserial, 2), r.test ?? '', fmt(r.p, 4), fmt(r.p_holm, 4), r.holds]);
  return { name: 'comparisons', title: `Paired comparisons of ${cmp.metric}`, columns, rows, notes: [cmp.legend, ...cmp.notes] };
}

function summaryTable(data: ReportData, layout: ReportSpec | undefined, cmp?: CompareReport | string): Table {
  const metrics = data.metrics.filter((m) => !m.includes('/')).slice(0, 6);
  const paperMetrics = metrics.filter((m) => data.cells.some((c) => paperValue(layout, c, m)));
  // The ranking metric's bootstrap CI, from the comparison's per-cell summaries.
  const ci = new Map(typeof cmp === 'object' ? cmp.cells.map((c) => [c.id, c]) : []);
  const withCi = ci.size > 0;
  const columns = ['cell', 'model', 'seeds', ...metrics.map((m) => `${m} (mean ± std)`), ...(withCi ? [`${data.rankBy} 95 % CI`] : []), ...paperMetrics.map((m) => `${m}, paper`)];
  const rows = data.cells.map((c) => {
    const ts = done(c);
    const cells: TableValue[] = [c.label, c.model, ts.length];
    for (const m of metrics) {
      const v = ts.map((t) => t.finals[m]).filter((x): x is number => x !== undefined);
      if (!v.length) cells.push('');
      else {
        const { mean, std } = meanStd(v);
        cells.push(std === null ? fmt(mean) : `${fmt(mean)} ± ${fmt(std)}`);
      }
    }
    if (withCi) {
      const r = ci.get(c.id.slice(0, 8));
      cells.push(r && r.ci95_low !== null ? `[${fmt(r.ci95_low)}, ${fmt(r.ci95_high)}]` : '');
    }
    for (const m of paperMetrics) {
      const p = paperValue(layout, c, m);
      cells.push(p ? `${fmt(p.value)}${p.std !== undefined ? ` ± ${fmt(p.std)}` : ''}${p.note ? ` (${p.note})` : ''}` : '');
    }
    return cells;
  });
  const notes = [`Cells ranked by mean ${data.rankBy}; means over the seeds of each cell whose trials finished; std is the sample standard deviation (none for one seed).`];
  if (withCi) notes.push(`The CI is a 95 % percentile bootstrap of the mean over seeds (${DEFAULT_RESAMPLES.toLocaleString('en-US')} seeded resamples; none for one seed; too narrow for very few seeds).`);
  if (paperMetrics.length) notes.push(`"paper" columns: numbers published in ${layout!.paper!.source}, not computed by gantry.`);
  return { name: 'summary', title: 'Results per cell', columns, rows, notes };
}

/** The summary as numbers, one row per cell and metric (the CSV researchers re-plot). */
function summaryLongTable(data: ReportData): Table {
  const rows: TableValue[][] = [];
  for (const c of data.cells) {
    for (const m of data.metrics) {
      const v = done(c).map((t) => t.finals[m]).filter((x): x is number => x !== undefined);
      if (!v.length) continue;
      const { mean, std } = meanStd(v);
      rows.push([c.id, c.label, c.model, m, v.length, mean, std]);
    }
  }
  return { name: 'summary-long', title: 'Every final metric per cell', columns: ['cell_id', 'cell', 'model', 'metric', 'seeds', 'mean', 'std'], rows, notes: [] };
}

/** AUROC of each anomaly class against all normals on the test split, mean over seeds (item studies with classes). */
async function perClassTable(catalog: Catalog, data: ReportData): Promise<Table | undefined> {
  const byCell = new Map<string, Map<string, number[]>>();
  const classes = new Set<string>();
  for (const c of data.cells) {
    const per = new Map<string, number[]>();
    for (const t of done(c)) {
      const s = await classScores(catalog, t);
      if (!s || !s.labels.includes(0) || !s.labels.includes(1)) continue;
      for (const [cls, auc] of Object.entries(perClassRocAuc(s.values, s.labels, s.classes))) {
        classes.add(cls);
        if (!per.has(cls)) per.set(cls, []);
        per.get(cls)!.push(auc);
      }
    }
    byCell.set(c.id, per);
  }
  if (!classes.size) return undefined;
  const order = [...classes].sort();
  const rows = data.cells.map((c) => [c.label, c.model, ...order.map((cls) => {
    const v = byCell.get(c.id)?.get(cls);
    if (!v?.length) return '';
    const { mean, std } = meanStd(v);
    return std === null ? fmt(mean) : `${fmt(mean)} ± ${fmt(std)}`;
  })]);
  return {
    name: 'per-class',
    title: 'AUROC per anomaly class',
    columns: ['cell', 'model', ...order],
    rows,
    notes: ["Each anomaly class's test samples against every normal test sample, from the primary score set, per sample; mean ± std over seeds."],
  };
}

function selectionText(t: TrialData): string {
  const s = t.selection;
  if (!s) return '';
  return `iteration ${s.iteration} by ${s.criterion}${s.value === null ? '' : ` (${s.value.toPrecision(4)})`}`;
}

function trialsTable(data: ReportData): Table {
  const metrics = data.metrics.slice(0, 8);
  const anySelection = data.cells.some((c) => c.trials.some((t) => t.selection));
  const columns = ['trial', 'cell', 'seed', 'status', 'backend', ...metrics, ...(anySelection ? ['checkpoint kept'] : [])];
  const rows: TableValue[][] = [];
  for (const c of data.cells) {
    for (const t of c.trials) {
      rows.push([t.id, c.label, t.seed, t.status === 'failed' && t.error ? `failed: ${t.error.split('\n')[0].slice(0, 80)}` : t.status, t.backend ?? '', ...metrics.map((m) => (t.finals[m] === undefined ? null : t.finals[m])), ...(anySelection ? [selectionText(t)] : [])]);
    }
  }
  const notes = anySelection ? ['"checkpoint kept": the weights that became the model, chosen on the validation split (never the test split), and by what.'] : [];
  const reasons = [...new Set(data.cells.flatMap((c) => c.trials.map((t) => t.selection?.reason).filter((r): r is string => !!r)))];
  for (const r of reasons.slice(0, 3)) notes.push(`Selection: ${r}`);
  return { name: 'trials', title: 'Trials', columns, rows, notes };
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

/** Render the figures: Vega-Lite to SVG and PNG, maps to PNG. Needs no catalog. */
/**
 * Anomaly maps over test images for the best cell cut into patches: its three highest-scoring
 * anomalous images and two highest-scoring normal ones (the worst false alarms), where the
 * dataset's files are at hand.
 */
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

/** At most this many targets get a column of their own. */
const MAX_TARGETS = 12;

/**
 * Per target over a scene (Eide 2018 reports per-target detection): each 8-connected region of
 * anomalous pixels is a target, and its AUROC is its pixels' scores against every normal pixel's.
 * Targets are numbered in raster order of their first pixel; mean over seeds.
 */
async function perTargetTable(catalog: Catalog, cells: CellData[]): Promise<Table | undefined> {
  let sizes: number[] | undefined;
  const rows: TableValue[][] = [];
  for (const c of cells) {
    const per: number[][] = [];
    for (const t of done(c).filter((x) => x.scene)) {
      const s = await sceneScores(catalog, t);
      if (!s) continue;
      const regions = labelRegions(Uint8Array.from(s.labels, (l) => (l === 1 ? 1 : 0)), t.scene!.cols, t.scene!.rows);
      if (regions.count < 2) return undefined;
      sizes ??= regions.sizes;
      const normal: number[] = [];
      for (let i = 0; i < s.labels.length; i++) if (s.labels[i] === 0) normal.push(s.values[i]);
      for (let r = 1; r <= Math.min(regions.count, MAX_TARGETS); r++) {
        const target: number[] = [];
        for (let i = 0; i < regions.labels.length; i++) if (regions.labels[i] === r) target.push(s.values[i]);
        (per[r - 1] ??= []).push(rocAuc([...target, ...normal], [...target.map(() => 1), ...normal.map(() => 0)]));
      }
    }
    if (!per.length) continue;
    rows.push([c.label, c.model, ...per.map((v) => {
      const { mean, std } = meanStd(v);
      return std === null ? fmt(mean) : `${fmt(mean)} ± ${fmt(std)}`;
    })]);
  }
  if (!rows.length || !sizes) return undefined;
  const shown = Math.min(sizes.length, MAX_TARGETS);
  return {
    name: 'per-target',
    title: 'AUROC per target',
    columns: ['cell', 'model', ...sizes.slice(0, shown).map((n, i) => `T${i + 1} (${n} px)`)],
    rows,
    notes: [`Targets: the 8-connected regions of anomalous pixels, numbered in raster order${sizes.length > shown ? ` (the first ${shown} of ${sizes.length})` : ''}; each target's pixels against every normal pixel, mean ± std over seeds.`],
  };
}

/** Where an image trial's files are: the dataset root, each screened item's rel (by item index) and mask, or why they cannot be read. */
async function imageFiles(store: ArtifactStore, t: TrialData, datasetPath: string, dataRoot: string): Promise<{ root: string; rels: string[]; masks: Map<string, string | undefined> } | string> {
  const root = resolve(dataRoot, datasetPath);
  const screen = t.steps.screen ? await readableRecord(store, t.steps.screen) : undefined;
  const items = screen ? (await screenedItems(recordArtifacts(store, screen))).items : [];
  if (!items.length || !existsSync(join(root, items[0].rel))) return `the dataset's files are not at ${root} (pass the study file with --spec, or run the report where the study ran)`;
  return { root, rels: items.map((i) => i.rel), masks: new Map(items.map((i) => [i.rel, i.mask])) };
}

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

/** Pixel AUROC and AUPRO of patch studies from their maps over test images and the masks, mean over seeds. */
async function pixelTable(catalog: Catalog, store: ArtifactStore, cells: CellData[], dataRoot: string): Promise<Table | undefined> {
  const rows: TableValue[][] = [];
  for (const c of cells) {
    const auc: number[] = [];
    const pro: number[] = [];
    for (const t of done(c).filter((x) => (x.patches && x.primarySet) || (x.resized && detectorFor(x.model).reconstruct))) {
      const files = await imageFiles(store, t, (t.patches ?? t.resized)!.datasetPath, dataRoot);
      if (typeof files === 'string') return undefined;
      // Patch studies: each pixel's highest patch score; whole images: a reconstructing model's |x − G(x)|.
      const maps = t.patches ? await metricMaps(await patchScores(catalog, t), files.root, files.masks, t.patches.size) : await reconstructionMaps(store, t, files.root, files.masks, files.rels);
      if (!maps) continue;
      if (!maps.some((m) => Array.prototype.includes.call(m.mask, 1)) || !maps.some((m) => Array.prototype.includes.call(m.mask, 0))) continue;
      auc.push(pixelRocAuc(maps));
      pro.push(aupro(maps, 0.3));
    }
    if (!auc.length) continue;
    const a = meanStd(auc);
    const p = meanStd(pro);
    rows.push([c.label, c.model, auc.length, a.std === null ? fmt(a.mean) : `${fmt(a.mean)} ± ${fmt(a.std)}`, p.std === null ? fmt(p.mean) : `${fmt(p.mean)} ± ${fmt(p.std)}`]);
  }
  if (!rows.length) return undefined;
  return {
    name: 'pixel',
    title: 'Pixel-level metrics over test images',
    columns: ['cell', 'model', 'seeds', 'pixel AUROC', 'AUPRO (FPR ≤ 0.3)'],
    rows,
    notes: [
      `From each test image's map against its mask: for patch studies every pixel takes the highest score of the patches covering it (maps at most ${METRIC_SIDE} px on the long side, nearest neighbour); for models that reconstruct whole images, |x − G(x)| averaged over channels at the model's input size (masks resized to it). AUPRO: the per-region overlap curve up to a false-positive rate of 0.3, normalised (8-connected regions); anomalous images without a mask are left out.`,
    ],
  };
}

export async function finishReport(draft: ReportDraft): Promise<Report> {
  const figures: Figure[] = [];
  for (const f of draft.figures) {
    const { map, images, reconstructions, ...rest } = f;
    if (map) figures.push({ ...rest, png: await sceneMapPng(map.values, map.labels, map.rows, map.cols) });
    else if (reconstructions) figures.push({ ...rest, png: await reconstructionGridPng(reconstructions) });
    else if (images) figures.push({ ...rest, png: await imageMapsPng(images.entries, images.lo, images.hi) });
    else if (f.spec) figures.push({ ...rest, ...(await renderSpec(f.spec)) });
  }
  return { ...draft, figures };
}

/** Everything a report shows, read from the catalog and store (figures not yet rendered). */
export async function collectReport(catalog: Catalog, store: ArtifactStore, study: string, opts: ReportOptions = {}): Promise<ReportDraft> {
  const data = await loadReportData(catalog, store, study);
  const layout = opts.layout;
  const shown = data.cells.slice(0, opts.maxCells ?? 10);
  const figures: PendingFigure[] = [];
  const figureNotes: string[] = [];
  if (opts.figures !== false) {
    figures.push(...(await rocFigures(catalog, shown)), ...(await histogramFigure(catalog, shown)), ...(await curveFigure(catalog, shown)), ...(await sceneFigures(catalog, shown)));
    figures.push(...(await imageMapFigure(catalog, store, shown, opts.dataRoot ?? process.cwd(), figureNotes)));
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
  }
  const cmp = await comparisons(catalog, data);
  const perClass = await perClassTable(catalog, data);
  const pixel = await pixelTable(catalog, store, shown, opts.dataRoot ?? process.cwd());
  const perTarget = await perTargetTable(catalog, shown);
  const protocol = [...(layout?.protocol ?? []), ...figureNotes];
  if (data.cells.length > shown.length) protocol.push(`Figures show the ${shown.length} best of ${data.cells.length} cells by mean ${data.rankBy}; the tables show all.`);
  return {
    study: data.study,
    storeUrl: data.storeUrl,
    generatedAt: new Date().toISOString(),
    recorded: data.cells.reduce((a, c) => a + c.trials.length, 0),
    planned: data.study.trials.length,
    protocol,
    paperSource: layout?.paper?.source,
    tables: [summaryTable(data, layout, cmp), comparisonTable(cmp), ...(perClass ? [perClass] : []), ...(pixel ? [pixel] : []), ...(perTarget ? [perTarget] : []), trialsTable(data), summaryLongTable(data)],
    figures,
    queries: { ...QUERIES },
  };
}
