/**
 * A launch's progress: one sealed document beside the launch (`launches/<study>/<id>.progress`)
 * holding each trial's state as one character, in plan order, and the error of each failed trial.
 * The embedded executor rewrites it as trials start and end (at most every few seconds, and at
 * the end), so `gantry status` counts a grid of 10⁵ trials from one small file instead of reading
 * every step record. What it says of a trial is only as new as its last write: status checks the
 * trials it calls running against their step records (a killed run leaves them so).
 */
import { z } from 'zod';
import { hostname } from 'node:os';
import { getIfExists, type ArtifactStore } from '../infra/store/store.js';
import { parseStored, putSealed, unseal } from '../infra/sealed.js';
import type { TrialStatus } from './record.js';

/** One character per trial state. */
export const STATE_CODE = { pending: '.', running: 'r', done: 'd', failed: 'f', interrupted: 'i' } as const satisfies Record<TrialStatus, string>;
const STATE_OF = Object.fromEntries(Object.entries(STATE_CODE).map(([s, c]) => [c, s])) as Record<string, TrialStatus>;

export const progressDocSchema = z.object({
  launchId: z.string(),
  updatedAt: z.string(),
  /** True once the launch ended (it wrote its last state); false while it runs, or when it was killed. */
  final: z.boolean(),
  host: z.string(),
  pid: z.number().int(),
  states: z.string().regex(/^[.rdfi]*$/),
  /** Plan index → the error of a failed trial. */
  errors: z.record(z.string(), z.string()),
});
export type ProgressDoc = z.output<typeof progressDocSchema>;

export const progressKey = (study: string, launchId: string) => `launches/${study}/${launchId}.progress`;

/** The launch's progress document, or undefined when it has none (Temporal, older launches). */
export async function readProgress(store: ArtifactStore, study: string, launchId: string): Promise<ProgressDoc | undefined> {
  const key = progressKey(study, launchId);
  const bytes = await getIfExists(store, key);
  return bytes && progressDocSchema.parse(unseal(key, parseStored(key, bytes)).value);
}

export const stateAt = (doc: ProgressDoc, index: number): TrialStatus => STATE_OF[doc.states[index] ?? '.'] ?? 'pending';

/** Trials per state. */
export function progressCounts(doc: ProgressDoc): Partial<Record<TrialStatus, number>> {
  const counts: Partial<Record<TrialStatus, number>> = {};
  for (const c of doc.states) {
    const s = STATE_OF[c];
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

/**
 * The writer: `set` is synchronous and cheap (a byte in an array); the document goes to the store
 * at most once per `intervalMs`, and whole at `close`. A store that refuses a write costs a
 * progress document one write behind, never the run: status then reads the step records.
 */
export class ProgressWriter {
  private readonly states: Uint8Array;
  private readonly errors = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(private readonly store: ArtifactStore, private readonly study: string, private readonly launchId: string, count: number, private readonly intervalMs = 2000) {
    this.states = new Uint8Array(count).fill(STATE_CODE.pending.charCodeAt(0));
  }

  set(index: number, state: TrialStatus, error?: string | null): void {
    this.states[index] = STATE_CODE[state].charCodeAt(0);
    if (state === 'failed' && error) this.errors.set(index, error);
    else this.errors.delete(index);
    this.dirty = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.write(false);
    }, this.intervalMs);
  }

  /** Write the first document (every trial pending): status reads it from the launch's start. */
  async start(): Promise<void> {
    this.dirty = true;
    await this.write(false);
  }

  /** Write the last states; `final`: the launch ended. */
  async close(final = true): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = true;
    await this.write(final);
  }

  private write(final: boolean): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const doc: ProgressDoc = {
        launchId: this.launchId, updatedAt: new Date().toISOString(), final, host: hostname(), pid: process.pid,
        states: Buffer.from(this.states).toString('latin1'), errors: Object.fromEntries([...this.errors].map(([i, e]) => [String(i), e])),
      };
      await putSealed(this.store, progressKey(this.study, this.launchId), doc).catch(() => {
        this.dirty = true;
      });
    });
    return this.writing;
  }
}
