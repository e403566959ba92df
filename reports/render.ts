/**
 * A report as files: Markdown, a self-contained HTML page (figures as SVG beside it), LaTeX
 * (booktabs tables, figures as PNG) or CSV tables. Every format gets the figures' PNGs, SVGs and
 * Vega-Lite specs under plots/, so a figure can be restyled without rerunning anything.
 */
import { renderCsv } from '../cli/format.js';
import type { Report, Table, TableValue } from './report.js';

export const REPORT_FORMATS = ['html', 'md', 'latex', 'csv'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export type ReportFiles = Map<string, Uint8Array | string>;

const text = (v: TableValue): string => (v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v);

/** Tables shown in documents (the long summary is for CSV readers). */
const shownTables = (r: Report) => r.tables.filter((t) => t.name !== 'summary-long');

function header(r: Report): string[] {
  const s = r.study;
  const lines = [
    `Profile ${s.profile ?? 'none'}, study version ${s.version}; ${r.recorded} of ${r.planned} trials recorded in the catalog; store ${r.storeUrl}.`,
    `Generated ${r.generatedAt} by gantry report from the catalog and store (nothing was recomputed from samples).`,
  ];
  return lines;
}

function figureFiles(r: Report, files: ReportFiles): void {
  for (const f of r.figures) {
    files.set(`plots/${f.name}.png`, f.png);
    if (f.svg) files.set(`plots/${f.name}.svg`, f.svg);
    if (f.spec) files.set(`plots/${f.name}.vl.json`, JSON.stringify(f.spec, null, 1));
  }
}

// ---- Markdown -------------------------------------------------------------------------------

function mdTable(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${t.columns.map(esc).join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`, ...t.rows.map((row) => `| ${row.map((v) => esc(text(v))).join(' | ')} |`)].join('\n');
}

function markdown(r: Report): string {
  const out = [`# ${r.study.study}`, '', r.study.description, '', ...header(r).map((l) => `${l}  `), ''];
  if (r.protocol.length) out.push('## Protocol', '', ...r.protocol.map((p) => `- ${p}`), '');
  for (const t of shownTables(r)) out.push(`## ${t.title}`, '', mdTable(t), '', ...t.notes.map((n) => `> ${n}`), '');
  for (const f of r.figures) out.push(`## ${f.title}`, '', `![${f.title}](plots/${f.name}.png)`, '', f.caption, '');
  out.push('## Queries', '', 'The tables come from these queries (run them with `gantry query`; `?` is the study or trial).', '');
  for (const [name, q] of Object.entries(r.queries)) out.push(`**${name}**`, '', '```sql', q, '```', '');
  return out.join('\n');
}

// ---- HTML -----------------------------------------------------------------------------------

const escHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function htmlTable(t: Table): string {
  const head = `<tr>${t.columns.map((c) => `<th>${escHtml(c)}</th>`).join('')}</tr>`;
  const body = t.rows.map((row) => `<tr>${row.map((v) => `<td${typeof v === 'number' ? ' class="num"' : ''}>${escHtml(text(v))}</td>`).join('')}</tr>`).join('\n');
  return `<table id="table-${t.name}">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

const CSS = `body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}
th{border-bottom:2px solid #888}td.num{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1em 0 2em}figcaption{color:#555;font-size:13px;max-width:760px}
pre{background:#f6f6f6;padding:.6em;font-size:12px;overflow-x:auto}.note{color:#555;font-size:13px;margin:.2em 0}.meta{color:#555}`;

function html(r: Report, refresh?: number): string {
  const parts = [
    '<!doctype html>',
    `<html lang="en"><head><meta charset="utf-8"><title>${escHtml(r.study.study)} — gantry report</title>`,
    refresh ? `<meta http-equiv="refresh" content="${refresh}">` : '',
    `<style>${CSS}</style></head><body>`,
    `<h1>${escHtml(r.study.study)}</h1>`,
    `<p>${escHtml(r.study.description)}</p>`,
    ...header(r).map((l) => `<p class="meta">${escHtml(l)}</p>`),
  ];
  if (r.protocol.length) parts.push('<h2>Protocol</h2><ul>', ...r.protocol.map((p) => `<li>${escHtml(p)}</li>`), '</ul>');
  for (const t of shownTables(r)) parts.push(`<h2>${escHtml(t.title)}</h2>`, htmlTable(t), ...t.notes.map((n) => `<p class="note">${escHtml(n)}</p>`));
  for (const f of r.figures) {
    const src = f.svg ? `plots/${f.name}.svg` : `plots/${f.name}.png`;
    parts.push(`<h2>${escHtml(f.title)}</h2>`, `<figure id="figure-${f.name}"><img src="${src}" alt="${escHtml(f.title)}"><figcaption>${escHtml(f.caption)} <a href="plots/${f.name}.png">PNG</a>${f.spec ? ` · <a href="plots/${f.name}.vl.json">Vega-Lite spec</a>` : ''}</figcaption></figure>`);
  }
  parts.push('<h2>Queries</h2><p class="note">The tables come from these queries (run them with <code>gantry query</code>; <code>?</code> is the study or trial).</p>');
  for (const [name, q] of Object.entries(r.queries)) parts.push(`<p><b>${escHtml(name)}</b></p><pre>${escHtml(q)}</pre>`);
  parts.push('</body></html>');
  return parts.filter(Boolean).join('\n');
}

// ---- LaTeX ----------------------------------------------------------------------------------

const escTex = (s: string) =>
  s.replace(/[\\{}$&#^_%~]/g, (c) => ({ '\\': '\\textbackslash{}', '{': '\\{', '}': '\\}', $: '\\$', '&': '\\&', '#': '\\#', '^': '\\^{}', _: '\\_', '%': '\\%', '~': '\\~{}' })[c]!).replace(/±/g, '$\\pm$');

function latexTable(t: Table): string {
  return [
    '\\begin{table}[ht]',
    '\\centering\\small',
    `\\caption{${escTex(t.title)}}`,
    `\\begin{tabular}{${t.columns.map(() => 'l').join('')}}`,
    '\\toprule',
    `${t.columns.map(escTex).join(' & ')} \\\\`,
    '\\midrule',
    ...t.rows.map((row) => `${row.map((v) => escTex(text(v))).join(' & ')} \\\\`),
    '\\bottomrule',
    '\\end{tabular}',
    ...t.notes.map((n) => `\\par\\footnotesize ${escTex(n)}`),
    '\\end{table}',
  ].join('\n');
}

function latex(r: Report): string {
  const out = [
    '% gantry report: \\input this file; needs \\usepackage{booktabs,graphicx}',
    `\\section*{${escTex(r.study.study)}}`,
    escTex(r.study.description),
    '',
    ...header(r).map((l) => `${escTex(l)}\\par`),
  ];
  if (r.protocol.length) out.push('\\begin{itemize}', ...r.protocol.map((p) => `\\item ${escTex(p)}`), '\\end{itemize}');
  for (const t of shownTables(r)) out.push(latexTable(t), '');
  for (const f of r.figures) out.push('\\begin{figure}[ht]', '\\centering', `\\includegraphics[width=0.8\\linewidth]{plots/${f.name}.png}`, `\\caption{${escTex(f.title)}. ${escTex(f.caption)}}`, '\\end{figure}', '');
  return out.join('\n');
}

/** The files of a report in one format (paths relative to the report's folder). */
export function renderReport(r: Report, format: ReportFormat, opts: { refreshSeconds?: number } = {}): ReportFiles {
  const files: ReportFiles = new Map();
  if (format === 'csv') {
    for (const t of r.tables) files.set(`${t.name}.csv`, renderCsv(t.columns, t.rows) + '\n');
    return files;
  }
  figureFiles(r, files);
  if (format === 'md') files.set('report.md', markdown(r));
  else if (format === 'latex') files.set('report.tex', latex(r));
  else files.set('index.html', html(r, opts.refreshSeconds));
  return files;
}
