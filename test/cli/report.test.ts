/**
 * `gantry report` beside a running study: --watch follows it until every trial is recorded,
 * without stopping the run (both take turns on the catalog), and leaves the final page without
 * its self-reload; and the errors a user meets before there is anything to report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startCli, tempHome, toyStudy, writeStudy } from '../helpers.js';

test('gantry report --watch follows a running study to its end', { timeout: 300_000 }, async (t) => {
  const home = await tempHome('gantry-report-watch-');
  t.after(() => rm(home, { recursive: true, force: true }));
  const env = { GANTRY_HOME: home };
  const none = await runCli(['report', 'toy'], env);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no study 'toy'/);

  const file = await writeStudy(home, toyStudy({ seeds: [0, 1] }));
  // Slow enough (a few seconds) for the watch to see trials being recorded.
  const run = startCli(['run', file, '--concurrency', '1', '--set', 'model.iterations=300'], env);
  // The study file appears as the run starts; the watch begins as soon as it is there.
  const deadline = Date.now() + 60_000;
  while (!(await readFile(join(home, 'store', 'studies', 'toy.json')).catch(() => undefined))) {
    assert.ok(Date.now() < deadline, 'the run wrote no study file');
    await new Promise((r) => setTimeout(r, 50));
  }
  const watch = await runCli(['report', 'toy', '--watch', '0.3', '--format', 'html'], env);
  const ran = await run.done;
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(watch.code, 0, watch.stderr);
  const counts = [...watch.stderr.matchAll(/(\d+)\/(\d+) trials recorded/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const refreshes = watch.stderr.split('\n').filter((l) => /trials recorded|waiting for the first trial/.test(l));
  assert.ok(refreshes.length >= 2, `the watch refreshed: ${watch.stderr}`);
  assert.deepEqual(counts.at(-1), [19, 19], 'it ends once every trial is recorded');
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i][0] >= counts[i - 1][0], 'counts never go back');
  assert.ok(counts.some(([n]) => n < 19) || /waiting for the first trial/.test(watch.stderr), `it saw the study before its end: ${watch.stderr}`);
  assert.match(watch.stdout, /stored as reports\/toy\//);
  const page = await readFile(join(home, 'reports', 'toy', 'index.html'), 'utf8');
  assert.doesNotMatch(page, /http-equiv="refresh"/, 'the final page does not reload itself');
  assert.match(page, /19 of 19 trials recorded/);

  const bad = await runCli(['report', 'toy', '--format', 'pdf'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /pdf.*html, md, latex, csv|Allowed choices are html, md, latex, csv/);
});
