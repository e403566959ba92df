/**
 * record: index one trial's results in the catalog, reading only the store. The embedded executor
 * calls it when a trial ends; `gantry catalog rebuild` calls it for every trial in the store.
 * Re-recording a trial replaces its rows, so running it twice never duplicates anything.
 */
import { z } from 'zod';
import type { Catalog, StudyRow, TrialRows } from '../infra/catalog.js';
import { probeRecord, readableRecord, type StepRecord } from '../infra/ledger.js';
import { ChecksumError, getVerified, isNotFound, type ArtifactStore } from '../infra/store/store.js';
import { DamagedError, getSealed, isDamagedError, putSealed } from '../infra/sealed.js';
import { oneLine } from '../core/errors.js';
import { decodeNd } from '../datasets/tensor-file.js';
import { parseItemList, type ItemList } from '../datasets/item-list.js';
import { openSampleSet } from '../datasets/sample-set.js';
import { perSampleSplits, SPLIT_NAMES, testSetProblem } from './samples.js';
import { label } from '../experiments/grid.js';
import type { MetricPoint } from '../core/metrics.js';

export const trialFileSchema = z.object({
  id: z.string(),
  study: z.string(),
  cellId: z.string(),
  cell: z.record(z.string(), z.unknown()),
  config: z.record(z.string(), z.unknown()),
  steps: z.array(z.object({ kind: z.string(), key: z.string() })),
  createdAt: z.string(),
  block: z.string().optional(),
});
export type TrialFile = z.output<typeof trialFileSchema>;

export const studyFileSchema = z.object({
  study: z.string(),
  version: z.number(),
  description: z.string(),
  profile: z.string().nullable(),
  axes: z.array(z.string()),
  seeds: z.array(z.number()),
  /** The trial ids, in study files written before launches had plans; newer ones name their launch instead, whose plan lists them. */
  trials: z.array(z.string()).optional(),
  /** The launch that wrote this file (activities/launches.ts): its trial list is the study's. */
  launch: z.string().optional(),
  trialCount: z.number().int().nonnegative().optional(),
  updatedAt: z.string(),
});
export type StudyFile = z.output<typeof studyFileSchema>;

export const trialKey = (id: string) => `trials/${id}.json`;
export const studyKey = (name: string) => `studies/${name}.json`;

/**
 * A stored trial file, checked against its seal and schema: NotFoundError when it is absent,
 * DamagedError when its seal does not match or it is not a trial file. `sealed` is false for a
 * file written before seals existed (read all the same; `gantry verify` warns of it).
 */
export async function loadTrialFile(store: ArtifactStore, id: string): Promise<{ file: TrialFile; sealed: boolean }> {
  const r = await loadSealed(store, trialKey(id), trialFileSchema, 'trial file');
  return { file: r.value, sealed: r.sealed };
}

/** The trial file (see loadTrialFile): what every reader of trials/<id>.json calls. */
export async function readTrialFile(store: ArtifactStore, id: string): Promise<TrialFile> {
  return (await loadTrialFile(store, id)).file;
}

export async function loadStudyFile(store: ArtifactStore, name: string): Promise<{ file: StudyFile; sealed: boolean }> {
  const r = await loadSealed(store, studyKey(name), studyFileSchema, 'study file');
  return { file: r.value, sealed: r.sealed };
}

/** The study file (see loadTrialFile): what every reader of studies/<name>.json calls. */
export async function readStudyFile(store: ArtifactStore, name: string): Promise<StudyFile> {
  return (await loadStudyFile(store, name)).file;
}

async function loadSealed<S extends z.ZodType>(store: ArtifactStore, key: string, schema: S, what: string): Promise<{ value: z.output<S>; sealed: boolean }> {
  const { value, sealed } = await getSealed(store, key);
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new DamagedError(key, `not a ${what} (${oneLine(parsed.error)})`);
  return { value: parsed.data, sealed };
}

/**
 * Write the trial file: once, as its config is a function of its id — and again when gantry's plan
 * for that config gained steps (a new step kind), keeping when it was first made, so the catalog
 * indexes the new steps of trials planned before. A file without a seal (an older gantry's) or a
 * damaged one is written again from the plan, which is what it holds; a damaged one is kept first
 * under damaged/trials/.
 */
export async function saveTrial(store: ArtifactStore, t: TrialFile): Promise<void> {
  if (!(await store.exists(trialKey(t.id)))) return void (await putSealed(store, trialKey(t.id), t));
  const old = await loadTrialFile(store, t.id).catch((e: unknown) => {
    if (isDamagedError(e)) return undefined;
    throw e;
  });
  if (old?.sealed && JSON.stringify(old.file.steps) === JSON.stringify(t.steps)) return;
  if (!old) await store.put(`damaged/trials/${t.id}/${new Date().toISOString().replace(/:/g, '-')}.json`, await store.get(trialKey(t.id)));
  await putSealed(store, trialKey(t.id), old ? { ...t, createdAt: old.file.createdAt } : t);
}

export async function saveStudy(store: ArtifactStore, s: StudyFile): Promise<void> {
  await putSealed(store, studyKey(s.study), s);
}

export type TrialStatus = 'done' | 'failed' | 'interrupted' | 'running' | 'pending';

export function trialStatus(records: (StepRecord | undefined)[]): { status: TrialStatus; error: string | null } {
  const failed = records.find((r) => r?.status === 'failed');
  if (failed) return { status: 'failed', error: `${failed.kind}: ${failed.error ?? 'failed'}` };
  if (records.every((r) => r?.status === 'done')) return { status: 'done', error: null };
  if (records.some((r) => r?.status === 'interrupted')) return { status: 'interrupted', error: null };
  if (records.some((r) => r?.status === 'running')) return { status: 'running', error: null };
  return { status: 'pending', error: null };
}

export async function recordStudy(store: ArtifactStore, catalog: Catalog, study: string): Promise<void> {
  const s = await readStudyFile(store, study);
  const row: StudyRow = { study: s.study, version: s.version, description: s.description, profile: s.profile, axes: s.axes, seeds: s.seeds, store: store.url };
  await catalog.upsertStudy(row);
}

export async function recordTrial(store: ArtifactStore, catalog: Catalog, trialId: string): Promise<TrialStatus> {
  return (await indexTrial(store, catalog, trialId)).status;
}

/** What reading a damaged store throws: a seal that does not match, bytes that fail their checksum, an artifact gone. */
export function isDamage(e: unknown): boolean {
  return isDamagedError(e) || e instanceof ChecksumError || isNotFound(e) || (e instanceof Error && e.name === 'ChecksumError');
}

/**
 * Index a trial from the store (recordTrial). Damage does not stop it: a step record that is
 * unreadable or whose seal does not match is left out, as are rows from artifacts that fail their
 * checksum or are gone; the trial is indexed with what can be read, status 'damaged', and
 * `damaged` says what was left out. Only a damaged trial file itself throws (DamagedError).
 */
export async function indexTrial(store: ArtifactStore, catalog: Catalog, trialId: string): Promise<{ status: TrialStatus; damaged: string[] }> {
  const t = await readTrialFile(store, trialId);
  const probes = await Promise.all(t.steps.map((s) => probeRecord(store, s.key)));
  const damaged: string[] = probes.flatMap((p, i) => (p.unreadable ? [`${t.steps[i].kind} ${p.unreadable}`] : []));
  const records = probes.map((p) => p.record);
  const readOr = async <T>(fallback: T, read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (e) {
      if (!isDamage(e)) throw e;
      damaged.push(oneLine(e));
      return fallback;
    }
  };
  const { status: storedStatus, error: storedError } = trialStatus(records);
  const byKind = new Map(records.filter((r): r is StepRecord => !!r).map((r) => [r.kind, r]));
  const train = byKind.get('train');
  const evaluate = byKind.get('evaluate');

  const metrics = await metricsFromRecords(store, byKind, readOr);

  const scores: TrialRows['scores'] = [];
  const scored = byKind.get('score');
  const tile = byKind.get('tile') ?? byKind.get('extract');
  const lineage = await readOr({ removed: [], sources: [] }, () => itemLineage(store, byKind));
  if (scored?.status === 'done' && tile?.status === 'done') {
    await readOr(undefined, async () => {
      const labels = await sampleLabels(recordArtifacts(store, tile));
      const splits = lineage.splits;
      const s = recordArtifacts(store, scored);
      for (const set of scoreSets(s)) scores.push({ set, values: await scoreValues(s, set), labels, ...(splits ? { splits } : {}) });
    });
  }
  // A damaged trial is indexed, but never as done: no view that counts done trials (cell_summary) sees what could not be read.
  const status = damaged.length ? 'damaged' : storedStatus;
  const error = damaged.length ? `${damaged[0]}${damaged.length > 1 ? ` (+${damaged.length - 1} more)` : ''}` : storedError;

  const axes = new Set(Object.keys(t.cell));
  const params = flatten(t.config).map(([key, v]) => ({
    key,
    value: typeof v === 'string' ? v : JSON.stringify(v),
    valueNum: typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : null,
    isAxis: axes.has(key),
  }));
  const config = t.config as { model: { kind: string }; dataset: { kind: string; path?: string }; seed: number };
  await catalog.replaceTrial({
    trial: {
      trialId: t.id,
      study: t.study,
      cellId: t.cellId,
      cell: label(t.cell),
      seed: config.seed,
      model: config.model.kind,
      dataset: config.dataset.path ?? config.dataset.kind,
      status,
      backend: (train?.output?.backend as string | undefined) ?? null,
      error,
      config: t.config,
      createdAt: t.createdAt,
      finishedAt: status === 'done' ? (evaluate?.finishedAt ?? null) : null,
    },
    params,
    metrics,
    steps: t.steps.flatMap((s, i) => {
      const r = records[i];
      if (!r) return [];
      return [{
        key: r.key, kind: r.kind, version: r.version, status: r.status, attempt: r.attempt, reason: r.reason,
        startedAt: r.startedAt, finishedAt: r.finishedAt ?? null, durationMs: r.durationMs ?? null,
        resumedFrom: r.resumedFrom ?? null, error: r.error ?? null, params: r.params, inputs: r.inputs, artifacts: r.artifacts,
      }];
    }),
    scores,
    removed: lineage.removed,
    sources: lineage.sources,
  });
  return { status: storedStatus, damaged };
}

/** An item trial's lineage: what screening removed and why, each sample's source item, and each sample's split. */
async function itemLineage(store: ArtifactStore, byKind: Map<string, StepRecord>): Promise<{ removed: NonNullable<TrialRows['removed']>; sources: NonNullable<TrialRows['sources']>; splits?: (string | null)[] }> {
  const screen = byKind.get('screen');
  const extract = byKind.get('extract');
  const split = byKind.get('split');
  if (screen?.status !== 'done') return { removed: [], sources: [] };
  const list = await screenedItems(recordArtifacts(store, screen));
  const removed = list.removed.map((r) => ({ step: screen.key, rel: r.rel, removedBy: r.step, filter: r.filter, reason: r.reason }));
  if (extract?.status !== 'done') return { removed, sources: [] };
  const source = await sampleSources(recordArtifacts(store, extract), list);
  let splits: (string | null)[] | undefined;
  if (split?.status === 'done') {
    const codes = await itemSplits(recordArtifacts(store, split));
    splits = Array.from(source.item, (g) => SPLIT_NAMES[codes[g]] ?? null);
  }
  return { removed, sources: [{ step: extract.key, ...source }], ...(splits ? { splits } : {}) };
}

/**
 * A done step's output and verified artifacts, as the readers below take them: a step's input
 * (InputHandle, for the export step) or a record in the store (recordArtifacts, for the catalog),
 * so the catalog's rows and a trial's scores.parquet are read by the same code.
 */
export interface StepArtifacts {
  output: Record<string, unknown>;
  read(name: string): Promise<Uint8Array>;
}

export function recordArtifacts(store: ArtifactStore, r: StepRecord): StepArtifacts {
  return {
    output: r.output ?? {},
    read: async (name) => {
      const ref = r.artifacts[name];
      if (!ref) throw new Error(`step ${r.kind} (${r.key}) has no artifact '${name}'`);
      return getVerified(store, ref);
    },
  };
}

/** The score sets of a score step, primary first. */
export const scoreSets = (scored: StepArtifacts): string[] => (scored.output.sets ?? []) as string[];

/** One score set's values, one per sample. */
export async function scoreValues(scored: StepArtifacts, set: string): Promise<Float64Array> {
  return decodeNd(await scored.read(`scores-${set}`), 'scores').data as Float64Array;
}

/** Each sample's label (0 normal, 1 anomalous, 2 ambiguous), from the step that made the samples (tile or extract). */
export async function sampleLabels(tiles: StepArtifacts): Promise<Uint8Array> {
  return decodeNd(await tiles.read('labels'), 'labels').data as Uint8Array;
}

/** The items a screen step kept (each one's rel, sha256 and class) and what it removed. */
export async function screenedItems(screen: StepArtifacts): Promise<ItemList> {
  return parseItemList(await screen.read('items.json'), 'screened items');
}

/** Where each sample of an extract step came from: its item (an index into the screened items), its patch's y, x where it has one, its label. */
export async function sampleSources(extract: StepArtifacts, list: ItemList): Promise<Omit<NonNullable<TrialRows['sources']>[number], 'step'>> {
  const set = await openSampleSet(extract);
  if (!set.groups) throw new Error('the extract step recorded no source item per sample');
  return { item: set.groups, labels: set.labels, ...(set.coords ? { coords: set.coords } : {}), itemRel: list.items.map((i) => i.rel), itemSha: list.items.map((i) => i.sha256), itemCls: list.items.map((i) => i.cls) };
}

/**
 * Why the test samples of a done extract step, under a done split step, cannot be evaluated
 * (samples.ts testSetProblem), or undefined — also when either step is not done.
 */
export async function testSetOf(store: ArtifactStore, extractKey: string, splitKey: string): Promise<string | undefined> {
  const [extract, split] = await Promise.all([readableRecord(store, extractKey), readableRecord(store, splitKey)]);
  if (extract?.status !== 'done' || split?.status !== 'done') return undefined;
  const set = await openSampleSet(recordArtifacts(store, extract));
  return testSetProblem(set.labels, perSampleSplits(set, await itemSplits(recordArtifacts(store, split))));
}

/** The split step's code per item (SPLIT_CODE; SPLIT_NAMES names them). */
export async function itemSplits(split: StepArtifacts): Promise<Uint8Array> {
  return decodeNd(await split.read('assignment'), 'split assignment').data as Uint8Array;
}

/** What the store says of a trial beyond its points: the backend that trained it, and when its steps ran (ms since the epoch). */
export interface TrialFacts {
  backend?: string;
  startedAt?: number;
  endedAt?: number;
}

/**
 * An ended trial as the trackers see it, from one read of its step records: its metric points
 * (what the catalog gets) and its facts. Both executors hand trackers this.
 */
export async function trialReport(store: ArtifactStore, steps: { key: string }[]): Promise<{ points: MetricPoint[]; facts: TrialFacts }> {
  const records = (await Promise.all(steps.map((s) => readableRecord(store, s.key)))).filter((r): r is StepRecord => !!r);
  const rows = await metricsFromRecords(store, new Map(records.map((r) => [r.kind, r])));
  const times = (xs: (string | undefined)[]) => xs.filter((x): x is string => !!x).map(Date.parse).filter(Number.isFinite);
  const started = times(records.map((r) => r.startedAt));
  const ended = times(records.map((r) => r.finishedAt ?? r.startedAt));
  const backend = records.find((r) => r.kind === 'train')?.output?.backend;
  return {
    points: rows.map((p) => ({ name: p.name, step: p.step, value: p.value, ...(p.time === null ? {} : { time: p.time }) })),
    facts: {
      ...(typeof backend === 'string' ? { backend } : {}),
      ...(started.length ? { startedAt: Math.min(...started) } : {}),
      ...(ended.length ? { endedAt: Math.max(...ended) } : {}),
    },
  };
}

/** Runs a read, or (indexing a damaged trial) notes its damage and gives the fallback. */
type Guard = <T>(fallback: T, read: () => Promise<T>) => Promise<T>;

/** A trial's metric points as the store holds them: its train step's curve and its evaluate step's metrics (see evaluatedAt). */
async function metricsFromRecords(store: ArtifactStore, byKind: Map<string, StepRecord>, guard: Guard = (_, read) => read()): Promise<TrialRows['metrics']> {
  const metrics: TrialRows['metrics'] = [];
  const train = byKind.get('train');
  const evaluate = byKind.get('evaluate');
  const curve = train?.status === 'done' ? train.artifacts['metrics.json'] : undefined;
  if (curve) {
    const points = await guard([], async () => JSON.parse(Buffer.from(await getVerified(store, curve)).toString('utf8')) as MetricPoint[]);
    for (const p of points) metrics.push({ name: p.name, step: p.step, value: p.value, time: p.time ?? null });
  }
  if (evaluate?.status === 'done') {
    const time = evaluate.finishedAt ? Date.parse(evaluate.finishedAt) : null;
    const step = evaluatedAt(train, metrics);
    for (const [name, value] of Object.entries((evaluate.output?.metrics ?? {}) as Record<string, number>)) metrics.push({ name, step, value, time });
  }
  return metrics;
}

/**
 * The step evaluation metrics are logged at: the training iteration of the model that was scored
 * (its last), so they sit at the end of the training curves; 0 for a model without training (RX).
 */
function evaluatedAt(train: StepRecord | undefined, curve: TrialRows['metrics']): number {
  const iterations = Number((train?.output?.params as { iterations?: unknown } | undefined)?.iterations);
  if (Number.isSafeInteger(iterations) && iterations > 0) return iterations;
  return curve.reduce((m, p) => Math.max(m, p.step), 0);
}

/** Dotted leaves of a config: {model: {lr: 1}} → [['model.lr', 1]]. Arrays are leaves. */
export function flatten(obj: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? flatten(v as Record<string, unknown>, `${prefix}${k}.`) : [[`${prefix}${k}`, v] as [string, unknown]],
  );
}

/** A trial's step keys in order, as one string: what tells whether the catalog indexes the steps the trial has now. */
export const stepList = (steps: readonly { key: string }[]): string => steps.map((s) => s.key).join(',');

/**
 * The trials the catalog holds as done, with their step keys (stepList): a trial done with the same
 * keys can be left alone by a relaunch that ran none of its steps; one whose keys changed (a new
 * step kind, a changed dataset file) is recorded again.
 */
export async function doneTrialSteps(catalog: Catalog): Promise<Map<string, string>> {
  const r = await catalog.query("SELECT t.trial_id, coalesce(string_agg(s.step_key, ',' ORDER BY s.position), '') FROM trials t LEFT JOIN trial_steps s USING (trial_id) WHERE t.status = 'done' GROUP BY 1");
  return new Map(r.rows.map((row) => [String(row[0]), String(row[1])]));
}
