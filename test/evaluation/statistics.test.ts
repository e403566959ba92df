/** Statistics over seeds: hand-computed cases, then SciPy as the independent implementation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  averageRanks, bootstrapMeanCi, holmAdjust, pairedComparison, quantileSorted, rankBiserial, signFlipTest, summarize, testFor, wilcoxonSignedRank,
} from '../../evaluation/statistics.js';
import { Prng } from '../../datasets/prng.js';
import { scipyMissing, scipyReference } from './scipy-reference.js';

const close = (a: number | null, b: number | null, tol: number, what: string) => {
  assert.ok(a !== null && b !== null, `${what}: ${a} vs ${b}`);
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
};

/** The permutation p-value by brute force: every sign vector summed directly, no tolerance. */
function bruteForceP(d: number[]): number {
  const obs = Math.abs(d.reduce((s, x) => s + x, 0));
  let hits = 0;
  for (let m = 0; m < 1 << d.length; m++) {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += m & (1 << i) ? -d[i] : d[i];
    if (Math.abs(s) >= obs) hits++;
  }
  return hits / 2 ** d.length;
}

test('exact permutation p-values equal hand counts of the 2^n sign vectors', () => {
  // ±1±2±3: |sum| >= 6 only for the two all-same-sign vectors.
  assert.equal(signFlipTest([1, 2, 3]).p, 2 / 8);
  assert.equal(signFlipTest([1, 2, 3]).minP, 2 / 8);
  // 1−2+3+4 = 6: |10 − 2·(flipped subset sum)| >= 6 for subset sums 0, 1, 2, 8, 9, 10: 6 of 16.
  assert.equal(signFlipTest([1, -2, 3, 4]).p, 6 / 16);
  // The observed sum is 0: every vector is at least as extreme.
  assert.equal(signFlipTest([1, 2, -3]).p, 1);
  // A zero difference flips to itself: it doubles both counts and changes nothing.
  assert.equal(signFlipTest([0, 1, 2, 3]).p, 2 / 8);
  assert.equal(signFlipTest([0, 1, 2, 3]).minP, 2 / 8);
  assert.equal(signFlipTest([0, 0, 0]).p, 1);
  // Five positive differences: 2/32, the smallest p five seeds can give.
  assert.equal(signFlipTest([0.01, 0.02, 0.05, 0.03, 0.04]).p, 0.0625);
  assert.equal(signFlipTest([0.3, 0.1]).p, 0.5);
});

test('ties that rounding would split still count as ties', () => {
  // The observed 0.5 + 0.6 − 0.6 is 0.5000000000000001 in float64, but 0.5 − 0.6 + 0.6 is 0.5 and
  // falls short of it. As integers (×10) every one of the 8 sign vectors reaches |sum| >= 5, so
  // p = 1; a plain float count says 0.75.
  assert.equal(bruteForceP([0.5, 0.6, -0.6]), 0.75, 'the float trap this test is about');
  assert.equal(signFlipTest([0.5, 0.6, -0.6]).p, 1);
  assert.equal(signFlipTest([5, 6, -6]).p, 1);
  assert.equal(signFlipTest([0.1, 0.2, -0.3, 0.6]).p, signFlipTest([1, 2, -3, 6]).p);
});

test('meeting in the middle counts what brute force counts, and n = 20 is fast', () => {
  const rng = new Prng('perm');
  for (const n of [2, 5, 9, 14]) {
    const d = Array.from({ length: n }, () => Math.round(rng.normal() * 1e6) / 1e6 + 0.3);
    assert.equal(signFlipTest(d).p, bruteForceP(d), `n=${n}`);
  }
  const d20 = Array.from({ length: 20 }, () => rng.normal() + 0.4);
  const t0 = performance.now();
  const r = signFlipTest(d20);
  assert.ok(performance.now() - t0 < 1000, 'n = 20 in under a second');
  assert.equal(r.method, 'exact');
  assert.equal(r.flips, 2 ** 20);
  // Over 20, the sign flips are drawn (seeded), p = (1 + hits) / (1 + B).
  const d25 = Array.from({ length: 25 }, () => rng.normal() + 0.1);
  const mc = signFlipTest(d25, { seed: 3 });
  assert.equal(mc.method, 'monte-carlo');
  assert.deepEqual(signFlipTest(d25, { seed: 3 }), mc, 'seeded');
  assert.ok(mc.p > 0 && mc.p <= 1);
});

test('Wilcoxon signed-rank: exact cases by hand, p capped at 1, all zeros give p = 1', () => {
  // R+ = 15 of 15: P(T >= 15) = 1/32, two-sided 2/32.
  const w = wilcoxonSignedRank([1, 2, 3, 4, 5]);
  assert.equal(w.method, 'exact');
  assert.equal(w.statistic, 15);
  close(w.p, 0.0625, 1e-12, 'p');
  close(wilcoxonSignedRank([1, 2, 3]).p, 0.25, 1e-12, 'n=3');
  // R+ = 1 + 4 = 5, the centre of n = 4's distribution: the library's doubled tail is 18/16.
  assert.equal(wilcoxonSignedRank([1, 4, -2, -3]).p, 1);
  const z = wilcoxonSignedRank([0, 0, 0]);
  assert.equal(z.p, 1);
  // A zero or a tie takes the normal approximation, as the library does.
  assert.equal(wilcoxonSignedRank([0, 1, 2, 3]).method, 'normal');
  assert.equal(wilcoxonSignedRank([1, 1, 2, 3]).method, 'normal');
  assert.throws(() => wilcoxonSignedRank([1]), /at least 2/);
});

test('rank-biserial correlation by hand', () => {
  assert.deepEqual([...averageRanks([3, 1, 2, 2])], [4, 1, 2.5, 2.5]);
  // |d| ranks 1, 2, 3: R+ = 1 + 2 = 3, R− = 3.
  assert.equal(rankBiserial([1, 2, -3]), 0);
  // |d| = 0.5, 1, 2, 3 → ranks 1..4: R+ = 2 + 3 + 4 = 9, R− = 1: 8/10.
  assert.equal(rankBiserial([1, 2, 3, -0.5]), 0.8);
  assert.equal(rankBiserial([0, 1, 2, 3, -0.5]), 0.8, 'zeros dropped');
  assert.equal(rankBiserial([0.2, 0.1]), 1);
  assert.equal(rankBiserial([0, 0]), 0);
});

test('Holm on a known vector, with no-test entries left out of the family', () => {
  // Sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → running max 0.06.
  const h = holmAdjust([0.01, 0.04, 0.03, 0.005]) as number[];
  [0.03, 0.06, 0.06, 0.02].forEach((x, i) => close(h[i], x, 1e-15, `holm[${i}]`));
  const g = holmAdjust([null, 0.01, 0.02]);
  assert.equal(g[0], null);
  close(g[1], 0.02, 1e-15, 'family of 2');
  close(g[2], 0.02, 1e-15, 'family of 2');
  assert.deepEqual(holmAdjust([0.5, 0.6]), [1, 1]);
  assert.deepEqual(holmAdjust([null]), [null]);
  assert.deepEqual(holmAdjust([]), []);
});

test('summary: n, mean, sample std, and no invented CI for n = 1', () => {
  const s = summarize([1, 2, 3, 4, 5]);
  assert.equal(s.n, 5);
  assert.equal(s.mean, 3);
  close(s.std, Math.sqrt(2.5), 1e-15, 'std');
  assert.ok(s.ci && s.ci.low < 3 && s.ci.high > 3 && s.ci.level === 0.95 && s.ci.resamples === 10_000);
  const one = summarize([0.9]);
  assert.deepEqual({ n: one.n, mean: one.mean, std: one.std, ci: one.ci }, { n: 1, mean: 0.9, std: null, ci: null });
  assert.match(one.note!, /no standard deviation and no confidence interval/);
  assert.equal(summarize([]).mean, null);
  assert.throws(() => summarize([1, NaN]), /value 1 is NaN/);
});

test('bootstrap: determined by its seed, hand-checked for two values, and it covers', () => {
  const x = [0.811, 0.843, 0.797, 0.902, 0.861, 0.829, 0.874, 0.815];
  assert.deepEqual(bootstrapMeanCi(x, { seed: 'a' }), bootstrapMeanCi(x, { seed: 'a' }));
  assert.notDeepEqual(bootstrapMeanCi(x, { seed: 'a' }), bootstrapMeanCi(x, { seed: 'b' }));
  const flat = bootstrapMeanCi([0.7, 0.7, 0.7])!;
  close(flat.low, 0.7, 1e-15, 'constant sample: low');
  close(flat.high, 0.7, 1e-15, 'constant sample: high');
  // Two values: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the 2.5 % and
  // 97.5 % quantiles of 10,000 of them are 0 and 1.
  const two = bootstrapMeanCi([0, 1], { seed: 1 })!;
  assert.equal(two.low, 0);
  assert.equal(two.high, 1);
  assert.equal(bootstrapMeanCi([1]), null);
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantileSorted([1, 2, 3, 4], 0.025), 1.075);
  // Coverage: 300 samples of 20 standard normals; the 95 % percentile interval should hold the
  // true mean 0 about 93–95 % of the time at n = 20 (it is a little narrow at small n).
  const rng = new Prng('coverage');
  let hits = 0;
  const reps = 300;
  for (let r = 0; r < reps; r++) {
    const s = Array.from({ length: 20 }, () => rng.normal());
    const ci = bootstrapMeanCi(s, { seed: r, resamples: 2000 })!;
    if (ci.low <= 0 && 0 <= ci.high) hits++;
  }
  assert.ok(hits / reps >= 0.88 && hits / reps <= 0.99, `coverage ${hits / reps}`);
});

test('paired comparison: n < 2 and all-zero differences say so, with no NaN', () => {
  const none = pairedComparison([], []);
  assert.equal(none.p, null);
  assert.match(none.note!, /no matched pairs/);
  const one = pairedComparison([0.9], [0.8]);
  assert.equal(one.p, null);
  close(one.meanDiff, 0.1, 1e-12, 'one pair difference');
  assert.match(one.note!, /one matched pair: no test/);
  const same = pairedComparison([1, 1, 1], [1, 1, 1]);
  assert.equal(same.p, 1);
  assert.equal(same.rankBiserial, 0);
  assert.match(same.note!, /all 3 differences are zero/);
  const sameW = pairedComparison([1, 1, 1], [1, 1, 1], { test: 'wilcoxon' });
  assert.equal(sameW.p, 1);
  assert.equal(testFor('auto', 20), 'permutation');
  assert.equal(testFor('auto', 21), 'wilcoxon');
  const r = pairedComparison([0.9, 0.8, 0.85, 0.95, 0.88], [0.7, 0.75, 0.8, 0.9, 0.86]);
  assert.equal(r.test, 'permutation (exact)');
  close(r.p, 0.0625, 1e-15, 'five positive differences');
  assert.equal(r.minP, 0.0625);
  assert.ok(r.diffCi && r.diffCi.low > 0);
  assert.throws(() => pairedComparison([1, 2], [1]), /differ in length/);
  assert.throws(() => pairedComparison([1, Infinity], [1, 2]), /not a finite number/);
  for (const x of [none, one, same, r]) for (const v of Object.values(x)) assert.ok(!(typeof v === 'number' && Number.isNaN(v)), 'no NaN');
});

test('against SciPy: Wilcoxon, the permutation test, rank-biserial and Holm', (t) => {
  const why = scipyMissing();
  if (why) {
    t.skip(why);
    return;
  }
  const rng = new Prng('scipy');
  const cases: { a: number[]; b: number[] }[] = [];
  // Continuous AUC-like values, AUCs rounded as small test sets make them (ties), and zeros.
  for (const n of [2, 3, 4, 5, 6, 8, 10, 12, 16, 25, 60]) {
    const a = Array.from({ length: n }, () => 0.8 + 0.05 * rng.normal());
    const b = a.map((v) => v - 0.02 + 0.04 * rng.normal());
    cases.push({ a, b });
    cases.push({ a: a.map((v) => Math.round(v * 50) / 50), b: b.map((v) => Math.round(v * 50) / 50) });
    cases.push({ a, b: b.map((v, i) => (i % 3 === 0 ? a[i] : v)) });
  }
  cases.push({ a: [0.5, 0.6, -0.6], b: [0, 0, 0] });
  const ours = cases.map((c) => ({
    perm: c.a.length <= 20 ? pairedComparison(c.a, c.b, { test: 'permutation' }) : null,
    wil: pairedComparison(c.a, c.b, { test: 'wilcoxon' }),
    sum: summarize(c.a),
  }));
  const families = [ours.map((o) => o.wil.p!).filter((p) => p !== null), ours.flatMap((o) => (o.perm ? [o.perm.p!] : []))];
  const ref = scipyReference({ cases, families });
  t.diagnostic(`SciPy ${ref.scipy}: ${cases.length} cases`);
  let perm = 0, permScipy = 0, approx = 0;
  ref.cases.forEach((c, i) => {
    const o = ours[i];
    const what = `case ${i} (n=${c.n})`;
    close(o.wil.meanDiff, c.mean_diff, 1e-12, `${what} mean diff`);
    close(o.sum.mean, c.mean_a, 1e-12, `${what} mean`);
    close(o.sum.std, c.std_a, 1e-12, `${what} std`);
    close(o.wil.p, c.wilcoxon_p, 1e-10, `${what} Wilcoxon p (${c.wilcoxon_mode})`);
    assert.equal(o.wil.test, c.wilcoxon_mode === 'exact' ? 'wilcoxon (exact)' : 'wilcoxon (normal approx.)', what);
    if (c.wilcoxon_mode === 'approx') approx++;
    close(o.wil.rankBiserial, c.rank_biserial, 1e-12, `${what} rank-biserial`);
    if (c.perm_p !== null) {
      close(o.perm!.p, c.perm_p, 1e-12, `${what} permutation p`);
      perm++;
    }
    if (c.perm_p_scipy !== null) {
      close(o.perm!.p, c.perm_p_scipy, 1e-12, `${what} scipy.stats.permutation_test p`);
      permScipy++;
    }
  });
  assert.ok(perm >= 25 && permScipy >= 20 && approx >= 10, `checked ${perm} permutation, ${permScipy} scipy permutation_test, ${approx} normal-approximation cases`);
  families.forEach((f, k) => {
    const h = holmAdjust(f);
    f.forEach((_, i) => close(h[i], ref.holm[k][i], 1e-12, `holm family ${k}[${i}]`));
  });
});
