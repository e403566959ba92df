/**
 * The report's tables: per-cell results beside the paper's numbers, paired comparisons, AUROC per
 * class and per target, pixel-level metrics, every trial with the checkpoint it kept, and every
 * final metric as numbers. Read from the catalog (and, for pixel metrics, the models and images).
 */
import type { Catalog } from '../infra/catalog.js';
import type { ArtifactStore } from '../infra/store/store.js';
import type { ReportSpec } from '../experiments/spec.js';
import { perClassRocAuc, rocAuc } from '../evaluation/roc.js';
import { aupro, labelRegions, pixelRocAuc } from '../evaluation/regions.js';
import { DEFAULT_RESAMPLES, mean, sampleStd } from '../evaluation/statistics.js';
import { isUserError, oneLine } from '../core/errors.js';
import { detectorFor } from '../models/registry.js';
import { classScores, doneTrials as done, patchScores, sceneScores, type CellData, type ReportData, type TrialData } from './data.js';
import { compareStudy, type CompareReport } from './compare.js';
import { imageFiles, METRIC_SIDE, metricMaps } from './image-maps.js';
import { reconstructionMaps } from './reconstructions.js';

export type TableValue = string | number | null;

export interface Table {
  name: string;
  title: string;
  columns: string[];
  rows: TableValue[][];
  notes: string[];
}

/** Mean and sample standard deviation (none for one value). */
export function meanStd(v: number[]): { mean: number; std: number | null } {
  return { mean: mean(v), std: v.length < 2 ? null : sampleStd(v) };
}

export const fmt = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));

function paperValue(layout: ReportSpec | undefined, c: CellData, metric: string): { value: number; std?: number; note?: string } | undefined {
  const rows = layout?.paper?.rows ?? [];
  return rows.find((r) => r.metric === metric && r.block !== undefined && r.block === c.block) ?? rows.find((r) => r.metric === metric && r.block === undefined && r.model === c.model);
}

/**
 * Paired comparisons of the ranking metric over matched seeds (reports/compare.ts): every pair of
 * cells for small grids, the best cell against each other one for larger ones.
 */
export async function comparisons(catalog: Catalog, data: ReportData): Promise<CompareReport | string> {
  if (data.cells.length < 2) return 'one cell: nothing to compare';
  const cells = data.cells.length > 6 ? [data.cells[0].id] : [];
  try {
    return await compareStudy(catalog, { study: data.study.study, cells, metric: data.rankBy, alpha: 0.05, test: 'auto', resamples: DEFAULT_RESAMPLES, labels: new Map(data.cells.map((c) => [c.id, c.label])) });
  } catch (e) {
    if (isUserError(e)) return `no comparison: ${oneLine(e)}`;
    throw e;
  }
}

export function comparisonTable(cmp: CompareReport | string): Table {
  const columns = ['a', 'b', 'pairs', 'mean diff (a − b)', '95 % CI', 'rank-biserial', 'test', 'p', 'p (Holm)', 'holds'];
  if (typeof cmp === 'string') return { name: 'comparisons', title: 'Paired comparisons', columns, rows: [], notes: [cmp] };
  const rows = cmp.pairs.map((r) => [r.a, r.b, r.pairs, fmt(r.mean_diff, 4), r.diff_ci95_low === null ? '' : `[${fmt(r.diff_ci95_low, 4)}, ${fmt(r.diff_ci95_high, 4)}]`, fmt(r.rank_biserial, 2), r.test ?? '', fmt(r.p, 4), fmt(r.p_holm, 4), r.holds]);
  return { name: 'comparisons', title: `Paired comparisons of ${cmp.metric}`, columns, rows, notes: [cmp.legend, ...cmp.notes] };
}

export function summaryTable(data: ReportData, layout: ReportSpec | undefined, cmp?: CompareReport | string): Table {
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
export function summaryLongTable(data: ReportData): Table {
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
export async function perClassTable(catalog: Catalog, data: ReportData): Promise<Table | undefined> {
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

export function trialsTable(data: ReportData): Table {
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

/** At most this many targets get a column of their own. */
const MAX_TARGETS = 12;

/**
 * Per target over a scene (Eide 2018 reports per-target detection): each 8-connected region of
 * anomalous pixels is a target, and its AUROC is its pixels' scores against every normal pixel's.
 * Targets are numbered in raster order of their first pixel; mean over seeds.
 */
export async function perTargetTable(catalog: Catalog, cells: CellData[]): Promise<Table | undefined> {
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

/** Pixel AUROC and AUPRO of patch studies from their maps over test images and the masks, mean over seeds. */
export async function pixelTable(catalog: Catalog, store: ArtifactStore, cells: CellData[], dataRoot: string): Promise<Table | undefined> {
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
