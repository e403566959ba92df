/**
 * `gantry report` on the quickstart (shortened training, the same pipeline and grid), as a reader
 * sees it: the HTML page opened from disk in headless Chromium (playwright-core, the machine's
 * own browser) loads without console errors, every figure loads and has a plotted line or map in
 * it, and the summary table holds the numbers the catalog has (checked against `gantry query`).
 * The Markdown, LaTeX and CSV formats are checked against the same catalog numbers. Screenshots
 * go to $GANTRY_TEST_ARTIFACTS as report-*.png. The browser part is skipped, with the reason,
 * without chromium, unless GANTRY_LIVE=require.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, runCli, tempHome } from '../helpers.js';
import { liveRequired } from '../live/servers.js';
import { artifactsDir, browserMissing, launchBrowser, saturatedPixels } from './browser.js';

const missing = await browserMissing();
if (missing && !liveRequired()) console.log(`report-ui: ${missing}`);

const home = await tempHome('gantry-report-');
const env = { GANTRY_HOME: home };
const FAST = ['--set', 'model.iterations=60', '--set', 'model.scoreRestarts=1', '--set', 'model.scoreIterations=5'];

interface CellRow {
  cell_id: string;
  model: string;
  seeds: number;
  auc_mean: number;
  auc_std: number | null;
  logauc_mean: number;
}

/** RFC 4180 rows (quoted fields may hold commas and doubled quotes). */
function parseCsv(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .map((line) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)].filter((m, i, all) => i < all.length - 1 || m[0] !== '').map((m) => (m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1])));
}

/** The catalog's per-cell numbers, as a user queries them. */
async function cellSummary(): Promise<CellRow[]> {
  const q = await runCli(['query', "SELECT cell_id, model, seeds, auc_mean, auc_std, logauc_mean FROM cell_summary WHERE study = 'quickstart'", '--format', 'json'], env);
  assert.equal(q.code, 0, q.stderr);
  return JSON.parse(q.stdout) as CellRow[];
}

test('gantry report quickstart: html, md, latex and csv from the catalog', { timeout: 600_000 }, async (t) => {
  t.after(() => rm(home, { recursive: true, force: true }));
  const run = await runCli(['run', 'quickstart', ...FAST], env, REPO_ROOT);
  assert.equal(run.code, 0, run.stderr);
  const cells = await cellSummary();
  assert.equal(cells.length, 5);

  const html = await runCli(['report', 'quickstart'], env);
  assert.equal(html.code, 0, html.stderr);
  const dir = join(home, 'reports', 'quickstart');
  assert.match(html.stdout, /9 of 9 trials/);
  assert.match(html.stdout, /stored as reports\/quickstart\//);
  const page = await readFile(join(dir, 'index.html'), 'utf8');
  const plots = await readdir(join(dir, 'plots'));
  for (const f of ['roc', 'roc-semilog', 'histograms', 'curves']) for (const ext of ['svg', 'png', 'vl.json']) assert.ok(plots.includes(`${f}.${ext}`), `plots/${f}.${ext} missing: ${plots.join(', ')}`);
  assert.ok(plots.includes('map-1.png'), 'the scene map is drawn for a pixel-tiled cube');
  for (const c of cells) assert.ok(page.includes(c.auc_mean.toFixed(3)), `the page holds cell ${c.cell_id}'s mean AUC ${c.auc_mean.toFixed(3)}`);

  // The report is stored as the study's artifacts, with a pointer to the newest.
  const latest = JSON.parse(await readFile(join(home, 'store', 'reports', 'quickstart', 'latest.json'), 'utf8')) as { prefix: string; files: Record<string, unknown> };
  assert.ok(latest.files['index.html'] && latest.files['plots/roc.svg']);
  assert.ok(existsSync(join(home, 'store', latest.prefix, 'index.html')));

  const md = await runCli(['report', 'quickstart', '--format', 'md', '--out', join(home, 'md'), '--no-store'], env);
  assert.equal(md.code, 0, md.stderr);
  const mdText = await readFile(join(home, 'md', 'report.md'), 'utf8');
  assert.match(mdText, /!\[ROC on the test split\]\(plots\/roc\.png\)/);
  for (const c of cells) assert.ok(mdText.includes(c.auc_mean.toFixed(3)));
  // The scene's ten implanted anomalies are ten targets, each with its AUROC for every cell.
  const targets = mdText.split('## AUROC per target')[1]?.split('\n## ')[0].split('\n').filter((l) => l.startsWith('| ')) ?? [];
  assert.equal(targets.length, 1 + cells.length, 'a header and a row per cell');
  assert.equal((targets[0].match(/\| T\d+ \(\d+ px\)/g) ?? []).length, 10);

  const tex = await runCli(['report', 'quickstart', '--format', 'latex', '--out', join(home, 'tex'), '--no-store'], env);
  assert.equal(tex.code, 0, tex.stderr);
  const texText = await readFile(join(home, 'tex', 'report.tex'), 'utf8');
  assert.match(texText, /\\toprule/);
  assert.match(texText, /\\includegraphics\[width=0.8\\linewidth\]\{plots\/roc\.png\}/);
  assert.doesNotMatch(texText.replace(/\\_/g, ''), /[^\\]_/, 'underscores are escaped');

  const csv = await runCli(['report', 'quickstart', '--format', 'csv', '--out', join(home, 'csv'), '--no-store'], env);
  assert.equal(csv.code, 0, csv.stderr);
  const long = parseCsv(await readFile(join(home, 'csv', 'summary-long.csv'), 'utf8'));
  const header = long[0];
  for (const c of cells) {
    const row = long.find((r) => r[header.indexOf('cell_id')] === c.cell_id && r[header.indexOf('metric')] === 'auc');
    assert.ok(row, `summary-long.csv has cell ${c.cell_id}`);
    assert.ok(Math.abs(Number(row[header.indexOf('mean')]) - c.auc_mean) < 1e-5, `${row[header.indexOf('mean')]} vs ${c.auc_mean}`);
    assert.equal(Number(row[header.indexOf('seeds')]), Number(c.seeds));
  }
  assert.ok(!existsSync(join(home, 'csv', 'plots')), 'csv has no figures');

  const bad = await runCli(['report', 'no-such-study'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no study 'no-such-study'.*quickstart/s);

  await t.test('the HTML page in headless Chromium', { skip: missing && !liveRequired() ? missing : false }, async () => {
    assert.ok(!missing, `GANTRY_LIVE=require, but ${missing?.replace(/^skipped: /, '')}`);
    const browser = await launchBrowser();
    try {
      const errors: string[] = [];
      browser.page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
      browser.page.on('pageerror', (e) => errors.push(String(e)));
      browser.page.on('requestfailed', (r) => errors.push(`failed to load ${r.url()}`));
      await browser.page.goto(pathToFileURL(join(dir, 'index.html')).href, { waitUntil: 'load' });
      const images = await browser.page.evaluate(() => {
        const w = globalThis as any;
        return [...w.document.images].map((i: any) => ({ src: i.getAttribute('src') as string, ok: i.complete && i.naturalWidth > 0 }));
      });
      assert.ok(images.length >= 5, `${images.length} images on the page`);
      for (const i of images) assert.ok(i.ok, `image ${i.src} did not load`);
      assert.deepEqual(errors, []);
      // Every figure has something plotted in it (coloured lines, bars or a viridis map).
      const out = await artifactsDir();
      for (const id of ['roc', 'roc-semilog', 'histograms', 'curves', 'map-1']) {
        const fig = browser.page.locator(`#figure-${id} img`);
        const png = await fig.screenshot({ path: join(out, `report-${id}.png`) });
        assert.ok((await saturatedPixels(browser.page, png)) > 500, `figure ${id} has coloured marks`);
      }
      // The summary table, as rendered, holds the catalog's numbers for every cell.
      const rows = await browser.page.locator('#table-summary tbody tr').allInnerTexts();
      assert.equal(rows.length, cells.length);
      for (const c of cells) {
        const want = c.auc_std === null ? c.auc_mean.toFixed(3) : `${c.auc_mean.toFixed(3)} ± ${c.auc_std.toFixed(3)}`;
        assert.ok(rows.some((r) => r.includes(want) && r.includes(c.model)), `a summary row shows ${want} (${c.model}): ${rows.join(' | ')}`);
      }
      await browser.page.screenshot({ path: join(out, 'report-page.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
