/**
 * A tiny tfjs graph model written by hand (model.json + one weight shard), for the tests of
 * user-supplied feature networks (the features step, FID): relu(conv2d(x, w, stride 2, SAME)),
 * w of shape [3, 3, 1, 4], on [-1, 16, 16, 1] → [-1, 8, 8, 4] unless another input shape is given.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

/** Writes the model under `dir`; returns the path of its model.json. */
export async function writeGraphModel(dir: string, weights: Float32Array, inputShape = [-1, 16, 16, 1]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const json = {
    format: 'graph-model',
    generatedBy: 'gantry test',
    convertedBy: 'hand',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims(inputShape) } } },
        { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims([3, 3, 1, 4]) } } } },
        {
          name: 'conv',
          op: 'Conv2D',
          input: ['x', 'w'],
          attr: { T: { type: 'DT_FLOAT' }, strides: { list: { i: ['1', '2', '2', '1'] } }, padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: { list: { i: ['1', '1', '1', '1'] } } },
        },
        { name: 'features', op: 'Relu', input: ['conv'], attr: { T: { type: 'DT_FLOAT' } } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [{ name: 'w', shape: [3, 3, 1, 4], dtype: 'float32' }] }],
  };
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  await writeFile(join(dir, 'group1-shard1of1.bin'), new Uint8Array(weights.buffer));
  return join(dir, 'model.json');
}
