/**
 * Trial ids and step keys of an unchanged study must not move when gantry changes: a moved key
 * recomputes every cached step and orphans the catalog's history. These are the quickstart's
 * (smoke profile) as computed by gantry before the general pipeline (commit 879d5b2); a change
 * that moves them must bump a step version on purpose and say why.
 * The export step (issue 12) was appended to each trial: its key is new, no existing key moved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareStudy } from '../../executors/prepare.js';
import { BUILTIN_STUDIES } from '../../experiments/studies.js';
import { REPO_ROOT } from '../helpers.js';

const PINNED = [
  "acf109193cab9837 load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:a5b2291bb3d408da train:d482b7293130343f score:4090ba147db38e1c evaluate:35cf4b1173cbf448 export:6200014f5a12605d",
  "74550b8182beaab1 load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:88fa1ec3e877babf score:6c231d3d3cb4846c evaluate:7e6341a195c15ca5 export:9cbb088399788fc0",
  "d41c3dc69c72b7f3 load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:86c153b58dbe2ee5 score:c865006e846ab162 evaluate:97636378b4a85e0b export:e1d42461558e3908",
  "b6afe63fb1dbc690 load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:94fe19dc4a5e8a17 score:599b9a668fdb1438 evaluate:8d6e0bfe51db2d08 export:29ce6117b72c29d0",
  "9973c75d72d0f6e0 load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:7b8dbe6bc850d605 score:fa9b58a18a80b682 evaluate:d4d998bcb4981578 export:7aa4d51635d17ba6",
  "bff6cae18efd59da load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:344aed4705bb0d67 score:fb2ef78b2799218b evaluate:8ab0e950e2b76b68 export:8c2538197cc34edd",
  "fb827b9d6a549956 load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:c27541f0c4937628 score:67254ce626bd1b1c evaluate:75751b7be92ee69b export:18a0de00ddab12d0",
  "1bcab22f36425d9f load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:cb44a3a6329f3f81 score:219c552a2d84346e evaluate:818b749412620c1b export:352042c33496c44b",
  "48ccd3e4ce18c7c2 load:f16fa902240f4519 filter:67ae5d413aeb5b3e tile:4f3d36528b38b02a train:52458f136e075733 score:fc8fa787fe1856ce evaluate:90d2cc5e0b680f66 export:daa7e9ed497ea559",
];

test('the quickstart keeps its trial ids and step keys', async () => {
  const s = await prepareStudy(BUILTIN_STUDIES.quickstart, { profile: 'smoke' }, REPO_ROOT);
  assert.deepEqual(s.trials.map((t) => [t.id, ...t.steps.map((x) => `${x.kind}:${x.key}`)].join(' ')), PINNED);
});
