/** Issue 13, item 8: a very large grid is counted and asked about at once, before any planning. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineStudy, type StudyInput } from '../../experiments/spec.js';
import { resolveStudy } from '../../experiments/grid.js';
import { maxTrials } from '../../experiments/grid-size.js';
import { idHasher } from '../../infra/hash.js';
import { runCli, tempHome, toyStudy, writeStudy } from '../helpers.js';

const base = { dataset: { kind: 'synthetic-hsi', rows: 8, cols: 8, bands: 4 }, model: { kind: 'wgan-gp', iterations: 5 } };

test('maxTrials counts what resolving the grid makes: blocks of set, cartesian, zip and random, times the seeds of the profile or --set', () => {
  const spec = defineStudy({
    name: 'count', base, seeds: [0, 1],
    grid: [
      { set: { 'model.hidden': 9 } }, // not a cell of the next block: duplicates collapse, and maxTrials is an upper bound
      { cartesian: { 'model.noiseDim': [2, 4, 8], 'model.hidden': [8, 16] } },
      { zip: { 'model.noiseDim': [3, 5], 'model.hidden': [10, 12] }, cartesian: { 'model.criticIters': [1, 2] } },
      { random: { n: 4, seed: 1, space: { 'model.lr': { loguniform: [1e-4, 1e-2] } } } },
    ],
    profiles: { one: { seeds: [7] } },
  } as StudyInput);
  for (const opts of [{}, { profile: 'one' }, { set: { seeds: [1, 2, 3] } }]) {
    assert.equal(maxTrials(spec, opts), resolveStudy(spec, opts, idHasher).trials.length, JSON.stringify(opts));
  }
  assert.equal(maxTrials(spec, { profile: 'nope' }), undefined); // resolving names the profile
});

test('a grid above --confirm-above is refused at once without --yes when not on a terminal: one line, exit 2, nothing written', async () => {
  const home = await tempHome();
  const iterations = Array.from({ length: 1000 }, (_, i) => i + 1);
  const file = await writeStudy(home, toyStudy({ grid: [{ cartesian: { 'model.iterations': iterations } }], seeds: Array.from({ length: 1000 }, (_, i) => i) }));
  const t0 = Date.now();
  const r = await runCli(['run', file], { GANTRY_HOME: home });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /planning up to 1,000,000 trials/);
  assert.match(r.stderr, /error: study toy asks for up to 1,000,000 trials, more than the 10,000 that run without asking \(pass --yes/);
  assert.ok(Date.now() - t0 < 20_000, 'answered before planning the grid');
  assert.equal(existsSync(join(home, 'store')), false, 'no trial or study file written');
  // The limit is a flag: a small grid over a lower limit is refused the same way, and --yes runs it.
  const small = await writeStudy(home, toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.noiseDim': [2, 3] } }] }), 'small.json');
  const refused = await runCli(['run', small, '--confirm-above', '2'], { GANTRY_HOME: home });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /asks for up to 3 trials, more than the 2/);
  const ran = await runCli(['run', small, '--confirm-above', '2', '--yes'], { GANTRY_HOME: home });
  assert.equal(ran.code, 0, ran.stderr);
  assert.match(ran.stdout, /3\/3 trials done/);
});
