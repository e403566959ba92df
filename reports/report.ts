/**
 * A study's report: its tables (reports/tables.ts) and figures (reports/figures.ts), read from the
 * catalog and store alone; `collectReport` reads, `finishReport` renders once the catalog is closed.
 */
import { studyTrialCount } from '../activities/launches.js';
import type { Catalog } from '../infra/catalog.js';
import type { ArtifactStore } from '../infra/store/store.js';
import type { ReportSpec } from '../experiments/spec.js';
import { loadReportData, type ReportData } from './data.js';
import type { Figure } from './plots.js';
import { QUERIES } from './queries.js';
import { comparisonTable, comparisons, perClassTable, perTargetTable, pixelTable, summaryLongTable, summaryTable, trialsTable, type Table } from './tables.js';
import { renderFigures, reportFigures, type PendingFigure } from './figures.js';

export type { Table, TableValue } from './tables.js';

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

export async function finishReport(draft: ReportDraft): Promise<Report> {
  return { ...draft, figures: await renderFigures(draft.figures) };
}

/** Everything a report shows, read from the catalog and store (figures not yet rendered). */
export async function collectReport(catalog: Catalog, store: ArtifactStore, study: string, opts: ReportOptions = {}): Promise<ReportDraft> {
  const data = await loadReportData(catalog, store, study);
  const layout = opts.layout;
  const shown = data.cells.slice(0, opts.maxCells ?? 10);
  const dataRoot = opts.dataRoot ?? process.cwd();
  const figureNotes: string[] = [];
  const figures = opts.figures === false ? [] : await reportFigures(catalog, store, shown, dataRoot, figureNotes);
  const cmp = await comparisons(catalog, data);
  const perClass = await perClassTable(catalog, data);
  const pixel = await pixelTable(catalog, store, shown, dataRoot);
  const perTarget = await perTargetTable(catalog, data.cells);
  const protocol = [...(layout?.protocol ?? []), ...figureNotes];
  if (data.cells.length > shown.length) protocol.push(`Figures and the pixel-level table (it recomputes maps) show the ${shown.length} best of ${data.cells.length} cells by mean ${data.rankBy}; the other tables show all.`);
  return {
    study: data.study,
    storeUrl: data.storeUrl,
    generatedAt: new Date().toISOString(),
    recorded: data.cells.reduce((a, c) => a + c.trials.length, 0),
    planned: studyTrialCount(data.study),
    protocol,
    paperSource: layout?.paper?.source,
    tables: [summaryTable(data, layout, cmp), comparisonTable(cmp), ...(perClass ? [perClass] : []), ...(pixel ? [pixel] : []), ...(perTarget ? [perTarget] : []), trialsTable(data), summaryLongTable(data)],
    figures,
    queries: { ...QUERIES },
  };
}
