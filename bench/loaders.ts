/**
 * Loader throughput: MB/s (file bytes, 10^6) to a row-major float64 rows×cols×bands cube, for
 * MAT v5 and ENVI (BSQ, BIL, BIP) of the real San Diego scene (100×100×189 uint16) and of a
 * synthetic 512×512×200 float32 cube written to a temp dir; beside it, in the same run, NumPy/SciPy
 * (Debian's /usr/bin/python3) loading the same files: raw (scipy.io.loadmat / numpy.fromfile, the
 * array as stored) and to the same float64 HWC cube gantry returns. Median of several warm runs
 * (files in the page cache) on each side. Prints figures; asserts nothing.
 *
 *   npx tsx bench/loaders.ts            (GANTRY_BENCH_SIDE=256 for a smaller synthetic cube)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readEnvi } from '../datasets/envi.js';
import { readMatFile, toRowMajorCube } from '../datasets/mat.js';

const PYTHON = '/usr/bin/python3';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// From the repo (tsx) or from dist/bench: the shared data sit beside the checkout.
const SANDIEGO = [path.join(ROOT, '..', 'shared', 'data', 'hsi', 'sandiego_plane.mat'), path.join(ROOT, '..', '..', 'shared', 'data', 'hsi', 'sandiego_plane.mat')].find(existsSync);

interface Job {
  label: string;
  kind: 'mat' | 'envi';
  file: string;
  /** For ENVI: the .hdr gantry reads, and what numpy needs. */
  hdr?: string;
  interleave?: 'bsq' | 'bil' | 'bip';
  dtype?: string;
  shape?: [number, number, number];
  reps: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Writes a float32 rows×cols×bands cube as a MAT v5 file (one uncompressed miMATRIX 'data'). */
async function writeMatSingle(file: string, rows: number, cols: number, bands: number, colMajor: Float32Array): Promise<void> {
  const header = Buffer.alloc(128, ' ');
  header.write('MATLAB 5.0 MAT-file, written by gantry bench/loaders.ts', 0, 'ascii');
  header.fill(0, 116, 124);
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'ascii');
  const nbytes = colMajor.byteLength;
  const el = (type: number, payload: Buffer) => {
    const tag = Buffer.alloc(8);
    tag.writeUInt32LE(type, 0);
    tag.writeUInt32LE(payload.length, 4);
    return Buffer.concat([tag, payload, Buffer.alloc((8 - (payload.length % 8)) % 8)]);
  };
  const flags = Buffer.alloc(8);
  flags.writeUInt32LE(7, 0); // mxSINGLE_CLASS
  const dims = Buffer.alloc(12);
  [rows, cols, bands].forEach((d, i) => dims.writeInt32LE(d, 4 * i));
  const head = Buffer.concat([el(6, flags), el(5, dims), el(1, Buffer.from('data', 'ascii'))]);
  const realTag = Buffer.alloc(8);
  realTag.writeUInt32LE(7, 0); // miSINGLE
  realTag.writeUInt32LE(nbytes, 4);
  const pad = Buffer.alloc((8 - (nbytes % 8)) % 8);
  const matrixTag = Buffer.alloc(8);
  matrixTag.writeUInt32LE(14, 0);
  matrixTag.writeUInt32LE(head.length + 8 + nbytes + pad.length, 4);
  const fh = await open(file, 'w');
  try {
    await fh.write(Buffer.concat([header, matrixTag, head, realTag]));
    await fh.write(new Uint8Array(colMajor.buffer, colMajor.byteOffset, nbytes));
    await fh.write(pad);
  } finally {
    await fh.close();
  }
}

/** Writes an HWC cube as ENVI little-endian in each interleave; returns the jobs. */
async function writeEnviSet(dir: string, stem: string, hwc: Float32Array | Uint16Array, rows: number, cols: number, bands: number, dataType: number, dtype: string, reps: number, label: string): Promise<Job[]> {
  const jobs: Job[] = [];
  const Ctor = hwc.constructor as Float32ArrayConstructor | Uint16ArrayConstructor;
  const npx = rows * cols;
  for (const il of ['bsq', 'bil', 'bip'] as const) {
    const out = new Ctor(hwc.length);
    if (il === 'bip') out.set(hwc);
    else if (il === 'bsq') {
      for (let p = 0; p < npx; p++) for (let b = 0; b < bands; b++) out[b * npx + p] = hwc[p * bands + b];
    } else {
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let b = 0; b < bands; b++) out[(r * bands + b) * cols + c] = hwc[(r * cols + c) * bands + b];
    }
    const file = path.join(dir, `${stem}.${il}`);
    await writeFile(file, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    // The data file's name plus .hdr: one header per interleave beside one stem.
    await writeFile(`${file}.hdr`, `ENVI\nsamples = ${cols}\nlines = ${rows}\nbands = ${bands}\nheader offset = 0\ndata type = ${dataType}\ninterleave = ${il}\nbyte order = 0\n`);
    jobs.push({ label: `${label} ENVI ${il.toUpperCase()}`, kind: 'envi', file, hdr: `${file}.hdr`, interleave: il, dtype, shape: [rows, cols, bands], reps });
  }
  return jobs;
}

async function gantryLoad(job: Job): Promise<{ first: number; ms: number; sum: number }> {
  const once = async () => {
    const t0 = performance.now();
    let data: Float64Array;
    if (job.kind === 'mat') {
      const v = (await readMatFile(job.file, { variables: ['data'] })).get('data')!;
      data = toRowMajorCube(v).data;
    } else {
      data = (await readEnvi(job.hdr!)).data;
    }
    const ms = performance.now() - t0;
    return { ms, data };
  };
  const first = await once(); // the first call: cold JIT and fresh (page-faulting) memory
  let sum = 0;
  for (let i = 0; i < first.data.length; i++) sum += first.data[i];
  const times: number[] = [];
  for (let i = 0; i < job.reps; i++) times.push((await once()).ms);
  return { first: first.ms, ms: median(times), sum };
}

const PY_SCRIPT = String.raw`
import json, sys, time
import numpy as np
import scipy, scipy.io as sio
jobs = json.loads(sys.stdin.read())
only_first = len(sys.argv) > 1
out = []
for j in jobs:
    def raw():
        if j['kind'] == 'mat':
            return sio.loadmat(j['file'], variable_names=['data'])['data']
        return np.fromfile(j['file'], dtype='<' + j['dtype'])
    def hwc():
        a = raw()
        if j['kind'] == 'envi':
            R, C, B = j['shape']
            a = {'bsq': lambda x: x.reshape(B, R, C).transpose(1, 2, 0),
                 'bil': lambda x: x.reshape(R, B, C).transpose(0, 2, 1),
                 'bip': lambda x: x.reshape(R, C, B)}[j['interleave']](a)
        return a.astype(np.float64, order='C')
    res = {}
    if only_first:
        t0 = time.perf_counter(); a = hwc(); res['first'] = (time.perf_counter() - t0) * 1000
        out.append(res); continue
    for name, fn in (('raw', raw), ('hwc', hwc)):
        a = fn()
        if name == 'hwc': res['sum'] = float(a.sum())
        del a
        ts = []
        for _ in range(j['reps']):
            t0 = time.perf_counter(); a = fn(); ts.append(time.perf_counter() - t0); del a
        ts.sort(); res[name] = ts[len(ts) // 2] * 1000
    out.append(res)
print(json.dumps({'numpy': np.__version__, 'scipy': scipy.__version__, 'results': out}))
`;

interface PyResult {
  raw: number;
  hwc: number;
  sum: number;
  /** The first load to float64 HWC in a fresh interpreter (after imports). */
  first: number;
}

function runPy(jobs: Job[], onlyFirst: boolean): { numpy: string; scipy: string; results: PyResult[] } {
  const r = spawnSync(PYTHON, ['-c', PY_SCRIPT, ...(onlyFirst ? ['first'] : [])], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 1 << 24, timeout: 20 * 60_000 });
  if (r.status !== 0) throw new Error(`numpy run failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function numpyLoad(jobs: Job[]): { results?: PyResult[]; versions?: string; why?: string } {
  if (!existsSync(PYTHON)) return { why: `${PYTHON} not found` };
  const probe = spawnSync(PYTHON, ['-c', 'import numpy, scipy.io'], { encoding: 'utf8' });
  if (probe.status !== 0) return { why: `${PYTHON} lacks numpy/scipy (${probe.stderr.trim().split('\n').pop()}); apt-get install python3-numpy python3-scipy` };
  try {
    const o = runPy(jobs, false);
    // First loads: one fresh interpreter per file, as a one-off load in a script would be.
    jobs.forEach((j, i) => (o.results[i].first = runPy([j], true).results[0].first));
    return { results: o.results, versions: `numpy ${o.numpy}, scipy ${o.scipy}` };
  } catch (e) {
    return { why: (e as Error).message };
  }
}

export async function benchLoaders(): Promise<void> {
  const side = Number(process.env.GANTRY_BENCH_SIDE ?? 512);
  const SB = 200;
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bench-loaders-'));
  try {
    const jobs: Job[] = [];
    if (SANDIEGO) {
      jobs.push({ label: 'San Diego 100×100×189 u16 MAT', kind: 'mat', file: SANDIEGO, reps: 7 });
      const v = (await readMatFile(SANDIEGO, { variables: ['data'] })).get('data')!;
      const cube = toRowMajorCube(v);
      const u16 = Uint16Array.from(cube.data);
      jobs.push(...(await writeEnviSet(dir, 'sandiego', u16, cube.rows, cube.cols, cube.bands, 12, 'u2', 7, 'San Diego u16')));
    } else {
      console.log(`(San Diego scene not found beside the checkout; only the synthetic cube is measured)`);
    }
    // Synthetic float32 cube: a cheap smooth-plus-hash pattern, so nothing compresses to zero.
    const n = side * side * SB;
    const hwc = new Float32Array(n);
    for (let r = 0, i = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        for (let b = 0; b < SB; b++, i++) hwc[i] = 0.001 * b + 0.0001 * r + (((i * 2654435761) >>> 0) % 1000) * 1e-6;
      }
    }
    const colMajor = new Float32Array(n);
    for (let b = 0, i = 0; b < SB; b++) for (let c = 0; c < side; c++) for (let r = 0; r < side; r++, i++) colMajor[i] = hwc[(r * side + c) * SB + b];
    const matFile = path.join(dir, `synthetic-${side}.mat`);
    await writeMatSingle(matFile, side, side, SB, colMajor);
    const reps = side >= 512 ? 3 : 5;
    jobs.push({ label: `synthetic ${side}×${side}×${SB} f32 MAT`, kind: 'mat', file: matFile, reps });
    jobs.push(...(await writeEnviSet(dir, `synthetic-${side}`, hwc, side, side, SB, 4, 'f4', reps, `synthetic ${side}² f32`)));

    const g: { first: number; ms: number; sum: number }[] = [];
    for (const j of jobs) g.push(await gantryLoad(j));
    const py = numpyLoad(jobs);

    const sizes = await Promise.all(jobs.map(async (j) => (await stat(j.file)).size / 1e6));
    const rate = (mb: number, ms: number) => (mb / (ms / 1000)).toFixed(0).padStart(6);
    const ratio = (np: number, ours: number) => `${(np / ours).toFixed(2)}×`.padStart(7);
    const w = Math.max(...jobs.map((j) => j.label.length));
    console.log(`loaders → float64 rows×cols×bands cube, MB/s of file bytes (10^6); node ${process.version}${py.versions ? `, ${py.versions}` : ''}`);
    console.log('first = first load (fresh memory; numpy in a fresh interpreter); warm = median of repeated loads in one process');
    console.log(
      `${'file'.padEnd(w)}  ${'MB'.padStart(6)}  ${'gantry first'.padStart(12)}  ${'warm'.padStart(6)}  ${'numpy first'.padStart(11)}  ${'warm'.padStart(6)}  ${'np raw'.padStart(6)}  ${'ratio first'.padStart(11)}  ${'warm'.padStart(7)}  ${'vs raw'.padStart(7)}  sums`,
    );
    jobs.forEach((j, i) => {
      const mb = sizes[i];
      const cells = [j.label.padEnd(w), mb.toFixed(1).padStart(6), rate(mb, g[i].first).padStart(12), rate(mb, g[i].ms)];
      const p = py.results?.[i];
      if (p) {
        const agree = Math.abs(p.sum - g[i].sum) <= 1e-9 * Math.max(1, Math.abs(p.sum)) ? 'equal' : `DIFFER (${g[i].sum} vs ${p.sum})`;
        cells.push(rate(mb, p.first).padStart(11), rate(mb, p.hwc), rate(mb, p.raw));
        cells.push(ratio(p.first, g[i].first).padStart(11), ratio(p.hwc, g[i].ms), ratio(p.raw, g[i].ms), agree);
      }
      console.log(cells.join('  '));
    });
    if (!py.results) console.log(`NumPy/SciPy reference skipped: ${py.why}`);
    else {
      console.log('ratio = numpy time / gantry time for the same output (> 1: gantry faster); vs raw = against numpy returning the array as stored');
      console.log('(scipy.io.loadmat / numpy.fromfile: no reorder, no float64), i.e. gantry\'s conversion cost included, numpy\'s not.');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await benchLoaders();
}
