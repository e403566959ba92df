/** `gantry status`: full reasons and errors, --json, "cached" for what the latest launch reused, damaged files shown not fatal (issue 13, row 15). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { runCli, tempHome, toyStudy, writeStudy } from '../helpers.js';
import { renderWrappedTable, wrapText } from '../../cli/format.js';

const rxOnly = (over: Record<string, unknown> = {}) => toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }], ...over });

interface StepJson { kind: string; key: string; status: string; reason: string | null; error: string | null; attempt: number | null; durationMs: number | null; selection: unknown }
interface StatusJson { store: string; studies: { study: string; damaged: string | null; counts: Record<string, number>; latestLaunch: { launchId: string; overrides: Record<string, unknown> } | null; trials: { id: string; status: string; error: string | null; steps: StepJson[] }[] }[] }

test('a long error is shown whole when stdout is not a terminal, and --json holds it', async () => {
  const home = await tempHome();
  // A dataset path far longer than the old 60-character column: the error names it.
  const dir = join(home, 'a-folder-whose-name-is-long-enough-to-overflow-any-sixty-character-column');
  await mkdir(dir);
  const garbage = join(dir, 'not-a-mat-file.mat');
  await writeFile(garbage, 'this is not a mat file'.repeat(20));
  const file = await writeStudy(home, rxOnly({ base: { ...(toyStudy().base as object), dataset: { kind: 'mat', path: garbage } } }));
  const r = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(r.code, 2, r.stderr);

  const st = await runCli(['status', '--steps'], { GANTRY_HOME: home, COLUMNS: '400' });
  assert.equal(st.code, 0, st.stderr);
  assert.doesNotMatch(st.stdout, /…/, 'nothing is cut');
  const trialLine = st.stdout.split('\n').find((l) => /\bfailed\b/.test(l) && l.includes('load:'));
  assert.ok(trialLine?.includes(garbage), `the trial's error names the whole path on one line:\n${st.stdout}`);
  const loadLine = st.stdout.split('\n').find((l) => /^\s+load\s/.test(l));
  assert.ok(loadLine?.includes(garbage), `the load step's error is whole:\n${st.stdout}`);

  const js = await runCli(['status', '--json'], { GANTRY_HOME: home });
  assert.equal(js.code, 0, js.stderr);
  const report = JSON.parse(js.stdout) as StatusJson;
  const trial = report.studies[0].trials[0];
  assert.equal(trial.status, 'failed');
  assert.ok(trial.error?.includes(garbage));
  const load = trial.steps.find((s) => s.kind === 'load')!;
  assert.equal(load.status, 'failed');
  assert.ok(load.error?.includes(garbage), load.error ?? '');
  assert.equal(load.attempt, 1);
  assert.equal(typeof load.reason, 'string');
  assert.ok(trial.steps.slice(1).every((s) => s.status === 'pending'), 'the steps after it never ran');
});

test('a relaunch shows the steps it reused as cached, with when they were done; a run that did the work shows done', async () => {
  const home = await tempHome();
  const file = await writeStudy(home, rxOnly());
  const first = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(first.code, 0, first.stderr);
  const once = await runCli(['status', '--steps'], { GANTRY_HOME: home });
  assert.doesNotMatch(once.stdout, /cached/);
  assert.equal(once.stdout.match(/^\s+\w+\s+[0-9a-f]+\s+done \(attempt 1, \d+s; ran: new\)$/gm)?.length, 7, once.stdout);

  const again = await runCli(['run', file], { GANTRY_HOME: home });
  assert.match(again.stdout, /0 steps ran, 7 cached/);
  const st = await runCli(['status', '--steps'], { GANTRY_HOME: home });
  assert.equal(st.code, 0, st.stderr);
  const cached = st.stdout.split('\n').filter((l) => /cached \(done by an earlier launch at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; attempt 1, \d+s; ran then: new\)/.test(l));
  assert.equal(cached.length, 7, st.stdout);
  assert.match(st.stdout, /latest launch .*, which reused 7 steps done before/);
  const report = JSON.parse((await runCli(['status', '--json'], { GANTRY_HOME: home })).stdout) as StatusJson;
  assert.deepEqual(report.studies[0].trials[0].steps.map((s) => s.status), Array(7).fill('cached'));
  assert.equal(report.studies[0].trials[0].status, 'done');
});

test('a damaged trial file or study file is one line naming the file and gantry verify; the rest is shown', async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  assert.equal((await runCli(['run', await writeStudy(home, rxOnly({ name: 'good' }), 'good.json')], env)).code, 0);
  assert.equal((await runCli(['run', await writeStudy(home, rxOnly({ name: 'bad', base: { ...(toyStudy().base as object), dataset: { kind: 'synthetic-hsi', rows: 16, cols: 16, bands: 6, anomalies: 5, seed: 2 } } }), 'bad.json')], env)).code, 0);
  const badReport = JSON.parse((await runCli(['status', 'bad', '--json'], env)).stdout) as StatusJson;
  const badTrial = badReport.studies[0].trials[0].id;
  const trialPath = join(home, 'store', 'trials', `${badTrial}.json`);
  const text = await readFile(trialPath, 'utf8');
  await writeFile(trialPath, text.slice(0, text.length >> 1));

  const st = await runCli(['status'], env);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, new RegExp(`damaged .*trials/${badTrial}\\.json.*; run: gantry verify bad`));
  assert.match(st.stdout, /study good .*: 1 done/);

  const studyPath = join(home, 'store', 'studies', 'bad.json');
  await writeFile(studyPath, '{"study": "bad", "trials": [');
  const st2 = await runCli(['status'], env);
  assert.equal(st2.code, 0, st2.stderr);
  assert.match(st2.stdout, /^study bad: studies\/bad\.json is damaged: .*; run: gantry verify bad$/m);
  assert.match(st2.stdout, /study good .*: 1 done/);
  const js = JSON.parse((await runCli(['status', '--json'], env)).stdout) as StatusJson;
  assert.match(js.studies.find((s) => s.study === 'bad')!.damaged ?? '', /studies\/bad\.json/);
});

test('on a terminal, long cells wrap to its width and lose nothing', () => {
  const error = 'input changed: the dataset file /data/some/where/deep/inside/a/project/scene.mat was edited since the last run, so every step after it runs again';
  const table = renderWrappedTable(['trial', 'status', 'error'], [['0ca54503', 'failed', error], ['1b2c3d4e', 'done', '']], { width: 60, wrap: [1, 2] });
  const lines = table.split('\n');
  assert.ok(lines.every((l) => l.length <= 60), table);
  assert.ok(lines.length > 4, 'the error took several lines');
  const errorColumn = lines[0].indexOf('error');
  const pieces = lines.slice(2, -1).map((l) => l.slice(errorColumn).trim());
  // Every character is there, in order (a path longer than the column is cut mid-word).
  assert.equal(pieces.join('').replace(/ /g, ''), error.replace(/ /g, ''));
  assert.ok(pieces.slice(0, -1).some((p) => error.includes(`${p} `)), 'lines break at spaces where they can');
  assert.match(lines.at(-1)!, /^1b2c3d4e\s+done$/);
  // Without a width nothing wraps or is cut.
  assert.equal(renderWrappedTable(['e'], [[error]]).split('\n')[2], error);
  assert.deepEqual(wrapText('abcdefghij klm', 4), ['abcd', 'efgh', 'ij', 'klm']);
});
