/**
 * A bounded fuzz harness: a target's cases run one after another in a worker thread, each from
 * its own seeded PRNG, so a failure names the seed that replays it. The main thread watches the
 * clock: a case that runs past its timeout (a hang in synchronous code) is stopped by ending the
 * worker. A case fails when it throws anything but a UserError, when a promise it made is
 * rejected unhandled, or when its own check says so.
 */
import { Worker } from 'node:worker_threads';
import { Prng } from '../../datasets/prng.js';
import { isUserError } from '../../core/errors.js';

/**
 * One case: its input drawn from `rng`; `note` records what was drawn (the mutations), for the
 * report. `index` lets a target put its hand-made cases (known attacks) first.
 */
export type FuzzCase = (rng: Prng, note: (what: string) => void, index: number) => Promise<void>;

/** Thrown by a case's own check (output too large, wrong shape): a failure even though nothing else threw. */
export class FuzzCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzCheckError';
  }
}

export interface FuzzFailure {
  index: number;
  seed: string;
  message: string;
}

export interface FuzzSummary {
  target: string;
  cases: number;
  userErrors: number;
  failures: FuzzFailure[];
  slowest: { seed: string; ms: number };
  totalMs: number;
}

/** The base seed: GANTRY_FUZZ_SEED replays another run's cases. */
export const BASE_SEED = process.env.GANTRY_FUZZ_SEED ?? 'gantry-fuzz-1';

type Msg =
  | { type: 'start'; index: number; seed: string }
  | { type: 'end'; index: number; seed: string; ms: number; userError: boolean }
  /** `late`: an unhandled rejection, reported besides its case's own end. */
  | { type: 'fail'; index: number; seed: string; message: string; late?: boolean }
  | { type: 'note'; what: string }
  | { type: 'done' };

/**
 * Run `count` cases of `target` (an export of the compiled module `moduleUrl`) in a worker.
 * Stops at the first hang (the worker is ended); other failures are collected, at most 10.
 */
export function runFuzz(moduleUrl: string, target: string, count: number, opts: { caseTimeoutMs?: number } = {}): Promise<FuzzSummary> {
  const timeout = opts.caseTimeoutMs ?? 5000;
  const summary: FuzzSummary = { target, cases: 0, userErrors: 0, failures: [], slowest: { seed: '', ms: 0 }, totalMs: 0 };
  const t0 = performance.now();
  return new Promise((resolve) => {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { moduleUrl, target, count, base: BASE_SEED } });
    let current: { index: number; seed: string; at: number; notes: string[] } | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(watch);
      summary.totalMs = performance.now() - t0;
      resolve(summary);
    };
    const watch = setInterval(() => {
      if (current && performance.now() - current.at > timeout) {
        summary.failures.push({ index: current.index, seed: current.seed, message: `hung: still running after ${timeout} ms\n  input: ${current.notes.join(', ').slice(0, 500)}` });
        current = undefined;
        void worker.terminate().then(finish);
      }
    }, 100);
    worker.on('message', (m: Msg) => {
      if (m.type === 'start') current = { index: m.index, seed: m.seed, at: performance.now(), notes: [] };
      else if (m.type === 'note') current?.notes.push(m.what);
      else if (m.type === 'end') {
        current = undefined;
        summary.cases++;
        if (m.userError) summary.userErrors++;
        if (m.ms > summary.slowest.ms) summary.slowest = { seed: m.seed, ms: m.ms };
      } else if (m.type === 'fail') {
        if (!m.late) {
          current = undefined;
          summary.cases++;
        }
        if (summary.failures.length < 10) summary.failures.push({ index: m.index, seed: m.seed, message: m.message });
      } else if (m.type === 'done') void worker.terminate().then(finish);
    });
    worker.on('error', (e) => {
      summary.failures.push({ index: current?.index ?? -1, seed: current?.seed ?? '?', message: `worker died: ${e.stack ?? e.message}` });
      finish();
    });
    worker.on('exit', finish);
  });
}

/** How one case ended, from the worker's side: a UserError is a pass (bad input said as such). */
export async function runCase(fn: FuzzCase, seed: string, index: number, onNote?: (what: string) => void): Promise<{ ok: true; userError: boolean } | { ok: false; message: string }> {
  const notes: string[] = [];
  const failed = (why: string) => ({ ok: false as const, message: `${why}${notes.length ? `\n  input: ${notes.join(', ').slice(0, 500)}` : ''}` });
  try {
    await fn(
      new Prng(seed),
      (s) => {
        notes.push(s);
        onNote?.(s);
      },
      index,
    );
    return { ok: true, userError: false };
  } catch (e) {
    if (e instanceof FuzzCheckError) return failed(e.message);
    if (isUserError(e)) {
      const msg = (e as Error).message;
      if (!msg.trim()) return failed('a UserError without a message');
      // One line for the user; a spec's problems are listed one per line by design.
      if (msg.includes('\n') && !msg.startsWith('invalid study spec')) return failed(`a UserError of several lines: ${JSON.stringify(msg.slice(0, 300))}`);
      return { ok: true, userError: true };
    }
    const err = e instanceof Error ? e : new Error(String(e));
    return failed(`not a UserError: ${err.name}: ${err.message.slice(0, 300)}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`);
  }
}
