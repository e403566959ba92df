/**
 * A launch's compact plan: one line of JSON per trial, in plan order — its id, cell, model, seed
 * and step keys, not its full config (the trial file has that, written when the trial starts).
 * Stored beside the launch document (activities/launches.ts) so that `gantry status` can name and
 * count the trials of a grid of 10⁵ without a file per trial; about 300 bytes a trial.
 */
import { z } from 'zod';
import { label } from '../experiments/grid.js';
import { getVerified, type ArtifactRef, type ArtifactStore } from '../infra/store/store.js';

export const planEntrySchema = z.object({
  id: z.string(),
  cellId: z.string(),
  cell: z.record(z.string(), z.unknown()),
  model: z.string(),
  seed: z.number(),
  block: z.string().optional(),
  /** [kind, key] of each step, in order. */
  steps: z.array(z.tuple([z.string(), z.string()])),
});
export type PlanEntry = z.output<typeof planEntrySchema>;

/** What a plan line holds of a planned trial. */
export function planEntry(t: { id: string; cellId: string; cell: Record<string, unknown>; block?: string; config: { model: { kind: string }; seed: number }; steps: readonly { kind: string; key: string }[] }): PlanEntry {
  return { id: t.id, cellId: t.cellId, cell: t.cell, model: t.config.model.kind, seed: t.config.seed, ...(t.block ? { block: t.block } : {}), steps: t.steps.map((s) => [s.kind, s.key]) };
}

export const entryLabel = (e: PlanEntry): string => label(e.cell);

/** A stored plan, its lines found once and each parsed when asked for. */
export interface PlanLines {
  count: number;
  entry(index: number): PlanEntry;
}

/**
 * Open a stored plan (checksum verified): status reads the handful of trials it lists from a plan
 * of 10⁵ without parsing the rest. A line that is not an entry throws (the checksum matched, so
 * gantry wrote it: a bug, not damage).
 */
export async function openPlan(store: ArtifactStore, ref: ArtifactRef): Promise<PlanLines> {
  const bytes = Buffer.from(await getVerified(store, ref));
  const starts: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    starts.push(at);
    const nl = bytes.indexOf(0x0a, at);
    at = nl < 0 ? bytes.length : nl + 1;
  }
  const end = (i: number) => (i + 1 < starts.length ? starts[i + 1] - 1 : bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length);
  return {
    count: starts.length,
    entry: (i) => {
      if (i < 0 || i >= starts.length) throw new RangeError(`plan line ${i} of ${starts.length}`);
      return planEntrySchema.parse(JSON.parse(bytes.toString('utf8', starts[i], end(i))));
    },
  };
}
