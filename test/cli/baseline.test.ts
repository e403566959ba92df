/** `gantry baseline rx`: global RX (both fits) and local RX on a cube with ground truth, without a study. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, SANDIEGO, tempHome } from '../helpers.js';

test('on the San Diego scene, global RX over all pixels reproduces the reference AUC 0.9403', { skip: existsSync(SANDIEGO) ? false : `${SANDIEGO} is absent (../shared/data)` }, async () => {
  const r = await runCli(['baseline', 'rx', SANDIEGO, '--json', '--inner', '3', '--window', '5'], {});
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.deepEqual([rep.rows, rep.cols, rep.bands, rep.anomalous], [100, 100, 189, 134]);
  assert.deepEqual(rep.results.map((x: { detector: string }) => x.detector), ['global RX', 'global RX', 'local RX 3/5']);
  assert.equal(rep.results[0].auc.toFixed(4), '0.9403');
  // Fitted on the background pixels only (which needs the labels), RX separates better.
  assert.ok(rep.results[1].auc > rep.results[0].auc, JSON.stringify(rep.results));
  assert.ok(rep.results.every((x: { logauc: number }) => x.logauc > 0 && x.logauc < 1));
});

test('an ENVI cube without --labels is a one-line error, exit 2', async () => {
  const home = await tempHome();
  await writeFile(join(home, 'c.img'), Buffer.alloc(4 * 4 * 2 * 4));
  await writeFile(join(home, 'c.hdr'), 'ENVI\nsamples = 4\nlines = 4\nbands = 2\ndata type = 4\ninterleave = bsq\nbyte order = 0\n');
  const r = await runCli(['baseline', 'rx', join(home, 'c.hdr')], {});
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^error: .*give the ground truth with --labels/m);
});
