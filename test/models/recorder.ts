/** Training hooks that keep what a detector checkpoints and logs, and can "kill" it after a checkpoint. */
import * as tf from '@tensorflow/tfjs-core';
import type { MetricPoint, TrainHooks } from '../../models/detector.js';

export interface Recorder {
  hooks: TrainHooks;
  checkpoints: Map<number, Uint8Array>;
  logs: MetricPoint[];
  tensors: number[];
}

export function recorder(opts: { restore?: Uint8Array; every?: number; killAt?: number; onProgress?: (it: number) => void; signal?: AbortSignal } = {}): Recorder {
  const r: Recorder = {
    checkpoints: new Map(),
    logs: [],
    tensors: [],
    hooks: {
      restore: async () => opts.restore,
      checkpointDue: (it) => it % (opts.every ?? 4) === 0,
      checkpoint: async (it, bytes) => {
        r.checkpoints.set(it, Uint8Array.from(bytes));
        if (it === opts.killAt) throw new Error(`killed after iteration ${it}`);
      },
      log: (points) => r.logs.push(...points),
      progress: (done) => {
        r.tensors.push(tf.memory().numTensors);
        opts.onProgress?.(done);
      },
      signal: opts.signal,
    },
  };
  return r;
}

/** Metric points keyed by (name, step), as the catalog stores them. */
export function keyed(points: MetricPoint[]): Map<string, number> {
  return new Map(points.map((p) => [`${p.name}@${p.step}`, p.value]));
}
