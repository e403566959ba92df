/**
 * `gantry fid <dirA> <dirB> --features <model.json>`: the Fréchet distance (evaluation/fid.ts)
 * between two folders of images, over the features of a network the user supplies as a tfjs graph
 * model (the `features` step's loader; nothing is downloaded).
 *
 * Preprocessing, per image: decoded with sharp as stored (datasets/images/decode.ts: no EXIF
 * rotation, no ICC conversion, alpha dropped, 8 or 16 bits); converted to the network's channels
 * (grey repeated into RGB, or RGB to PIL's integer luma); scaled to [0, 1] by the format's maximum
 * (255 or 65535); resized to the network's input size (bilinear with half-pixel centres: with
 * antialiasing when downscaling by default, as PIL and torchvision's Resize on PIL images, or
 * plain two-tap bilinear as torch's F.interpolate in pytorch-fid); then mapped to the range the
 * network expects (--input). A spatial output [b, h, w, c] is averaged over h and w (global
 * average pooling, as Inception's pool3). Features are float32 from tfjs; the statistics float64.
 */
import { createHash } from 'node:crypto';
import { sha256File } from '../infra/hash.js';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { UserError } from '../core/errors.js';
import { decodeImage } from '../datasets/images/decode.js';
import { isImageFile } from '../datasets/images/layouts.js';
import { resizeBilinear } from '../datasets/transforms.js';
import { selectBackend } from '../models/backend.js';
import { loadFeatureNetwork, toNetworkInput, type FeatureInput, type FeatureNetwork } from '../models/components/feature-network.js';
import { MomentAccumulator, fidOfGaussians, type FidResult } from '../evaluation/fid.js';
import { LoadBar } from './progress.js';

export type ResizeMode = 'antialias' | 'bilinear';

export interface FidOptions {
  /** The network's model.json. */
  features: string;
  /** Image side when the network's input size is not fixed (and a check when it is). */
  size?: number;
  batch?: number;
  input?: FeatureInput;
  resize?: ResizeMode;
  /** The output node to read (default: the model's first output). */
  output?: string;
  progress?: (done: number, total: number) => void;
}

export interface FidReport extends FidResult {
  sets: { name: string; folder: string; images: number }[];
  network: { path: string; modelJsonSha256: string; weightsSha256: string; output: string | null };
  input: { height: number; width: number; channels: number; range: FeatureInput; resize: ResizeMode };
}

/** Every image file (.png .jpg .jpeg .tif .tiff .bmp) in a folder and its subfolders, sorted by path; hidden entries skipped. */
export async function listImages(dir: string, what: string): Promise<string[]> {
  const root = resolve(dir);
  const st = await stat(root).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`${what}: folder ${dir} ${e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.code})`}`);
  });
  if (!st.isDirectory()) throw new UserError(`${what}: ${dir} is not a folder`, { hint: 'give two folders of images' });
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      throw new UserError(`${what}: cannot list ${d} (${e.code})`);
    });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (isImageFile(e.name)) out.push(p);
    }
  };
  await walk(root);
  if (!out.length) throw new UserError(`${what}: no images in ${dir}`, { hint: 'expected .png, .jpg, .jpeg, .tif, .tiff or .bmp files (subfolders are searched)' });
  // By path relative to the root, so the order (and the float32 sums) do not depend on where the folder is.
  return out.sort((a, b) => (relative(root, a) < relative(root, b) ? -1 : 1));
}

/** One image as the network's input: [h, w, c] float32 (see the preprocessing above). */
export async function networkInput(path: string, o: { height: number; width: number; channels: 1 | 3; range: FeatureInput; resize: ResizeMode }): Promise<Float32Array> {
  const img = await decodeImage(path, { channels: o.channels === 3 ? 'rgb' : 'gray' });
  const max = img.bitDepth === 16 ? 65535 : 255;
  const unit = new Float32Array(img.data.length);
  for (let i = 0; i < unit.length; i++) unit[i] = img.data[i] / max;
  let px: Float32Array = unit;
  if (img.width !== o.width || img.height !== o.height) {
    px = resizeBilinear({ width: img.width, height: img.height, channels: img.channels, data: unit }, o.width, o.height, { antialias: o.resize === 'antialias' }).data as Float32Array;
  }
  toNetworkInput(px, o.channels, '0..1', o.range);
  return px;
}

/** sha256 over the weight shards in the order the manifest names them: with model.json's, it names the network. */
async function weightsSha256(modelJson: string): Promise<string> {
  const json = JSON.parse(await readFile(modelJson, 'utf8')) as { weightsManifest: { paths: string[] }[] };
  const h = createHash('sha256');
  for (const g of json.weightsManifest) for (const p of g.paths) h.update(await readFile(join(dirname(modelJson), p)));
  return h.digest('hex');
}

/** The network's input size and channels: from its declared input shape where fixed, else from --size (and 3 channels). */
function inputGeometry(net: FeatureNetwork, path: string, size?: number): { height: number; width: number; channels: 1 | 3 } {
  const s = net.inputShape;
  if (s && s.length !== 4) throw new UserError(`feature model ${path} takes a rank-${s.length} input [${s.join(', ')}], not images [batch, height, width, channels]`);
  const [h, w, c] = s ? [s[1], s[2], s[3]] : [-1, -1, -1];
  const fixed = h > 0 && w > 0;
  if (fixed && size !== undefined && (size !== h || size !== w)) throw new UserError(`--size ${size}: feature model ${path} takes ${h}×${w} images`, { hint: 'leave out --size' });
  if (!fixed && size === undefined) throw new UserError(`feature model ${path} does not fix its input size ([${(s ?? []).join(', ')}])`, { hint: 'say it with --size N (N×N images)' });
  if (c > 0 && c !== 1 && c !== 3) throw new UserError(`feature model ${path} takes ${c}-channel images; gantry fid feeds 1 (grey) or 3 (RGB)`);
  return { height: fixed ? h : size!, width: fixed ? w : size!, channels: c === 1 ? 1 : 3 };
}

/** FID between the images of two folders, through the user's feature network. */
export async function fidOfFolders(dirA: string, dirB: string, o: FidOptions): Promise<FidReport> {
  const names: [string, string] = ['set A', 'set B'];
  const files = [await listImages(dirA, `${names[0]} (${dirA})`), await listImages(dirB, `${names[1]} (${dirB})`)];
  const modelPath = resolve(o.features);
  const st = await stat(modelPath).catch(() => undefined);
  if (!st?.isFile()) throw new UserError(`feature model ${o.features} ${st ? 'is not a file' : 'does not exist'}`, { hint: "--features names the model.json of a tfjs graph model (tensorflowjs_converter --output_format tfjs_graph_model)" });
  await selectBackend();
  const net = await loadFeatureNetwork(modelPath, { output: o.output, pool: 'mean' });
  try {
    const geo = inputGeometry(net, o.features, o.size);
    const range = o.input ?? '0..1';
    const resize = o.resize ?? 'antialias';
    if (range === 'imagenet' && geo.channels !== 3) throw new UserError(`--input imagenet standardises 3 RGB channels; feature model ${o.features} takes 1`, { hint: 'use --input 0..1 or -1..1' });
    const shape = [geo.height, geo.width, geo.channels];
    const batch = o.batch ?? 32;
    let dim: number;
    try {
      dim = net.dim(shape);
    } catch (e) {
      throw new UserError(`feature model ${o.features} failed on images of shape [${shape.join(', ')}]: ${(e as Error).message.split('\n')[0]}`);
    }
    const total = files[0].length + files[1].length;
    let done = 0;
    const gaussians = [];
    for (let s = 0; s < 2; s++) {
      const acc = new MomentAccumulator(dim);
      const list = files[s];
      for (let start = 0; start < list.length; start += batch) {
        const part = list.slice(start, start + batch);
        const pixels = await Promise.all(part.map((f) => networkInput(f, { ...geo, range, resize })));
        const data = new Float32Array(part.length * pixels[0].length);
        pixels.forEach((p, i) => data.set(p, i * p.length));
        let features: Float32Array;
        try {
          features = net.embed(data, part.length, shape);
        } catch (e) {
          throw new UserError(`feature model ${o.features} failed on images of shape [${shape.join(', ')}]: ${(e as Error).message.split('\n')[0]}`);
        }
        acc.add(features, part.length, `${names[s]}: features`);
        o.progress?.((done += part.length), total);
      }
      gaussians.push(acc.gaussian(names[s]));
    }
    const r = fidOfGaussians(gaussians[0], gaussians[1], names);
    return {
      ...r,
      sets: [
        { name: 'A', folder: dirA, images: files[0].length },
        { name: 'B', folder: dirB, images: files[1].length },
      ],
      network: { path: modelPath, modelJsonSha256: await sha256File(modelPath), weightsSha256: await weightsSha256(modelPath), output: o.output ?? null },
      input: { ...geo, range, resize },
    };
  } finally {
    net.dispose();
  }
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function formatFid(r: FidReport): string {
  const rows: [string, string][] = [
    ['fid', String(Number(r.fid.toPrecision(10)))],
    ['  ‖μA − μB‖²', String(Number(r.meanTerm.toPrecision(10)))],
    ['  Tr(ΣA + ΣB − 2(ΣA ΣB)^½)', String(Number(r.covTerm.toPrecision(10)))],
    ...r.sets.map((s): [string, string] => [`images ${s.name}`, `${s.images}  ${s.folder}`]),
    ['feature dimension', `${r.dim}${r.network.output ? ` (node ${r.network.output})` : ''}`],
    ['network', r.network.path],
    ['model.json sha256', r.network.modelJsonSha256],
    ['weights sha256', r.network.weightsSha256],
    ['network input', `${r.input.height}×${r.input.width}×${r.input.channels}, pixels ${r.input.range}, resize ${r.input.resize}`],
  ];
  // Not renderTable: it cuts cells at 60 characters, and a sha256 has 64.
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

export function registerFid(program: Command): void {
  program
    .command('fid')
    .description("Fréchet distance (FID, Heusel et al. 2017) between two folders of images, over the features of a network you supply as a tfjs graph model")
    .argument('<dirA>', 'a folder of images (.png .jpg .jpeg .tif .tiff .bmp; subfolders included)')
    .argument('<dirB>', 'the other folder')
    .requiredOption('--features <model.json>', 'the feature network: a tfjs graph model (model.json beside its weight shards, from tensorflowjs_converter); nothing is downloaded')
    .option('--output <node>', "the network's node to read (default: its first output); a spatial [b, h, w, c] output is averaged over h and w")
    .option('--size <n>', "image side N (N×N): needed when the network's input size is not fixed, else taken from the network", positiveInt)
    .option('--batch <n>', 'images per forward pass', positiveInt, 32)
    .addOption(new Option('--input <range>', "pixel range the network expects: 0..1, -1..1 (Inception-v3 / pytorch-fid), or imagenet (0..1 then ImageNet's mean and std per RGB channel)").choices(['0..1', '-1..1', 'imagenet']).default('0..1'))
    .addOption(new Option('--resize <mode>', 'resampling to the input size: antialias (PIL / torchvision bilinear) or bilinear (two-tap, torch F.interpolate as in pytorch-fid)').choices(['antialias', 'bilinear']).default('antialias'))
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText(
      'after',
      `
FID = ‖μA − μB‖² + Tr(ΣA + ΣB − 2(ΣA ΣB)^½) between Gaussians fitted to each set's features (sample
covariance, n − 1), in float64; the trace of the square root from the eigenvalues of ΣA^½ ΣB ΣA^½
(symmetric, so real and stable; eigenvalues at the rounding level count as 0).

Each image: decoded as stored (no EXIF rotation or colour management, alpha dropped), converted to
the network's channels (grey repeated, or RGB to luma), scaled to [0, 1], resized to the network's
input size, mapped to --input.

The published FID uses Inception-v3's 2,048-d pool3 features at 299×299 with pixels in [-1, 1];
numbers are comparable only under the same network, layer and preprocessing, and similar set
sizes (FID is biased upwards for small sets; with no more images than features the covariance is
singular and a warning is printed).`,
    )
    .action(async (dirA: string, dirB: string, o: { features: string; output?: string; size?: number; batch: number; input: FeatureInput; resize: ResizeMode; format: 'table' | 'json' }) => {
      const bar = new LoadBar(process.stderr, 'features');
      const r = await fidOfFolders(dirA, dirB, { ...o, progress: bar.update }).finally(bar.done);
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write((o.format === 'json' ? JSON.stringify(r, null, 2) : formatFid(r)) + '\n');
    });
}
