import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineStudy, SpecError, type StudyInput } from '../../experiments/spec.js';
import { resolveStudy, parseSets, expandBlock } from '../../experiments/grid.js';
import { planTrial } from '../../experiments/plan.js';
import { idHasher } from '../../infra/hash.js';

const base = { dataset: { kind: 'synthetic-hsi', rows: 8, cols: 8, bands: 4 }, model: { kind: 'wgan-gp', iterations: 5 } };

function study(extra: Partial<StudyInput> = {}): StudyInput {
  return { name: 'toy', base, grid: [{ cartesian: { 'model.noiseDim': [2, 4, 8], 'model.hidden': [8, 16, 32] } }], seeds: [0, 1], ...extra };
}

test('cartesian grid × seeds yields one trial per cell and seed', () => {
  const r = resolveStudy(defineStudy(study()), {}, idHasher);
  assert.equal(r.trials.length, 18);
  assert.deepEqual(r.axes, ['model.hidden', 'model.noiseDim']);
  assert.equal(new Set(r.trials.map((t) => t.cellId)).size, 9);
  assert.deepEqual(r.trials[0].cell, { 'model.hidden': 8, 'model.noiseDim': 2 });
});

test('trial ids ignore key order and explicit defaults, and are stable across relaunches', () => {
  const a = resolveStudy(defineStudy(study()), {}, idHasher);
  const reordered = { model: { iterations: 5, kind: 'wgan-gp', noiseDim: 4 }, dataset: { bands: 4, cols: 8, rows: 8, kind: 'synthetic-hsi', seed: 0 } };
  const b = resolveStudy(defineStudy(study({ base: reordered })), {}, idHasher);
  assert.deepEqual(a.trials.map((t) => t.id), b.trials.map((t) => t.id));
  const c = resolveStudy(defineStudy(study({ base: { ...base, model: { ...base.model, iterations: 6 } } })), {}, idHasher);
  assert.notDeepEqual(a.trials.map((t) => t.id), c.trials.map((t) => t.id));
});

test('zip pairs values; random samples are seeded; blocks union without duplicates', () => {
  const zip = expandBlock({ zip: { 'model.noiseDim': [2, 4], 'model.hidden': [8, 16] } });
  assert.deepEqual(zip, [{ 'model.noiseDim': 2, 'model.hidden': 8 }, { 'model.noiseDim': 4, 'model.hidden': 16 }]);
  const rnd = () => expandBlock({ random: { n: 5, seed: 3, space: { 'model.lr': { loguniform: [1e-4, 1e-2] }, 'model.hidden': { choice: [8, 16] } } } });
  assert.deepEqual(rnd(), rnd());
  for (const s of rnd()) assert.ok((s['model.lr'] as number) >= 1e-4 && (s['model.lr'] as number) <= 1e-2);
  const r = resolveStudy(defineStudy(study({ grid: [{ cartesian: { 'model.noiseDim': [2, 4] } }, { cartesian: { 'model.noiseDim': [4, 8] } }] })), {}, idHasher);
  assert.equal(r.trials.length, 3 * 2);
  assert.throws(() => expandBlock({ zip: { a: [1, 2], b: [1] } }), /equal lengths/);
});

test('a deterministic model (RX) gets one trial, not one per seed', () => {
  const r = resolveStudy(defineStudy(study({ grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.noiseDim': [2] } }] })), {}, idHasher);
  assert.equal(r.trials.filter((t) => t.config.model.kind === 'rx').length, 1);
  assert.equal(r.trials.filter((t) => t.config.model.kind === 'wgan-gp').length, 2);
});

test('an invalid spec fails before any work, listing every problem with its path', () => {
  const bad = study({ base: { dataset: { kind: 'synthetic-hsi', rows: -1 }, model: { kind: 'wgan-gp', noiseDim: 'x', bogus: 1 } } });
  const err = (() => {
    try {
      resolveStudy(defineStudy(bad), {}, idHasher);
    } catch (e) {
      return e as SpecError;
    }
  })();
  assert.ok(err instanceof SpecError);
  const paths = err.problems.map((p) => p.path);
  assert.ok(paths.includes('dataset.rows'), paths.join());
  assert.ok(paths.some((p) => p.startsWith('model')), paths.join());
  assert.ok(err.problems.length >= 2);
  assert.throws(() => defineStudy({ name: 'Bad Name!', base: {} }), (e: unknown) => e instanceof SpecError && /name/.test((e as Error).message));
});

test('an unknown model kind is named in the error', () => {
  assert.throws(
    () => resolveStudy(defineStudy(study({ base: { ...base, model: { kind: 'nope' } }, grid: [{}] })), {}, idHasher),
    (e: unknown) => e instanceof SpecError && /model\.kind/.test(e.message) && /rx|wgan-gp/.test(e.message),
  );
});

test('profiles and --set override the base; unknown profiles are rejected', () => {
  const s = defineStudy(study({ profiles: { quick: { set: { 'model.iterations': 2 }, seeds: [5] } } }));
  const r = resolveStudy(s, { profile: 'quick', set: parseSets(['model.lr=0.01', 'seeds=[1,2,3]']) }, idHasher);
  assert.equal(r.trials[0].config.model.kind === 'wgan-gp' && r.trials[0].config.model.iterations, 2);
  assert.equal(r.trials[0].config.model.kind === 'wgan-gp' && r.trials[0].config.model.lr, 0.01);
  assert.deepEqual(r.seeds, [1, 2, 3]);
  assert.throws(() => resolveStudy(s, { profile: 'nope' }, idHasher), /no profile 'nope'/);
  assert.throws(() => parseSets(['novalue']), /key=value/);
});

test('trials sharing data share load/filter/tile step keys; training params change only downstream keys', () => {
  const r = resolveStudy(defineStudy(study()), {}, idHasher);
  const plans = r.trials.map((t) => planTrial(t.config, { hash: idHasher, fingerprints: {} }));
  for (const kind of ['load', 'filter', 'tile']) assert.equal(new Set(plans.map((p) => p.find((s) => s.kind === kind)!.key)).size, 1, kind);
  assert.equal(new Set(plans.map((p) => p.find((s) => s.kind === 'train')!.key)).size, 18);
  // A scoring-only parameter re-scores without retraining.
  const s2 = resolveStudy(defineStudy(study({ base: { ...base, model: { ...base.model, scoreRestarts: 7 } } })), {}, idHasher);
  const p2 = planTrial(s2.trials[0].config, { hash: idHasher, fingerprints: {} });
  assert.equal(p2.find((s) => s.kind === 'train')!.key, plans[0].find((s) => s.kind === 'train')!.key);
  assert.notEqual(p2.find((s) => s.kind === 'score')!.key, plans[0].find((s) => s.kind === 'score')!.key);
});

test('a GAN given images it cannot take is refused at plan time, with the path and a size that works', () => {
  const images = { kind: 'synthetic-textures', normals: 8, anomalies: 4, size: 32, channels: 1, seed: 1 };
  const fails = (b: Record<string, unknown>, path: string, msg: RegExp) =>
    assert.throws(
      () => resolveStudy(defineStudy({ name: 'g', base: b }), {}, idHasher),
      (e: unknown) => e instanceof SpecError && e.problems.some((p) => p.path === path && msg.test(p.message)),
    );
  fails({ dataset: images, tiling: { kind: 'resize', size: 30 }, model: { kind: 'ganomaly' } }, 'tiling.size', /power of two.*got 30\); try 32/);
  fails({ dataset: images, tiling: { kind: 'resize', size: 64, crop: 48 }, model: { kind: 'algan' } }, 'tiling.crop', /got 48/);
  fails({ dataset: { kind: 'synthetic-hsi' }, model: { kind: 'skip-ganomaly' } }, 'model.kind', /needs images/);
  fails({ dataset: { kind: 'synthetic-hsi' }, tiling: { kind: 'window', size: 3 }, model: { kind: 'algan' } }, 'tiling.kind', /not odd-sized windows/);
  // What works: a power-of-two side, and ALGAN's dense networks on spectra.
  assert.equal(resolveStudy(defineStudy({ name: 'g', base: { dataset: images, tiling: { kind: 'resize', size: 16 }, model: { kind: 'ganomaly' } } }), {}, idHasher).trials.length, 1);
  assert.equal(resolveStudy(defineStudy({ name: 'g', base: { dataset: { kind: 'synthetic-hsi' }, model: { kind: 'algan' } } }), {}, idHasher).trials.length, 1);
});
