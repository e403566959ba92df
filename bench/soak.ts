/**
 * Soak (issue 13): one study run to the end through random faults — kill -9, SIGTERM, and the S3
 * server (MinIO) restarted under a live run — then `gantry verify` on the store and the final
 * metrics compared with one uninterrupted run on a local store. Bounded: SOAK_SECONDS (default
 * 420) of faults, then one run left alone to finish. Not part of `npm test`; `npm run soak`.
 * Exit 0 only when verify finds nothing damaged and every metric equals the reference's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startMinio, type MinioServer } from '../test/live/servers.js';
import { Prng } from '../datasets/prng.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

const STUDY = {
  name: 'soak',
  base: {
    dataset: { kind: 'synthetic-hsi', rows: 16, cols: 16, bands: 6, anomalies: 4, seed: 1 },
    model: { kind: 'wgan-gp', iterations: 1500, hidden: 16, batchSize: 32, criticIters: 2, scoreRestarts: 1, scoreIterations: 20, logEvery: 10 },
  },
  grid: [{ set: { model: { kind: 'rx' } } }, { cartesian: { 'model.noiseDim': [2, 4], 'model.hidden': [8, 16] } }],
  seeds: [0, 1, 2],
};
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

interface Done { code: number | null; signal: NodeJS.Signals | null; out: string }

function cli(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<Done> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, done: new Promise((r) => child.on('close', (code, signal) => r({ code, signal, out }))) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const metricsSql = 'SELECT trial_id, name, value FROM final_metrics ORDER BY trial_id, name';

export async function soak(): Promise<boolean> {
  const seconds = Number(process.env.SOAK_SECONDS ?? 420);
  const rng = new Prng(Number(process.env.SOAK_SEED ?? 1));
  const root = await mkdtemp(join(tmpdir(), 'gantry-soak-'));
  const file = join(root, 'study.json');
  await writeFile(file, JSON.stringify(STUDY));
  const args = ['run', file, '--checkpoint-every', '25', '-c', '2'];

  console.log('reference: one uninterrupted run on a local store');
  const refEnv = { GANTRY_HOME: join(root, 'ref') };
  const ref = await cli(args, refEnv).done;
  if (ref.code !== 0) throw new Error(`the reference run failed: ${ref.out.slice(-800)}`);
  const expected = (await cli(['query', metricsSql, '--format', 'csv'], refEnv).done).out;

  const port = await freePort();
  const dataDir = join(root, 'minio');
  let minio: MinioServer | undefined = await startMinio({ dataDir, port });
  if (!minio) {
    console.log('soak skipped: no minio binary (node scripts/live-servers.mjs provision --only minio)');
    return true;
  }
  const client = new S3Client({ endpoint: minio.endpoint, region: 'us-east-1', credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey }, forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: 'soak' }));
  client.destroy();
  const env = {
    GANTRY_HOME: join(root, 'home'), GANTRY_STORE: 's3://soak/gantry', AWS_ENDPOINT_URL_S3: minio.endpoint,
    AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey, AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true',
  };
  const counts = { runs: 0, kill9: 0, sigterm: 0, restarts: 0, failedRuns: 0 };
  const deadline = Date.now() + seconds * 1000;
  try {
    for (;;) {
      const faults = Date.now() < deadline;
      counts.runs++;
      const run = cli(args, env);
      if (!faults) {
        const end = await run.done;
        console.log(`final run: exit ${end.code}`);
        if (end.code !== 0) throw new Error(`the final run failed: ${end.out.slice(-1200)}`);
        break;
      }
      await Promise.race([run.done, sleep(1500 + rng.int(8000))]);
      const fault = rng.uniform();
      if (fault < 0.25 && minio) {
        // The store goes away under a live run and comes back: the run's retries ride it out.
        counts.restarts++;
        await minio.stop();
        minio = undefined;
        await sleep(500 + rng.int(3000));
        minio = await startMinio({ dataDir, port });
        await Promise.race([run.done, sleep(1000 + rng.int(4000))]);
      }
      if (run.child.exitCode === null && run.child.signalCode === null) {
        const kill9 = rng.uniform() < 0.55;
        run.child.kill(kill9 ? 'SIGKILL' : 'SIGTERM');
        counts[kill9 ? 'kill9' : 'sigterm']++;
      }
      const end = await run.done;
      if (end.code === 0) {
        console.log(`run ${counts.runs}: the study finished before the next fault`);
        break;
      }
      const failed = end.code !== 130 && end.signal !== 'SIGKILL';
      if (failed) counts.failedRuns++;
      // A run that ended in error (the store was away too long for its retries) says why.
      const why = failed ? `: ${end.out.split('\n').filter((l) => l.startsWith('error:')).slice(-1)[0] ?? end.out.trim().split('\n').slice(-1)[0]}` : '';
      console.log(`run ${counts.runs}: ${end.signal ?? `exit ${end.code}`}${why}`);
    }
    const verify = await cli(['verify', 'soak'], env).done;
    const got = (await cli(['query', metricsSql, '--format', 'csv'], env).done).out;
    const same = got === expected && expected.split('\n').length > 2;
    console.log(`${counts.runs} runs: ${counts.kill9} kill -9, ${counts.sigterm} SIGTERM, ${counts.restarts} store restarts, ${counts.failedRuns} runs ended in error`);
    console.log(`gantry verify: exit ${verify.code}: ${verify.out.trim().split('\n').slice(-1)[0]}`);
    console.log(`final metrics ${same ? 'equal' : 'DIFFER from'} the uninterrupted run's (${expected.split('\n').length - 2} values)`);
    if (!same) console.log(`expected:\n${expected}\ngot:\n${got}`);
    return verify.code === 0 && same;
  } finally {
    await minio?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = (await soak()) ? 0 : 1;
