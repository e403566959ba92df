/** The test split must hold normal and anomalous samples (issue 13, row 10): counted per sample, from each sample's item's split. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { perSampleSplits, SPLIT_CODE, testSetProblem } from '../../activities/samples.js';
import { LABEL } from '../../datasets/sample-set.js';

test('a sample takes its item\'s split; a test split without anomalous (or normal) samples is named, ambiguous ones not counted', () => {
  const { train, val, test: tst } = SPLIT_CODE;
  // Items 0..3: train, val, test, test. Samples: two per item.
  const groups = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
  const splits = perSampleSplits({ labels: new Uint8Array(8), groups }, Uint8Array.from([train, val, tst, tst]));
  assert.deepEqual([...splits], [train, train, val, val, tst, tst, tst, tst]);
  const { normal: N, anomalous: A, ambiguous: Q } = LABEL;
  assert.equal(testSetProblem(Uint8Array.from([N, N, A, A, N, N, A, N]), splits), undefined);
  // The anomalous samples are all in validation; the test item's only non-normal one is ambiguous.
  assert.match(testSetProblem(Uint8Array.from([N, N, A, A, N, N, Q, N]), splits) ?? '', /^the test split holds 3 normal and 0 anomalous samples: AUROC needs both \(its anomalous items/);
  assert.match(testSetProblem(Uint8Array.from([N, N, A, N, A, A, A, A]), splits) ?? '', /^the test split holds 0 normal and 4 anomalous samples: AUROC needs both$/);
  assert.throws(() => perSampleSplits({ labels: new Uint8Array(1), groups: Int32Array.from([7]) }, Uint8Array.from([train])), /item 7, the split has 1 items/);
});
