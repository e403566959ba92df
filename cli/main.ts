#!/usr/bin/env node
/** The `gantry` command. */
import { Command, CommanderError, Option, InvalidArgumentError } from 'commander';
import { isAbsolute, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { BACKEND_NAMES, loadConfig, openStore } from '../infra/config.js';
import { isEnvironmentError, isUserError, oneLine, CancelledError, UserError } from '../core/errors.js';
import { parseSets } from '../experiments/grid.js';
import { planStudy, prepareStudy, type PreparedStudy } from '../executors/prepare.js';
import { runEmbedded } from '../executors/embedded.js';
import { Catalog } from '../infra/catalog.js';
import { rebuildCatalog } from '../executors/rebuild.js';
import { loadStudy, studyBaseDir } from './load-study.js';
import { formatInspect, formatTiles, inspectDataset, tilesReport } from './datasets.js';
import { LoadBar, Progress } from './progress.js';
import { rxBaseline } from './baseline.js';
import type { CubeOrder } from '../datasets/mat.js';
import { render, type Format } from './format.js';
import { STATUS_LIMIT, studyStatus } from './status.js';
import { registerQuery } from './query.js';
import { registerGc } from './gc.js';
import { registerVerify } from './verify.js';
import { registerReport } from './report.js';
import { registerCompare } from './compare.js';
import { registerFid } from './fid.js';
import { confirmGridSize, CONFIRM_ABOVE_DEFAULT } from './confirm.js';
import { maxTrials } from '../experiments/grid-size.js';
import { MlflowMirror } from '../infra/mlflow/mirror.js';
import { OutboxInUse } from '../infra/mlflow/outbox.js';
import { CONV_IMAGE_MODELS } from '../models/params.js';
import { mlflowTracker } from '../executors/mlflow-tracker.js';
import { CODE_VERSION } from '../infra/version.js';
import { PACKAGE_VERSION } from '../activities/launches.js';
import { existsSync } from 'node:fs';
import { cancelStudies, connectionFrom, runOnTemporal, signalStudies, studyRef, withConnectionOptions, workflowStatus } from './temporal.js';


const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;
let verbose = false;

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a positive number');
  return n;
}

const program = new Command()
  .name('gantry')
  .description('Durable, reproducible pipelines for GAN-based anomaly-detection research.\n\nSettings: GANTRY_HOME (default ./.gantry), GANTRY_STORE, GANTRY_CATALOG, GANTRY_BACKEND (tensorflow|native|wasm|cpu), GANTRY_EXECUTOR (embedded|temporal), TEMPORAL_ADDRESS and the other TEMPORAL_* variables.')
  .option('-v, --verbose', 'full error details and every step event')
  .hook('preAction', (cmd) => {
    verbose = !!cmd.opts().verbose;
  })
  .version(`${PACKAGE_VERSION} (${CODE_VERSION})`, '-V, --version', 'print gantry\'s version')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride(); // usage errors exit 2, like other bad input

const run = program
  .command('run')
  .description('run a study: every trial of its grid, skipping steps already done')
  .argument('<study>', "a built-in study ('quickstart') or a study file (.json, .js, .mjs)")
  .option('-p, --profile <name>', "a profile of the study (e.g. smoke, full, real)")
  .option('-s, --set <key=value...>', "override a config value by dotted path, e.g. --set model.iterations=100 --set seeds=[0,1,2]")
  .option('-c, --concurrency <n>', 'trials run at once (training and scoring use a thread each)', positiveInt, Math.min(4, availableParallelism()))
  .option('--retries <n>', 'extra attempts for a step that fails with a transient error', nonNegativeInt, 2)
  .option('--checkpoint-every <n>', 'training iterations between checkpoints', positiveInt, 50)
  .option('--checkpoint-minutes <m>', 'minutes between checkpoints, whichever comes first', positiveNumber, 5)
  .addOption(new Option('--backend <name>', 'tfjs compute backend').choices(BACKEND_NAMES))
  .addOption(new Option('-e, --executor <name>', 'where trials run: in this process, or on Temporal workers (GANTRY_EXECUTOR)').choices(['embedded', 'temporal']).default(process.env.GANTRY_EXECUTOR?.trim() || 'embedded'))
  .option('-y, --yes', `run a grid larger than --confirm-above without asking`)
  .option('--confirm-above <n>', 'ask before running more trials than this', positiveInt, CONFIRM_ABOVE_DEFAULT)
  .option('--detach', 'temporal: launch and return at once (follow with gantry status)')
  .option('--batch-size <n>', 'temporal: trials per workflow run before it continues as new', positiveInt)
  .addHelpText('after', '\nOn Temporal, a launch of a grid that is running attaches to it; a launch after it ended schedules only missing and failed trials.\nCtrl-C stops following; the study goes on (gantry cancel <study> stops it).');
withConnectionOptions(run).action(async (ref: string, o) => {
  const cfg = loadConfig();
  if (!['embedded', 'temporal'].includes(o.executor)) throw new UserError(`unknown executor '${o.executor}' (from GANTRY_EXECUTOR)`, { hint: 'use embedded or temporal' });
  const spec = await loadStudy(ref);
  const overrides = parseSets(o.set ?? []);
  await confirmGridSize(spec.name, maxTrials(spec, { profile: o.profile, set: overrides }), o);
  // The embedded executor plans as it goes (no trial held in memory); the Temporal launcher hands workers every trial's plan.
  const prepare = o.executor === 'temporal' ? prepareStudy : planStudy;
  const study = await prepare(spec, { profile: o.profile, set: pathsFromHere(overrides), overrides }, studyBaseDir(ref));
  const wanted = process.env.GANTRY_BACKEND?.trim() || (o.backend ?? cfg.backend);
  // wasm has no Conv2DBackpropFilter: say so before any step runs, not after the data steps.
  const conv = [...study.itemModels].find((m) => (CONV_IMAGE_MODELS as readonly string[]).includes(m));
  if (wanted === 'wasm' && o.executor === 'embedded' && conv) {
    throw new UserError(`backend wasm cannot train ${conv} (a convolutional network: wasm has no Conv2DBackpropFilter kernel)`, {
      hint: 'use --backend native (`npm run build:native`, needs a C++ compiler) or cpu (slow), or leave the backend automatic',
    });
  }
  const store = openStore(cfg.storeUrl);
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(EXIT.interrupted);
    process.stderr.write(o.executor === 'temporal' ? '\nstopping following; the study goes on on the workers\n' : '\nstopping: saving a checkpoint (Ctrl-C again to quit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const checkpoint = { everyIterations: o.checkpointEvery, everyMinutes: o.checkpointMinutes };
  try {
    if (o.executor === 'temporal') {
      const prepared = study as PreparedStudy;
      // With MLFLOW_TRACKING_URI set here too, the launcher opens and closes the launch's parent
      // run; the catalog worker nests the trials' runs under it.
      // An outbox of its own: a catalog worker on this home holds $GANTRY_HOME/mlflow.
      const mirror = MlflowMirror.fromEnv(launcherOutbox(cfg.home), { log: (line) => process.stderr.write(`${line}\n`) });
      const tracker = mirror && mlflowTracker(mirror, { codeVersion: CODE_VERSION, executor: 'temporal' });
      tracker?.launchStarted?.(study);
      // The parent run is made before any trial starts, where MLflow answers within 15 s: the
      // catalog worker then finds it by its launch id instead of making a second one (both
      // looked, found none and created one when the launcher's outbox was slower than the first
      // trial). Should MLflow not answer, the outbox sends it later, as it does everything.
      if (mirror) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([mirror.flush(), new Promise((r) => (timer = setTimeout(r, 15_000)))]);
        clearTimeout(timer);
      }
      mirror?.start();
      const end = await runOnTemporal(prepared, {
        conn: connectionFrom(o), store, concurrency: o.concurrency, retries: o.retries, checkpoint, batchSize: o.batchSize,
        detach: !!o.detach, signal: abort.signal, log: (line) => process.stderr.write(`${line}\n`),
      })
        .then((e) => {
          if (e.kind === 'closed') tracker?.launchEnded?.(e.result.cancelled ? 'interrupted' : e.result.failures.length ? 'failed' : 'done');
          return e;
        })
        .finally(() => mirror?.close({ flushTimeoutMs: 10_000 }));
      if (end.kind !== 'closed') {
        process.stdout.write(`workflow ${end.workflowId} runs on; follow it: gantry status ${study.study}; stop it: gantry cancel ${study.study}\n`);
        if (end.kind === 'stopped-following') process.exitCode = EXIT.interrupted;
        return;
      }
      const r = end.result;
      const outcomes = r.failures.map((f) => ({ status: f.status, error: f.error }));
      await printResults(cfg.catalogPath, { trialIds: prepared.trials.map((t) => t.id) }, r.done + r.alreadyDone, r.total, `${r.stepsRun} steps ran, ${r.stepsCached} cached`, outcomes, study);
      // As under the embedded executor: bad data is bad input (exit 2), not a failed trial.
      if (r.failures.length && r.failures.every((f) => f.badInput)) process.exitCode = EXIT.usage;
      if (r.cancelled) {
        process.stderr.write('the study was cancelled; run the same command again to resume\n');
        process.exitCode = EXIT.interrupted;
      }
      return;
    }
    const progress = new Progress(process.stderr, verbose);
    // The MLflow mirror, when MLFLOW_TRACKING_URI is set: fed through a durable outbox, so the run
    // never waits on MLflow; what is not sent by the end waits for the next run or `gantry sync mlflow`.
    const mirror = MlflowMirror.fromEnv(join(cfg.home, 'mlflow'), { log: (line) => process.stderr.write(`${line}\n`) });
    mirror?.start();
    const summary = await runEmbedded(study, {
      tracker: mirror && mlflowTracker(mirror, { codeVersion: CODE_VERSION, executor: 'embedded', filesDir: join(cfg.home, 'mlflow', 'files') }),
      store,
      catalogPath: cfg.catalogPath,
      lockPath: join(cfg.home, 'run.lock'),
      concurrency: o.concurrency,
      retries: o.retries,
      checkpoint,
      signal: abort.signal,
      onEvent: progress.handle,
      backend: o.backend ?? cfg.backend,
    }).finally(async () => {
      progress.finish();
      // close() says, in one line, what is left for the next run or `gantry sync mlflow`.
      await mirror?.close({ flushTimeoutMs: 10_000 });
    });
    if (abort.signal.aborted) {
      process.stderr.write(`interrupted; run the same command again to resume\n`);
      process.exitCode = EXIT.interrupted;
      return;
    }
    const done = summary.counts.done ?? 0;
    const ended = Object.values(summary.counts).reduce((a, b) => a + (b ?? 0), 0);
    await printResults(cfg.catalogPath, { launchId: summary.launchId }, done, ended, `${summary.stepsRun} steps ran, ${summary.stepsCached} cached`, summary.outcomes.filter((t) => t.status !== 'done'), study);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
});

/** A dataset path given with --set is relative to where the command runs, not to the study file. */
function pathsFromHere(sets: Record<string, unknown>): Record<string, unknown> {
  const out = { ...sets };
  for (const k of ['dataset.path', 'dataset.metadata.path']) if (typeof out[k] === 'string' && !isAbsolute(out[k] as string)) out[k] = resolve(out[k] as string);
  return out;
}

/** The MLflow outbox of `gantry run --executor temporal` (launch parent runs), apart from a worker's. */
function launcherOutbox(home: string): string {
  return join(home, 'mlflow', 'launcher');
}

/**
 * The results of a run: per-cell AUCs from the catalog, a count line, and one line per distinct
 * failure (exit 1). Every row is of this launch, so its profile and --set overrides head the table
 * once rather than fill a column (cell_summary has them per row).
 */
async function printResults(catalogPath: string, trials: { trialIds: string[] } | { launchId: string }, done: number, total: number, steps: string, failed: { status: string; error: string | null }[], launch: { profile?: string | null; overrides?: Record<string, unknown> } = {}): Promise<void> {
  const sets = Object.entries(launch.overrides ?? {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (launch.profile || sets.length) process.stdout.write(`\nprofile ${launch.profile ?? 'none'}${sets.length ? `, --set ${sets.join(' ')}` : ''}\n`);
  if (existsSync(catalogPath)) {
    const cat = await Catalog.openReadOnly(catalogPath);
    try {
      // Ids and launch ids are hex and digits (gantry makes them), safe to inline.
      const ids = 'launchId' in trials ? `SELECT trial_id FROM launch_trials WHERE launch_id = '${trials.launchId}'` : trials.trialIds.map((id) => `'${id}'`).join(',') || "''";
      const r = await cat.query(`
        SELECT model, cell, count(*) AS seeds,
               round(avg(auc), 4) AS auc_mean, round(stddev_samp(auc), 4) AS auc_std,
               round(avg(logauc), 4) AS logauc_mean, round(stddev_samp(logauc), 4) AS logauc_std,
               round(avg(image_auc), 4) AS image_auc_mean, round(stddev_samp(image_auc), 4) AS image_auc_std
        FROM trial_summary WHERE trial_id IN (${ids}) AND status = 'done'
        GROUP BY model, cell ORDER BY model, cell`);
      // Image-level columns only where some trial has them (item datasets).
      const keep = r.columns.map((c, i) => !c.startsWith('image_') || r.rows.some((row) => row[i] !== null));
      process.stdout.write(`\n${render('table', r.columns.filter((_, i) => keep[i]), r.rows.map((row) => row.filter((_, i) => keep[i])))}\n`);
    } finally {
      cat.close();
    }
  } else {
    process.stdout.write(`\n(no catalog at ${catalogPath} on this machine: the catalog worker's GANTRY_CATALOG holds the results)\n`);
  }
  process.stdout.write(`\n${done}/${total} trials done; ${steps}. Query them: gantry query "SELECT * FROM cell_summary"\n`);
  if (failed.length) {
    const byError = new Map<string, number>();
    for (const f of failed) byError.set(f.error ?? f.status, (byError.get(f.error ?? f.status) ?? 0) + 1);
    for (const [err, n] of byError) process.stderr.write(`error: ${n} trial${n === 1 ? '' : 's'} failed: ${err}\n`);
    process.exitCode = EXIT.failed;
  }
}

const status = program
  .command('status')
  .description('trials and steps of a study (or all studies) from the store: done, running, failed, cached, and why each step ran; with Temporal, also its workflows')
  .argument('[study]', 'study name')
  .option('--steps', 'list every step of every trial')
  .option('--json', 'print the store\'s status as one JSON document (studies, trials, every step)')
  .option('--limit <n>', `trials listed per study, those that need a look (failed, interrupted, running) first; 0 lists all (the counts are always of every trial)`, nonNegativeInt, STATUS_LIMIT)
  .option('--temporal', 'also show the study workflows (on by itself when TEMPORAL_ADDRESS or --address is set)')
  .option('--workflow <id>', 'show one study workflow');
withConnectionOptions(status).action(async (study: string | undefined, o) => {
  const cfg = loadConfig();
  const workflows = !!(o.temporal || o.workflow || o.address || process.env.TEMPORAL_ADDRESS);
  if (!o.workflow) {
    // With Temporal, a study this store does not hold may still have workflows: say so and go on.
    // Reasons wrap to a terminal's width; piped, every line is whole.
    const fromStore = await studyStatus(openStore(cfg.storeUrl), study, !!o.steps, { json: !!o.json, limit: o.limit, width: process.stdout.isTTY ? process.stdout.columns : undefined }).catch((e) => {
      if (!workflows || !isUserError(e)) throw e;
      return `(${oneLine(e)})`;
    });
    process.stdout.write(fromStore + '\n');
  }
  if (workflows && !o.json) {
    const ref = o.workflow ? { workflowId: o.workflow as string } : study ? { study } : undefined;
    if (!ref) throw new UserError('name a study (or --workflow <id>) to show its workflows');
    process.stdout.write((await workflowStatus(connectionFrom(o), ref)) + '\n');
  }
});

for (const [name, what] of [
  ['cancel', 'cancel the running workflows of a study on Temporal: running trials stop after saving a checkpoint; launching the study again resumes them'],
  ['pause', 'pause a study on Temporal: running trials finish, no new ones start'],
  ['resume', 'resume a paused study on Temporal'],
] as const) {
  const cmd = program
    .command(name)
    .description(what)
    .argument('[study]', 'study name (its running workflows)')
    .option('--workflow <id>', 'act on one study workflow');
  if (name === 'cancel') cmd.option('--wait', 'return once the workflows have closed');
  withConnectionOptions(cmd).action(async (study: string | undefined, o) => {
    if (!study && !o.workflow) throw new UserError(`gantry ${name} needs a study name or --workflow <id>`);
    const ref = studyRef(study, o);
    const conn = connectionFrom(o);
    const out = name === 'cancel' ? await cancelStudies(conn, ref, !!o.wait) : await signalStudies(conn, ref, name);
    process.stdout.write(out + '\n');
  });
}

const worker = program
  .command('worker')
  .description("poll gantry's Temporal task queues and run their workflows and steps until Ctrl-C")
  .option('-q, --task-queue <names...>', "queues to poll (default all three: gantry for workflows and light steps, gantry-gpu for train and score, gantry-catalog for the catalog, which exactly one worker polls; the prefix follows --task-queue-base)")
  .option('--max-concurrent <n>', 'steps at once on the main and GPU queues (default 4 main, 1 GPU)', positiveInt)
  .addOption(new Option('--backend <name>', 'tfjs compute backend for train and score').choices(BACKEND_NAMES))
  .addHelpText('after', '\nSettings: TEMPORAL_* (the connection flags above), GANTRY_STORE (shared by all workers and launchers), GANTRY_CATALOG (the catalog worker), MLFLOW_TRACKING_URI (mirrored by the catalog worker).');
withConnectionOptions(worker).action(async (o) => {
  const cfg = loadConfig();
  const abort = new AbortController();
  const stop = () => {
    if (abort.signal.aborted) process.exit(EXIT.interrupted);
    process.stderr.write('\nshutting down: running steps save a checkpoint and are retried on another worker\n');
    abort.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    // Loaded here: the Temporal worker (its SDK and native bridge) costs about a second at start.
    const { runWorker } = await import('../executors/temporal/worker.js');
    await runWorker({
      conn: connectionFrom(o), taskQueues: o.taskQueue, maxConcurrent: o.maxConcurrent,
      config: { ...cfg, backend: o.backend ?? cfg.backend }, signal: abort.signal,
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
});

registerQuery(program);
registerGc(program);
registerVerify(program);
registerReport(program);
registerCompare(program);
registerFid(program);

const catalog = program.command('catalog').description('manage the DuckDB catalog');
catalog
  .command('rebuild')
  .description('recreate the catalog from the artifact store alone; damaged trials are indexed as damaged (or skipped) and listed, exit 1')
  .action(async () => {
    const cfg = loadConfig();
    const n = await rebuildCatalog(openStore(cfg.storeUrl), cfg.catalogPath);
    const shown = n.damaged.slice(0, 5).map((d) => `${d.kind} ${d.id}${d.skipped ? ' (skipped)' : ''}`).join(', ') + (n.damaged.length > 5 ? `, +${n.damaged.length - 5} more` : '');
    process.stdout.write(`catalog ${cfg.catalogPath} rebuilt: ${n.studies} studies, ${n.trials} trials${n.damaged.length ? `; ${n.damaged.length} damaged: ${shown} (gantry verify lists them)` : ''}\n`);
    if (verbose) for (const d of n.damaged) process.stderr.write(`  ${d.kind} ${d.id}: ${d.what}\n`);
    if (n.damaged.length) process.exitCode = EXIT.failed;
  });

const sync = program.command('sync').description('send what is pending to external trackers');
sync
  .command('mlflow')
  .description('flush the MLflow outbox (MLFLOW_TRACKING_URI) until nothing is pending')
  .option('--timeout <s>', 'give up after this many seconds', positiveNumber, 300)
  .action(async (o: { timeout: number }) => {
    const cfg = loadConfig();
    const deadline = Date.now() + o.timeout * 1000;
    let sent = 0;
    // The trials' outbox, and the Temporal launcher's (its parent runs) where it has one.
    const launcher = launcherOutbox(cfg.home);
    let skipped = 0;
    for (const dir of [join(cfg.home, 'mlflow'), ...(existsSync(launcher) ? [launcher] : [])]) {
      let mirror: MlflowMirror | undefined;
      try {
        mirror = MlflowMirror.fromEnv(dir, { log: (line) => process.stderr.write(`${line}\n`) });
      } catch (e) {
        // A running gantry (a worker, a run) owns this outbox and sends it itself; the others still get flushed.
        if (!(e instanceof OutboxInUse)) throw e;
        process.stderr.write(`mlflow: ${e.message}, which sends it; skipped\n`);
        skipped++;
        continue;
      }
      if (!mirror) throw new UserError('MLFLOW_TRACKING_URI is not set', { hint: 'export MLFLOW_TRACKING_URI=http://host:5000' });
      try {
        for (;;) {
          const r = await mirror.flush();
          sent += r.sent;
          if (r.pending === 0) break;
          if (Date.now() > deadline) throw new UserError(`mlflow: ${r.pending} items still pending after ${o.timeout}s${r.error ? `: ${r.error}` : ''}`);
          if (r.error) await new Promise((res) => setTimeout(res, 2000));
        }
      } finally {
        await mirror.close({ flushTimeoutMs: 0 });
      }
    }
    process.stdout.write(`mlflow: ${sent} items sent, nothing pending${skipped ? ` here (${skipped} outbox in use by a running gantry, which sends it)` : ''}\n`);
  });

const datasets = program.command('datasets').description('look at a dataset, and at what a study made of it');
datasets
  .command('inspect')
  .description('format, shapes, classes with image and mask counts, mask coverage, problems; --preview writes a contact sheet')
  .argument('<path>', 'a folder of images (MTD, MVTec-AD, COIL-100 or normal/ + anomalous/ layout), a .mat, an ENVI .hdr or a TIFF')
  .addOption(new Option('--layout <name>', 'the folder layout (detected when omitted)').choices(['mtd', 'mvtec', 'coil100', 'folders']))
  .option('--preview <file.png>', 'write a PNG contact sheet: a row of thumbnails per class, masks beside anomalous images')
  .option('--json', 'print the report as JSON')
  .action(async (path: string, o: { layout?: 'mtd' | 'mvtec' | 'coil100' | 'folders'; preview?: string; json?: boolean }) => {
    const bar = new LoadBar(process.stderr, 'reading images');
    const r = await inspectDataset(path, { ...(o.layout ? { layout: o.layout } : {}), ...(o.preview ? { preview: o.preview } : {}), progress: bar.update }).finally(bar.done);
    process.stdout.write((o.json ? JSON.stringify(r, null, 2) : formatInspect(r)) + '\n');
  });
datasets
  .command('tiles')
  .description("what a study's tiling produced: samples per label and split, items removed before it, and where some samples come from")
  .argument('<study>', 'study name')
  .option('--trial <id>', 'a trial of the study (default: its first)')
  .option('--json', 'print the report as JSON')
  .action(async (study: string, o: { trial?: string; json?: boolean }) => {
    const r = await tilesReport(openStore(loadConfig().storeUrl), study, o.trial);
    process.stdout.write((o.json ? JSON.stringify(r, null, 2) : formatTiles(r)) + '\n');
  });

program
  .command('baseline')
  .description('classical baselines on a dataset, without a study')
  .command('rx')
  .description('global RX (fitted on all pixels, and on the background pixels) and local dual-window RX: AUC and logAUC')
  .argument('<cube>', 'a .mat, an ENVI .hdr or a multiband TIFF')
  .option('--variable <name>', "the cube's variable in a .mat", 'data')
  .option('--labels <variable|file>', "the ground truth: a variable of the same .mat (default 'map'), or a file (.mat, mask image, ENVI, TIFF)")
  .option('--outer <variable|file>', "an outer mask: pixels inside it but outside the labels are ambiguous and not counted (Eide)")
  .addOption(new Option('--order <order>', "how a .mat cube's dimensions are stored").choices(['rows-cols-bands', 'bands-rows-cols', 'pixels-bands', 'bands-pixels']))
  .option('--inner <n>', 'local RX guard window side (odd)', positiveInt, 5)
  .option('--window <n>', 'local RX background window side (odd)', positiveInt, 11)
  .option('--ridge <r>', "local RX covariance ridge, relative to the window's mean eigenvalue", positiveNumber, 0.1)
  .option('--json', 'print the report as JSON')
  .action(async (cube: string, o: { variable: string; labels?: string; outer?: string; order?: CubeOrder; inner: number; window: number; ridge: number; json?: boolean }) => {
    const bar = new LoadBar(process.stderr, 'local RX');
    const r = await rxBaseline(cube, { ...o, progress: bar.update }).finally(bar.done);
    if (o.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return;
    }
    process.stdout.write(`${r.cube}: ${r.rows}×${r.cols}×${r.bands}, ${r.anomalous} anomalous pixels${r.ambiguous ? `, ${r.ambiguous} ambiguous (not counted)` : ''}\n`);
    process.stdout.write(render('table', ['detector', 'fitted on', 'auc', 'logauc', 'seconds'], r.results.map((x) => [x.detector, x.fit, x.auc.toFixed(4), x.logauc.toFixed(4), x.seconds.toFixed(1)])) + '\n');
  });

const models = program.command('models').description('the detectors gantry can train, their presets and networks');
models
  .command('list')
  .description('every model kind with its presets')
  .option('--json', 'print the list as JSON')
  .action(async (o: { json?: boolean }) => {
    const { MODELS } = await import('../models/summaries.js');
    if (o.json) {
      process.stdout.write(JSON.stringify(MODELS, null, 2) + '\n');
      return;
    }
    for (const m of MODELS) {
      process.stdout.write(`${m.kind}: ${m.description}\n`);
      for (const [p, note] of Object.entries(m.presets)) process.stdout.write(`  --preset ${p}${p === m.defaultPreset ? ' (default)' : ''}: ${note}\n`);
    }
  });
models
  .command('summary')
  .description('the layer table of a model\'s networks with total, trainable and non-trainable parameter counts (Keras convention)')
  .argument('<model>', 'a model kind (gantry models list)')
  .option('--preset <name>', "a preset of the model (default: the model's default)")
  .option('--size <px>', "image side (default: the preset's)", positiveInt)
  .option('--channels <n>', "image channels (default: the preset's)", positiveInt)
  .option('--set <key=value...>', 'override a parameter, e.g. --set ngf=32 (values are JSON where they parse)')
  .option('--json', 'print the summary as JSON')
  .action(async (model: string, o: { preset?: string; size?: number; channels?: number; set?: string[]; json?: boolean }) => {
    const { modelSummary, formatModelSummary, MODELS } = await import('../models/summaries.js');
    const info = MODELS.find((m) => m.kind === model);
    const preset = o.preset ?? info?.defaultPreset;
    const base = modelSummary(model, preset);
    const shape = o.size || o.channels ? [o.size ?? base.input[0], o.size ?? base.input[1], o.channels ?? base.input[2]] : undefined;
    const overrides = Object.fromEntries(
      (o.set ?? []).map((kv) => {
        const at = kv.indexOf('=');
        if (at < 1) throw new UserError(`--set expects key=value, got '${kv}'`);
        const raw = kv.slice(at + 1);
        let value: unknown = raw;
        try {
          value = JSON.parse(raw);
        } catch {
          /* a plain string */
        }
        return [kv.slice(0, at), value];
      }),
    );
    const s = shape || o.set ? modelSummary(model, preset, shape, overrides) : base;
    process.stdout.write((o.json ? JSON.stringify(s, null, 2) : formatModelSummary(s)) + '\n');
  });

program
  .command('studies')
  .description('list the built-in studies and their profiles')
  .action(async () => {
    const { BUILTIN_STUDIES } = await import('../experiments/studies.js');
    for (const s of Object.values(BUILTIN_STUDIES)) {
      process.stdout.write(`${s.name}: ${s.description}\n`);
      for (const [p, v] of Object.entries(s.profiles)) process.stdout.write(`  --profile ${p}${p === s.defaultProfile ? ' (default)' : ''}: ${v.description ?? ''}\n`);
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.ok : EXIT.usage;
  } else if (e instanceof CancelledError) process.exitCode = EXIT.interrupted;
  else {
    process.stderr.write(`error: ${oneLine(e)}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    else if (!isUserError(e) && !isEnvironmentError(e)) process.stderr.write('(run with --verbose for details)\n');
    process.exitCode = isUserError(e) ? EXIT.usage : EXIT.failed;
  }
}
