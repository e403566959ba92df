import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussianModes, POINT_PRESETS, syntheticPoints, type GaussianMode } from '../../datasets/synthetic-points.js';
import { isUserError } from '../../core/errors.js';

const sigmaTo = (m: GaussianMode, x: number, y: number) => {
  const [sx, sy] = typeof m.std === 'number' ? [m.std, m.std] : m.std;
  return Math.hypot((x - m.mean[0]) / sx, (y - m.mean[1]) / sy);
};

test('same seed → the same points; another seed → different points', () => {
  const p = { n: 1024, modes: POINT_PRESETS.bimodal(), anomalyFraction: 0.1, seed: 5 };
  const a = syntheticPoints(p);
  const b = syntheticPoints(p);
  assert.deepEqual(a.points, b.points);
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(a.component, b.component);
  const c = syntheticPoints({ ...p, seed: 6 });
  assert.notDeepEqual(c.points, a.points);
  let same = 0;
  for (let i = 0; i < a.points.length; i++) if (a.points[i] === c.points[i]) same++;
  assert.equal(same, 0, 'no coordinate in common');
});

test('bimodal: two clusters at the given means with the given std; anomaly count exact', () => {
  const modes = POINT_PRESETS.bimodal();
  const s = syntheticPoints({ n: 4000, modes, anomalyFraction: 0.05, seed: 1 });
  assert.equal(s.n, 4000);
  assert.equal(s.points.length, 8000);
  assert.equal(s.nAnomalies, 200);
  assert.equal(s.labels.reduce((a, b) => a + b, 0), 200);
  for (let k = 0; k < 2; k++) {
    let n = 0;
    let mx = 0;
    let my = 0;
    for (let i = 0; i < s.n; i++) {
      if (s.component[i] !== k) continue;
      n++;
      mx += s.points[2 * i];
      my += s.points[2 * i + 1];
    }
    mx /= n;
    my /= n;
    let vx = 0;
    for (let i = 0; i < s.n; i++) if (s.component[i] === k) vx += (s.points[2 * i] - mx) ** 2;
    const sd = Math.sqrt(vx / (n - 1));
    assert.equal(n, 1900, 'equal weights split the 3800 normal points evenly');
    // 1900 draws with std 0.35: the mean's standard error is 0.008; allow 5 of them.
    assert.ok(Math.abs(mx - modes[k].mean[0]) < 0.04 && Math.abs(my - modes[k].mean[1]) < 0.04, `mode ${k} mean (${mx}, ${my})`);
    assert.ok(Math.abs(sd - 0.35) < 0.03, `mode ${k} std ${sd}`);
  }
  // Clusters are separated: every normal point is nearer its own mean.
  for (let i = 0; i < s.n; i++) {
    const k = s.component[i];
    if (k < 0) continue;
    assert.equal(s.labels[i], 0);
    const x = s.points[2 * i];
    const y = s.points[2 * i + 1];
    assert.ok(sigmaTo(modes[k], x, y) < sigmaTo(modes[1 - k], x, y));
  }
});

test('anomalies: outside the exclusion zone of every mode, inside the box; fraction as requested; shuffled in', () => {
  const modes = gaussianModes(3, { radius: 3, std: 0.5 });
  const box: [number, number, number, number] = [-6, 6, -5, 5];
  for (const frac of [0, 0.01, 0.25, 0.5]) {
    const s = syntheticPoints({ n: 2000, modes, anomalyFraction: frac, outliers: { kind: 'box', box, minSigma: 4 }, seed: 9 });
    assert.equal(s.nAnomalies, Math.round(2000 * frac));
    assert.equal(s.labels.reduce((a, b) => a + b, 0), s.nAnomalies);
    for (let i = 0; i < s.n; i++) {
      if (!s.labels[i]) continue;
      assert.equal(s.component[i], -1);
      const x = s.points[2 * i];
      const y = s.points[2 * i + 1];
      assert.ok(x >= box[0] && x < box[1] && y >= box[2] && y < box[3]);
      for (const m of modes) assert.ok(sigmaTo(m, x, y) >= 4);
    }
    if (frac === 0.25) {
      // Not all at the end: the first quarter holds some anomalies.
      assert.ok(s.labels.subarray(0, 500).some((l) => l === 1));
    }
  }
  // Near-boundary shell: standardised distance to the nearest mode in [minSigma, maxSigma].
  const sh = syntheticPoints({ n: 1000, modes, anomalyFraction: 0.2, outliers: { kind: 'shell', minSigma: 3, maxSigma: 3.5 }, seed: 2 });
  for (let i = 0; i < sh.n; i++) {
    if (!sh.labels[i]) continue;
    const d = Math.min(...modes.map((m) => sigmaTo(m, sh.points[2 * i], sh.points[2 * i + 1])));
    assert.ok(d >= 3 && d <= 3.5 + 1e-9, `shell anomaly at ${d}σ`);
  }
});

test('unimodal preset, k-modal helper, weights', () => {
  const u = syntheticPoints({ n: 3000, modes: POINT_PRESETS.unimodal(), anomalyFraction: 0, seed: 3 });
  let mx = 0;
  let vx = 0;
  for (let i = 0; i < u.n; i++) mx += u.points[2 * i] / u.n;
  for (let i = 0; i < u.n; i++) vx += (u.points[2 * i] - mx) ** 2 / (u.n - 1);
  assert.ok(Math.abs(mx) < 0.1 && Math.abs(Math.sqrt(vx) - 1) < 0.05);
  const five = gaussianModes(5, { radius: 2 });
  assert.equal(five.length, 5);
  for (const m of five) assert.ok(Math.abs(Math.hypot(...m.mean) - 2) < 1e-12);
  assert.deepEqual(gaussianModes(1)[0].mean, [0, 0]);
  const w = syntheticPoints({ n: 1001, modes: [{ mean: [0, 0], std: 1, weight: 3 }, { mean: [10, 0], std: 1, weight: 1 }], anomalyFraction: 0.001, seed: 1 });
  const counts = [0, 0];
  for (const k of w.component) if (k >= 0) counts[k]++;
  assert.deepEqual(counts, [750, 250]);
});

test('bad parameters are UserErrors', () => {
  const ok = { n: 10, modes: POINT_PRESETS.bimodal(), anomalyFraction: 0.1, seed: 1 };
  const bad: [object, RegExp][] = [
    [{ n: 0 }, /n must be a positive integer/],
    [{ n: 2.5 }, /n must be a positive integer/],
    [{ anomalyFraction: 1 }, /anomalyFraction must be in \[0, 1\)/],
    [{ anomalyFraction: -0.1 }, /anomalyFraction/],
    [{ modes: [] }, /at least one mode/],
    [{ modes: [{ mean: [0, 0], std: 0 }] }, /positive finite std/],
    [{ modes: [{ mean: [0, 0], std: 1, weight: 0 }] }, /weights sum to 0/],
    [{ outliers: { kind: 'shell', minSigma: 3, maxSigma: 2 } }, /minSigma < maxSigma/],
    [{ outliers: { kind: 'box', box: [1, 0, 0, 1] } }, /xmin < xmax/],
    [{ outliers: { kind: 'ring' } }, /unknown outlier kind/],
    // The whole box lies inside the exclusion zone: say so instead of looping forever.
    [{ modes: [{ mean: [0, 0], std: 1 }], outliers: { kind: 'box', box: [-1, 1, -1, 1], minSigma: 3 } }, /no anomaly found/],
  ];
  for (const [over, re] of bad) {
    assert.throws(
      () => syntheticPoints({ ...ok, ...over } as never),
      (e: unknown) => isUserError(e) && re.test((e as Error).message),
      JSON.stringify(over),
    );
  }
  assert.throws(() => gaussianModes(0), (e: unknown) => isUserError(e));
});
