/**
 * `gantry report <study>`: the study's tables and figures from the catalog and store, written to
 * a folder (atomically: a reader never sees half a report), stored as artifacts of the study and,
 * with MLFLOW_TRACKING_URI set, uploaded to the study's report run (reports/publish.ts).
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { loadConfig, openStore } from '../infra/config.js';
import { Catalog } from '../infra/catalog.js';
import { MlflowClient } from '../infra/mlflow/client.js';
import { oneLine, UserError } from '../core/errors.js';
import { storeReport, uploadReport } from '../reports/publish.js';
import { BUILTIN_STUDIES } from '../experiments/studies.js';
import type { ReportSpec } from '../experiments/spec.js';
import { collectReport, finishReport, type Report, type ReportDraft } from '../reports/report.js';
import { NothingRecorded, studyInStore } from '../reports/data.js';
import { existsSync } from 'node:fs';
import { REPORT_FORMATS, renderReport, type ReportFiles, type ReportFormat } from '../reports/render.js';
import { PROJECT_ROOT, loadStudy, studyBaseDir } from './load-study.js';

/**
 * Write files into `dir`, replacing what was there only once all of them are written. The
 * partial folder is made by a plain mkdir first, so a place that cannot hold folders fails at
 * once with its reason (a recursive mkdir retries some refusals, e.g. under /proc, forever).
 */
async function writeFolder(dir: string, files: ReportFiles): Promise<void> {
  const partial = `${dir}.partial-${process.pid}`;
  try {
    await mkdir(dirname(dir), { recursive: true });
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial);
    for (const [rel, bytes] of files) {
      if (rel.includes('/')) await mkdir(dirname(join(partial, rel)), { recursive: true });
      await writeFile(join(partial, rel), bytes);
    }
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } catch (e) {
    await rm(partial, { recursive: true, force: true }).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot write the report to ${dir}${code ? ` (${code})` : ''}: ${(e as Error).message.split('\n')[0]}`, { hint: 'give --out a folder you can write' });
  }
}

/** The study's report layout: from --spec, else the built-in study of that name. */
async function layoutFor(study: string, specRef?: string): Promise<ReportSpec | undefined> {
  if (specRef) {
    const spec = await loadStudy(specRef);
    if (spec.name !== study) throw new UserError(`--spec ${specRef} defines study '${spec.name}', not '${study}'`);
    return spec.report;
  }
  return BUILTIN_STUDIES[study]?.report;
}

interface ReportOpts {
  format: ReportFormat;
  out?: string;
  spec?: string;
  store: boolean;
  watch?: number | true;
  maxCells: number;
}

async function once(study: string, o: ReportOpts, refreshSeconds?: number): Promise<{ report: Report; dir: string; stored?: string; mlflow?: string }> {
  const cfg = loadConfig();
  const store = openStore(cfg.storeUrl);
  const layout = await layoutFor(study, o.spec);
  await studyInStore(store, study);
  const cat = await Catalog.openReadOnly(cfg.catalogPath);
  let draft: ReportDraft;
  try {
    // Relative dataset paths start at the study file's folder (the project for built-in studies), as for gantry run.
    const dataRoot = o.spec ? studyBaseDir(o.spec) : BUILTIN_STUDIES[study] ? PROJECT_ROOT : process.cwd();
    draft = await collectReport(cat, store, study, { layout, maxCells: o.maxCells, figures: o.format !== 'csv', dataRoot });
  } finally {
    // Closed before rendering: a running study's writer waits for this connection.
    cat.close();
  }
  const report = await finishReport(draft);
  const files = renderReport(report, o.format, { refreshSeconds });
  const dir = resolve(o.out ?? join(cfg.home, 'reports', study));
  await writeFolder(dir, files);
  const stored = o.store ? await storeReport(store, report, o.format, files) : undefined;
  const client = o.store ? MlflowClient.fromEnv() : undefined;
  let mlflow: string | undefined;
  if (client) {
    // The report is safe in the store already: an MLflow that does not answer costs a warning, not the report.
    try {
      mlflow = `uploaded to MLflow run ${await uploadReport(client, report, o.format, files)}`;
    } catch (e) {
      mlflow = `not uploaded to MLflow (${oneLine(e)}); run gantry report again to retry`;
    } finally {
      await client.close();
    }
  }
  return { report, dir, stored, mlflow };
}

const MAIN_FILE: Record<ReportFormat, string> = { html: 'index.html', md: 'report.md', latex: 'report.tex', csv: 'summary.csv' };

export function registerReport(program: Command): void {
  program
    .command('report')
    .description("a study's results as a report: the per-cell table beside the paper's published numbers (where the study names them), every trial with the checkpoint it kept, ROC and semi-log ROC curves, training curves, score histograms and anomaly maps; from the catalog and store alone")
    .argument('<study>', 'the study (as gantry run named it)')
    .addOption(new Option('-f, --format <format>', 'html: a page with SVG figures; md: Markdown; latex: booktabs tables to \\input; csv: the tables only').choices([...REPORT_FORMATS]).default('html'))
    .option('-o, --out <dir>', 'the folder to write (replaced as a whole; default $GANTRY_HOME/reports/<study>)')
    .option('--spec <file>', "the study file, for its report layout (paper numbers, protocol notes); built-in studies need none")
    .option('--no-store', 'write the folder only: neither store the report as artifacts of the study (reports/<study>/ in the store) nor upload it to MLflow (done when MLFLOW_TRACKING_URI is set)')
    .option('--max-cells <n>', 'cells drawn in the figures (the best by the ranking metric; tables list all)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new UserError(`--max-cells: expected a positive integer, got '${v}'`);
      return n;
    }, 10)
    .option('-w, --watch [seconds]', 'regenerate every few seconds (default 10) while the study runs, until all its trials are recorded; the HTML page reloads itself', (v) => {
      const n = Number(v);
      if (!(n > 0)) throw new UserError(`--watch: expected seconds > 0, got '${v}'`);
      return n;
    })
    .action(async (study: string, o: ReportOpts) => {
      if (o.watch === undefined) {
        const { report, dir, stored, mlflow } = await once(study, o);
        process.stdout.write(`report of ${study} (${report.recorded} of ${report.planned} trials): ${join(dir, MAIN_FILE[o.format])}${stored ? `\nstored as ${stored}/` : ''}${mlflow ? `\n${mlflow}` : ''}\n`);
        return;
      }
      const every = o.watch === true ? 10 : o.watch;
      const stop = new AbortController();
      const onSig = () => stop.abort();
      process.once('SIGINT', onSig);
      try {
        const cfg = loadConfig();
        let recorded = false;
        for (;;) {
          const now = new Date().toISOString().slice(11, 19);
          const r = existsSync(cfg.catalogPath)
            ? await once(study, { ...o, store: false }, Math.ceil(every)).catch((e) => {
                if (e instanceof NothingRecorded) return undefined;
                throw e;
              })
            : undefined;
          recorded ||= !!r;
          if (!r) process.stderr.write(`${now} waiting for the first trial of ${study} to be recorded\n`);
          else process.stderr.write(`${now} ${r.report.recorded}/${r.report.planned} trials recorded: ${join(r.dir, MAIN_FILE[o.format])}\n`);
          if ((r && r.report.recorded >= r.report.planned) || stop.signal.aborted) break;
          await new Promise<void>((r) => {
            const t = setTimeout(r, every * 1000);
            stop.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
          });
          if (stop.signal.aborted) break;
        }
        if (!recorded) return;
        // The last one without the page's self-reload, and stored as a report without --watch is.
        const { stored, mlflow } = await once(study, o);
        if (stored) process.stdout.write(`stored as ${stored}/\n`);
        if (mlflow) process.stdout.write(`${mlflow}\n`);
      } finally {
        process.off('SIGINT', onSig);
      }
    });
}
