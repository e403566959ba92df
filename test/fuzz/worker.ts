/**
 * The worker side of harness.ts: runs one target's cases in order, reporting each start and end
 * to the main thread (which ends this worker when a case hangs). Does nothing on the main thread,
 * so the test runner, which loads every module under test/, finds no test here.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runCase, type FuzzCase } from './harness.js';

if (!isMainThread && parentPort) {
  const port = parentPort;
  const { moduleUrl, target, count, base } = workerData as { moduleUrl: string; target: string; count: number; base: string };
  let current: { index: number; seed: string } | undefined;
  // A rejection nobody handled belongs to the case that was running (or had just run).
  process.on('unhandledRejection', (e) => {
    port.postMessage({ type: 'fail', late: true, index: current?.index ?? -1, seed: current?.seed ?? '?', message: `unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` });
  });
  const mod = (await import(moduleUrl)) as Record<string, FuzzCase>;
  const fn = mod[target];
  if (typeof fn !== 'function') throw new Error(`fuzz target '${target}' is not exported by ${moduleUrl}`);
  for (let index = 0; index < count; index++) {
    const seed = `${base}/${target}/${index}`;
    current = { index, seed };
    port.postMessage({ type: 'start', index, seed });
    const t0 = performance.now();
    const r = await runCase(fn, seed, index, (what) => port.postMessage({ type: 'note', what }));
    const ms = performance.now() - t0;
    // A turn of the event loop, so that a rejection the case left unhandled is reported as its own.
    await new Promise((r) => setImmediate(r));
    port.postMessage(r.ok ? { type: 'end', index, seed, ms, userError: r.userError } : { type: 'fail', index, seed, message: r.message });
  }
  // `current` stays set: a rejection that surfaces after its case ended is still that case's.
  // Let rejections of the last case surface before saying done.
  await new Promise((r) => setTimeout(r, 50));
  port.postMessage({ type: 'done' });
}
