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

/** As wide as a table column gets; longer values are cut with '…'. */
export const MAX_COLUMN_WIDTH = 60;

/** Column widths: each column's widest text (header included), capped. A loop, not Math.max(...spread): a spread of 100k+ rows overflows the call stack. */
export function tableWidths(columns: string[], text: string[][]): number[] {
  const widths = columns.map((c) => c.length);
  for (const r of text) for (let i = 0; i < widths.length; i++) if (r[i].length > widths[i]) widths[i] = r[i].length;
  return widths.map((w) => Math.min(MAX_COLUMN_WIDTH, w));
}

/** One table line in the given widths: padded, cut with '…' past a width, trailing blanks trimmed. */
export function tableLine(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (c.length > widths[i] ? c.slice(0, widths[i] - 1) + '…' : c.padEnd(widths[i]))).join('  ').trimEnd();
}

export const tableRule = (widths: number[]): string => widths.map((w) => '-'.repeat(w)).join('  ');

export function renderTable(columns: string[], rows: unknown[][]): string {
  const text = rows.map((r) => r.map(cellText));
  const widths = tableWidths(columns, text);
  return [tableLine(columns, widths), tableRule(widths), ...text.map((r) => tableLine(r, widths))].join('\n');
}

export const csvEscape = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
export const csvLine = (row: unknown[]): string => row.map((v) => csvEscape(cellText(v))).join(',');

export function renderCsv(columns: string[], rows: unknown[][]): string {
  return [columns.map(csvEscape).join(','), ...rows.map(csvLine)].join('\n');
}

/** bigints as numbers where exact, else as strings. */
export const bigintJson = (_k: string, x: unknown): unknown => (typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : x.toString()) : x);

/**
 * Each row as `JSON.stringify(objects, …, 1)` lays it out inside the array, built from the
 * quoted keys and each value's own JSON (indented two more spaces): several times faster than
 * stringifying an object per row. Duplicate column names take the object path, which keeps the
 * last value under the first key.
 */
export function jsonRows(columns: string[]): (r: unknown[]) => string {
  if (new Set(columns).size !== columns.length) {
    return (r) => ' ' + JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, r[i]])), bigintJson, 1).replace(/\n/g, '\n ');
  }
  if (columns.length === 0) return () => ' {}';
  const keys = columns.map((c, i) => `${i === 0 ? ' {\n' : ',\n'}  ${JSON.stringify(c)}: `);
  const value = (v: unknown) => {
    if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
    if (typeof v === 'bigint') return JSON.stringify(bigintJson('', v));
    // undefined as JSON.stringify leaves it in an array of objects: the key dropped would change the layout, so null.
    return v === undefined ? 'null' : JSON.stringify(v, bigintJson, 1).replace(/\n/g, '\n  ');
  };
  return (r) => {
    let s = '';
    for (let i = 0; i < keys.length; i++) s += keys[i] + value(r[i]);
    return s + '\n }';
  };
}

export function renderJson(columns: string[], rows: unknown[][]): string {
  if (!rows.length) return '[]';
  const row = jsonRows(columns);
  return '[\n' + rows.map(row).join(',\n') + '\n]';
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

/**
 * Split text into lines of at most `width` characters, at spaces where it can, hard-cut where a
 * word is longer. Existing newlines are kept.
 */
export function wrapText(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    if (width < 1 || para.length <= width) {
      out.push(para);
      continue;
    }
    let line = '';
    for (let word of para.split(' ')) {
      if (line.length && line.length + 1 + word.length <= width) {
        line += ' ' + word;
        continue;
      }
      if (line.length) out.push(line);
      for (; word.length > width; word = word.slice(width)) out.push(word.slice(0, width));
      line = word;
    }
    out.push(line);
  }
  return out;
}

/**
 * A table whose cells are never cut: without `width` (not a terminal) every cell is shown whole;
 * with one (the terminal's columns), the `wrap` columns — the widest first — narrow until the
 * table fits, and their text wraps onto continuation lines. Columns not in `wrap` keep their width.
 */
export function renderWrappedTable(columns: string[], rows: unknown[][], opts: { width?: number; wrap?: number[]; minWidth?: number } = {}): string {
  const text = rows.map((r) => r.map(cellText));
  const widths = columns.map((c) => c.length);
  for (const r of text) for (let i = 0; i < widths.length; i++) for (const l of r[i].split('\n')) if (l.length > widths[i]) widths[i] = l.length;
  const wrap = opts.wrap ?? columns.map((_, i) => i);
  if (opts.width !== undefined) {
    const room = opts.width - 2 * (columns.length - 1);
    const min = opts.minWidth ?? 16;
    let total = widths.reduce((a, b) => a + b, 0);
    while (total > room) {
      let widest = -1;
      for (const i of wrap) if (widths[i] > Math.max(min, columns[i].length) && (widest < 0 || widths[i] > widths[widest])) widest = i;
      if (widest < 0) break; // as narrow as it goes: the terminal wraps the rest
      widths[widest]--;
      total--;
    }
  }
  const lines = [tableLine(columns, widths), tableRule(widths)];
  for (const r of text) {
    const cells = r.map((c, i) => (c.length > widths[i] || c.includes('\n') ? wrapText(c, widths[i]) : [c]));
    const height = Math.max(...cells.map((c) => c.length));
    for (let k = 0; k < height; k++) lines.push(cells.map((c, i) => (c[k] ?? '').padEnd(widths[i])).join('  ').trimEnd());
  }
  return lines.join('\n');
}
