/**
 * Reader for the CIFAR-10 binary version (Krizhevsky 2009, "cifar-10-binary"): each batch file
 * (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`) is a run of 3073-byte records, one
 * label byte (0–9) then a 32×32 image as 1024 red, 1024 green, 1024 blue bytes, each plane
 * row-major. gantry's images are HWC, so the planes are interleaved on load. Class names come
 * from `batches.meta.txt` (one per line) beside the batch, when it is there.
 *
 * The archive itself (cifar-10-binary.tar.gz) is not unpacked here; CIFAR-100 (two label bytes
 * per record) is not read.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '../core/errors.js';
import { readDatasetFile } from './read-file.js';

export const CIFAR_SIDE = 32;
export const CIFAR_CHANNELS = 3;
const IMAGE_BYTES = CIFAR_SIDE * CIFAR_SIDE * CIFAR_CHANNELS;
const RECORD = 1 + IMAGE_BYTES;

export interface CifarSet {
  n: number;
  rows: 32;
  cols: 32;
  channels: 3;
  /** n×32×32×3, row-major HWC (RGB), 0–255. */
  images: Uint8Array;
  /** n labels in 0..9. */
  labels: Uint8Array;
  /** The ten class names, from batches.meta.txt when present. */
  classNames?: string[];
}

const load = (path: string, what: string) => readDatasetFile(path, what, 'check the path (the binary version: data_batch_1.bin … test_batch.bin)');

/** Parses CIFAR-10 records held in memory; `source` names them in errors. */
export function parseCifarBatch(buf: Uint8Array, source = 'CIFAR-10 batch'): { n: number; images: Uint8Array; labels: Uint8Array } {
  if (buf.length === 0) throw new UserError(`${source}: empty file`, { hint: 'expected CIFAR-10 binary records (3073 bytes each)' });
  if (buf.length % RECORD !== 0) {
    const whole = Math.floor(buf.length / RECORD);
    const hint = buf.length % 3074 === 0 ? 'this looks like CIFAR-100 (3074-byte records), which is not supported' : 'the file is truncated or not a CIFAR-10 binary batch';
    throw new UserError(`${source}: ${buf.length} bytes is not a whole number of 3073-byte records (${whole} records and ${buf.length - whole * RECORD} bytes left over)`, { hint });
  }
  const n = buf.length / RECORD;
  const labels = new Uint8Array(n);
  const images = new Uint8Array(n * IMAGE_BYTES);
  const plane = CIFAR_SIDE * CIFAR_SIDE;
  for (let i = 0; i < n; i++) {
    const rec = i * RECORD;
    const label = buf[rec];
    if (label > 9) {
      throw new UserError(`${source}: record ${i} has label ${label}; CIFAR-10 labels are 0–9`, { hint: 'the file is corrupt or not a CIFAR-10 binary batch' });
    }
    labels[i] = label;
    // CHW → HWC.
    const src = rec + 1;
    const dst = i * IMAGE_BYTES;
    for (let p = 0; p < plane; p++) {
      const d = dst + p * 3;
      images[d] = buf[src + p];
      images[d + 1] = buf[src + plane + p];
      images[d + 2] = buf[src + 2 * plane + p];
    }
  }
  return { n, images, labels };
}

/** Reads the class names from batches.meta.txt, or undefined when the file is absent. */
export async function readCifarClassNames(dir: string): Promise<string[] | undefined> {
  const path = join(dir, 'batches.meta.txt');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== 10) throw new UserError(`${path}: expected 10 class names, found ${names.length}`, { hint: 'one name per line' });
  return names;
}

/** Reads one batch file; class names from batches.meta.txt in the same folder, when present. */
export async function readCifarBatch(path: string): Promise<CifarSet> {
  const { n, images, labels } = parseCifarBatch(await load(path, 'CIFAR-10 batch'), path);
  const classNames = await readCifarClassNames(dirname(path));
  return { n, rows: 32, cols: 32, channels: 3, images, labels, ...(classNames ? { classNames } : {}) };
}

/** Reads the training set (data_batch_1..5.bin, concatenated in order) or test_batch.bin of a folder. */
export async function readCifar10(dir: string, split: 'train' | 'test'): Promise<CifarSet> {
  const files = split === 'test' ? ['test_batch.bin'] : [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`);
  const parts = [];
  for (const f of files) parts.push(parseCifarBatch(await load(join(dir, f), 'CIFAR-10 batch'), join(dir, f)));
  const n = parts.reduce((a, p) => a + p.n, 0);
  const images = new Uint8Array(n * IMAGE_BYTES);
  const labels = new Uint8Array(n);
  let k = 0;
  for (const p of parts) {
    images.set(p.images, k * IMAGE_BYTES);
    labels.set(p.labels, k);
    k += p.n;
  }
  const classNames = await readCifarClassNames(dir);
  return { n, rows: 32, cols: 32, channels: 3, images, labels, ...(classNames ? { classNames } : {}) };
}
