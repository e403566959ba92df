/**
 * Study specs: what a user writes. `defineStudy()` validates a spec with zod; `resolveTrials()`
 * (grid.ts) turns it into trials. Everything here is pure: no I/O, no clock, no crypto.
 */
import { z } from 'zod';
import { CONV_IMAGE_MODELS, modelSpec } from '../models/params.js';
import { UserError } from '../core/errors.js';
import { classProtocolSpec } from '../datasets/classes.js';
import { predicateSpec } from '../datasets/predicates.js';

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
    /** How the cube's dimensions are stored (default: rows × cols × bands as MATLAB has it). Many cubes are saved bands-first or as pixels × bands. */
    order: z.enum(['rows-cols-bands', 'bands-rows-cols', 'pixels-bands', 'bands-pixels']).optional(),
    /** The image size, for the pixels × bands orders. */
    shape: z.object({ rows: int(1), cols: int(1) }).strict().optional(),
    /** Eide's outer mask (a variable in the same file): pixels inside it but outside `labels` are ambiguous — never trained on, never scored in metrics. */
    outer: z.string().optional(),
  })
  .strict();

/**
 * Seeded 2-D points for the boundary-generation study (Dionelis 2019): a Gaussian mixture of
 * normal points (a preset, or `k` modes on a circle) and anomalies from an outlier distribution.
 * They travel as an n×1 "cube" of 2 bands, so pixel tiling gives [n, 2] samples.
 */
export const syntheticPointsSpec = z
  .object({
    kind: z.literal('synthetic-points'),
    n: int(2).default(1024),
    modes: z.union([z.enum(['unimodal', 'bimodal']), z.object({ k: int(1), radius: z.number().positive().default(2), std: z.number().positive().default(0.35) }).strict()]).default('bimodal'),
    anomalyFraction: z.number().min(0).lt(1).default(0.1),
    outliers: z.enum(['box', 'shell']).default('box'),
    seed: int().default(0),
  })
  .strict();

/** A label map in a file of its own: a .mat variable, a mask image (nonzero = anomalous), or a one-band ENVI/TIFF raster. */
const labelFileSpec = z
  .object({
    path: z.string().min(1),
    /** For a .mat: the variable. */
    variable: z.string().default('map'),
    /** An outer mask file (same kinds): inside it but outside the labels = ambiguous. */
    outer: z.string().min(1).optional(),
  })
  .strict();

/** An ENVI raster (.hdr + data; BSQ, BIL or BIP; every ENVI data type, both byte orders) with a label map. */
export const enviHsiSpec = z.object({ kind: z.literal('envi'), path: z.string().min(1), labels: labelFileSpec }).strict();
/** A multiband TIFF (bands as samples per pixel or as pages) with a label map. */
export const tiffHsiSpec = z.object({ kind: z.literal('tiff'), path: z.string().min(1), labels: labelFileSpec }).strict();

/** Datasets that are one hyperspectral cube with a label map: loaded, band-filtered, tiled into pixels or windows. */
export const cubeDatasetSpec = z.discriminatedUnion('kind', [syntheticHsiSpec, matHsiSpec, enviHsiSpec, tiffHsiSpec, syntheticPointsSpec]);
export const CUBE_DATASET_KINDS = ['synthetic-hsi', 'mat', 'envi', 'tiff', 'synthetic-points'] as const;

/** Image folders in a known layout (Magnetic Tile Defects, MVTec-AD, COIL-100, normal/ + anomalous/). */
export const imageFolderSpec = z
  .object({
    kind: z.literal('images'),
    /** The dataset's root folder; relative paths resolve against the study file (built-in studies: the project). */
    path: z.string().min(1),
    layout: z.enum(['auto', 'mtd', 'mvtec', 'coil100', 'folders']).optional(),
    /** MVTec-AD: one category (bottle, …) when the root holds several. */
    category: z.string().min(1).optional(),
    /** Colour handling when decoding: keep the file's, or convert. */
    channels: z.enum(['keep', 'gray', 'rgb']).optional(),
    /** A CSV of per-image metadata, joined by file name (for metadata filters). */
    metadata: z.object({ path: z.string().min(1), column: z.string().min(1).optional() }).strict().optional(),
    /** A mask pixel is anomalous above this fraction of white (default 0.5: resampled masks hold grey borders; 0 = any nonzero). */
    maskThreshold: z.number().min(0).max(1).optional(),
  })
  .strict();

/** Seeded gray or colour textures with implanted defects and pixel masks (tests, quickstart). */
export const syntheticTexturesSpec = z
  .object({
    kind: z.literal('synthetic-textures'),
    normals: int(1).default(64),
    anomalies: int(0).default(32),
    size: int(8).default(64),
    channels: z.union([z.literal(1), z.literal(3)]).default(1),
    seed: int().default(0),
  })
  .strict();

/** MNIST idx files or CIFAR-10 binary batches in a folder: every image an item, its digit or class name its class. */
const imageArraySpec = <K extends 'mnist' | 'cifar10'>(kind: K) =>
  z
    .object({
      kind: z.literal(kind),
      path: z.string().min(1),
      /** Which of the files' own parts to use: both (their train/test stay as `given` splits), or one. */
      parts: z.enum(['both', 'train', 'test']).optional(),
      /** The first `limit` images of each part only (for quick runs). */
      limit: int(1).optional(),
    })
    .strict();
export const mnistSpec = imageArraySpec('mnist');
export const cifar10Spec = imageArraySpec('cifar10');

/** Datasets of items (images) with optional pixel masks: scanned, screened, cut into samples, split by item. */
export const itemDatasetSpec = z.discriminatedUnion('kind', [imageFolderSpec, syntheticTexturesSpec, mnistSpec, cifar10Spec]);
export const ITEM_DATASET_KINDS = ['images', 'synthetic-textures', 'mnist', 'cifar10'] as const;

export const datasetSpec = z.discriminatedUnion('kind', [syntheticHsiSpec, matHsiSpec, enviHsiSpec, tiffHsiSpec, syntheticPointsSpec, imageFolderSpec, syntheticTexturesSpec, mnistSpec, cifar10Spec]);

/** Band range [start, end) with a step; `end` defaults to all bands. */
const bandSelection = z
  .object({ start: int().default(0), end: int(1).optional(), step: int(1).default(1) })
  .strict()
  .refine((b) => b.end === undefined || b.start < b.end, { message: 'start must be below end: the range [start, end) selects no band', path: ['end'] });

/** Band counts a dataset spec fixes without reading a file. */
function knownBands(d: z.output<typeof cubeDatasetSpec>): number | undefined {
  return d.kind === 'synthetic-hsi' ? d.bands : d.kind === 'synthetic-points' ? 2 : undefined;
}

/** `select` of a GAN's params, when the study sets it (other models select nothing). */
function selectOf(model: unknown): string | undefined {
  const v = (model as { select?: unknown }).select;
  return typeof v === 'string' ? v : undefined;
}

export const filterSpec = z
  .object({
    bands: bandSelection.prefault({}),
    /** Scaling applied to all values: 'minmax' maps the cube to [-1, 1] (the GAN's tanh range); 'band-zscore' standardises each band on its own. */
    normalize: z.enum(['none', 'minmax', 'zscore', 'band-zscore']).default('minmax'),
    /** Drop noisy bands (e.g. water absorption) after band selection: signal-to-noise estimate below this value. */
    minBandSnr: z.number().positive().optional(),
    /** A value transform before scaling: 'sqrt' (Eide's variance-stabilising option; negatives clip to 0). */
    transform: z.enum(['sqrt']).optional(),
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
    /** Hold out this fraction of the training pixels as validation, drawn with the trial's seed (Eide: 0.2, his 80/20 background split). */
    validation: z.number().gt(0).lt(1).optional(),
  })
  .strict();

/**
 * What evaluate computes on the test split: `auc`, `logauc` (Eide), `ap` (average precision),
 * `f1` (precision, recall and F1 at the best-F1 threshold chosen on validation, or at the
 * `percentile` of validation scores where validation has no anomaly: ALAD's top 20 % by default),
 * `f1_oracle` (best F1 on test: labelled as such, never an honest number).
 */
export const evaluationSpec = z
  .object({
    metrics: z.array(z.enum(['auc', 'logauc', 'ap', 'f1', 'f1_oracle'])).min(1).default(['auc', 'logauc']),
    percentile: z.number().gt(0).lt(100).optional(),
  })
  .strict();

/** Which items a study keeps, each filter recording what it removed and why. Fields absent = filter off. */
export const itemFilterSpec = z
  .object({
    /** Which classes are normal and which anomalous (default: as the layout labels them). */
    classes: classProtocolSpec.optional(),
    /** Drop images whose shorter side is below this many pixels. */
    minSize: int(1).optional(),
    /** Drop blurry images: variance of the Laplacian below this value (on 0..255 luminance). */
    minSharpness: z.number().min(0).optional(),
    /** Drop near-duplicates: perceptual hashes within this Hamming distance of an earlier image's. */
    duplicates: int(0).max(64).optional(),
    /** Keep only items whose metadata passes this predicate (needs dataset.metadata). */
    metadata: predicateSpec.optional(),
    /** A bad item (undecodable, mask of another size, no metadata row): skip it and report it (default), or fail the study. */
    onBadItem: z.enum(['skip', 'fail']).optional(),
  })
  .strict();

/** Channels to stack per sample (Murase: [r, g, b, max, mean]); gray images have 'gray'. */
const channelStack = z.array(z.enum(['r', 'g', 'b', 'gray', 'max', 'mean'])).min(1);

export const itemTilingSpec = z.discriminatedUnion('kind', [
  /** size×size patches every `stride` pixels; anomalous when more than `threshold` of their pixels are (Özgümüş: 32, 16). */
  z
    .object({
      kind: z.literal('patches'),
      size: int(2).default(32),
      stride: int(1).default(16),
      threshold: z.number().min(0).max(1).default(0),
      /** Patches with some anomalous pixels but not more than the threshold: labelled normal, or dropped. */
      ambiguous: z.enum(['normal', 'drop']).default('drop'),
    })
    .strict(),
  /** The whole image resized to size×size (Murase: 256), optionally centre-cropped to `crop`. */
  z.object({ kind: z.literal('resize'), size: int(2).default(256), crop: int(2).optional(), stack: channelStack.optional() }).strict(),
  /** The whole image as it is (every item must have the same size): MNIST, CIFAR-10. */
  z.object({ kind: z.literal('whole'), stack: channelStack.optional() }).strict(),
]);

/**
 * Features from a user-supplied network (ALGAN-feature, Murase: WideResNet-101's pooled last
 * block): a tfjs graph model (model.json and its weight shards, e.g. from tensorflowjs_converter)
 * maps each extracted sample to a vector. Nothing is downloaded: the files are the user's.
 */
export const featuresSpec = z
  .object({
    /** Path to the model.json; its folder (weight shards) enters the step key by content. */
    model: z.string().min(1),
    /** The output node to read (default: the model's first output). */
    output: z.string().min(1).optional(),
    /** What the network expects of pixels: samples are in [-1, 1]; '0..1' rescales; 'imagenet' also standardises RGB with ImageNet's mean and std. */
    input: z.enum(['-1..1', '0..1', 'imagenet']).default('0..1'),
    /** A spatial output [b, h, w, c] is averaged over h and w (global average pooling); 'none' flattens it. */
    pool: z.enum(['mean', 'none']).default('mean'),
    batch: int(1).default(32),
  })
  .strict();
export type FeaturesSpec = z.output<typeof featuresSpec>;

export const itemSplitSpec = z
  .object({
    /** How items are split into train / validation / test, re-drawn per seed. */
    protocol: z.enum(['murase-mtd', 'mvtec', 'coil100', 'fractions', 'list']).default('murase-mtd'),
    /** For 'fractions': train/val/test fractions of the normal and of the anomalous items. */
    normal: z.tuple([z.number().min(0), z.number().min(0), z.number().min(0)]).optional(),
    anomalous: z.tuple([z.number().min(0), z.number().min(0), z.number().min(0)]).optional(),
    /** For 'list': item paths (relative to the dataset root) in each split; unlisted items go to test. */
    train: z.array(z.string()).optional(),
    val: z.array(z.string()).optional(),
    test: z.array(z.string()).optional(),
  })
  .strict();

/** The resolved configuration of one trial: what its id hashes. */
export const cubeTrialConfigSchema = z
  .object({
    dataset: cubeDatasetSpec,
    filter: filterSpec.prefault({}),
    tiling: tilingSpec.prefault({ kind: 'pixel' }),
    split: splitSpec.prefault({}),
    model: modelSpec,
    evaluation: evaluationSpec.prefault({}),
    seed: int(),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Windows are odd-sized, so no cube sample is an image the convolutional GANs take; ALGAN's dense variant takes spectra.
    if (c.model.kind === 'ganomaly' || c.model.kind === 'skip-ganomaly') {
      ctx.addIssue({ code: 'custom', path: ['model', 'kind'], message: `${c.model.kind} needs images; a cube's samples are spectra or odd-sized windows (on spectra use algan, wgan-gp, rx, pca or knn)` });
    }
    if (c.model.kind === 'algan' && c.tiling.kind === 'window') {
      ctx.addIssue({ code: 'custom', path: ['tiling', 'kind'], message: 'algan takes spectra (pixel tiling) or square power-of-two images, not odd-sized windows' });
    }
    // A band range the spec alone shows cannot fit: said here, before any file is read.
    const nb = knownBands(c.dataset);
    const { start, end } = c.filter.bands;
    if (nb !== undefined && (start >= nb || (end ?? nb) > nb)) {
      ctx.addIssue({ code: 'custom', path: ['filter', 'bands'], message: `[${start}, ${end ?? nb}) does not fit the dataset's ${nb} bands (band numbers run from 0 to ${nb - 1})` });
    }
    // Model selection on validation: a cube's validation pixels are held out of the training pixels.
    const select = selectOf(c.model);
    if ((select === 'val-auc' || select === 'val-loss') && c.split.validation === undefined) {
      ctx.addIssue({ code: 'custom', path: ['model', 'select'], message: `select '${select}' needs validation pixels: set split.validation (e.g. 0.2), or use select 'auto' or 'last'` });
    } else if (select === 'val-auc' && c.split.train === 'background') {
      ctx.addIssue({ code: 'custom', path: ['model', 'select'], message: "select 'val-auc' needs anomalous validation pixels, but with split.train 'background' validation is drawn from background pixels only: use select 'val-loss' or 'auto'" });
    }
  });
export type CubeTrialConfig = z.output<typeof cubeTrialConfigSchema>;

export const itemTrialConfigSchema = z
  .object({
    dataset: itemDatasetSpec,
    filter: itemFilterSpec.prefault({}),
    tiling: itemTilingSpec.prefault({ kind: 'patches' }),
    /** Optional: samples become a network's feature vectors (a step between extract and training). */
    features: featuresSpec.optional(),
    split: itemSplitSpec.prefault({}),
    model: modelSpec,
    evaluation: evaluationSpec.prefault({}),
    seed: int(),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Convolutional GANs halve the image down to 4×4: catch a size they cannot take before any work.
    const size = c.tiling.kind === 'patches' || c.tiling.kind === 'resize' ? (c.tiling.kind === 'resize' && c.tiling.crop ? c.tiling.crop : c.tiling.size) : undefined;
    if (c.features && (c.model.kind === 'ganomaly' || c.model.kind === 'skip-ganomaly')) {
      ctx.addIssue({ code: 'custom', path: ['features'], message: `${c.model.kind} needs images; features turn samples into vectors (on vectors use algan, pca or knn)` });
    }
    if (size !== undefined && !c.features && (CONV_IMAGE_MODELS as readonly string[]).includes(c.model.kind) && !(size >= 8 && (size & (size - 1)) === 0)) {
      ctx.addIssue({ code: 'custom', path: ['tiling', c.tiling.kind === 'resize' && c.tiling.crop ? 'crop' : 'size'], message: `${c.model.kind} needs square images whose side is a power of two, at least 8 (got ${size}); try ${2 ** Math.max(3, Math.round(Math.log2(size)))}` });
    }
    // Fractions fix the validation split's classes before any item is read.
    const select = selectOf(c.model);
    if (c.split.protocol === 'fractions' && c.split.normal && c.split.anomalous && (select === 'val-auc' || select === 'val-loss')) {
      const lacking = [c.split.normal[1] === 0 && 'normal', select === 'val-auc' && c.split.anomalous[1] === 0 && 'anomalous'].filter(Boolean);
      if (lacking.length) {
        ctx.addIssue({ code: 'custom', path: ['model', 'select'], message: `select '${select}' needs ${lacking.join(' and ')} validation items, but split.${lacking[0]}'s validation fraction (the second) is 0: ${lacking.includes('normal') ? 'give it a validation fraction, or use' : "use select 'val-loss' or"} select 'auto'` });
      }
    }
  });
export type ItemTrialConfig = z.output<typeof itemTrialConfigSchema>;

export type TrialConfig = CubeTrialConfig | ItemTrialConfig;

export function isItemConfig(c: TrialConfig): c is ItemTrialConfig {
  return (ITEM_DATASET_KINDS as readonly string[]).includes(c.dataset.kind);
}

/**
 * A trial's config, validated by the schema of its dataset's family (cubes or items): the two
 * families have different filter, tiling and split sections.
 */
export const trialConfigSchema = {
  schemaFor(raw: unknown): z.ZodType<TrialConfig> {
    const kind = (raw as { dataset?: { kind?: unknown } } | null)?.dataset?.kind;
    return (typeof kind === 'string' && (ITEM_DATASET_KINDS as readonly string[]).includes(kind) ? itemTrialConfigSchema : cubeTrialConfigSchema) as z.ZodType<TrialConfig>;
  },
  safeParse(raw: unknown) {
    const r = this.schemaFor(raw).safeParse(raw);
    if (r.success) return r;
    // The cube schema knows only cube kinds: name every dataset kind in its complaint.
    const issues = r.error.issues.map((i) =>
      i.path.length === 2 && i.path[0] === 'dataset' && i.path[1] === 'kind' ? { ...i, message: `unknown dataset kind (known: ${[...CUBE_DATASET_KINDS, ...ITEM_DATASET_KINDS].join(', ')})` } : i,
    );
    return { success: false as const, error: { issues } };
  },
  parse(raw: unknown): TrialConfig {
    return this.schemaFor(raw).parse(raw);
  },
};

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
    grid: z.array(gridBlockSpec).min(1, 'an empty grid has no trials: give at least one block ({} runs the base config)').optional(),
    seeds: z.array(int()).min(1).optional(),
  })
  .strict();

/**
 * How a study's report is laid out beside its source paper: the published numbers (matched to
 * cells by grid block, else by model) and how gantry's protocol differs from the paper's.
 */
export const reportSpec = z
  .object({
    paper: z
      .object({
        /** The source, e.g. 'Murase (2022), Table 5.4'. */
        source: z.string().min(1),
        rows: z
          .array(
            z
              .object({
                block: z.string().optional(),
                model: z.string().optional(),
                metric: z.string().min(1),
                value: z.number(),
                std: z.number().optional(),
                note: z.string().optional(),
              })
              .strict()
              .refine((r) => r.block !== undefined || r.model !== undefined, 'name the grid block or the model the number belongs to'),
          )
          .min(1),
      })
      .strict()
      .optional(),
    /** How this study's protocol differs from the paper's, one sentence each. */
    protocol: z.array(z.string().min(1)).default([]),
  })
  .strict();
export type ReportSpec = z.output<typeof reportSpec>;

export const studySpecSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, - and _ only'),
    description: z.string().default(''),
    /** Bump when the study's meaning changes; recorded with every trial. */
    version: int(1).default(1),
    /** The config every trial starts from (seed excluded). Validated in full per trial. */
    base: z.record(z.string(), z.unknown()),
    grid: z.array(gridBlockSpec).min(1, 'an empty grid has no trials: give at least one block ({} runs the base config)').default([{}]),
    seeds: z.array(int()).min(1).default([0]),
    profiles: z.record(z.string().regex(/^[a-z0-9_-]+$/), profileSpec).default({}),
    defaultProfile: z.string().optional(),
    /** The report's layout beside the source paper (gantry report). */
    report: reportSpec.optional(),
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
