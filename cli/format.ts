/** Rendering query results for the terminal: aligned table, CSV or JSON. */

export type Format = 'table' | 'csv' | 'json';

export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  return String(v);
}

export function renderTable(columns: string[], rows: unknown[][]): string {
  const text = rows.map((r) => r.map(cellText));
  // A loop, not Math.max(...spread): a spread of 100k+ rows overflows the call stack.
  const widths = columns.map((c) => c.length);
  for (const r of text) for (let i = 0; i < widths.length; i++) if (r[i].length > widths[i]) widths[i] = r[i].length;
  for (let i = 0; i < widths.length; i++) widths[i] = Math.min(60, widths[i]);
  const fit = (s: string, w: number) => (s.length > w ? s.slice(0, w - 1) + '…' : s.padEnd(w));
  const line = (cells: string[]) => cells.map((c, i) => fit(c, widths[i])).join('  ').trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n');
}

export function renderCsv(columns: string[], rows: unknown[][]): string {
  const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [columns.map(esc).join(','), ...rows.map((r) => r.map((v) => esc(cellText(v))).join(','))].join('\n');
}

export function renderJson(columns: string[], rows: unknown[][]): string {
  const objs = rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
  return JSON.stringify(objs, (_k, x) => (typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : x.toString()) : x), 1);
}

export function render(format: Format, columns: string[], rows: unknown[][]): string {
  return format === 'csv' ? renderCsv(columns, rows) : format === 'json' ? renderJson(columns, rows) : renderTable(columns, rows);
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
