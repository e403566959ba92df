/**
 * The contract every anomaly detector in models/ fulfils, whether classical (RX) or a GAN.
 * Detectors are pure compute: they see arrays and hooks, never the store, the catalog or the CLI.
 * The train step (activities/) turns the hooks into durable checkpoints and catalog metrics.
 */
import type { z } from 'zod';
import type { MetricPoint } from '../core/metrics.js';

import type { SampleSource, Samples } from '../core/samples.js';

export type { MetricPoint, SampleSource, Samples };



export interface TrainHooks {
  /** The newest checkpoint saved by an earlier attempt of this training, or undefined. */
  restore(): Promise<Uint8Array | undefined>;
  /** True when a checkpoint is due after `iteration` iterations (every N iterations or minutes). */
  checkpointDue(iteration: number): boolean;
  /** Persist the complete training state after `iteration` iterations. */
  checkpoint(iteration: number, state: Uint8Array): Promise<void>;
  /** Training-curve points. Points are keyed by (name, step), so logging one twice is harmless. */
  log(points: MetricPoint[]): void;
  /** Progress for the display; cheap to call every iteration. */
  progress(done: number, total: number): void;
  /** Aborted when the user stops the run; training should checkpoint and throw CancelledError. */
  signal?: AbortSignal;
}

export interface ScoreSet {
  /** e.g. 'rx', 'generator', 'critic'. The first set a detector returns is its primary score. */
  name: string;
  /** Higher means more anomalous. One per sample. */
  scores: Float64Array;
}

/** Samples with their classes (0 normal, 1 anomalous), such as the validation split. */
export interface LabelledSource {
  source: SampleSource;
  labels: Uint8Array;
}

/** What training may use besides the training samples. */
export interface FitData {
  /** The validation split (ambiguous samples left out), for model selection; never the test split. */
  validation?: LabelledSource;
}

/** Which weights a training kept, and why (the trial's report states it). */
export interface Selection {
  criterion: 'val-auc' | 'val-loss' | 'last';
  iteration: number;
  value: number | null;
  validations: number;
  reason: string;
}

export interface FitResult {
  model: Uint8Array;
  selection?: Selection;
}

/** `R`: what fit returns — model bytes, or bytes with the selection made (detectors that select). */
export interface Detector<P, R extends Uint8Array | FitResult = Uint8Array> {
  kind: string;
  /** Hyperparameters with their defaults; parsed before any work starts. */
  params: z.ZodType<P>;
  /** False when the seed cannot change the result (RX): grids then keep one trial, not one per seed. */
  stochastic: boolean;
  /** Whether it computes with tfjs (so the tfjs backend is worth recording with the trial). */
  usesTfjs: boolean;
  /** Fit on normal samples (read in batches: a set may not fit in memory); returns the fitted model, serialized. */
  fit(train: SampleSource, params: P, seed: number, hooks: TrainHooks, data?: FitData): Promise<R>;
  /** Score samples with a fitted model. */
  score(model: Uint8Array, samples: SampleSource, params: P, seed: number, hooks?: Pick<TrainHooks, 'progress' | 'signal'>): Promise<ScoreSet[]>;
  /** The model's reconstructions of `count` samples, for detectors that reconstruct their input (reports show them); undefined otherwise. */
  reconstruct?(model: Uint8Array, data: Float32Array, count: number): Promise<Float32Array | undefined>;
}
