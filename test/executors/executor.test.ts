import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { defineStudy, type StudyInput } from '../../experiments/spec.js';
import { prepareStudy } from '../../executors/prepare.js';
import { runEmbedded, type ExecEvent } from '../../executors/embedded.js';
import { LocalStore } from '../../infra/store/local.js';
import { Catalog } from '../../infra/catalog.js';
import { rebuildCatalog } from '../../executors/rebuild.js';
import { listRecords } from '../../infra/ledger.js';
import { bandsBeyondCubeStudy, tempHome, toyStudy } from '../helpers.js';
import { isUserError } from '../../core/errors.js';

async function run(home: string, input: StudyInput, events: ExecEvent[] = []) {
  const study = await prepareStudy(defineStudy(input), {});
  const store = new LocalStore(join(home, 'store'));
  const summary = await runEmbedded(study, {
    store, catalogPath: join(home, 'catalog.duckdb'), lockPath: join(home, 'run.lock'), concurrency: 2, onEvent: (e) => events.push(e),
  });
  return { summary, store };
}

async function query(home: string, sql: string) {
  const c = await Catalog.openReadOnly(join(home, 'catalog.duckdb'));
  try {
    return (await c.query(sql)).rows;
  } finally {
    c.close();
  }
}

test('a 3×3 ablation computes load/filter/tile once, relaunching recomputes nothing, and the catalog rebuilds identically', async () => {
  const home = await tempHome();
  const events: ExecEvent[] = [];
  const { summary, store } = await run(home, toyStudy() as StudyInput, events);
  assert.equal(summary.outcomes.length, 10); // RX + 3×3 GAN cells, one seed
  assert.ok(summary.outcomes.every((o) => o.status === 'done'), JSON.stringify(summary.outcomes.filter((o) => o.status !== 'done')));
  const ran = events.filter((e): e is Extract<ExecEvent, { type: 'step-done' }> => e.type === 'step-done' && !e.cached);
  for (const kind of ['load', 'filter', 'tile']) assert.equal(ran.filter((e) => e.kind === kind).length, 1, kind);
  assert.equal(ran.filter((e) => e.kind === 'train').length, 10);
  const records = await listRecords(store);
  assert.ok(records.every((r) => r.status === 'done' && r.attempt === 1));

  const again: ExecEvent[] = [];
  const second = await run(home, toyStudy() as StudyInput, again);
  assert.equal(second.summary.stepsRun, 0);
  assert.equal(again.filter((e) => e.type === 'step-done' && e.cached).length, records.length);

  const sql = `SELECT t.trial_id, t.cell, t.status, p.key, p.value, m.name, m.step, m.value
               FROM trials t JOIN params p USING (trial_id) JOIN metrics m USING (trial_id)
               ORDER BY ALL`;
  const before = await query(home, sql);
  const counts = await query(home, 'SELECT (SELECT count(*) FROM trials), (SELECT count(*) FROM trials WHERE status = \'done\'), (SELECT count(*) FROM cell_summary)');
  assert.deepEqual(counts[0].map(Number), [10, 10, 10]);
  const auc = await query(home, "SELECT min(auc), max(auc) FROM trial_summary");
  assert.ok((auc[0][0] as number) >= 0 && (auc[0][1] as number) <= 1);

  await rm(join(home, 'catalog.duckdb'));
  await rebuildCatalog(store, join(home, 'catalog.duckdb'));
  assert.deepEqual(await query(home, sql), before);
});

test('a step that fails with bad input leaves no artifact and a failed trial in the catalog', async () => {
  const home = await tempHome();
  // Band selection beyond the cube in a file: the filter step fails with a UserError.
  const input = (await bandsBeyondCubeStudy(home)) as StudyInput;
  // Bad data fails the launch once, before any training, as bad input.
  await assert.rejects(run(home, input), (e: unknown) => isUserError(e) && /^dataset: filter step failed: band selection \[0, 99\) does not fit a cube of 6 bands/.test((e as Error).message));
  const store = new LocalStore(join(home, 'store'));
  const recs = await listRecords(store);
  assert.ok(!recs.some((r) => r.kind === 'train'), 'nothing trained');
  const failed = recs.find((r) => r.kind === 'filter')!;
  assert.equal(failed.status, 'failed');
  assert.equal(failed.attempt, 1); // bad input is never retried
  assert.deepEqual((await store.list(`steps/${failed.key}`)).filter((k) => !k.endsWith('record.json')), []);
  const rows = await query(home, 'SELECT status, error FROM trials');
  assert.equal(rows[0][0], 'failed');
  assert.match(String(rows[0][1]), /filter: band selection/);
});

test('results do not depend on concurrency or thread placement', async () => {
  const input = toyStudy({ grid: [{ cartesian: { 'model.noiseDim': [2, 3] } }], seeds: [0, 1] }) as StudyInput;
  const sql = 'SELECT trial_id, name, step, value FROM metrics ORDER BY ALL';
  const homes = [await tempHome(), await tempHome()];
  for (const [i, concurrency] of [1, 3].entries()) {
    const study = await prepareStudy(defineStudy(input), {});
    await runEmbedded(study, { store: new LocalStore(join(homes[i], 'store')), catalogPath: join(homes[i], 'catalog.duckdb'), lockPath: join(homes[i], 'run.lock'), concurrency });
  }
  const [a, b] = [await query(homes[0], sql), await query(homes[1], sql)];
  assert.ok(a.length > 20);
  assert.deepEqual(b, a);
});

test('a transient failure is retried with backoff; the ledger counts the attempts and says why', async () => {
  const home = await tempHome();
  const local = new LocalStore(join(home, 'store'));
  let failures = 0;
  // The store's own failure, injected once: the tile step's last write fails (after others succeeded).
  const flaky = Object.assign(Object.create(local) as LocalStore, {
    put: async (key: string, data: Uint8Array | string) => {
      if (key.endsWith('/out/train-index') && failures++ === 0) throw new Error('disk hiccup (injected)');
      return local.put(key, data);
    },
  });
  const study = await prepareStudy(defineStudy(toyStudy({ grid: [{ set: { model: { kind: 'rx' } } }] }) as StudyInput), {});
  const events: ExecEvent[] = [];
  const summary = await runEmbedded(study, {
    store: flaky, catalogPath: join(home, 'catalog.duckdb'), lockPath: join(home, 'run.lock'), backoffMs: 10, onEvent: (e) => events.push(e),
  });
  assert.equal(summary.outcomes[0].status, 'done');
  const tile = (await listRecords(local)).find((r) => r.kind === 'tile')!;
  assert.equal(tile.attempt, 2);
  assert.equal(tile.reason, 'retry after: disk hiccup (injected)');
  assert.deepEqual(Object.keys(tile.artifacts).sort(), ['labels', 'samples', 'train-index']);
  assert.ok(events.some((e) => e.type === 'step-retry' && e.kind === 'tile'));
});
