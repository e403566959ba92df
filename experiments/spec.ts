/**
 * Study specs: what a user writes. `defineStudy()` validates a spec with zod; `resolveTrials()`
 * (grid.ts) turns it into trials. Everything here is pure: no I/O, no clock, no crypto.
 */
import { z } from 'zod';
import { modelSpec } from '../models/params.js';
import { UserError } from '../core/errors.js';

const int = (min = 0) => z.number().int().min(min);

export const syntheticHsiSpec = z
  .object({
    kind: z.literal('synthetic-hsi'),
    rows: int(4).default(64),
    cols: int(4).default(64),
    bands: int(2).default(32),
    endmembers: int(1).default(4),
    anomalies: int(1).default(12),
    anomalySize: int(1).default(3),
    noise: z.number().min(0).default(0.01),
    seed: int().default(0),
  })
  .strict();

export const matHsiSpec = z
  .object({
    kind: z.literal('mat'),
    /** A MATLAB v5 file holding a rows×cols×bands cube and a rows×cols label map. */
    path: z.string().min(1),
    variable: z.string().default('data'),
    labels: z.string().default('map'),
  })
  .strict();

export const datasetSpec = z.discriminatedUnion('kind', [syntheticHsiSpec, matHsiSpec]);

/** Band range [start, end) with a step; `end` defaults to all bands. */
const bandSelection = z
  .object({ start: int().default(0), end: int(1).optional(), step: int(1).default(1) })
  .strict();

export const filterSpec = z
  .object({
    bands: bandSelection.prefault({}),
    /** Scaling applied to all values: 'minmax' maps the cube to [-1, 1] (the GAN's tanh range). */
    normalize: z.enum(['none', 'minmax', 'zscore']).default('minmax'),
  })
  .strict();

export const tilingSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('pixel') }).strict(),
  /** size×size windows centred on every pixel (edges reflected); label = centre pixel's. */
  z.object({ kind: z.literal('window'), size: z.number().int().min(3).refine((n) => n % 2 === 1, 'window size must be odd') }).strict(),
]);

export const splitSpec = z
  .object({
    /** 'background': train on pixels labelled normal (Eide's default); 'all': fully unsupervised. */
    train: z.enum(['background', 'all']).default('background'),
    /** Cap on training samples, drawn at random with the trial's seed; 0 = no cap. */
    maxTrain: int().default(0),
  })
  .strict();

export const evaluationSpec = z
  .object({ metrics: z.array(z.enum(['auc', 'logauc'])).min(1).default(['auc', 'logauc']) })
  .strict();

/** The resolved configuration of one trial: what its id hashes. */
export const trialConfigSchema = z
  .object({
    dataset: datasetSpec,
    filter: filterSpec.prefault({}),
    tiling: tilingSpec.prefault({ kind: 'pixel' }),
    split: splitSpec.prefault({}),
    model: modelSpec,
    evaluation: evaluationSpec.prefault({}),
    seed: int(),
  })
  .strict();
export type TrialConfig = z.output<typeof trialConfigSchema>;

const pathValues = z.record(z.string().min(1), z.array(z.unknown()).min(1));

const randomAxis = z.union([
  z.object({ uniform: z.tuple([z.number(), z.number()]) }).strict(),
  z.object({ loguniform: z.tuple([z.number().positive(), z.number().positive()]) }).strict(),
  z.object({ int: z.tuple([z.number().int(), z.number().int()]) }).strict(),
  z.object({ choice: z.array(z.unknown()).min(1) }).strict(),
]);

/**
 * One block of a grid. Its trials are: `set` applied to the base, times the cartesian product
 * of `cartesian`, times the zipped lists of `zip` (all of equal length), times `random.n` samples
 * drawn with `random.seed`. A grid is a list of blocks; its trials are their union.
 */
export const gridBlockSpec = z
  .object({
    name: z.string().optional(),
    set: z.record(z.string().min(1), z.unknown()).optional(),
    cartesian: pathValues.optional(),
    zip: pathValues.optional(),
    random: z
      .object({ n: int(1), seed: int().default(0), space: z.record(z.string().min(1), randomAxis) })
      .strict()
      .optional(),
  })
  .strict();
export type GridBlock = z.output<typeof gridBlockSpec>;

export const profileSpec = z
  .object({
    description: z.string().optional(),
    /** Dotted-path overrides of the base config, e.g. {'model.iterations': 200}. */
    set: z.record(z.string().min(1), z.unknown()).optional(),
    grid: z.array(gridBlockSpec).optional(),
    seeds: z.array(int()).min(1).optional(),
  })
  .strict();

export const studySpecSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, - and _ only'),
    description: z.string().default(''),
    /** Bump when the study's meaning changes; recorded with every trial. */
    version: int(1).default(1),
    /** The config every trial starts from (seed excluded). Validated in full per trial. */
    base: z.record(z.string(), z.unknown()),
    grid: z.array(gridBlockSpec).default([{}]),
    seeds: z.array(int()).min(1).default([0]),
    profiles: z.record(z.string().regex(/^[a-z0-9_-]+$/), profileSpec).default({}),
    defaultProfile: z.string().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.defaultProfile && !(s.defaultProfile in s.profiles))
      ctx.addIssue({ code: 'custom', path: ['defaultProfile'], message: `no profile named '${s.defaultProfile}'` });
  });

export type StudySpec = z.output<typeof studySpecSchema>;
export type StudyInput = z.input<typeof studySpecSchema>;

/** Validate a study spec; throws SpecError listing every problem with its path. */
export function defineStudy(input: StudyInput): StudySpec {
  const r = studySpecSchema.safeParse(input);
  if (!r.success) throw new SpecError(typeof (input as { name?: unknown })?.name === 'string' ? (input as { name: string }).name : 'study', r.error.issues);
  return r.data;
}

export interface SpecProblem {
  path: string;
  message: string;
}

/** A spec that cannot run. Lists every problem, each with the path where it was found. */
export class SpecError extends UserError {
  readonly problems: SpecProblem[];
  constructor(where: string, issues: readonly { path: readonly PropertyKey[]; message: string }[] | SpecProblem[]) {
    const problems = issues.map((i) => ('path' in i && typeof i.path === 'string' ? (i as SpecProblem) : { path: formatPath((i as { path: readonly PropertyKey[] }).path), message: i.message }));
    super(`invalid study spec '${where}': ${problems.length} problem${problems.length === 1 ? '' : 's'}\n` + problems.map((p) => `  - ${p.path || '(root)'}: ${p.message}`).join('\n'));
    this.problems = problems;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}
