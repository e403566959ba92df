/**
 * gantry's metrics against an independent implementation: scikit-learn, numpy and
 * scipy.ndimage (Debian's /usr/bin/python3) through sklearn_reference.py, on the shared vectors.
 * Skips with the reason when that python or a module is missing; with GANTRY_LIVE=require (CI,
 * which provisions them: node scripts/live-servers.mjs provision --only numpy) it fails instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { atThreshold, averagePrecision, bestF1Threshold, percentileThreshold, prAuc, precisionRecallCurve, validationChosen } from '../../evaluation/precision-recall.js';
import { aupro, proCurve, type AnomalyMap } from '../../evaluation/regions.js';
import { perClassRocAuc, rocAuc } from '../../evaluation/roc.js';
import { REPO_ROOT } from '../helpers.js';
import { liveRequired } from '../live/servers.js';
import { binaryVectors, close, randomMaps, userError, type BinaryVector } from './vectors.js';

const PY = '/usr/bin/python3';
const MODULES = ['numpy', 'scipy.ndimage', 'sklearn.metrics'];
const PERCENTILES = [0, 12.5, 50, 80, 95, 100];
const LIMITS = [0.3, 0.05, 1];

/** The script beside this test's source (the repository may be compiled elsewhere, linked to package.json). */
function script(): string {
  for (const root of [REPO_ROOT, dirname(realpathSync(join(REPO_ROOT, 'package.json')))]) {
    const p = join(root, 'test', 'evaluation', 'sklearn_reference.py');
    if (existsSync(p)) return p;
  }
  throw new Error('test/evaluation/sklearn_reference.py not found');
}

/** Why the reference cannot run, or undefined. */
function missing(): string | undefined {
  let why: string | undefined;
  if (!existsSync(PY)) why = `${PY} not found`;
  else {
    const r = spawnSync(PY, ['-c', `import ${MODULES.join(', ')}`], { encoding: 'utf8' });
    if (r.status !== 0) why = `${PY} cannot import ${MODULES.join(', ')} (${r.stderr.trim().split('\n').pop()})`;
  }
  return why && `${why}; install Debian's python3-sklearn python3-scipy python3-numpy (node scripts/live-servers.mjs provision --only numpy)`;
}

type Case = Record<string, unknown>;

/** The script's results for the cases; JSON with NaN written as Python's json reads it. */
function runReference(cases: Case[]): Record<string, any>[] {
  const input = JSON.stringify({ cases }, (_, v) => (typeof v === 'number' && Number.isNaN(v) ? '__NaN__' : v)).replaceAll('"__NaN__"', 'NaN');
  const r = spawnSync(PY, [script()], { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`sklearn_reference.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout).results;
}

function thresholdsOf(v: BinaryVector): number[] {
  const sorted = [...v.scores].sort((a, b) => a - b);
  return [sorted[0], sorted[Math.floor(sorted.length / 2)], sorted[Math.floor(sorted.length * 0.9)], sorted.at(-1)! + 1, sorted[0] - 1];
}

const why = missing();
// With GANTRY_LIVE=require (CI) a missing reference fails each test instead of skipping it.
const skip = why && !liveRequired() ? `skipped: ${why}` : false;

/** Runs the script on the cases; fails where the reference is required and missing. */
function reference(cases: Case[]): Record<string, any>[] {
  if (why) throw new Error(`${why}; GANTRY_LIVE=require wants the scikit-learn comparison to run`);
  return runReference(cases);
}

test('binary metrics equal scikit-learn on the shared vectors (ties, constant scores, single positive, random)', { skip }, () => {
  const vectors = binaryVectors();
  const results = reference(vectors.map((v) => ({ kind: 'binary', ...v, thresholds: thresholdsOf(v), percentiles: PERCENTILES })));
  for (const [k, v] of vectors.entries()) {
    const r = results[k];
    const at = (what: string) => `${v.name}: ${what}`;
    assert.equal(r.error, undefined, at(String(r.error)));
    close(rocAuc(v.scores, v.labels), r.roc_auc, 1e-12, at('roc_auc_score'));
    close(averagePrecision(v.scores, v.labels), r.ap, 1e-12, at('average_precision_score'));
    close(prAuc(v.scores, v.labels), r.pr_auc, 1e-12, at('auc(recall, precision)'));
    // The same points as precision_recall_curve, in reverse order (ours start at the highest threshold).
    const c = precisionRecallCurve(v.scores, v.labels);
    const m = r.pr_curve.precision.length;
    assert.equal(c.precision.length, m, at('curve length'));
    for (let i = 0; i < m; i++) {
      close(c.precision[i], r.pr_curve.precision[m - 1 - i], 1e-15, at(`precision[${i}]`));
      close(c.recall[i], r.pr_curve.recall[m - 1 - i], 1e-15, at(`recall[${i}]`));
      if (i > 0) assert.equal(c.thresholds[i], r.pr_curve.thresholds[m - 1 - i], at(`threshold[${i}]`));
    }
    for (const ref of r.at) {
      const ours = atThreshold(v.scores, v.labels, ref.threshold);
      close(ours.precision, ref.precision, 1e-12, at(`precision at ${ref.threshold}`));
      close(ours.recall, ref.recall, 1e-12, at(`recall at ${ref.threshold}`));
      close(ours.f1, ref.f1, 1e-12, at(`f1 at ${ref.threshold}`));
    }
    const best = bestF1Threshold(v.scores, v.labels);
    assert.equal(best.threshold, r.best_f1.threshold, at('best-F1 threshold'));
    close(best.f1, r.best_f1.f1, 1e-12, at('best F1'));
    for (const [j, p] of PERCENTILES.entries()) close(percentileThreshold(v.scores, p), r.percentiles[j], 1e-12 * Math.max(1, Math.abs(r.percentiles[j])), at(`np.percentile ${p}`));
    if (v.classes) {
      const ours = perClassRocAuc(v.scores, v.labels, v.classes);
      assert.deepEqual(Object.keys(ours), Object.keys(r.per_class), at('classes'));
      for (const cls of Object.keys(ours)) close(ours[cls], r.per_class[cls], 1e-12, at(`AUROC of ${cls}`));
    }
  }
});

test('validation-chosen thresholds equal the reference: best F1 on validation, else np.percentile of it', { skip }, () => {
  const [a, b, c, , e] = binaryVectors().slice(7);
  const normals = (v: BinaryVector) => ({ scores: v.scores.filter((_, i) => v.labels[i] === 0), labels: v.labels.filter((l) => l === 0) });
  const pairs: [string, { scores: number[]; labels: number[] }, BinaryVector, number][] = [
    ['val with anomalies', a, b, 80],
    ['val with anomalies, heavy ties', c, a, 80],
    ['val without anomalies, p80', normals(b), e, 80],
    ['val without anomalies, p95', normals(c), a, 95],
  ];
  const results = reference(pairs.map(([, val, t, p]) => ({ kind: 'chosen', val, test: { scores: t.scores, labels: t.labels }, percentile: p })));
  for (const [k, [name, val, t, p]] of pairs.entries()) {
    const r = results[k];
    const ours = validationChosen(val, t, { percentile: p });
    assert.equal(ours.source, r.source, name);
    close(ours.threshold, r.threshold, 1e-12 * Math.max(1, Math.abs(r.threshold)), `${name}: threshold`);
    close(ours.precision, r.precision, 1e-12, `${name}: precision`);
    close(ours.recall, r.recall, 1e-12, `${name}: recall`);
    close(ours.f1, r.f1, 1e-12, `${name}: f1`);
  }
});

test('NaN scores: a clear error here, and scikit-learn refuses them too', { skip }, () => {
  const s = [0.1, NaN, 0.3, NaN, NaN];
  const y = [0, 1, 0, 1, 1];
  const [r] = reference([{ kind: 'binary', scores: s, labels: y }]);
  assert.match(r.error, /NaN/);
  userError(() => rocAuc(s, y), /^rocAuc: 3 of 5 scores are NaN/);
  userError(() => averagePrecision(s, y), /^averagePrecision: 3 of 5 scores are NaN/);
  userError(() => proCurve([{ width: 5, height: 1, scores: s, mask: y }]), /^proCurve: 3 of 5 pixel scores are NaN/);
});

test('PRO curve and AUPRO equal a brute-force numpy + scipy.ndimage.label reference on small random masks', { skip }, () => {
  const sets: [string, AnomalyMap[]][] = [
    ['6 maps 16×12, continuous scores', randomMaps(31, 6, 16, 12)],
    ['5 maps 10×10, scores rounded to 0.25 (ties)', randomMaps(32, 5, 10, 10, 4)],
    ['4 maps 9×7, integer scores (heavy ties)', randomMaps(33, 4, 9, 7, 1)],
    ['1 map 20×20', randomMaps(34, 1, 20, 20)],
  ];
  const results = reference(sets.map(([, maps]) => ({ kind: 'pro', maps: maps.map((m) => ({ ...m, scores: Array.from(m.scores), mask: Array.from(m.mask) })), limits: LIMITS })));
  for (const [k, [name, maps]] of sets.entries()) {
    const r = results[k];
    assert.equal(r.error, undefined, `${name}: ${r.error}`);
    const c = proCurve(maps);
    assert.equal(c.regions, r.regions, `${name}: regions`);
    assert.equal(c.fpr.length, r.fpr.length, `${name}: curve length`);
    for (let i = 0; i < c.fpr.length; i++) {
      close(c.fpr[i], r.fpr[i], 1e-15, `${name}: fpr[${i}]`);
      close(c.pro[i], r.pro[i], 1e-12, `${name}: pro[${i}]`);
      if (i > 0) assert.equal(c.thresholds[i], r.thresholds[i - 1], `${name}: threshold[${i}]`);
    }
    for (const limit of LIMITS) close(aupro(maps, limit), r.aupro[String(limit)], 1e-12, `${name}: aupro at ${limit}`);
  }
});
