/** A pool of step workers (worker threads), each running one step at a time. */
import { Worker } from 'node:worker_threads';
import type { CheckpointPolicy } from '../activities/context.js';
import type { StepCall } from '../experiments/plan.js';
import { CancelledError, EnvironmentError, UserError } from '../core/errors.js';
import type { StepHost } from './step-context.js';
import type { FromWorker, ToWorker } from './step-worker.js';

const WORKER_URL = new URL('./step-worker.js', import.meta.url);

export class StepPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Set<Worker>();
  private readonly waiting: ((w: Worker) => void)[] = [];
  private created = 0;

  constructor(private readonly size: number, private readonly storeUrl: string, private readonly backend?: string) {}

  async run(call: StepCall, policy: CheckpointPolicy, host: Omit<StepHost, 'store' | 'policy'>): Promise<Record<string, unknown>> {
    const worker = await this.acquire();
    try {
      return await new Promise<Record<string, unknown>>((resolve, reject) => {
        const onAbort = () => worker.postMessage({ type: 'abort' } satisfies ToWorker);
        const cleanup = () => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
          host.signal.removeEventListener('abort', onAbort);
        };
        const onMessage = (m: FromWorker) => {
          if (m.type === 'progress') host.progress(m.done, m.total);
          else if (m.type === 'resumed') host.resumed(m.iteration);
          else if (m.type === 'log') host.log(m.points);
          else if (m.type === 'written') host.wrote(m.name, m.ref);
          else if (m.type === 'done') {
            cleanup();
            resolve(m.output);
          } else {
            cleanup();
            reject(revive(m.error));
          }
        };
        const onError = (e: Error) => {
          cleanup();
          reject(e);
        };
        const onExit = (code: number) => {
          cleanup();
          reject(new Error(`step worker exited unexpectedly (code ${code})`));
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.on('exit', onExit);
        host.signal.addEventListener('abort', onAbort);
        if (host.signal.aborted) onAbort();
        worker.postMessage({ type: 'run', call, storeUrl: this.storeUrl, policy, backend: this.backend } satisfies ToWorker);
      });
    } finally {
      this.release(worker);
    }
  }

  private acquire(): Promise<Worker> {
    const w = this.idle.pop();
    if (w) {
      this.busy.add(w);
      return Promise.resolve(w);
    }
    if (this.created < this.size) {
      this.created++;
      const nw = new Worker(WORKER_URL);
      this.busy.add(nw);
      return Promise.resolve(nw);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: Worker): void {
    if (w.threadId === -1) {
      // It died: let a new one take its place.
      this.busy.delete(w);
      this.created--;
      return;
    }
    const next = this.waiting.shift();
    if (next) return next(w);
    this.busy.delete(w);
    this.idle.push(w);
  }

  async close(): Promise<void> {
    await Promise.all([...this.idle, ...this.busy].map((w) => w.terminate()));
    this.idle.length = 0;
    this.busy.clear();
  }
}

/** Errors cross the thread boundary as plain data; give them back their kind. */
function revive(e: { name: string; message: string; hint?: string; stack?: string }): Error {
  const err = e.name === 'UserError' ? new UserError(e.message, { hint: e.hint }) : e.name === 'EnvironmentError' ? new EnvironmentError(e.message, { hint: e.hint }) : e.name === 'CancelledError' ? new CancelledError(e.message) : Object.assign(new Error(e.message), { name: e.name });
  if (e.stack) err.stack = e.stack;
  return err;
}
