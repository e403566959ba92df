/**
 * A user-supplied feature network: a tfjs graph model (model.json plus weight shards, as
 * tensorflowjs_converter writes them) read from local files — never downloaded — and run on
 * batches of images to give one vector per sample (ALGAN-feature's pooled WideResNet features).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { UserError } from '../../core/errors.js';

interface ModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: unknown;
}

/** tfjs's IOHandler over files: model.json and the shards its manifest names, beside it. */
function fileHandler(path: string): tf.io.IOHandler {
  return {
    load: async () => {
      let json: ModelJson;
      try {
        json = JSON.parse(await readFile(path, 'utf8')) as ModelJson;
      } catch (e) {
        throw new UserError(`feature model ${path} cannot be read as JSON: ${(e as Error).message}`, { hint: 'features.model names the model.json of a tfjs graph model (tensorflowjs_converter --output_format tfjs_graph_model)' });
      }
      if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
        throw new UserError(`feature model ${path} is not a tfjs model.json (no modelTopology or weightsManifest)`, { hint: 'convert the network with tensorflowjs_converter' });
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Uint8Array[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) {
          const file = join(dirname(path), p);
          try {
            parts.push(new Uint8Array(await readFile(file)));
          } catch {
            throw new UserError(`feature model ${path}: its weight file ${p} is missing (${file})`);
          }
        }
        specs.push(...group.weights);
      }
      const total = parts.reduce((a, b) => a + b.length, 0);
      const weightData = new Uint8Array(total);
      let at = 0;
      for (const b of parts) (weightData.set(b, at), (at += b.length));
      const artifacts = {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: weightData.buffer,
        format: json.format,
        ...(json.signature ? { signature: json.signature } : {}),
        ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
        ...(json.modelInitializer ? { modelInitializer: json.modelInitializer } : {}),
      };
      return artifacts as tf.io.ModelArtifacts;
    },
  };
}

/** The pixel ranges a feature network may expect: as is in [-1, 1] or [0, 1], or ImageNet-standardised RGB. */
export type FeatureInput = '-1..1' | '0..1' | 'imagenet';

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/**
 * Pixels (channels last) from the range they are in to the one the network expects, in place:
 * gantry's samples are in [-1, 1], decoded images in [0, 1]. The same range is left untouched.
 */
export function toNetworkInput(data: Float32Array, channels: number, from: '-1..1' | '0..1', to: FeatureInput): void {
  if (from === to) return;
  for (let i = 0; i < data.length; i++) {
    const v = from === '-1..1' ? (data[i] + 1) / 2 : data[i];
    data[i] = to === '0..1' ? v : to === '-1..1' ? v * 2 - 1 : (v - IMAGENET.mean[i % channels]) / IMAGENET.std[i % channels];
  }
}

export interface FeatureNetwork {
  /** Features of `count` samples of `shape` ([h, w, c]), already in the network's input range: [count, dim]. */
  embed(data: Float32Array, count: number, shape: readonly number[]): Float32Array;
  dim(shape: readonly number[]): number;
  /** The input's declared shape, [batch, h, w, c] for images; -1 where it is not fixed; undefined when the model does not say. */
  inputShape?: readonly number[];
  dispose(): void;
}

export async function loadFeatureNetwork(path: string, opts: { output?: string; pool: 'mean' | 'none' }): Promise<FeatureNetwork> {
  let model: GraphModel;
  try {
    model = await loadGraphModel(fileHandler(path));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`feature model ${path} could not be loaded: ${(e as Error).message}`);
  }
  const output = opts.output;
  if (output && !model.outputNodes.includes(output) && !(model as unknown as { executor: { graph: { nodes: Record<string, unknown> } } }).executor?.graph?.nodes?.[output.split(':')[0]]) {
    throw new UserError(`feature model ${path} has no node '${output}' (outputs: ${model.outputNodes.join(', ')})`);
  }
  const run = (x: tf.Tensor): tf.Tensor2D =>
    tf.tidy(() => {
      const y = (output ? model.execute(x, output) : model.execute(x)) as tf.Tensor | tf.Tensor[];
      const t = Array.isArray(y) ? y[0] : y;
      if (t.rank === 4 && opts.pool === 'mean') return tf.mean(t, [1, 2]) as tf.Tensor2D;
      return tf.reshape(t, [t.shape[0], -1]) as tf.Tensor2D;
    });
  return {
    embed(data, count, shape) {
      return tf.tidy(() => run(tf.tensor(data, [count, ...shape])).dataSync() as Float32Array).slice();
    },
    dim(shape) {
      return tf.tidy(() => run(tf.zeros([1, ...shape])).shape[1]);
    },
    inputShape: model.inputs[0]?.shape,
    dispose() {
      model.dispose();
    },
  };
}
