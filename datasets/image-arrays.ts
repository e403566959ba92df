/**
 * Image datasets stored as arrays (MNIST idx files, CIFAR-10 binary batches) as items: one per
 * image, named `<part>/<index>` (part: train or test, the split the files fix), with its class.
 * Files are read once per process and kept, since every item of a scan or extract reads them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { readMnist } from './idx.js';
import { readCifar10 } from './cifar.js';

export type ArrayFormat = 'mnist' | 'cifar10';
export type ArrayPart = 'train' | 'test';

export interface ImageArray {
  n: number;
  rows: number;
  cols: number;
  channels: 1 | 3;
  images: Uint8Array;
  labels: Uint8Array;
  classNames: string[];
}

const MNIST_FILES: Record<ArrayPart, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

/** An MNIST file by its standard name, plain or gzipped, or its `train-images.idx3-ubyte` spelling. */
function mnistFile(root: string, name: string): string {
  for (const candidate of [name, `${name}.gz`, name.replace(/-idx/, '.idx'), `${name.replace(/-idx/, '.idx')}.gz`]) if (existsSync(join(root, candidate))) return join(root, candidate);
  throw new UserError(`${root}: no MNIST file ${name} (or ${name}.gz)`, { hint: 'point dataset.path at the folder holding the four idx files' });
}

const cache = new Map<string, Promise<ImageArray>>();

export function readImageArray(root: string, format: ArrayFormat, part: ArrayPart): Promise<ImageArray> {
  const key = `${format}\0${part}\0${root}`;
  let p = cache.get(key);
  if (!p) {
    p = load(root, format, part);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
    while (cache.size > 4) cache.delete(cache.keys().next().value!);
  }
  return p;
}

async function load(root: string, format: ArrayFormat, part: ArrayPart): Promise<ImageArray> {
  if (format === 'mnist') {
    const [images, labels] = MNIST_FILES[part];
    const m = await readMnist(mnistFile(root, images), mnistFile(root, labels));
    return { n: m.n, rows: m.rows, cols: m.cols, channels: 1, images: m.images, labels: m.labels!, classNames: Array.from({ length: 10 }, (_, k) => String(k)) };
  }
  const c = await readCifar10(root, part);
  return { n: c.n, rows: 32, cols: 32, channels: 3, images: c.images, labels: c.labels, classNames: c.classNames ?? Array.from({ length: 10 }, (_, k) => String(k)) };
}

/** Image `index` of an array, as a view. */
export function arrayImage(a: ImageArray, index: number): Uint8Array {
  const size = a.rows * a.cols * a.channels;
  if (!Number.isInteger(index) || index < 0 || index >= a.n) throw new Error(`image ${index} out of range [0, ${a.n})`);
  return a.images.subarray(index * size, (index + 1) * size);
}
