/**
 * Which differences between a study's cells hold over seeds, and by how much: what `gantry
 * compare` prints and reports show. Reads the catalog; the statistics are evaluation/statistics.ts.
 *
 * Pairing: a trial of cell A and one of cell B form a pair when they have the same seed and, where
 * the study splits items per seed, the same split (the same 'split' step key); cube studies have
 * no split step, so the seed alone pairs them. A deterministic model on a cube (RX) has one trial,
 * since its seed changes nothing: that trial pairs with every seed of the other cell. Trials
 * without a partner are dropped and counted. Without cells named, every pair of cells is compared
 * (Holm over all of them: the safer default for the small grids of a study); with one, that cell
 * against each other cell; with two, those two.
 */
import { UserError } from '../core/errors.js';
import type { Catalog } from '../infra/catalog.js';
import { modelIsStochastic } from '../models/params.js';
import {
  MAX_EXACT_PERMUTATION, holmAdjust, pairedComparison, summarize,
  type PairedResult, type Summary, type TestChoice,
} from '../evaluation/statistics.js';
import { cellText } from '../cli/format.js';

export interface CompareOptions {
  study: string;
  cells?: string[];
  metric: string;
  alpha: number;
  test: TestChoice;
  resamples: number;
  /** How to name cells (by cell id), e.g. a report's labels with their grid blocks; default: the cell text, else the model. */
  labels?: ReadonlyMap<string, string>;
}

interface TrialValue {
  trialId: string;
  seed: number;
  split: string | null;
  value: number;
}

interface CellData {
  cellId: string;
  cell: string;
  model: string;
  label: string;
  trials: TrialValue[];
  /** One trial of a deterministic model on a cube: it stands for every seed. */
  seedFree: boolean;
}

export interface CellRow {
  cell: string;
  id: string;
  model: string;
  n: number;
  mean: number | null;
  std: number | null;
  ci95_low: number | null;
  ci95_high: number | null;
}

export interface PairRow {
  a: string;
  b: string;
  pairs: number;
  unmatched: number;
  mean_diff: number | null;
  diff_ci95_low: number | null;
  diff_ci95_high: number | null;
  rank_biserial: number | null;
  test: string | null;
  p: number | null;
  p_holm: number | null;
  holds: string;
}

export interface CompareReport {
  study: string;
  metric: string;
  alpha: number;
  test: TestChoice;
  correction: 'holm';
  /** What the tables show, in order. */
  title: string;
  /** Comparisons that have a p-value: Holm's family. */
  family: number;
  cells: CellRow[];
  pairs: PairRow[];
  legend: string;
  notes: string[];
}

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
const shortId = (id: string) => id.slice(0, 8);

/** Every cell of the study, with each done trial's final value of the metric. */
async function loadCells(cat: Catalog, study: string, metric: string, notes: string[], labels?: ReadonlyMap<string, string>): Promise<CellData[]> {
  const studies = (await cat.query('SELECT study FROM studies UNION SELECT DISTINCT study FROM trials ORDER BY 1')).rows.map((r) => String(r[0]));
  if (!studies.includes(study)) {
    throw new UserError(`unknown study '${study}' in the catalog`, { hint: studies.length ? `studies: ${studies.join(', ')}` : 'the catalog holds no study yet: run one first' });
  }
  const metrics = (await cat.query(`SELECT DISTINCT f.name FROM final_metrics f JOIN trials t USING (trial_id) WHERE t.study = ${q(study)} ORDER BY 1`)).rows.map((r) => String(r[0]));
  if (!metrics.includes(metric)) {
    throw new UserError(`unknown metric '${metric}' for study ${study}`, { hint: metrics.length ? `metrics: ${metrics.join(', ')}` : 'no trial of it has recorded a metric yet' });
  }
  const r = await cat.query(`
    SELECT t.trial_id, t.cell_id, coalesce(t.cell, '') AS cell, t.model, t.seed, t.status,
           (SELECT min(s.step_key) FROM trial_steps s WHERE s.trial_id = t.trial_id AND s.kind = 'split') AS split_key,
           f.value
    FROM trials t LEFT JOIN final_metrics f ON f.trial_id = t.trial_id AND f.name = ${q(metric)}
    WHERE t.study = ${q(study)}
    ORDER BY t.model, t.cell, t.cell_id, t.seed`);
  const byId = new Map<string, CellData & { splits: number; missing: number; notDone: number }>();
  for (const [trialId, cellId, cell, model, seed, status, split, value] of r.rows as [string, string, string, string, number | null, string, string | null, number | null][]) {
    let c = byId.get(cellId);
    if (!c) byId.set(cellId, (c = { cellId, cell, model, label: labels?.get(cellId) ?? (cell || model), trials: [], seedFree: false, splits: 0, missing: 0, notDone: 0 }));
    if (split !== null) c.splits++;
    if (status !== 'done') c.notDone++;
    else if (value === null || !Number.isFinite(value)) c.missing++;
    else c.trials.push({ trialId, seed: Number(seed ?? 0), split, value });
  }
  const cells = [...byId.values()];
  // The same cell text under two ids (a study relaunched with other settings): tell them apart.
  const seen = new Map<string, number>();
  for (const c of cells) seen.set(c.label, (seen.get(c.label) ?? 0) + 1);
  for (const c of cells) {
    if (seen.get(c.label)! > 1) c.label = `${c.label} [${shortId(c.cellId)}]`;
    c.seedFree = c.trials.length === 1 && c.splits === 0 && !modelIsStochastic(c.model);
    if (c.notDone) notes.push(`${c.label}: ${c.notDone} trial${c.notDone === 1 ? '' : 's'} not done, left out`);
    if (c.missing) notes.push(`${c.label}: ${c.missing} done trial${c.missing === 1 ? '' : 's'} without a finite ${metric}, left out`);
  }
  return cells;
}

/** The cell a user means: its label or cell text, an id prefix, key=value pairs (keys may drop their prefix, `noiseDim=4`), or a model with one cell. */
export function resolveCell(cells: CellData[], ref: string, study: string): CellData {
  const norm = (s: string) => s.replace(/\s+/g, '');
  const r = norm(ref);
  const tries: ((c: CellData) => boolean)[] = [
    (c) => norm(c.label) === r || (c.cell !== '' && norm(c.cell) === r),
    (c) => r.length >= 4 && /^[0-9a-f]+$/i.test(r) && c.cellId.startsWith(r.toLowerCase()),
    (c) => {
      const want = ref.split(/,\s*/).map((kv) => kv.trim()).filter(Boolean);
      if (!want.length || !want.every((kv) => kv.indexOf('=') > 0)) return false;
      const have = c.cell.split(', ').filter(Boolean);
      return want.every((w) => {
        const [k, v] = [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)];
        return have.some((h) => {
          const [hk, hv] = [h.slice(0, h.indexOf('=')), h.slice(h.indexOf('=') + 1)];
          return hv === v && (hk === k || hk.endsWith('.' + k));
        });
      });
    },
    (c) => c.model === ref,
  ];
  const list = (cs: CellData[]) => cs.map((c) => `'${c.label}' (${shortId(c.cellId)})`).join(', ');
  for (const t of tries) {
    const found = cells.filter(t);
    if (found.length === 1) return found[0];
    if (found.length > 1) throw new UserError(`cell '${ref}' is ambiguous in study ${study}: it matches ${list(found)}`, { hint: 'name it by its id' });
  }
  throw new UserError(`unknown cell '${ref}' in study ${study}`, { hint: `cells: ${list(cells)}` });
}

interface Matched {
  a: number[];
  b: number[];
  unmatchedA: number[];
  unmatchedB: number[];
}

/** Pairs by seed and split; a seed-free cell (RX on a cube) pairs with every trial of the other. */
function match(A: CellData, B: CellData): Matched {
  if (A.seedFree !== B.seedFree) {
    const [fixed, other] = A.seedFree ? [A, B] : [B, A];
    const v = fixed.trials[0].value;
    const vals = other.trials.map((t) => t.value);
    const same = vals.map(() => v);
    return A.seedFree ? { a: same, b: vals, unmatchedA: [], unmatchedB: [] } : { a: vals, b: same, unmatchedA: [], unmatchedB: [] };
  }
  const key = (t: TrialValue) => `${t.seed}\u0000${t.split ?? ''}`;
  const inB = new Map(B.trials.map((t) => [key(t), t]));
  const used = new Set<string>();
  const out: Matched = { a: [], b: [], unmatchedA: [], unmatchedB: [] };
  for (const t of A.trials) {
    const u = inB.get(key(t));
    if (u && !used.has(key(t))) {
      used.add(key(t));
      out.a.push(t.value);
      out.b.push(u.value);
    } else out.unmatchedA.push(t.seed);
  }
  for (const t of B.trials) if (!used.has(key(t))) out.unmatchedB.push(t.seed);
  return out;
}

const TEST_WORDS: Record<string, string> = {
  'permutation (exact)': 'exact paired permutation test (all 2^n sign flips of the differences)',
  'permutation (monte carlo)': `paired permutation test (${(100_000).toLocaleString('en-US')} seeded random sign flips)`,
  'wilcoxon (exact)': 'Wilcoxon signed-rank test (exact)',
  'wilcoxon (normal approx.)': 'Wilcoxon signed-rank test (normal approximation, tie and continuity corrections)',
};

export async function compareStudy(cat: Catalog, o: CompareOptions): Promise<CompareReport> {
  const notes: string[] = [];
  const all = await loadCells(cat, o.study, o.metric, notes, o.labels);
  const named = (o.cells ?? []).map((ref) => resolveCell(all, ref, o.study));
  if (named.length === 2 && named[0].cellId === named[1].cellId) throw new UserError(`'${o.cells![0]}' and '${o.cells![1]}' are the same cell`, { hint: 'name two different cells' });
  for (const c of named) if (!c.trials.length) throw new UserError(`cell '${c.label}' of study ${o.study} has no done trial with a finite ${o.metric}`);
  const usable = all.filter((c) => c.trials.length > 0);
  for (const c of all) if (!c.trials.length && !named.includes(c)) notes.push(`${c.label}: no done trial with a finite ${o.metric}, not compared`);

  const summaries = new Map<string, Summary>();
  for (const c of usable) summaries.set(c.cellId, summarize(c.trials.map((t) => t.value), { resamples: o.resamples, seed: `${c.cellId}|${o.metric}` }));
  // Highest mean first, so the pairs of the table read 'better minus worse' for a score.
  const byMean = [...usable].sort((x, y) => summaries.get(y.cellId)!.mean! - summaries.get(x.cellId)!.mean! || x.label.localeCompare(y.label));
  const shown = named.length === 2 ? named : named.length === 1 ? [named[0], ...byMean.filter((c) => c !== named[0])] : byMean;
  const pairs: [CellData, CellData][] = [];
  if (named.length >= 1) for (const c of shown.slice(1)) pairs.push([shown[0], c]);
  else for (let i = 0; i < shown.length; i++) for (let j = i + 1; j < shown.length; j++) pairs.push([shown[i], shown[j]]);

  for (const c of shown) if (c.seedFree) notes.push(`${c.label}: one trial (a deterministic model on a cube: its seed changes nothing), paired with every seed of the other cell`);

  const results: { A: CellData; B: CellData; m: Matched; r: PairedResult }[] = pairs.map(([A, B]) => {
    const m = match(A, B);
    const r = pairedComparison(m.a, m.b, { test: o.test, resamples: o.resamples, seed: `${A.cellId}|${B.cellId}|${o.metric}` });
    return { A, B, m, r };
  });
  const adjusted = holmAdjust(results.map((x) => x.r.p));
  const family = adjusted.filter((p) => p !== null).length;

  const pairRows: PairRow[] = results.map(({ A, B, m, r }, i) => {
    const ph = adjusted[i];
    // The direction of what the test tested: the mean for the permutation test, the ranks for Wilcoxon.
    const sign = r.test?.startsWith('wilcoxon') ? Math.sign(r.rankBiserial ?? 0) : Math.sign(r.meanDiff ?? 0);
    const holds = ph === null ? 'no test' : ph <= o.alpha && sign !== 0 ? `yes: a ${sign > 0 ? '>' : '<'} b` : 'no';
    return {
      a: A.label, b: B.label, pairs: r.n, unmatched: m.unmatchedA.length + m.unmatchedB.length,
      mean_diff: r.meanDiff, diff_ci95_low: r.diffCi?.low ?? null, diff_ci95_high: r.diffCi?.high ?? null,
      rank_biserial: r.rankBiserial, test: r.test, p: r.p, p_holm: ph, holds,
    };
  });
  for (const { A, B, m, r } of results) {
    const said: string[] = [];
    if (r.note) said.push(r.note);
    if (m.unmatchedA.length || m.unmatchedB.length) {
      const part = (c: CellData, seeds: number[]) => (seeds.length ? `${c.label} seed${seeds.length === 1 ? '' : 's'} ${seeds.join(', ')}` : '');
      said.push(`dropped for want of a partner with the same seed and split: ${[part(A, m.unmatchedA), part(B, m.unmatchedB)].filter(Boolean).join('; ')}`);
    }
    if (said.length) notes.push(`${A.label} vs ${B.label}: ${said.join('; ')}`);
  }
  // Few seeds cannot give a small p, however large the difference: say so rather than let 'no' read as 'no difference'.
  const floor = new Map<number, number>();
  for (const { r } of results) if (r.minP !== null && 2 / 2 ** r.n > o.alpha) floor.set(r.n, (floor.get(r.n) ?? 0) + 1);
  for (const [n, k] of floor) {
    notes.push(`${k === results.length ? 'every pair has' : `${k} pair${k === 1 ? ' has' : 's have'}`} ${n} matched seeds: an exact test cannot give p below 2/2^${n} = ${cellText(2 / 2 ** n)} > alpha ${o.alpha}, so no difference can hold; run more seeds`);
  }
  // Holm multiplies the smallest p by the family size: an exact test's floor can pass alpha alone and still never hold.
  const tested = results.filter((x) => x.r.p !== null);
  if (!floor.size && tested.length > 1 && tested.every((x) => x.r.minP !== null)) {
    const most = Math.max(...tested.map((x) => x.r.n));
    const lowest = 2 / 2 ** most;
    if (lowest * family > o.alpha) {
      notes.push(`with ${most} matched seeds the smallest p is ${cellText(lowest)}, and Holm over ${family} comparisons needs p ≤ ${cellText(o.alpha / family)} for the first: no difference can hold; compare two cells, or run more seeds`);
    }
  }

  const used = [...new Set(results.map((x) => x.r.test).filter((t): t is NonNullable<typeof t> => t !== null))];
  const testText = used.length ? used.map((t) => TEST_WORDS[t]).join('; ') : o.test === 'wilcoxon' ? TEST_WORDS['wilcoxon (exact)'] : TEST_WORDS['permutation (exact)'];
  const B = o.resamples.toLocaleString('en-US');
  const legend =
    `${o.metric}: mean_diff = a − b over trials paired by seed (and split); test: ${testText}, two-sided` +
    (o.test === 'auto' ? ` (auto: permutation up to ${MAX_EXACT_PERMUTATION} pairs, Wilcoxon above)` : '') +
    `; p_holm: Holm over ${family} comparison${family === 1 ? '' : 's'}; holds: p_holm ≤ ${o.alpha}; rank_biserial: matched-pairs rank-biserial r (+1: every seed favours a); CIs: 95 % percentile bootstrap of the mean (${B} seeded resamples)`;

  const cells: CellRow[] = shown.map((c) => {
    const s = summaries.get(c.cellId)!;
    if (s.note && s.n === 1 && !c.seedFree) notes.push(`${c.label}: ${s.note}`);
    return { cell: c.label, id: shortId(c.cellId), model: c.model, n: s.n, mean: s.mean, std: s.std, ci95_low: s.ci?.low ?? null, ci95_high: s.ci?.high ?? null };
  });
  if (!pairs.length) notes.push(usable.length < 2 ? `study ${o.study} has ${usable.length} cell${usable.length === 1 ? '' : 's'} with ${o.metric}: nothing to compare` : 'nothing to compare');
  const order = named.length === 2 ? 'the two cells named' : named.length === 1 ? 'the cell named, then the others by mean (highest first)' : 'cells by mean (highest first)';
  const title = `study ${o.study}, metric ${o.metric}: ${order}`;
  return { study: o.study, metric: o.metric, alpha: o.alpha, test: o.test, correction: 'holm', title, family, cells, pairs: pairRows, legend, notes };
}
