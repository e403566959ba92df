/**
 * Durable training checkpoints of one step, in the store under steps/<key>/checkpoints/.
 * Each checkpoint holds the model's full state and the metric points logged so far; a small
 * pointer (latest.json, written last) names the newest complete one, so a kill between the two
 * writes leaves the previous checkpoint in force.
 */
import { z } from 'zod';
import { artifactRefSchema, stepPrefix } from '../infra/ledger.js';
import { getJson, getVerified, putJson, NotFoundError, type ArtifactStore } from '../infra/store/store.js';
import type { MetricPoint } from '../core/metrics.js';

const pointerSchema = z.object({ iteration: z.number().int(), state: artifactRefSchema, metrics: artifactRefSchema });

export class CheckpointStore {
  private readonly prefix: string;
  constructor(private readonly store: ArtifactStore, stepKey: string, private readonly keep = 2) {
    this.prefix = `${stepPrefix(stepKey)}/checkpoints`;
  }

  async latest(): Promise<{ iteration: number; state: Uint8Array; metrics: MetricPoint[] } | undefined> {
    let ptr;
    try {
      ptr = pointerSchema.parse(await getJson(this.store, `${this.prefix}/latest.json`));
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
    const state = await getVerified(this.store, ptr.state);
    const metrics = JSON.parse(Buffer.from(await getVerified(this.store, ptr.metrics)).toString('utf8')) as MetricPoint[];
    return { iteration: ptr.iteration, state, metrics };
  }

  async save(iteration: number, state: Uint8Array, metrics: MetricPoint[]): Promise<void> {
    const name = String(iteration).padStart(10, '0');
    const stateRef = await this.store.put(`${this.prefix}/${name}.state`, state);
    const metricsRef = await this.store.put(`${this.prefix}/${name}.metrics.json`, JSON.stringify(metrics));
    await putJson(this.store, `${this.prefix}/latest.json`, { iteration, state: stateRef, metrics: metricsRef });
    const old = (await this.store.list(this.prefix)).filter((k) => k.endsWith('.state')).slice(0, -this.keep);
    for (const k of old) {
      await this.store.delete(k);
      await this.store.delete(k.replace(/\.state$/, '.metrics.json'));
    }
  }
}
