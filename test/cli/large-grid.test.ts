/**
 * Large grids (issue 13, scale): a launch writes each trial's file as the trial starts, not at
 * planning; `gantry status` counts from the launch's progress document and agrees with reading
 * every step record, also after a kill -9; it lists at most --limit trials, those that need a look
 * first; verify and gc count planned trials that have not started as planned, not as missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { bandsBeyondCubeStudy, runCli, startCli, tempHome, toyStudy, writeStudy } from '../helpers.js';

interface StatusJson { studies: { study: string; counts: Record<string, number>; total: number; source: string; trials: { id: string; status: string; error: string | null }[] }[] }

const twelve = () => toyStudy({ name: 'twelve', grid: [{ cartesian: { 'model.iterations': [2, 3, 4, 5, 6, 7], 'model.hidden': [4, 6] } }] });

async function statusJson(env: Record<string, string>, ...args: string[]): Promise<StatusJson['studies'][number]> {
  const r = await runCli(['status', 'twelve', '--json', ...args], env);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as StatusJson).studies[0];
}

const launchDir = (home: string) => join(home, 'store', 'launches', 'twelve');
const progressFile = async (home: string) => (await readdir(launchDir(home)).catch(() => [] as string[])).find((f) => f.endsWith('.progress'));

test('a killed launch wrote the files of the trials it started only; status from its progress document agrees with the step records', async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  const file = await writeStudy(home, twelve());
  const { child, done } = startCli(['run', file, '-c', '1'], env);
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  // Killed once two trials are done and the progress document is there.
  while (!((out.match(/^trial \S+ done/gm)?.length ?? 0) >= 2 && (await progressFile(home)))) {
    if (child.exitCode !== null) assert.fail(`the run ended first:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  await done;

  const trialFiles = await readdir(join(home, 'store', 'trials'));
  assert.ok(trialFiles.length >= 2 && trialFiles.length < 12, `${trialFiles.length} trial files for 12 planned trials`);
  const fast = await statusJson(env);
  assert.equal(fast.source, 'progress');
  assert.equal(fast.total, 12);
  assert.equal(Object.values(fast.counts).reduce((a, b) => a + b, 0), 12);
  assert.ok((fast.counts.done ?? 0) >= 2, JSON.stringify(fast.counts));

  // The same question answered from every step record: the progress document is removed.
  await rm(join(launchDir(home), (await progressFile(home))!));
  const slow = await statusJson(env);
  assert.equal(slow.source, 'records');
  assert.deepEqual(fast.counts, slow.counts, 'both ways count the same');
  assert.deepEqual(fast.trials.map((t) => [t.id, t.status]), slow.trials.map((t) => [t.id, t.status]));

  const verify = await runCli(['verify', 'twelve'], env);
  assert.equal(verify.code, 0, `trials not started are not missing:\n${verify.stdout}${verify.stderr}`);

  // The relaunch finishes; --limit lists fewer and says so.
  const again = await runCli(['run', file, '-c', '1'], env);
  assert.equal(again.code, 0, again.stderr);
  const end = await statusJson(env, '--limit', '3');
  assert.deepEqual(end.counts, { done: 12 });
  assert.equal(end.trials.length, 3);
  const text = await runCli(['status', 'twelve', '--limit', '3'], env);
  assert.match(text.stdout, /\(3 of 12 trials listed, those that need a look first; --limit 0 lists every one\)/);
  assert.equal((await statusJson(env, '--limit', '0')).trials.length, 12);

  // gc: the steps of trials whose files are gone are still the latest launch's plan: nothing is garbage.
  await rm(join(home, 'store', 'trials'), { recursive: true });
  const gc = await runCli(['gc', '--min-age', '0'], env);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, /^nothing to remove; 0 trial files and the studies. latest launch plans reference \d+ steps/m, gc.stdout);
});

test('status lists failed trials first when not all fit; a data step that fails marks its trials failed in the progress document', async () => {
  const home = await tempHome();
  const env = { GANTRY_HOME: home };
  const bad = await bandsBeyondCubeStudy(home);
  // A good block first, then the bad one: the failed trial is the second in plan order.
  const study = { ...bad, name: 'twelve', grid: [{ set: { filter: { bands: { start: 0, end: 3 } } } }, {}] };
  const r = await runCli(['run', await writeStudy(home, study)], env);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(existsSync(launchDir(home)));
  const st = await statusJson(env, '--limit', '1');
  assert.equal(st.source, 'progress');
  assert.equal(st.total, 2);
  assert.deepEqual(st.counts, { pending: 1, failed: 1 });
  assert.equal(st.trials.length, 1);
  assert.equal(st.trials[0].status, 'failed');
  assert.match(st.trials[0].error ?? '', /band/);
});
