/** `gantry compare <study> [cellA] [cellB]`: the comparison of reports/compare.ts, printed. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../infra/config.js';
import { Catalog } from '../infra/catalog.js';
import { DEFAULT_RESAMPLES, MAX_EXACT_PERMUTATION, type TestChoice } from '../evaluation/statistics.js';
import { compareStudy, type CellRow, type CompareReport, type PairRow } from '../reports/compare.js';
import { render, type Format } from './format.js';

const CELL_COLUMNS: (keyof CellRow)[] = ['cell', 'id', 'model', 'n', 'mean', 'std', 'ci95_low', 'ci95_high'];
const PAIR_COLUMNS: (keyof PairRow)[] = ['a', 'b', 'pairs', 'unmatched', 'mean_diff', 'diff_ci95_low', 'diff_ci95_high', 'rank_biserial', 'test', 'p', 'p_holm', 'holds'];

/** The report in a format: table (tables, legend, notes), csv (the two tables, a blank line between; notes on stderr), json (one object). */
export function formatReport(r: CompareReport, format: Format): { stdout: string; stderr: string } {
  if (format === 'json') return { stdout: JSON.stringify(r, null, 1), stderr: '' };
  const cells = render(format, CELL_COLUMNS, r.cells.map((c) => CELL_COLUMNS.map((k) => c[k])));
  const pairs = r.pairs.length ? render(format, PAIR_COLUMNS, r.pairs.map((p) => PAIR_COLUMNS.map((k) => p[k]))) : '';
  const notes = r.notes.map((n) => `note: ${n}`).join('\n');
  if (format === 'csv') return { stdout: [cells, pairs].filter(Boolean).join('\n\n'), stderr: notes };
  return { stdout: [r.title, cells, ...(pairs ? ['', pairs, '', r.legend] : []), ...(notes ? ['', notes] : [])].join('\n'), stderr: '' };
}

function alphaArg(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('expected a number between 0 and 1, e.g. 0.05');
  return n;
}

function resamplesArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100) throw new InvalidArgumentError('expected an integer of at least 100');
  return n;
}

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('per cell: seeds, mean ± std and a 95 % bootstrap CI of a metric; per pair of cells: a paired test on matched seeds with Holm-corrected p-values and effect sizes')
    .argument('<study>', 'a study in the catalog')
    .argument('[cellA]', "a cell: its text as in the catalog ('model.hidden=32, model.noiseDim=4'), key=value pairs ('noiseDim=4,hidden=32'), an id prefix, or a model with one cell ('rx'); alone: compared with every other cell")
    .argument('[cellB]', 'a second cell: compare only these two (default: every pair of cells)')
    .option('-m, --metric <name>', "a final metric of the study's trials (e.g. auc, logauc, image_auc, critic/auc)", 'auc')
    .option('--alpha <a>', 'family-wise significance level for holds', alphaArg, 0.05)
    .addOption(new Option('--test <test>', `paired test: auto = exact permutation test for ≤ ${MAX_EXACT_PERMUTATION} matched seeds, Wilcoxon signed-rank above; permutation = exact up to ${MAX_EXACT_PERMUTATION}, 100,000 seeded random sign flips above`).choices(['auto', 'permutation', 'wilcoxon']).default('auto'))
    .option('--resamples <n>', 'bootstrap resamples of the confidence intervals', resamplesArg, DEFAULT_RESAMPLES)
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'))
    .addHelpText(
      'after',
      `
Pairs: trials of two cells pair when they share the seed and, for item studies, the split; a
deterministic model on a cube (RX, one trial) pairs with every seed. Unpaired trials are dropped
and counted. mean_diff is a − b; cells are listed by mean, highest first, and pairs read in that
order. p is two-sided; p_holm is Holm-adjusted over every comparison shown; a difference holds
when p_holm ≤ alpha. With n seeds an exact test cannot give p below 2/2^n (0.5 for 2 seeds,
0.0625 for 5, 0.002 for 10): fewer than 6 seeds can never show a difference at 0.05.
The method is documented in evaluation/statistics.ts.

Examples:
  gantry compare quickstart
  gantry compare quickstart rx 'model.hidden=64, model.noiseDim=4'
  gantry compare mtd-patches --metric image_auc --format json`,
    )
    .action(async (study: string, cellA: string | undefined, cellB: string | undefined, o: { metric: string; alpha: number; test: TestChoice; resamples: number; format: Format }) => {
      const cat = await Catalog.openReadOnly(loadConfig().catalogPath);
      try {
        const r = await compareStudy(cat, { study, cells: [cellA, cellB].filter((c): c is string => c !== undefined), metric: o.metric, alpha: o.alpha, test: o.test, resamples: o.resamples });
        const out = formatReport(r, o.format);
        process.stdout.write(out.stdout + '\n');
        if (out.stderr) process.stderr.write(out.stderr + '\n');
      } finally {
        cat.close();
      }
    });
}
