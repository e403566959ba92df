/**
 * What a study's report shows, gathered from the catalog (the saved SQL of queries.ts) and the
 * store (trial files and step records: grid block names, the primary score set, a scene's size,
 * the checkpoint each training kept). Nothing is recomputed from samples: a report regenerates
 * from the catalog and store alone.
 */
import type { Catalog } from '../infra/catalog.js';
import { readableRecord } from '../infra/ledger.js';
import type { ArtifactStore } from '../infra/store/store.js';
import { readStudyFile, readTrialFile, studyKey, type StudyFile } from '../activities/record.js';
import { UserError } from '../core/errors.js';
import { QUERIES, sql } from './queries.js';

/** The study is in the store but none of its trials is in the catalog yet (a watch waits for one). */
export class NothingRecorded extends UserError {
  constructor(study: string) {
    super(`the catalog holds no trials of '${study}' yet`, { hint: "they are recorded as they finish; for a study run elsewhere, 'gantry catalog rebuild'" });
  }
}

export interface TrialData {
  id: string;
  cellId: string;
  seed: number;
  model: string;
  status: string;
  backend: string | null;
  error: string | null;
  /** Final metrics (evaluate's), by name. */
  finals: Record<string, number>;
  /** The score set whose metrics are the plain names ('auc'), when the trial was scored. */
  primarySet?: string;
  /** Which checkpoint became the model, and why (detectors that select on validation). */
  selection?: { criterion: string; iteration: number; value: number | null; reason: string };
  /** A cube's size, when its samples are its pixels in row-major order (pixel tiling). */
  scene?: { rows: number; cols: number };
  /** Step keys by kind: the split pairs trials in comparisons. */
  steps: Record<string, string>;
  /** 2-D samples (points): the tile step's key, to draw them. */
  points?: string;
  /** Image folders cut into patches: the patch side and the dataset's path as the config has it (maps over images). */
  patches?: { size: number; datasetPath: string };
  /** Image folders resized whole to size × size (no crop): per-pixel maps of reconstructing models. */
  resized?: { size: number; datasetPath: string };
}

export interface CellData {
  id: string;
  /** Grid block and axis values, e.g. 'gan: model.hidden=64'; unique within the report. */
  label: string;
  model: string;
  block?: string;
  trials: TrialData[];
}

export interface ReportData {
  study: StudyFile;
  storeUrl: string;
  cells: CellData[];
  /** Final metric names present, primary ones first. */
  metrics: string[];
  /** The metric cells are ranked by ('auc', else 'image_auc', else the first). */
  rankBy: string;
}

/** The metrics a reader looks for first, in this order; others follow alphabetically. */
const PRIMARY_METRICS = ['auc', 'image_auc', 'logauc', 'ap', 'f1', 'precision', 'recall'];

/** A cell's trials that finished. */
export function doneTrials(c: CellData): TrialData[] {
  return c.trials.filter((t) => t.status === 'done');
}

export function orderMetrics(names: Iterable<string>): string[] {
  const set = new Set(names);
  const first = PRIMARY_METRICS.filter((m) => set.has(m));
  const rest = [...set].filter((m) => !first.includes(m)).sort();
  // A secondary score set's metrics ('critic/auc') after the primary set's.
  return [...first, ...rest.filter((m) => !m.includes('/')), ...rest.filter((m) => m.includes('/'))];
}

/** The study's file in the store; a clear error, naming the studies there, when it has none. */
export async function studyInStore(store: ArtifactStore, study: string): Promise<StudyFile> {
  if (!(await store.exists(studyKey(study)))) {
    const known = (await store.list('studies')).map((k) => k.slice('studies/'.length, -'.json'.length));
    throw new UserError(`no study '${study}' in ${store.url}`, { hint: known.length ? `studies there: ${known.join(', ')}` : 'run one first: gantry run quickstart' });
  }
  return readStudyFile(store, study);
}

export async function loadReportData(catalog: Catalog, store: ArtifactStore, study: string): Promise<ReportData> {
  const file = await studyInStore(store, study);
  const trialRows = (await catalog.query(sql(QUERIES.trials, study))).rows;
  if (!trialRows.length) throw new NothingRecorded(study);
  const finals = new Map<string, Record<string, number>>();
  for (const [id, name, value] of (await catalog.query(sql(QUERIES.finalMetrics, study))).rows as [string, string, number][]) {
    if (!finals.has(id)) finals.set(id, {});
    finals.get(id)![name] = value;
  }
  const cells = new Map<string, CellData>();
  for (const [id, cellId, cellLabel, seed, model, status, backend, error] of trialRows as [string, string, string, number, string, string, string | null, string | null][]) {
    const tf = await readTrialFile(store, id);
    const steps = Object.fromEntries(tf.steps.map((s) => [s.kind, s.key]));
    const trial: TrialData = { id, cellId, seed, model, status, backend, error, finals: finals.get(id) ?? {}, steps };
    const score = steps.score ? await readableRecord(store, steps.score) : undefined;
    const sets = (score?.output as { sets?: string[] } | undefined)?.sets;
    if (sets?.length) trial.primarySet = sets[0];
    const train = steps.train ? await readableRecord(store, steps.train) : undefined;
    const sel = (train?.output as { selection?: TrialData['selection'] } | undefined)?.selection;
    if (sel) trial.selection = sel;
    const tile = steps.tile ? await readableRecord(store, steps.tile) : undefined;
    const out = tile?.output as { n?: number; rows?: number; cols?: number; dim?: number } | undefined;
    if (out?.dim === 2 && steps.tile) trial.points = steps.tile;
    const tiling = (tf.config.tiling as { kind?: string; size?: number } | undefined) ?? {};
    // Pixel tiling keeps every pixel in row-major order, so sample i is pixel (i / cols, i % cols).
    if (out?.rows && out.cols && out.n === out.rows * out.cols && (tiling.kind ?? 'pixel') === 'pixel') trial.scene = { rows: out.rows, cols: out.cols };
    const dataset = tf.config.dataset as { kind?: string; path?: string };
    if (tiling.kind === 'patches' && tiling.size && dataset.kind === 'images' && dataset.path) trial.patches = { size: tiling.size, datasetPath: dataset.path };
    if (tiling.kind === 'resize' && tiling.size && !(tiling as { crop?: number }).crop && dataset.kind === 'images' && dataset.path) trial.resized = { size: tiling.size, datasetPath: dataset.path };
    const block = tf.block;
    const base = cellLabel || '';
    if (!cells.has(cellId)) cells.set(cellId, { id: cellId, label: block ? (base ? `${block}: ${base}` : block) : base || model, model, block, trials: [] });
    cells.get(cellId)!.trials.push(trial);
  }
  const metricNames = orderMetrics([...finals.values()].flatMap((f) => Object.keys(f)));
  const rankBy = ['auc', 'image_auc'].find((m) => metricNames.includes(m)) ?? metricNames[0] ?? 'auc';
  const list = [...cells.values()];
  // Labels must tell cells apart (blocks without axes share one): add the model, then the id.
  for (const c of list) if (list.filter((d) => d.label === c.label).length > 1) c.label = `${c.label} (${c.model})`;
  for (const c of list) if (list.filter((d) => d.label === c.label).length > 1) c.label = `${c.label} [${c.id.slice(0, 6)}]`;
  const mean = (c: CellData) => {
    const v = c.trials.map((t) => t.finals[rankBy]).filter((x) => x !== undefined);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : -Infinity;
  };
  list.sort((a, b) => mean(b) - mean(a) || a.label.localeCompare(b.label));
  for (const c of list) c.trials.sort((a, b) => a.seed - b.seed);
  return { study: file, storeUrl: store.url, cells: list, metrics: metricNames, rankBy };
}

export interface TrialScores {
  values: Float64Array;
  labels: Uint8Array;
}

/** A trial's primary scores on its test split (every sample where there is no split), ambiguous ones left out. */
export async function trialScores(catalog: Catalog, trial: TrialData): Promise<TrialScores | undefined> {
  if (!trial.primarySet) return undefined;
  const r = await catalog.query(sql(QUERIES.testScores, trial.id, trial.primarySet));
  if (!r.rows.length) return undefined;
  const values = new Float64Array(r.rows.length);
  const labels = new Uint8Array(r.rows.length);
  r.rows.forEach((row, i) => {
    values[i] = row[0] as number;
    labels[i] = row[1] as number;
  });
  return { values, labels };
}

/** Every score of a trial's primary set by sample index (for maps over a scene), with labels. */
export async function sceneScores(catalog: Catalog, trial: TrialData): Promise<{ values: Float64Array; labels: Uint8Array } | undefined> {
  if (!trial.primarySet || !trial.scene) return undefined;
  const n = trial.scene.rows * trial.scene.cols;
  const r = await catalog.query(sql(QUERIES.sceneScores, trial.id, trial.primarySet));
  if (r.rows.length !== n) return undefined;
  const values = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (const [sample, value, label] of r.rows as [number, number, number][]) {
    values[sample] = value;
    labels[sample] = label;
  }
  return { values, labels };
}

/** Training and validation curves of a trial: name → points, at most `maxPoints` each (evenly thinned). */
export async function trialCurves(catalog: Catalog, trialId: string, maxPoints = 400): Promise<Map<string, { step: number; value: number }[]>> {
  const r = await catalog.query(sql(QUERIES.curves, trialId));
  const out = new Map<string, { step: number; value: number }[]>();
  for (const [name, step, value] of r.rows as [string, number | bigint, number][]) {
    if (!out.has(name)) out.set(name, []);
    out.get(name)!.push({ step: Number(step), value });
  }
  for (const [name, pts] of out) {
    if (pts.length <= maxPoints) continue;
    const keep: typeof pts = [];
    for (let k = 0; k < maxPoints; k++) keep.push(pts[Math.round((k * (pts.length - 1)) / (maxPoints - 1))]);
    out.set(name, keep);
  }
  return out;
}

/** A trial's primary test scores with their samples' classes (item studies), or undefined without lineage. */
export async function classScores(catalog: Catalog, trial: TrialData): Promise<(TrialScores & { classes: string[] }) | undefined> {
  if (!trial.primarySet) return undefined;
  const r = await catalog.query(sql(QUERIES.classScores, trial.id, trial.primarySet));
  if (!r.rows.length) return undefined;
  return {
    values: Float64Array.from(r.rows, (row) => row[0] as number),
    labels: Uint8Array.from(r.rows, (row) => row[1] as number),
    classes: r.rows.map((row) => String(row[2])),
  };
}

export interface ItemPatches {
  item: number;
  rel: string;
  /** Any of its patches labelled anomalous. */
  anomalous: boolean;
  patches: { y: number; x: number; value: number }[];
}

/** A patch-tiled trial's primary test scores grouped by source image, with each patch's position. */
export async function patchScores(catalog: Catalog, trial: TrialData): Promise<ItemPatches[]> {
  if (!trial.primarySet || !trial.patches) return [];
  const r = await catalog.query(sql(QUERIES.patchScores, trial.id, trial.primarySet));
  const items = new Map<number, ItemPatches>();
  for (const [item, rel, y, x, value, label] of r.rows as [number, string, number, number, number, number][]) {
    let it = items.get(item);
    if (!it) items.set(item, (it = { item, rel, anomalous: false, patches: [] }));
    if (label === 1) it.anomalous = true;
    it.patches.push({ y, x, value });
  }
  return [...items.values()];
}
