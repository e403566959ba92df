/**
 * Builds the StepContext a step function runs with, from a host that says where progress,
 * resumes and cancellation go. The executor's main thread and its step workers both use it, so a
 * step sees the same world wherever it runs.
 */
import type { CheckpointPolicy, InputHandle, StepContext } from '../activities/context.js';
import type { StepCall } from '../experiments/plan.js';
import type { MetricPoint } from '../core/metrics.js';
import { readRecord, stepPrefix } from '../infra/ledger.js';
import { getVerified, type ArtifactRef, type ArtifactStore } from '../infra/store/store.js';

export interface StepHost {
  store: ArtifactStore;
  policy: CheckpointPolicy;
  signal: AbortSignal;
  backend?: string;
  progress(done: number, total: number): void;
  resumed(iteration: number): void;
  /** Training-curve points, stamped with the time they were logged. */
  log(points: MetricPoint[]): void;
  /** Told of each artifact as soon as it is written, so a failed attempt's outputs can be removed. */
  wrote(name: string, ref: ArtifactRef): void;
}

export function stepContext(call: StepCall, host: StepHost): StepContext {
  const { store } = host;
  return {
    key: call.key,
    store,
    locator: call.locator ?? {},
    input: async (name: string): Promise<InputHandle> => {
      const key = call.inputs[name];
      if (!key) throw new Error(`step ${call.kind} has no input '${name}'`);
      const r = await readRecord(store, key);
      if (r?.status !== 'done') throw new Error(`input '${name}' (step ${key}) is not done`);
      return {
        key,
        output: r.output ?? {},
        read: async (artifact: string) => {
          const ref = r.artifacts[artifact];
          if (!ref) throw new Error(`step ${r.kind} (${key}) has no artifact '${artifact}'`);
          return getVerified(store, ref);
        },
      };
    },
    hasInput: (name: string) => name in call.inputs,
    write: async (name, data) => {
      const ref = await store.put(`${stepPrefix(call.key)}/out/${name}`, data);
      host.wrote(name, ref);
      return ref;
    },
    progress: (done, total) => host.progress(done, total),
    log: (points: MetricPoint[]) => {
      const now = Date.now();
      for (const p of points) p.time ??= now;
      host.log(points);
    },
    checkpointPolicy: host.policy,
    onResume: (iteration) => host.resumed(iteration),
    signal: host.signal,
    backend: host.backend,
  };
}
