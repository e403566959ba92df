/**
 * A step worker: runs compute-heavy steps (train, score) on its own thread, so that trials run
 * in parallel on several cores. It runs the very same step functions with the same context as the
 * main thread; only progress, resumes and results travel as messages.
 */
import { parentPort } from 'node:worker_threads';
import { STEPS } from '../activities/index.js';
import type { CheckpointPolicy } from '../activities/context.js';
import type { StepCall } from '../experiments/plan.js';
import { openStore } from '../infra/config.js';
import { stepContext } from './step-context.js';
import { oneLine } from '../core/errors.js';
import type { MetricPoint } from '../core/metrics.js';

export type ToWorker = { type: 'run'; call: StepCall; storeUrl: string; policy: CheckpointPolicy; backend?: string } | { type: 'abort' };
export type FromWorker =
  | { type: 'progress'; done: number; total: number }
  | { type: 'resumed'; iteration: number }
  | { type: 'log'; points: MetricPoint[] }
  | { type: 'written'; name: string; ref: { key: string; sha256: string; size: number } }
  | { type: 'done'; output: Record<string, unknown> }
  | { type: 'error'; error: { name: string; message: string; hint?: string; stack?: string } };

const port = parentPort!;
let abort = new AbortController();
const send = (m: FromWorker) => port.postMessage(m);

port.on('message', async (m: ToWorker) => {
  if (m.type === 'abort') return abort.abort();
  abort = new AbortController();
  try {
    let backend: string | undefined;
    if (m.call.kind === 'train' || m.call.kind === 'score' || m.call.kind === 'embed') {
      const { selectBackend } = await import('../models/backend.js');
      backend = (await selectBackend(m.backend)).name;
    }
    const ctx = stepContext(m.call, {
      store: openStore(m.storeUrl),
      policy: m.policy,
      signal: abort.signal,
      backend,
      progress: (done, total) => send({ type: 'progress', done, total }),
      resumed: (iteration) => send({ type: 'resumed', iteration }),
      log: (points) => send({ type: 'log', points }),
      wrote: (name, ref) => send({ type: 'written', name, ref }),
    });
    const result = await STEPS[m.call.kind](ctx, m.call.params);
    send({ type: 'done', output: result.output });
  } catch (e) {
    const err = e as Error & { hint?: string };
    send({ type: 'error', error: { name: err.name ?? 'Error', message: err.name === 'ZodError' ? oneLine(e) : (err.message ?? String(e)), hint: err.hint, stack: err.stack } });
  }
});
