/**
 * What a user sees in the real MLflow UI after `gantry run quickstart` with the mirror on: a real
 * `mlflow server` (2.10.2, SQLite, --serve-artifacts) on loopback, the real CLI, and headless
 * Chromium (playwright-core driving the machine's own browser) on the UI's hash routes:
 *
 *   - the experiment `gantry/quickstart` lists every run (expanding parent runs as a user
 *     would), one per trial in the catalog;
 *   - a trial's run page shows its parameters with their values;
 *   - following a training metric's "Plot chart" link draws its curve, point for point what
 *     the REST API holds.
 *
 * Nothing here depends on run names or gantry's tag names: runs are matched by id, trials are
 * the runs that are nobody's parent (MLflow's own mlflow.parentRunId), and the parameter and
 * metric shown are picked from what REST returns. Screenshots go to
 * $GANTRY_TEST_ARTIFACTS (default test-artifacts/) as mlflow-ui-*.png. Skipped, with the
 * reason, without mlflow or chromium, unless GANTRY_LIVE=require.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, runCli, tempHome } from '../helpers.js';
import { findLiveBinary, liveRequired, missingServer, startMlflow, type MlflowServer } from '../live/servers.js';
import { artifactsDir, browserMissing, launchBrowser, saturatedPixels, type Browser } from './browser.js';

interface Run {
  info: { run_id: string; status: string };
  data: { params?: { key: string; value: string }[]; metrics?: { key: string; value: number; step: number }[]; tags?: { key: string; value: string }[] };
}
interface Point {
  value: number;
  step: number;
}

async function rest<T>(base: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${base}/api/2.0/mlflow/${path}`, {
    method: body ? 'POST' : 'GET',
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  assert.ok(r.ok, `MLflow ${path}: HTTP ${r.status} ${await r.clone().text()}`);
  return (await r.json()) as T;
}

async function allRuns(base: string, experimentId: string): Promise<Run[]> {
  const runs: Run[] = [];
  let token: string | undefined;
  do {
    const page = await rest<{ runs?: Run[]; next_page_token?: string }>(base, 'runs/search', {
      experiment_ids: [experimentId],
      max_results: 1000,
      ...(token ? { page_token: token } : {}),
    });
    runs.push(...(page.runs ?? []));
    token = page.next_page_token;
  } while (token);
  return runs;
}

const missing = findLiveBinary('mlflow') ? await browserMissing() : missingServer('mlflow');
if (missing && !liveRequired()) console.log(`mlflow-ui: ${missing}`);

test('MLflow UI after the quickstart: the runs table lists every trial, a run shows its params, a training metric is plotted', {
  skip: missing && !liveRequired() ? missing : false,
  timeout: 420_000,
}, async (t) => {
  assert.ok(!missing, `GANTRY_LIVE=require, but ${missing?.replace(/^skipped: /, '')}`);
  const started = Date.now();
  const secs = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const mlflow = (await startMlflow()) as MlflowServer;
  t.after(() => mlflow.stop());
  t.diagnostic(`${mlflow.version} at ${mlflow.url}, up after ${secs()}`);

  // The quickstart through the real CLI, mirrored to MLflow.
  const home = await tempHome('gantry-ui-');
  t.after(() => rm(home, { recursive: true, force: true }));
  const env = { GANTRY_HOME: home, MLFLOW_TRACKING_URI: mlflow.url, CI: 'true' };
  const run = await runCli(['run', 'quickstart'], env, REPO_ROOT);
  assert.equal(run.code, 0, `gantry run quickstart failed:\n${run.stderr.slice(-3000)}`);
  t.diagnostic(`quickstart done after ${secs()}`);
  const q = await runCli(['query', 'SELECT count(*) AS n FROM trials', '--format', 'json'], env);
  assert.equal(q.code, 0, q.stderr);
  const trials = Number((JSON.parse(q.stdout) as { n: number }[])[0].n);
  assert.ok(trials > 1, `the catalog holds ${trials} trials`);

  // What REST says is there: the UI must show the same.
  const { experiment } = await rest<{ experiment: { experiment_id: string } }>(
    mlflow.url,
    `experiments/get-by-name?experiment_name=${encodeURIComponent('gantry/quickstart')}`,
  );
  const expId = experiment.experiment_id;
  const runs = await allRuns(mlflow.url, expId);
  const parentIds = new Set(runs.flatMap((r) => (r.data.tags ?? []).filter((x) => x.key === 'mlflow.parentRunId').map((x) => x.value)));
  const trialRuns = runs.filter((r) => !parentIds.has(r.info.run_id));
  assert.equal(trialRuns.length, trials, `MLflow holds ${trialRuns.length} trial runs (of ${runs.length} runs), the catalog ${trials} trials`);
  assert.ok(runs.every((r) => r.info.status === 'FINISHED'), `run statuses: ${runs.map((r) => r.info.status).join(', ')}`);
  // The trial with a training curve: the run whose longest metric history is longest.
  let chosen: { run: Run; key: string; history: Point[] } | undefined;
  for (const r of trialRuns) {
    for (const m of r.data.metrics ?? []) {
      const h = await rest<{ metrics?: Point[] }>(mlflow.url, `metrics/get-history?run_id=${r.info.run_id}&metric_key=${encodeURIComponent(m.key)}`);
      const history = (h.metrics ?? []).sort((a, b) => a.step - b.step);
      if (!chosen || history.length > chosen.history.length) chosen = { run: r, key: m.key, history };
    }
  }
  assert.ok(chosen && chosen.history.length > 1, 'no trial run has a metric with more than one point');
  const params = chosen.run.data.params ?? [];
  assert.ok(params.length > 0, 'the chosen run has no params');
  const param = params.find((p) => p.key === 'model.noiseDim') ?? params[0];
  const runId = chosen.run.info.run_id;
  t.diagnostic(`REST: ${runs.length} runs (${trialRuns.length} trials, ${parentIds.size} parent); run ${runId}: ${params.length} params, ` +
    `'${chosen.key}' has ${chosen.history.length} points`);

  const dir = await artifactsDir();
  const shots: string[] = [];
  const shot = async (b: Browser, name: string, fullPage = false): Promise<void> => {
    const path = join(dir, `mlflow-ui-${name}.png`);
    await b.page.screenshot({ path, fullPage });
    shots.push(path);
  };
  const browser = await launchBrowser();
  t.after(() => browser.close());
  t.diagnostic(`chromium ${browser.version} (${browser.executable})`);
  const { page } = browser;
  /** A subtest that leaves a full-page screenshot of what the browser showed when it failed. */
  const check = (name: string, fn: () => Promise<void>) =>
    t.test(name, async () => {
      try {
        await fn();
      } catch (e) {
        await shot(browser, `failure-${shots.length + 1}`, true).catch(() => undefined);
        throw e;
      }
    });
  try {
    await check('the runs table lists every run of the experiment, one per trial', async () => {
      await page.goto(`${mlflow.url}/#/experiments/${expId}`);
      // The footer counts every run, nested ones included.
      const footer = page.getByText(/^\d+ matching runs?$/);
      await footer.waitFor();
      assert.equal(Number((await footer.innerText()).match(/\d+/)![0]), runs.length, 'the "matching runs" count');
      // Parent runs start collapsed; expand each (and any nested ones they reveal), as a user would.
      const runLinks = page.locator('.ag-root a[href*="/runs/"]');
      await runLinks.first().waitFor();
      const expanded = new Set<string>();
      for (let round = 0; round < 5; round++) {
        const cells = page.locator('[col-id="attributes.`Run Name`"]').filter({ has: page.locator('button') });
        let clicked = 0;
        for (const cell of await cells.all()) {
          const href = await cell.locator('a[href*="/runs/"]').getAttribute('href');
          if (!href || expanded.has(href)) continue;
          expanded.add(href);
          await cell.locator('button').first().click();
          clicked++;
        }
        if (!clicked) break;
      }
      await page.waitForFunction(
        (n) => new Set([...(globalThis as any).document.querySelectorAll('.ag-root a[href*="/runs/"]')].map((a: any) => a.getAttribute('href'))).size >= n,
        runs.length,
      );
      const hrefs = new Set(await runLinks.evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? '')));
      const shown = new Set([...hrefs].map((h) => h.match(/\/runs\/([0-9a-f]+)/)?.[1]).filter(Boolean));
      assert.deepEqual([...shown].sort(), runs.map((r) => r.info.run_id).sort(), 'the runs the table links to');
      const shownTrials = trialRuns.filter((r) => shown.has(r.info.run_id)).length;
      assert.equal(shownTrials, trials, 'trial runs in the table');
      await shot(browser, 'runs');
      t.diagnostic(`runs table: ${shown.size} runs shown (${shownTrials} trials), after ${secs()}`);
    });

    await check("a trial's run page shows its parameters and values", async () => {
      await page.goto(`${mlflow.url}/#/experiments/${expId}/runs/${runId}`);
      const section = page.getByText(/^Parameters \(\d+\)$/);
      await section.waitFor();
      assert.equal(await section.innerText(), `Parameters (${params.length})`);
      await section.click();
      const row = page.locator('tr').filter({ has: page.getByText(param.key, { exact: true }) });
      await row.first().waitFor();
      const cells = (await row.first().innerText()).split('\t').map((s) => s.trim());
      assert.deepEqual(cells, [param.key, param.value], `the '${param.key}' row`);
      await row.first().scrollIntoViewIfNeeded();
      await shot(browser, 'run-params', true);
    });

    await check(`the metric '${chosen.key}' is plotted from the run page, every point`, async () => {
      await page.goto(`${mlflow.url}/#/experiments/${expId}/runs/${runId}`);
      await page.getByText(/^Metrics \(\d+\)$/).click();
      const escaped = chosen!.key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      const link = page.locator('a[title="Plot chart"]').filter({ hasText: new RegExp(`^${escaped}$`) });
      await link.click();
      await page.waitForURL(/#\/metric/);
      // x axis by step, as a training curve is read.
      await page.getByText('Step', { exact: true }).click();
      await page.waitForURL(/x_axis=step/);
      const want = chosen!.history;
      // plotly keeps the traces on its graph div.
      const handle = await page.waitForFunction(
        (n) => {
          const gd = (globalThis as any).document.querySelector('.js-plotly-plot');
          const tr = gd?.data?.[0];
          return tr && tr.x?.length === n && tr.x[0] !== undefined && typeof tr.x[0] === 'number' ? { type: tr.type, x: [...tr.x], y: [...tr.y], traces: gd.data.length } : false;
        },
        want.length,
      );
      const drawn = (await handle.jsonValue()) as { type: string; x: number[]; y: number[]; traces: number };
      assert.equal(drawn.traces, 1, 'one curve for one run');
      assert.deepEqual(drawn.x, want.map((p) => p.step), 'x: the steps');
      assert.deepEqual(drawn.y, want.map((p) => p.value), 'y: the values');
      // And a line is really drawn (scattergl draws on a canvas, so look at the pixels).
      const plot = page.locator('.js-plotly-plot').first();
      await plot.locator('.main-svg').first().waitFor();
      const pixels = await saturatedPixels(page, await plot.screenshot());
      assert.ok(pixels > 500, `the chart has ${pixels} coloured pixels: no line drawn`);
      // The summary table under the chart gives the latest point.
      const last = want[want.length - 1];
      await page.getByText(`${last.value} (step=${last.step})`).first().waitFor();
      await shot(browser, 'metric-chart');
      t.diagnostic(`chart: ${drawn.type}, ${drawn.x.length} points, ${pixels} line pixels, after ${secs()}`);
    });
  } finally {
    for (const s of shots) console.log(`mlflow-ui: screenshot ${s}`);
  }
});
