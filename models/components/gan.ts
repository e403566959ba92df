/**
 * The contract of the image GAN detectors (GANomaly, Skip-GANomaly, ALGAN) and the one training
 * loop they share: shuffled batches read from a SampleSource, one `iterate` per generator
 * update, checkpoints holding the whole state (every network's weights, BatchNorm statistics and
 * spectral-norm vectors, every optimiser's moments, the RNG, the epoch permutation and position,
 * the model's own buffers, the best weights so far), validation-based model selection, and the
 * divergence guard. Scoring rebuilds the networks from the model file and runs them in inference
 * mode (BatchNorm on its moving statistics).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Prng, type PrngState } from '../../datasets/prng.js';
import { CancelledError, UserError } from '../../core/errors.js';
import type { SampleSource } from '../../core/samples.js';
import type { LabelledSource, MetricPoint, ScoreSet, Selection, TrainHooks } from '../detector.js';
import { ensureGradients } from '../backend.js';
import type { Adam } from './adam.js';
import type { Network } from './network.js';
import { pack, unpack, type Packed } from './packed.js';
import { rocAuc } from '../../evaluation/roc.js';
import { totalIterations, type GanCommon } from './gan-params.js';

export interface IterationContext {
  rng: Prng;
  /** Iterations done before this one. */
  iteration: number;
  epoch: number;
  /** σ of the discriminator's input noise at this iteration. */
  noiseStd: number;
}

export interface Optimised {
  name: string;
  opt: Adam;
  vars: tf.Variable[];
}

/** One image GAN detector, built for one sample shape. */
export interface GanModel {
  /** Every network, in a fixed order. */
  readonly nets: Network[];
  readonly optimizers: Optimised[];
  /** Score variants, the primary first. */
  readonly scoreNames: readonly string[];
  /** One generator update (with its nDis discriminator updates); the losses, read back, by name. `d_loss` feeds the collapse guard. */
  iterate(x: tf.Tensor, ctx: IterationContext): Record<string, number>;
  /** Higher = more anomalous, one value per sample for each score name; inference mode. */
  score(x: tf.Tensor): Record<string, tf.Tensor1D>;
  /** The generator's reconstruction of x, inference mode (encoder–decoder GANs; absent where there is none, as in ALGAN). */
  reconstruct?(x: tf.Tensor): tf.Tensor;
  /** Fresh discriminator weights (GANomaly's response to a collapsed D). */
  reinitDiscriminator(rng: Prng): void;
  /** Called when an epoch starts (ALGAN resamples its latents every n_z epochs). */
  onEpoch?(epoch: number, rng: Prng): void;
  /** State beyond the networks and optimisers (ALGAN's buffer of past fakes, its latents). */
  extraState?(): Packed[];
  restoreExtra?(arrays: Map<string, Packed>, what: string): void;
  dispose(): void;
}

export interface GanDefinition<P extends GanCommon> {
  kind: string;
  /** Build networks and optimisers for samples of `shape`, weights drawn from `rng`. */
  build(params: P, shape: readonly number[], rng: Prng): GanModel;
  /** The parameters that shape training (a checkpoint written under others is refused). */
  trainingKeys(params: P): Record<string, unknown>;
}

export class TrainingDiverged extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDiverged';
  }
}

const CHECKPOINT_FORMAT = 'gantry.gan.checkpoint';
export const MODEL_FORMAT = 'gantry.gan.model';

interface CheckpointMeta {
  format: string;
  version: 1;
  kind: string;
  fingerprint: Record<string, unknown>;
  iteration: number;
  epoch: number;
  cursor: number;
  rng: { words: PrngState; spare: number | null };
  best: { iteration: number; value: number } | null;
  validations: number;
  reinits: number;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function criterionOf(select: GanCommon['select'], validation: LabelledSource | undefined): Selection['criterion'] {
  if (select !== 'auto') {
    if (select !== 'last' && !validation) throw new UserError(`select '${select}' needs a validation split, and this trial has none`, { hint: "add one in the study's split, or use select: 'last'" });
    if (select === 'val-auc' && validation && !hasBothClasses(validation.labels)) {
      throw new UserError("select 'val-auc' needs normal and anomalous samples in the validation split", { hint: "use select: 'val-loss' or 'auto'" });
    }
    return select;
  }
  if (!validation || validation.source.n === 0) return 'last';
  return hasBothClasses(validation.labels) ? 'val-auc' : 'val-loss';
}

function hasBothClasses(labels: Uint8Array): boolean {
  return labels.includes(0) && labels.includes(1);
}

/** Scores of every sample of a source, by name, in batches (inference mode). */
export async function scoreSource(model: GanModel, src: SampleSource, batch: number, hooks?: Pick<TrainHooks, 'progress' | 'signal'>): Promise<Map<string, Float64Array>> {
  const out = new Map(model.scoreNames.map((n) => [n, new Float64Array(src.n)] as const));
  for (let start = 0; start < src.n; start += batch) {
    if (hooks?.signal?.aborted) throw new CancelledError('scoring cancelled');
    const count = Math.min(batch, src.n - start);
    const data = await src.read(start, count);
    const values = tf.tidy(() => {
      const s = model.score(tf.tensor(data, [count, ...src.shape]));
      return model.scoreNames.map((n) => s[n].dataSync() as Float32Array);
    });
    model.scoreNames.forEach((n, k) => out.get(n)!.set(values[k], start));
    hooks?.progress(start + count, src.n);
    await tick();
  }
  return out;
}

function netArrays(model: GanModel): Packed[] {
  return model.nets.flatMap((n) => n.arrays());
}

function restoreNets(model: GanModel, arrays: Map<string, Packed>, what: string): void {
  for (const n of model.nets) n.restore(arrays, what);
}

export async function trainGan<P extends GanCommon>(
  def: GanDefinition<P>,
  train: SampleSource,
  params: P,
  seed: number,
  hooks: TrainHooks,
  validation?: LabelledSource,
): Promise<{ model: Uint8Array; selection: Selection }> {
  ensureGradients();
  const { n, shape } = train;
  const B = params.batchSize;
  if (n < B) {
    throw new UserError(`${def.kind}: ${n} training samples are fewer than one batch (batchSize ${B})`, { hint: 'lower batchSize or provide more samples' });
  }
  const criterion = criterionOf(params.select, validation);
  const total = totalIterations(params, n);
  const validateEvery = params.validateEveryEpochs > 0 ? params.validateEveryEpochs * Math.max(1, Math.floor(n / B)) : params.validateEvery;
  const fingerprint = { n, shape: [...shape], seed, params: def.trainingKeys(params) };
  const what = `${def.kind} checkpoint`;

  const root = new Prng(seed);
  const model = def.build(params, shape, root.fork('init'));
  let rng = root.fork('train');
  let perm: Int32Array = new Int32Array(n);
  let epoch = 0;
  let cursor = 0;
  let iteration = 0;
  let best: { iteration: number; value: number; arrays: Packed[] } | null = null;
  let validations = 0;
  let reinits = 0;

  try {
    const saved = await hooks.restore();
    if (saved) {
      const { meta, arrays } = unpack(saved, what);
      const m = meta as unknown as CheckpointMeta;
      if (m.format !== CHECKPOINT_FORMAT || m.version !== 1 || m.kind !== def.kind) throw new Error(`${what}: unexpected format ${String(m.format)} v${String(m.version)} (${String(m.kind)})`);
      if (JSON.stringify(m.fingerprint) !== JSON.stringify(fingerprint)) {
        throw new UserError(`${def.kind}: the checkpoint to resume was written for other data, seed or parameters`, {
          hint: `checkpoint ${JSON.stringify(m.fingerprint)} vs this run ${JSON.stringify(fingerprint)}`,
        });
      }
      restoreNets(model, arrays, what);
      for (const o of model.optimizers) o.opt.restore(o.vars, arrays, `adam.${o.name}`, what);
      model.restoreExtra?.(arrays, what);
      const p = arrays.get('perm');
      if (!p || !(p.data instanceof Int32Array) || p.data.length !== n) throw new Error(`${what}: bad permutation`);
      perm = p.data;
      rng = Prng.fromState(m.rng);
      ({ epoch, cursor, iteration, validations, reinits } = m);
      if (m.best) best = { ...m.best, arrays: [...arrays.values()].filter((a) => a.name.startsWith('best/')).map((a) => ({ ...a, name: a.name.slice(5) })) };
    } else {
      for (let i = 0; i < n; i++) perm[i] = i;
      rng.shuffle(perm);
      model.onEpoch?.(0, rng);
    }

    const checkpointBytes = (): Uint8Array => {
      const meta: CheckpointMeta = {
        format: CHECKPOINT_FORMAT,
        version: 1,
        kind: def.kind,
        fingerprint,
        iteration,
        epoch,
        cursor,
        rng: rng.state(),
        best: best && { iteration: best.iteration, value: best.value },
        validations,
        reinits,
      };
      return pack(meta as unknown as Record<string, unknown>, [
        ...netArrays(model),
        ...model.optimizers.flatMap((o) => o.opt.state(o.vars, `adam.${o.name}`)),
        ...(model.extraState?.() ?? []),
        { name: 'perm', data: perm, shape: [n] },
        ...(best?.arrays.map((a) => ({ ...a, name: `best/${a.name}` })) ?? []),
      ]);
    };

    const nextBatch = async (): Promise<Float32Array> => {
      if (cursor + B > n) {
        // New epoch: the partial tail is dropped (fixed batch shapes keep BatchNorm statistics comparable).
        rng.shuffle(perm);
        epoch += 1;
        cursor = 0;
        model.onEpoch?.(epoch, rng);
      }
      const idx = perm.subarray(cursor, cursor + B);
      cursor += B;
      return train.gather(idx);
    };

    const validate = async (): Promise<void> => {
      if (criterion === 'last' || !validation) return;
      const scores = (await scoreSource(model, validation.source, params.scoreBatch)).get(model.scoreNames[0])!;
      let value: number;
      let better: boolean;
      const points: MetricPoint[] = [];
      if (criterion === 'val-auc') {
        value = rocAuc(scores, validation.labels);
        better = !best || value > best.value;
        points.push({ name: 'val/auc', step: iteration, value });
      } else {
        let s = 0;
        let k = 0;
        for (let i = 0; i < scores.length; i++) if (validation.labels[i] === 0) (s += scores[i]), k++;
        value = s / Math.max(1, k);
        better = !best || value < best.value;
        points.push({ name: 'val/normal_score', step: iteration, value });
      }
      validations += 1;
      if (Number.isFinite(value) && better) best = { iteration, value, arrays: netArrays(model).map((a) => ({ ...a, data: a.data.slice() })) };
      hooks.log(points);
    };

    let lastSaved = saved ? iteration : -1;
    hooks.progress(iteration, total);
    while (iteration < total) {
      if (hooks.signal?.aborted) {
        if (lastSaved !== iteration) await hooks.checkpoint(iteration, checkpointBytes());
        throw new CancelledError(`${def.kind} training cancelled at iteration ${iteration}/${total}`);
      }
      const data = await nextBatch();
      const noiseStd = params.dInputNoiseDecay > 0 ? params.dInputNoise * Math.max(0, 1 - iteration / params.dInputNoiseDecay) : params.dInputNoise;
      const x = tf.tensor(data, [B, ...shape]);
      let losses: Record<string, number>;
      try {
        losses = model.iterate(x, { rng, iteration, epoch, noiseStd });
      } finally {
        x.dispose();
      }
      iteration += 1;

      const bad = Object.entries(losses).find(([, v]) => !Number.isFinite(v));
      if (bad) {
        throw new TrainingDiverged(
          `${def.kind} training diverged at iteration ${iteration}: ${bad[0]} is ${bad[1]}; the checkpoints up to iteration ${Math.max(0, lastSaved)} are kept`,
        );
      }
      const dLoss = losses.d_loss;
      if (dLoss !== undefined && dLoss < params.collapseThreshold && params.onCollapse !== 'continue') {
        if (params.onCollapse === 'stop') {
          throw new TrainingDiverged(
            `${def.kind}: the discriminator collapsed at iteration ${iteration} (D loss ${dLoss.toExponential(2)} < ${params.collapseThreshold}); the checkpoints are kept`,
          );
        }
        model.reinitDiscriminator(rng);
        reinits += 1;
        hooks.log([{ name: 'train/d_reinit', step: iteration, value: reinits }]);
      }
      if (iteration % params.logEvery === 0 || iteration === total) {
        hooks.log(Object.entries(losses).map(([name, value]) => ({ name: `train/${name}`, step: iteration, value })));
      }
      if (iteration % validateEvery === 0 || iteration === total) await validate();
      hooks.progress(iteration, total);
      if (hooks.checkpointDue(iteration)) {
        await hooks.checkpoint(iteration, checkpointBytes());
        lastSaved = iteration;
      }
      await tick();
    }

    let selection: Selection;
    let weights: Packed[];
    if (criterion !== 'last' && best) {
      weights = best.arrays;
      const what = criterion === 'val-auc' ? `highest validation AUROC (${best.value.toFixed(4)})` : `lowest mean validation score of normal samples (${best.value.toPrecision(5)})`;
      selection = { criterion, iteration: best.iteration, value: best.value, validations, reason: `iteration ${best.iteration} of ${total}: ${what} of ${validations} validations every ${validateEvery} iterations` };
    } else {
      weights = netArrays(model);
      selection = {
        criterion: 'last',
        iteration,
        value: null,
        validations,
        reason: !validation || validation.source.n === 0 ? `the last iteration (${iteration}): the trial has no validation split` : `the last iteration (${iteration}), as select: 'last' asks`,
      };
    }
    hooks.log([{ name: 'selection/iteration', step: iteration, value: selection.iteration }]);
    const bytes = pack({ format: MODEL_FORMAT, version: 1, kind: def.kind, shape: [...shape], params, selection, reinits }, weights);
    return { model: bytes, selection };
  } finally {
    model.dispose();
  }
}

/** Rebuild a trained model from its file and score `samples` with every variant. */
/**
 * A trained model's reconstructions of `count` samples (row-major, the model's sample shape), or
 * undefined for a model without a generator of x (ALGAN). For reports: what the detector saw.
 */
export function reconstructGan<P extends GanCommon>(def: GanDefinition<P>, bytes: Uint8Array, data: Float32Array, count: number): Float32Array | undefined {
  const { meta, arrays } = unpack(bytes, `${def.kind} model`);
  if (meta.format !== MODEL_FORMAT || meta.kind !== def.kind) throw new Error(`${def.kind} model: unexpected format ${String(meta.format)} (${String(meta.kind)})`);
  const shape = meta.shape as number[];
  const model = def.build(meta.params as P, shape, new Prng(0));
  try {
    if (!model.reconstruct) return undefined;
    restoreNets(model, arrays, `${def.kind} model`);
    return tf.tidy(() => Float32Array.from(model.reconstruct!(tf.tensor(data, [count, ...shape])).dataSync()));
  } finally {
    model.dispose();
  }
}

export async function scoreGan<P extends GanCommon>(
  def: GanDefinition<P>,
  bytes: Uint8Array,
  samples: SampleSource,
  params: P,
  hooks?: Pick<TrainHooks, 'progress' | 'signal'>,
): Promise<ScoreSet[]> {
  const { meta, arrays } = unpack(bytes, `${def.kind} model`);
  if (meta.format !== MODEL_FORMAT || meta.kind !== def.kind) throw new Error(`${def.kind} model: unexpected format ${String(meta.format)} (${String(meta.kind)})`);
  const shape = meta.shape as number[];
  if (shape.length !== samples.shape.length || shape.some((d, i) => d !== samples.shape[i])) {
    throw new UserError(`${def.kind}: the model was trained on samples of shape [${shape}], these are [${samples.shape}]`);
  }
  // Everything from the trained parameters but the scoring batch, which is this step's.
  const trained = meta.params as P;
  const model = def.build({ ...trained, scoreBatch: params.scoreBatch }, shape, new Prng(0));
  try {
    restoreNets(model, arrays, `${def.kind} model`);
    const scores = await scoreSource(model, samples, params.scoreBatch, hooks);
    return model.scoreNames.map((name) => ({ name, scores: scores.get(name)! }));
  } finally {
    model.dispose();
  }
}
