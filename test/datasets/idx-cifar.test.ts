import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseIdx, readIdx, readMnist } from '../../datasets/idx.js';
import { parseCifarBatch, readCifar10, readCifarBatch } from '../../datasets/cifar.js';
import { isUserError } from '../../core/errors.js';
import { python, pythonMissing, rejectsUser, withDir as withTempDir } from './reference.js';

const withDir = <T>(fn: (dir: string) => Promise<T>) => withTempDir('idx', fn);

const bytes = async (p: string) => new Uint8Array(await readFile(p));

test('MNIST idx3/idx1 written by numpy (plain and gzipped) read back exactly', async (t) => {
  const why = pythonMissing(['numpy']);
  if (why) return t.skip(why);
  await withDir(async (dir) => {
    python(
      `
import numpy as np, struct, gzip
rng = np.random.default_rng(7)
n, rows, cols = 9, 5, 4
images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
labels = rng.integers(0, 10, size=n, dtype=np.uint8)
img = struct.pack('>IIII', 0x00000803, n, rows, cols) + images.tobytes()
lab = struct.pack('>II', 0x00000801, n) + labels.tobytes()
open('train-images-idx3-ubyte', 'wb').write(img)
open('train-labels-idx1-ubyte', 'wb').write(lab)
open('t10k-images-idx3-ubyte.gz', 'wb').write(gzip.compress(img))
open('t10k-labels-idx1-ubyte.gz', 'wb').write(gzip.compress(lab))
images.tofile('images.expected'); labels.tofile('labels.expected')
# other IDX types, big-endian
f = (np.arange(6) * -1.5).astype('>f4').reshape(2, 3)
open('f32.idx', 'wb').write(struct.pack('>BBBBII', 0, 0, 0x0D, 2, 2, 3) + f.tobytes())
s = np.array([-32768, -1, 0, 1, 32767], dtype='>i2')
open('i16.idx', 'wb').write(struct.pack('>BBBBI', 0, 0, 0x0B, 1, 5) + s.tobytes())
`,
      dir,
    );
    const images = await bytes(join(dir, 'images.expected'));
    const labels = await bytes(join(dir, 'labels.expected'));
    for (const [im, lb] of [
      ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
      ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
    ]) {
      const set = await readMnist(join(dir, im), join(dir, lb));
      assert.deepEqual([set.n, set.rows, set.cols], [9, 5, 4]);
      assert.deepEqual(set.images, images, im);
      assert.deepEqual(set.labels, labels, lb);
    }
    const noLabels = await readMnist(join(dir, 'train-images-idx3-ubyte'));
    assert.equal(noLabels.labels, undefined);
    const f = await readIdx(join(dir, 'f32.idx'));
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.dims, [2, 3]);
    assert.deepEqual(Array.from(f.data), [-0, -1.5, -3, -4.5, -6, -7.5]); // numpy: 0 × -1.5 = -0
    const s = await readIdx(join(dir, 'i16.idx'));
    assert.deepEqual(Array.from(s.data), [-32768, -1, 0, 1, 32767]);
  });
});

function idx3(n: number, rows: number, cols: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(0x803, 0);
  h.writeUInt32BE(n, 4);
  h.writeUInt32BE(rows, 8);
  h.writeUInt32BE(cols, 12);
  return Buffer.concat([h, Buffer.alloc(n * rows * cols, 7)]);
}
function idx1(n: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(0x801, 0);
  h.writeUInt32BE(n, 4);
  return Buffer.concat([h, Buffer.alloc(n, 3)]);
}

test('IDX: corrupt files are UserErrors naming the file and the cause', async () => {
  await withDir(async (dir) => {
    const p = (n: string) => join(dir, n);
    await writeFile(p('bad-magic'), Buffer.concat([Buffer.from([0x12, 0x34, 0x08, 0x03]), idx3(1, 2, 2).subarray(4)]));
    await rejectsUser(readIdx(p('bad-magic')), p('bad-magic'), 'bad magic 0x12340803');
    await writeFile(p('bad-type'), Buffer.concat([Buffer.from([0, 0, 0x07, 0x03]), idx3(1, 2, 2).subarray(4)]));
    await rejectsUser(readIdx(p('bad-type')), p('bad-type'), 'unknown IDX type code 0x07');
    await writeFile(p('cut'), idx3(3, 4, 4).subarray(0, 16 + 40));
    await rejectsUser(readIdx(p('cut')), p('cut'), 'truncated', 'need 64 bytes', 'found 56');
    await writeFile(p('cut-header'), idx3(3, 4, 4).subarray(0, 10));
    await rejectsUser(readIdx(p('cut-header')), p('cut-header'), 'truncated header');
    await writeFile(p('long'), Buffer.concat([idx3(1, 2, 2), Buffer.alloc(3)]));
    await rejectsUser(readIdx(p('long')), p('long'), 'longer than its header says');
    await writeFile(p('cut.gz'), gzipSync(idx3(3, 4, 4)).subarray(0, 20));
    await rejectsUser(readIdx(p('cut.gz')), p('cut.gz'), 'gzip data could not be inflated');
    await writeFile(p('images'), idx3(3, 2, 2));
    await writeFile(p('labels4'), idx1(4));
    await rejectsUser(readMnist(p('images'), p('labels4')), p('labels4'), '4 labels for 3 images');
    await rejectsUser(readMnist(p('labels4')), p('labels4'), 'expected idx3-ubyte images');
    await rejectsUser(readMnist(p('images'), p('images')), p('images'), 'expected idx1-ubyte labels');
    await rejectsUser(readMnist(p('absent')), 'not found', p('absent'));
    // Gzip is detected by content, not by name.
    assert.equal(parseIdx(gzipSync(idx1(5)), 'mem').dims[0], 5);
  });
});

test('CIFAR-10 batches written by numpy: CHW records → HWC images, labels, class names; train = 5 batches in order', async (t) => {
  const why = pythonMissing(['numpy']);
  if (why) return t.skip(why);
  await withDir(async (dir) => {
    python(
      `
import numpy as np
rng = np.random.default_rng(3)
def batch(name, n):
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    chw = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    rec = np.concatenate([labels[:, None], chw.reshape(n, 3072)], axis=1)
    rec.tofile(name + '.bin')
    chw.transpose(0, 2, 3, 1).tofile(name + '.hwc')   # the layout gantry must return
    labels.tofile(name + '.labels')
for k in range(1, 6): batch('data_batch_%d' % k, k + 1)
batch('test_batch', 4)
open('batches.meta.txt', 'w').write('airplane\\nautomobile\\nbird\\ncat\\ndeer\\ndog\\nfrog\\nhorse\\nship\\ntruck\\n\\n')
`,
      dir,
    );
    const test1 = await readCifarBatch(join(dir, 'test_batch.bin'));
    assert.equal(test1.n, 4);
    assert.deepEqual(test1.images, await bytes(join(dir, 'test_batch.hwc')));
    assert.deepEqual(test1.labels, await bytes(join(dir, 'test_batch.labels')));
    assert.deepEqual(test1.classNames, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    const train = await readCifar10(dir, 'train');
    assert.equal(train.n, 2 + 3 + 4 + 5 + 6);
    const hwc: Uint8Array[] = [];
    const labs: Uint8Array[] = [];
    for (let k = 1; k <= 5; k++) {
      hwc.push(await bytes(join(dir, `data_batch_${k}.hwc`)));
      labs.push(await bytes(join(dir, `data_batch_${k}.labels`)));
    }
    assert.deepEqual(train.images, new Uint8Array(Buffer.concat(hwc)));
    assert.deepEqual(train.labels, new Uint8Array(Buffer.concat(labs)));
    assert.equal(train.classNames?.length, 10);
  });
});

test('CIFAR-10: one record decoded by hand (no python needed); no meta file → no class names', async () => {
  await withDir(async (dir) => {
    const rec = Buffer.alloc(3073);
    rec[0] = 6;
    for (let p = 0; p < 1024; p++) {
      rec[1 + p] = p % 251; // R
      rec[1 + 1024 + p] = (p * 3) % 256; // G
      rec[1 + 2048 + p] = 255 - (p % 256); // B
    }
    await writeFile(join(dir, 'one.bin'), rec);
    const s = await readCifarBatch(join(dir, 'one.bin'));
    assert.equal(s.n, 1);
    assert.equal(s.labels[0], 6);
    assert.equal(s.classNames, undefined);
    // Pixel (row 3, col 5) = p 101: HWC offset (3*32+5)*3.
    const o = (3 * 32 + 5) * 3;
    assert.deepEqual(Array.from(s.images.subarray(o, o + 3)), [101, 303 % 256, 255 - 101]);
  });
});

test('CIFAR-10: corrupt batches are UserErrors naming the file and the cause', async () => {
  await withDir(async (dir) => {
    const p = (n: string) => join(dir, n);
    await writeFile(p('cut.bin'), Buffer.alloc(3073 * 2 - 100));
    await rejectsUser(readCifarBatch(p('cut.bin')), p('cut.bin'), 'not a whole number of 3073-byte records', '1 records and 2973 bytes left over');
    const bad = Buffer.alloc(3073 * 2);
    bad[3073] = 200;
    await writeFile(p('label.bin'), bad);
    await rejectsUser(readCifarBatch(p('label.bin')), p('label.bin'), 'record 1 has label 200');
    await writeFile(p('empty.bin'), Buffer.alloc(0));
    await rejectsUser(readCifarBatch(p('empty.bin')), p('empty.bin'), 'empty file');
    await rejectsUser(readCifar10(dir, 'test'), 'not found', p('test_batch.bin'));
    await writeFile(p('batches.meta.txt'), 'a\nb\n');
    await writeFile(p('ok.bin'), Buffer.alloc(3073));
    await rejectsUser(readCifarBatch(p('ok.bin')), p('batches.meta.txt'), 'expected 10 class names, found 2');
    assert.throws(
      () => parseCifarBatch(new Uint8Array(3074 * 3), 'c100'),
      (e: unknown) => isUserError(e) && /CIFAR-100/.test((e as { hint?: string }).hint ?? ''),
    );
  });
});
