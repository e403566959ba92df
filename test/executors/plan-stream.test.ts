/**
 * Planning streams (issue 13, scale of grids): planStudy makes the same trials, in the same order,
 * as resolving the whole grid, without holding them; duplicates across blocks are dropped exactly
 * once; the grid id does not depend on order; an invalid combination deep in a grid fails planning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { defineStudy, SpecError, type StudyInput } from '../../experiments/spec.js';
import { resolveStudy } from '../../experiments/grid.js';
import { planTrial } from '../../experiments/plan.js';
import { idHasher } from '../../infra/hash.js';
import { DATA_STEPS_HELD, launchId, planStudy, prepareStudy } from '../../executors/prepare.js';
import { planEntrySchema } from '../../activities/launch-plan.js';
import { toyStudy } from '../helpers.js';

// Two blocks that overlap (noiseDim 3 with hidden 6 is in both), and a repeated cartesian value.
const overlapping = () => defineStudy(toyStudy({
  grid: [
    { cartesian: { 'model.noiseDim': [2, 3, 3], 'model.hidden': [4, 6] } },
    { set: { 'model.noiseDim': 3 }, cartesian: { 'model.hidden': [6, 8] } },
    { set: { model: { kind: 'rx' } } },
  ],
  seeds: [0, 1],
}) as StudyInput);

test('planStudy gives the trials of resolveStudy, in its order, each once, and counts their distinct steps', async () => {
  const spec = overlapping();
  const whole = resolveStudy(spec, {}, idHasher);
  const plan = await planStudy(spec, {});
  const streamed = [...plan.each()];
  assert.deepEqual(streamed.map((t) => t.id), whole.trials.map((t) => t.id), 'same trials, same order');
  // 2×3×2 = 12 combinations, one repeated (noiseDim 3 twice: 4 of them), then hidden 6 again in block 2 (2), + hidden 8 (2) + RX once.
  assert.equal(whole.trials.length, 8 + 2 + 1);
  assert.equal(plan.count, whole.trials.length);
  const keys = new Set(whole.trials.flatMap((t) => planTrial(t.config, { hash: idHasher, fingerprints: {} }).map((s) => s.key)));
  assert.equal(plan.uniqueSteps, keys.size);
  const lines = (await readFile(plan.planFile, 'utf8')).split('\n').filter(Boolean).map((l) => planEntrySchema.parse(JSON.parse(l)));
  assert.deepEqual(lines.map((e) => e.id), whole.trials.map((t) => t.id), 'the compact plan lists each trial once, in plan order');
  assert.deepEqual(lines[0].steps, streamed[0].steps.map((s) => [s.kind, s.key]));
  assert.deepEqual(lines[0].cell, streamed[0].cell);
});

test('the grid id is the same in any order and counts a duplicate once; another grid has another id', async () => {
  const plan = await prepareStudy(overlapping(), {});
  assert.equal(plan.gridId, launchId(plan.trials));
  assert.equal(launchId([...plan.trials].reverse()), plan.gridId);
  assert.equal(launchId([...plan.trials, plan.trials[3]]), plan.gridId, 'a trial listed twice is one trial');
  assert.notEqual(launchId(plan.trials.slice(1)), plan.gridId);
  const more = await planStudy(overlapping(), { set: { seeds: [0, 1, 2] } });
  assert.notEqual(more.gridId, plan.gridId);
});

test('invalid combinations after 3,000 valid ones fail planning with the problem named, the problems capped', async () => {
  const values = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  // model.hidden must be positive: the second block's 1,000 combinations are all invalid, each its own problem.
  const spec = defineStudy(toyStudy({ grid: [{ cartesian: { 'model.iterations': values(3000) } }, { set: { 'model.hidden': -1 }, cartesian: { 'model.iterations': values(1000) } }] }) as StudyInput);
  await assert.rejects(planStudy(spec, {}), (e: unknown) => {
    assert.ok(e instanceof SpecError);
    assert.match(e.message, /model\.hidden/);
    assert.match(e.message, /grid\[1\]/);
    assert.equal(e.problems.length, 50);
    return true;
  });
});

test('a grid of 20,000 trials is planned without holding its trials: the heap stays well under what the trials take', async () => {
  const spec = defineStudy(toyStudy({ grid: [{ cartesian: { 'model.iterations': Array.from({ length: 2000 }, (_, i) => i + 1) } }], seeds: Array.from({ length: 10 }, (_, i) => i) }) as StudyInput);
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const plan = await planStudy(spec, {});
  const after = process.memoryUsage().heapUsed;
  assert.equal(plan.count, 20_000);
  let n = 0;
  for (const t of plan.each()) if (t.steps.length === 7) n++;
  assert.equal(n, 20_000, 'every trial planned again on demand, with its seven steps');
  // The trials themselves take over 5 kB each in memory (60 MB here); planning keeps 8 bytes a trial and a step.
  assert.ok(after - before < 40e6, `heap grew ${((after - before) / 1e6).toFixed(1)} MB`);
});

test('a grid with more distinct data steps than are held to run up front counts them all, and runs each in its trial', async () => {
  // 4,000 scenes: 12,000 distinct data steps (load, filter, tile), above DATA_STEPS_HELD.
  const spec = defineStudy(toyStudy({ grid: [{ cartesian: { 'dataset.seed': Array.from({ length: 4000 }, (_, i) => i) } }] }) as StudyInput);
  const plan = await prepareStudy(spec, {});
  assert.ok(3 * 4000 > DATA_STEPS_HELD);
  assert.equal(plan.dataSteps, undefined);
  assert.equal(plan.evaluationSets, undefined);
  assert.equal(plan.uniqueSteps, new Set(plan.trials.flatMap((t) => t.steps.map((s) => s.key))).size);
  const small = await prepareStudy(overlapping(), {});
  assert.deepEqual(small.dataSteps?.map((d) => d.call.kind), ['load', 'filter', 'tile'], 'one scene: its three data steps, once');
});
