/**
 * Adam as tf.train.adam computes it, with the per-variable update done in one pass where the
 * backend has a fused kernel for it (gantry's 'native' backend: native/tfjs-backend.ts,
 * FUSED_ADAM). The fused kernel repeats tfjs's float32 operations one by one, so the weights and
 * moments are the same as tf.train.adam's on that backend (tested); elsewhere this is
 * tf.AdamOptimizer unchanged. The unfused update is about a dozen elementwise ops over every
 * weight, each reading and writing whole arrays: for conv nets with millions of weights that is a
 * sizeable share of a CPU training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Packed } from './packed.js';

/** The kernel name native/tfjs-backend.ts registers (models talk to tfjs, not to the addon). */
const FUSED_ADAM = 'GantryFusedAdam';

interface Internals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

export class Adam extends tf.AdamOptimizer {
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon?: number) {
    super(learningRate, beta1, beta2, epsilon);
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const list = Array.isArray(variableGradients) ? variableGradients : undefined;
    const map = Array.isArray(variableGradients) ? undefined : variableGradients;
    const varNames = list ? list.map((v) => v.name) : Object.keys(map!);
    const gradOf = (name: string, i: number): tf.Tensor | undefined => (list ? list[i].tensor : map![name]);
    const fused =
      tf.getKernel(FUSED_ADAM, tf.getBackend()) !== undefined &&
      varNames.every((name, i) => {
        const g = gradOf(name, i);
        return (g == null || g.dtype === 'float32') && tf.engine().registeredVariables[name]?.dtype === 'float32';
      });
    if (!fused) return super.applyGradients(variableGradients);

    const self = this as unknown as Internals;
    const f = Math.fround;
    tf.tidy(() => {
      const [acc1] = self.accBeta1.dataSync();
      const [acc2] = self.accBeta2.dataSync();
      // The scalars tfjs's own update multiplies by, as float32.
      const hyper = [f(this.beta1), f(1 - this.beta1), f(this.beta2), f(1 - this.beta2), f(1 - acc1), f(1 - acc2), f(this.epsilon), f(-this.learningRate)];
      varNames.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        if (self.accumulatedFirstMoment[i] == null) {
          self.accumulatedFirstMoment[i] = { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        if (self.accumulatedSecondMoment[i] == null) {
          self.accumulatedSecondMoment[i] = { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        const grad = gradOf(name, i);
        if (grad == null) return;
        const m = self.accumulatedFirstMoment[i].variable;
        const v = self.accumulatedSecondMoment[i].variable;
        const [nextValue, nextM, nextV] = tf.engine().runKernel(FUSED_ADAM, { value, m, v, grad }, { hyper } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(nextM);
        v.assign(nextV);
        value.assign(nextValue);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, this.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }

  /**
   * Everything the next update depends on, for a checkpoint: the step count, the running β
   * products exactly as tfjs holds them (float32 products, not β^t), and both moments of each of
   * `vars`, in the order the gradients are applied.
   */
  state(vars: tf.Variable[], prefix: string): Packed[] {
    const self = this as unknown as Internals;
    const out: Packed[] = [
      { name: `${prefix}.t`, data: Float64Array.from([this.iterations, self.accBeta1.dataSync()[0], self.accBeta2.dataSync()[0]]), shape: [3] },
    ];
    vars.forEach((v, i) => {
      const m = self.accumulatedFirstMoment[i]?.variable;
      const s = self.accumulatedSecondMoment[i]?.variable;
      out.push({ name: `${prefix}.m.${i}`, data: m ? (m.dataSync() as Float32Array) : new Float32Array(v.size), shape: v.shape });
      out.push({ name: `${prefix}.v.${i}`, data: s ? (s.dataSync() as Float32Array) : new Float32Array(v.size), shape: v.shape });
    });
    return out;
  }

  restore(vars: tf.Variable[], arrays: Map<string, Packed>, prefix: string, what: string): void {
    const self = this as unknown as Internals & { iterations_: number };
    const t = arrays.get(`${prefix}.t`);
    if (!t || !(t.data instanceof Float64Array) || t.data.length !== 3) throw new Error(`${what}: missing optimiser state ${prefix}`);
    const get = (k: string, v: tf.Variable) => {
      const a = arrays.get(k);
      if (!a || !(a.data instanceof Float32Array) || a.data.length !== v.size) throw new Error(`${what}: missing optimiser state ${k}`);
      return a.data;
    };
    tf.tidy(() => {
      self.iterations_ = t.data[0];
      self.accBeta1.assign(tf.scalar(t.data[1]));
      self.accBeta2.assign(tf.scalar(t.data[2]));
      vars.forEach((v, i) => {
        for (const [list, k, suffix] of [[self.accumulatedFirstMoment, 'm', 'm'], [self.accumulatedSecondMoment, 'v', 'v']] as const) {
          const data = get(`${prefix}.${k}.${i}`, v);
          if (list[i]) list[i].variable.assign(tf.tensor(data, v.shape));
          else list[i] = { originalName: `${v.name}/${suffix}`, variable: tf.variable(tf.tensor(data, v.shape), false) };
        }
      });
    });
  }
}
