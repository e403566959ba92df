/**
 * `gantry compare` on real runs: the quickstart (shrunk with --set so it takes seconds) and a small
 * item study with per-seed splits. Its p-values and Holm-adjusted p-values are checked against
 * SciPy (test/evaluation/scipy_reference.py) over the per-seed values the test reads from the
 * catalog with `gantry query` and pairs itself.
 */
import { test, before, after } from 'node:test';
import { rm } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { runCli, tempHome, writeStudy, type CliResult } from '../helpers.js';
import { scipyMissing, scipyReference } from '../evaluation/scipy-reference.js';

interface Report {
  metric: string;
  family: number;
  legend: string;
  notes: string[];
  cells: { cell: string; id: string; model: string; n: number; mean: number | null; std: number | null; ci95_low: number | null; ci95_high: number | null }[];
  pairs: { a: string; b: string; pairs: number; unmatched: number; mean_diff: number | null; rank_biserial: number | null; test: string | null; p: number | null; p_holm: number | null; holds: string }[];
}

interface TrialRow {
  cell_id: string;
  model: string;
  seed: number;
  split: string | null;
  value: number;
}

const ok = (r: CliResult) => {
  assert.equal(r.code, 0, r.stderr);
  return r;
};

const close = (a: number | null, b: number | null, tol: number, what: string) => {
  assert.ok(a !== null && b !== null && Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
};

/** Every done trial's final metric, its seed and split key: read with gantry query, not through compare. */
async function trialValues(env: Record<string, string>, study: string, metric: string): Promise<TrialRow[]> {
  const r = ok(await runCli(['query', `
    SELECT t.cell_id, t.model, t.seed, s.step_key AS split, f.value
    FROM trials t JOIN final_metrics f ON f.trial_id = t.trial_id AND f.name = '${metric}'
    LEFT JOIN trial_steps s ON s.trial_id = t.trial_id AND s.kind = 'split'
    WHERE t.study = '${study}' AND t.status = 'done'`, '--format', 'json'], env));
  return JSON.parse(r.stdout);
}

/** The pairs of two cells as the README states the rule: same seed and split; RX's one trial pairs with every seed. */
function pairUp(rows: TrialRow[], a: string, b: string): { a: number[]; b: number[] } {
  const A = rows.filter((r) => r.cell_id.startsWith(a));
  const B = rows.filter((r) => r.cell_id.startsWith(b));
  const out = { a: [] as number[], b: [] as number[] };
  for (const x of A) {
    for (const y of B) {
      const seedFree = (x.model === 'rx' && A.length === 1) !== (y.model === 'rx' && B.length === 1);
      if (seedFree || (x.seed === y.seed && x.split === y.split)) {
        out.a.push(x.value);
        out.b.push(y.value);
      }
    }
  }
  return out;
}

/** The report's p and p_holm against SciPy's on the same pairs (the family: every pair with a test). */
function checkAgainstScipy(rep: Report, rows: TrialRow[], test: 'permutation' | 'wilcoxon', diag: (s: string) => void): void {
  const id = (label: string) => rep.cells.find((c) => c.cell === label)!.id;
  const cases = rep.pairs.map((p) => pairUp(rows, id(p.a), id(p.b)));
  const tested = rep.pairs.flatMap((p, i) => (p.p === null ? [] : [i]));
  const ref0 = scipyReference({ cases });
  const refP = ref0.cases.map((c) => (test === 'permutation' ? c.perm_p : c.wilcoxon_p));
  const ref = scipyReference({ cases: [], families: [tested.map((i) => refP[i]!)] });
  diag(`SciPy ${ref0.scipy}: ${rep.pairs.length} pairs, family of ${tested.length}`);
  assert.equal(rep.family, tested.length);
  rep.pairs.forEach((p, i) => {
    const c = ref0.cases[i];
    assert.equal(p.pairs, c.n, `${p.a} vs ${p.b}: pairs`);
    if (c.n === 0) return;
    close(p.mean_diff, c.mean_diff, 1e-12, `${p.a} vs ${p.b}: mean difference`);
    close(p.rank_biserial, c.rank_biserial, 1e-12, `${p.a} vs ${p.b}: rank-biserial`);
    if (p.p === null) return;
    close(p.p, refP[i], 1e-12, `${p.a} vs ${p.b}: p`);
    close(p.p_holm, ref.holm[0][tested.indexOf(i)], 1e-12, `${p.a} vs ${p.b}: Holm p`);
  });
  // The same check through SciPy's own permutation_test where it ran (n ≤ 10).
  if (test === 'permutation') ref0.cases.forEach((c, i) => c.perm_p_scipy !== null && rep.pairs[i].p !== null && close(rep.pairs[i].p, c.perm_p_scipy, 1e-12, 'scipy.stats.permutation_test'));
}

const quick = { env: {} as Record<string, string> };
const homes: string[] = [];
after(() => Promise.all(homes.map((h) => rm(h, { recursive: true, force: true }))));
before(async () => {
  quick.env = { GANTRY_HOME: await tempHome('gantry-compare-') };
  homes.push(quick.env.GANTRY_HOME);
  // The quickstart, shrunk: 20 training iterations, one short restart, six seeds (so an exact test can reach p < 0.05).
  ok(await runCli(['run', 'quickstart', '--set', 'model.iterations=20', '--set', 'model.scoreIterations=5', '--set', 'model.scoreRestarts=1', '--set', 'seeds=[0,1,2,3,4,5]'], quick.env));
});

test('compare on the quickstart: per-cell summaries and all pairs, p and Holm p as SciPy computes them', async (t) => {
  const rep: Report = JSON.parse(ok(await runCli(['compare', 'quickstart', '--format', 'json'], quick.env)).stdout);
  assert.equal(rep.cells.length, 5);
  assert.equal(rep.pairs.length, 10);
  const rx = rep.cells.find((c) => c.model === 'rx')!;
  assert.deepEqual([rx.cell, rx.n, rx.std, rx.ci95_low], ['rx', 1, null, null]);
  for (const c of rep.cells.filter((c) => c.model !== 'rx')) {
    assert.equal(c.n, 6);
    assert.ok(c.ci95_low! <= c.mean! && c.mean! <= c.ci95_high!, JSON.stringify(c));
  }
  // RX's one trial pairs with each of the six seeds; the GAN cells pair seed by seed.
  assert.ok(rep.pairs.every((p) => p.pairs === 6 && p.unmatched === 0 && p.test === 'permutation (exact)'), JSON.stringify(rep.pairs));
  assert.ok(rep.notes.some((n) => /rx: one trial \(a deterministic model on a cube/.test(n)), rep.notes.join('\n'));
  assert.match(rep.legend, /exact paired permutation test .* two-sided .* Holm over 10 comparisons/);
  // Six seeds reach p = 0.03125 at best; Holm over 10 wants 0.005 for the first: said, not left to be misread.
  assert.ok(rep.notes.some((n) => n.includes('with 6 matched seeds the smallest p is 0.03125, and Holm over 10 comparisons needs p ≤ 0.005 for the first: no difference can hold')), rep.notes.join('\n'));

  const rows = await trialValues(quick.env, 'quickstart', 'auc');
  // Per-cell figures from the catalog's own values.
  for (const c of rep.cells) {
    const v = rows.filter((r) => r.cell_id.startsWith(c.id)).map((r) => r.value);
    close(c.mean, v.reduce((s, x) => s + x, 0) / v.length, 1e-12, `${c.cell} mean`);
  }
  const why = scipyMissing();
  if (why) t.skip(why);
  else checkAgainstScipy(rep, rows, 'permutation', (s) => t.diagnostic(s));

  // The table prints the same p-values (6 significant digits) and the legend.
  const table = ok(await runCli(['compare', 'quickstart'], quick.env)).stdout;
  assert.match(table, /^a\s+b\s+pairs\s+unmatched\s+mean_diff\s+diff_ci95_low\s+diff_ci95_high\s+rank_biserial\s+test\s+p\s+p_holm\s+holds$/m);
  for (const p of rep.pairs) {
    // Columns are two or more spaces apart; no cell holds two spaces in a row.
    const row = table.split('\n').map((l) => l.split(/\s{2,}/)).find((f) => f[0] === p.a && f[1] === p.b);
    assert.ok(row, `a row for ${p.a} vs ${p.b}`);
    assert.deepEqual(row.slice(8), [p.test, String(Number(p.p!.toPrecision(6))), String(Number(p.p_holm!.toPrecision(6))), p.holds], row.join(' | '));
  }
  assert.match(table, /^auc: mean_diff = a − b .* Holm over 10 comparisons; holds: p_holm ≤ 0\.05/m);
});

test('two cells named: a family of one; RX over six seeds holds at 0.05 by the exact test, and Wilcoxon agrees with SciPy', async (t) => {
  const gan = 'hidden=32,noiseDim=4';
  const rep: Report = JSON.parse(ok(await runCli(['compare', 'quickstart', 'rx', gan, '--format', 'json'], quick.env)).stdout);
  assert.equal(rep.pairs.length, 1);
  assert.equal(rep.family, 1);
  const [p] = rep.pairs;
  assert.deepEqual([p.a, p.b], ['rx', 'model.hidden=32, model.noiseDim=4']);
  const rows = await trialValues(quick.env, 'quickstart', 'auc');
  const pair = pairUp(rows, rep.cells[0].id, rep.cells[1].id);
  // RX (0.90) beats a GAN trained for 20 iterations on every seed: six differences of one sign give
  // p = 2/64 exactly, and Holm over one comparison leaves it.
  assert.ok(pair.a.length === 6 && pair.a.every((x, i) => x > pair.b[i]), JSON.stringify(pair));
  assert.equal(p.p, 2 / 64);
  assert.equal(p.p_holm, 2 / 64);
  assert.equal(p.holds, 'yes: a > b');
  assert.equal(p.rank_biserial, 1);
  const why = scipyMissing();
  if (why) {
    t.skip(why);
    return;
  }
  checkAgainstScipy(rep, rows, 'permutation', (s) => t.diagnostic(s));
  const w: Report = JSON.parse(ok(await runCli(['compare', 'quickstart', '--test', 'wilcoxon', '--format', 'json'], quick.env)).stdout);
  assert.ok(w.pairs.every((x) => x.test?.startsWith('wilcoxon')));
  checkAgainstScipy(w, rows, 'wilcoxon', (s) => t.diagnostic(s));
  // Other metrics of the catalog: the critic's AUC exists for the GAN cells only.
  const c: Report = JSON.parse(ok(await runCli(['compare', 'quickstart', '--metric', 'critic/auc', '--format', 'json'], quick.env)).stdout);
  assert.equal(c.cells.length, 4);
  assert.ok(c.notes.some((n) => /^rx: no done trial with a finite critic\/auc, not compared/.test(n)), c.notes.join('\n'));
  checkAgainstScipy(c, await trialValues(quick.env, 'quickstart', 'critic/auc'), 'permutation', (s) => t.diagnostic(s));
});

test('an item study: pairs need the same seed and split, zero differences give p = 1, labels are told apart', async (t) => {
  const home = await tempHome('gantry-compare-items-');
  homes.push(home);
  const env = { GANTRY_HOME: home };
  const study = {
    name: 'cmp-items',
    base: {
      dataset: { kind: 'synthetic-textures', normals: 32, anomalies: 16, size: 64, channels: 1, seed: 3 },
      filter: { minSize: 32 },
      tiling: { kind: 'patches', size: 32, stride: 16, threshold: 0 },
      split: { protocol: 'murase-mtd' },
      model: { kind: 'pca', components: 8 },
    },
    grid: [
      { name: 'pca', cartesian: { 'model.components': [4, 8] } },
      { name: 'knn', set: { model: { kind: 'knn', k: 3, maxReference: 2000 } } },
      // The same model on another split: the same seeds, never the same split.
      { name: 'resplit', set: { 'model.components': 8, split: { protocol: 'fractions', normal: [0.6, 0.2, 0.2], anomalous: [0, 0.5, 0.5] } } },
    ],
    seeds: [0, 1, 2],
  };
  ok(await runCli(['run', await writeStudy(home, study)], env));
  const rep: Report = JSON.parse(ok(await runCli(['compare', 'cmp-items', '--format', 'json'], env)).stdout);
  assert.equal(rep.cells.length, 4);
  const dup = rep.cells.filter((c) => c.cell.startsWith('model.components=8 ['));
  assert.equal(dup.length, 2, 'the two cells with the same text carry their ids');
  const cross = rep.pairs.find((p) => [p.a, p.b].sort().join() === dup.map((c) => c.cell).sort().join())!;
  assert.deepEqual([cross.pairs, cross.unmatched, cross.p, cross.p_holm, cross.holds], [0, 6, null, null, 'no test']);
  assert.ok(rep.notes.some((n) => /: no matched pairs: no test; dropped for want of a partner with the same seed and split: .*seeds 0, 1, 2; .*seeds 0, 1, 2$/.test(n)), rep.notes.join('\n'));
  assert.ok(rep.pairs.filter((p) => p.pairs === 3).length >= 3, JSON.stringify(rep.pairs));
  assert.equal(rep.family, rep.pairs.filter((p) => p.pairs >= 2).length);
  const rows = await trialValues(env, 'cmp-items', 'auc');
  const why = scipyMissing();
  if (why) t.skip(why);
  else checkAgainstScipy(rep, rows, 'permutation', (s) => t.diagnostic(s));

  // Image AUROC is 1 for every trial of this easy set: every difference is zero, p = 1, said so.
  const img: Report = JSON.parse(ok(await runCli(['compare', 'cmp-items', '--metric', 'image_auc', '--format', 'json'], env)).stdout);
  const imgRows = await trialValues(env, 'cmp-items', 'image_auc');
  assert.ok(imgRows.every((r) => r.value === 1), JSON.stringify(imgRows));
  const tied = img.pairs.filter((p) => p.pairs === 3);
  assert.ok(tied.length >= 3);
  for (const p of tied) assert.deepEqual([p.mean_diff, p.rank_biserial, p.p, p.holds], [0, 0, 1, 'no']);
  assert.ok(img.notes.some((n) => n.includes('all 3 differences are zero')), img.notes.join('\n'));
  // CSV: the cells table, a blank line, the pairs table; notes on stderr.
  const csv = ok(await runCli(['compare', 'cmp-items', 'knn', 'components=4', '--format', 'csv'], env));
  const [cellsCsv, pairsCsv] = csv.stdout.trim().split('\n\n');
  assert.equal(cellsCsv.split('\n')[0], 'cell,id,model,n,mean,std,ci95_low,ci95_high');
  assert.equal(pairsCsv.split('\n').length, 2);
  assert.match(pairsCsv.split('\n')[1], /^knn,model\.components=4,3,0,/);
  assert.match(csv.stderr, /^note: every pair has 3 matched seeds: an exact test cannot give p below 2\/2\^3 = 0\.25 > alpha 0\.05/m);

  // Bad input: one line naming the cause and the choices, exit 2.
  const bad = async (args: string[], ...want: RegExp[]) => {
    const r = await runCli(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    // One line (commander's usage errors add '(run with --help for usage)'), no stack trace.
    assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help')).length, 1, r.stderr);
    for (const w of want) assert.match(r.stderr, w);
  };
  await bad(['compare', 'nope'], /unknown study 'nope' in the catalog \(studies: cmp-items\)/);
  await bad(['compare', 'cmp-items', 'model.components=5'], /unknown cell 'model\.components=5' in study cmp-items \(cells: .*'knn'/);
  await bad(['compare', 'cmp-items', 'components=8'], /cell 'components=8' is ambiguous in study cmp-items: it matches .*name it by its id/);
  await bad(['compare', 'cmp-items', 'knn', 'knn'], /are the same cell/);
  await bad(['compare', 'cmp-items', '--metric', 'f1'], /unknown metric 'f1' for study cmp-items \(metrics: .*auc.*image_auc/);
  await bad(['compare', 'cmp-items', '--alpha', '2'], /expected a number between 0 and 1/);
  await bad(['compare', 'cmp-items', '--test', 'ttest'], /ttest/);
  const empty = await tempHome('gantry-compare-empty-');
  homes.push(empty);
  const r = await runCli(['compare', 'quickstart'], { GANTRY_HOME: empty });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no catalog at .* \(run a study first/);
});
