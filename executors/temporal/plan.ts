/**
 * Study plans kept in the store, for grids too large to travel in a workflow input (Temporal caps
 * payloads at 2 MB; a trial's plan is a few kB). The file is content-addressed
 * (temporal/plans/<hash>.json), written once by the launcher, read in slices by the planSlice
 * activity, and validated with zod when read.
 */
import { z } from 'zod';
import { canonicalJson } from '../../core/canonical.js';
import { STEP_KINDS, type StepCall } from '../../experiments/plan.js';
import type { TrialPlan } from '../../workflows/temporal/types.js';
import { UserError } from '../../core/errors.js';
import { sha256Hex } from '../../infra/hash.js';
import { getJson, NotFoundError, putJson, type ArtifactStore } from '../../infra/store/store.js';

const stepCallSchema = z.object({
  kind: z.enum(STEP_KINDS as [StepCall['kind'], ...StepCall['kind'][]]),
  version: z.number().int(),
  key: z.string().min(1),
  params: z.record(z.string(), z.unknown()),
  inputs: z.record(z.string(), z.string()),
  locator: z.record(z.string(), z.string()).optional(),
});

export const trialPlanSchema = z.object({ id: z.string().min(1), steps: z.array(stepCallSchema).min(1) });

const planFileSchema = z.object({ version: z.literal(1), study: z.string(), trials: z.array(trialPlanSchema) });
type PlanFile = z.output<typeof planFileSchema>;

export function planFileKey(hash: string): string {
  return `temporal/plans/${hash}.json`;
}

/** Write a plan (once: the key is its content hash) and return its key. */
export async function writePlan(store: ArtifactStore, study: string, trials: TrialPlan[]): Promise<string> {
  const file: PlanFile = { version: 1, study, trials: trials.map((t) => ({ id: t.id, steps: t.steps })) };
  const key = planFileKey(sha256Hex(canonicalJson(file)).slice(0, 32));
  if (!(await store.exists(key))) await putJson(store, key, file);
  return key;
}

/** Reads plan files, keeping the last few parsed (a worker reads one plan in many slices). */
export class PlanReader {
  private readonly cache = new Map<string, Promise<PlanFile>>();
  constructor(private readonly store: ArtifactStore, private readonly keep = 2) {}

  async slice(key: string, offset: number, limit: number): Promise<TrialPlan[]> {
    if (!/^temporal\/plans\/[0-9a-f]+\.json$/.test(key)) throw new UserError(`invalid plan key '${key}'`);
    let p = this.cache.get(key);
    if (!p) {
      p = this.load(key);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
      while (this.cache.size > this.keep) this.cache.delete(this.cache.keys().next().value!);
    }
    const plan = await p;
    return plan.trials.slice(Math.max(0, offset), Math.max(0, offset) + Math.max(0, limit)) as TrialPlan[];
  }

  private async load(key: string): Promise<PlanFile> {
    let raw: unknown;
    try {
      raw = await getJson(this.store, key);
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new UserError(`study plan ${key} is not in the worker's store ${this.store.url}`, {
          hint: 'the launcher and the workers must share one store: set the same GANTRY_STORE for both',
        });
      }
      throw e;
    }
    const r = planFileSchema.safeParse(raw);
    if (!r.success) throw new UserError(`study plan ${key} is malformed: ${r.error.issues[0]?.message ?? 'invalid'}`);
    return r.data;
  }
}
