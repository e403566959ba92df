/**
 * A CSV of per-image metadata (labels, acquisition facts, …) joined to scanned items by file name.
 *
 * The CSV is read with the small RFC 4180 parser below (csv-parse is not a dependency): fields
 * separated by commas, quoted fields may hold commas, newlines and doubled quotes, records end
 * in CRLF, LF or CR, a UTF-8 BOM is dropped, blank lines are skipped. The first record is the
 * header.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../core/errors.js';
import type { ImageItem, ScanProblem } from './layouts.js';

export interface MetadataJoin {
  /** The items in their order, each a copy whose meta has the row's columns added (the CSV wins on a clash). */
  items: ImageItem[];
  /**
   * Per item without a row: { rel: item.rel, reason: 'no metadata row' } (the item is kept).
   * Per row that matches no item or several: { rel: the file value, reason: 'line N: …' }.
   * Per malformed row (skipped): { rel: '<csv name>:<line>', reason: 'malformed row: …' }.
   */
  problems: ScanProblem[];
  /** The columns added to meta: the header without the file column. */
  columns: string[];
}

export interface CsvRecord {
  fields: string[];
  /** 1-based line on which the record starts. */
  line: number;
  /** Set when the record breaks the format (text after a closing quote). */
  error?: string;
}

/**
 * RFC 4180 records of `text`. An unterminated quoted field is a UserError naming `what` and the
 * line where it opened, since it swallows the rest of the file.
 */
export function parseCsv(text: string, what = 'CSV'): CsvRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: CsvRecord[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const rec: CsvRecord = { fields: [], line };
    let blank = true;
    for (;;) {
      let value = '';
      if (text[i] === '"') {
        blank = false;
        const open = line;
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) throw new UserError(`${what}: line ${open}: unterminated quoted field`, { hint: 'close the quote, or double quotes inside a quoted field ("")' });
          const chunk = text.slice(i, q);
          line += countNewlines(chunk);
          value += chunk;
          if (text[q + 1] === '"') {
            value += '"';
            i = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          rec.error ??= 'text after a closing quote';
          while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') value += text[i++];
        }
      } else {
        const start = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++;
        value = text.slice(start, i);
        if (value !== '') blank = false;
      }
      rec.fields.push(value);
      if (i < n && text[i] === ',') {
        blank = false;
        i++;
        continue;
      }
      // End of record: CRLF, LF, CR or end of text.
      if (text[i] === '\r' && text[i + 1] === '\n') i += 2;
      else if (i < n) i++;
      line++;
      break;
    }
    if (!blank) records.push(rec);
  }
  return records;
}

function countNewlines(s: string): number {
  let c = 0;
  for (let k = 0; k < s.length; k++) {
    const ch = s.charCodeAt(k);
    if (ch === 10) c++;
    else if (ch === 13 && s.charCodeAt(k + 1) !== 10) c++;
  }
  return c;
}

const DEFAULT_COLUMNS = ['file', 'filename', 'image'];

function findColumn(header: string[], wanted: string): number {
  const exact = header.indexOf(wanted);
  if (exact >= 0) return exact;
  const lower = wanted.toLowerCase();
  return header.findIndex((h) => h.toLowerCase() === lower);
}

/** Where items can be found by what a CSV cell may hold. */
class ItemIndex {
  private byRel = new Map<string, number>();
  private byPath = new Map<string, number>();
  private byBase = new Map<string, number[]>();
  private byStem = new Map<string, number[]>();
  constructor(private items: ImageItem[]) {
    items.forEach((it, k) => {
      this.byRel.set(it.rel, k);
      this.byPath.set(it.path, k);
      const base = it.rel.slice(it.rel.lastIndexOf('/') + 1);
      push(this.byBase, base, k);
      push(this.byStem, base.slice(0, base.length - path.extname(base).length), k);
    });
  }

  /** Item indices for a cell: one when it matches, several when ambiguous, none when not found. */
  lookup(raw: string): number[] {
    const v = raw.trim().replace(/\\/g, '/').replace(/^(\.\/)+/, '');
    if (v.includes('/')) {
      const r = this.byRel.get(v) ?? this.byPath.get(v);
      if (r !== undefined) return [r];
      // A path relative to a folder above or below the root (an MVTec CSV made per category, say).
      const hits: number[] = [];
      this.items.forEach((it, k) => {
        if (it.rel.endsWith(`/${v}`) || v.endsWith(`/${it.rel}`)) hits.push(k);
      });
      return hits;
    }
    return this.byBase.get(v) ?? this.byStem.get(v) ?? [];
  }
}

function push(m: Map<string, number[]>, k: string, v: number): void {
  const xs = m.get(k);
  if (xs) xs.push(v);
  else m.set(k, [v]);
}

/**
 * Join CSV rows to items by file name. `column` (default: the first of 'file', 'filename',
 * 'image' present, case-insensitive) holds a base name ('x.png', or 'x' without extension), a
 * path relative to the dataset root, or an absolute path.
 */
export async function joinMetadata(items: ImageItem[], csvPath: string, opts: { column?: string } = {}): Promise<MetadataJoin> {
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${csvPath}: metadata file not found` : `${csvPath}: cannot read the metadata file (${code ?? String(e)})`, { cause: e });
  }
  const records = parseCsv(text, csvPath);
  if (records.length === 0) throw new UserError(`${csvPath}: empty metadata file`, { hint: 'the first line must be a header naming the columns' });
  const [head, ...rows] = records;
  if (head.error) throw new UserError(`${csvPath}: line ${head.line}: malformed header (${head.error})`);
  const header = head.fields.map((h) => h.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (h === '') throw new UserError(`${csvPath}: the header has an empty column name`);
    if (seen.has(h)) throw new UserError(`${csvPath}: the header names column '${h}' twice`);
    seen.add(h);
  }
  let col: number;
  if (opts.column !== undefined) {
    col = findColumn(header, opts.column);
    if (col < 0) throw new UserError(`${csvPath}: no column '${opts.column}'`, { hint: `columns: ${header.join(', ')}` });
  } else {
    col = -1;
    for (const c of DEFAULT_COLUMNS) if (col < 0) col = findColumn(header, c);
    if (col < 0) {
      throw new UserError(`${csvPath}: no file column (looked for ${DEFAULT_COLUMNS.join(', ')})`, {
        hint: `columns: ${header.join(', ')}; name the one holding file names with the metadata column option`,
      });
    }
  }
  const columns = header.filter((_, k) => k !== col);

  const csvName = path.basename(csvPath);
  const problems: ScanProblem[] = [];
  const index = new ItemIndex(items);
  const rowOf = new Map<number, { line: number; meta: Record<string, string> }>();
  for (const r of rows) {
    if (r.error || r.fields.length !== header.length) {
      const why = r.error ?? `${r.fields.length} field${r.fields.length === 1 ? '' : 's'}, the header has ${header.length}`;
      problems.push({ rel: `${csvName}:${r.line}`, reason: `malformed row: ${why} (skipped)` });
      continue;
    }
    const file = r.fields[col].trim();
    if (file === '') {
      problems.push({ rel: `${csvName}:${r.line}`, reason: `line ${r.line}: empty file name (skipped)` });
      continue;
    }
    const hits = index.lookup(file);
    if (hits.length === 0) {
      problems.push({ rel: file, reason: `line ${r.line}: matches no image` });
      continue;
    }
    if (hits.length > 1) {
      problems.push({ rel: file, reason: `line ${r.line}: matches ${hits.length} images (give the path relative to the dataset root)` });
      continue;
    }
    const k = hits[0];
    const prev = rowOf.get(k);
    if (prev) {
      problems.push({ rel: items[k].rel, reason: `line ${r.line}: second row for this image (line ${prev.line} is used)` });
      continue;
    }
    const meta: Record<string, string> = {};
    header.forEach((h, c) => {
      if (c !== col) meta[h] = r.fields[c];
    });
    rowOf.set(k, { line: r.line, meta });
  }

  const out = items.map((it, k) => {
    const row = rowOf.get(k);
    if (!row) {
      problems.push({ rel: it.rel, reason: 'no metadata row' });
      return { ...it, meta: { ...it.meta } };
    }
    return { ...it, meta: { ...it.meta, ...row.meta } };
  });
  return { items: out, problems, columns };
}
