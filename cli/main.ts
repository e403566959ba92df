#!/usr/bin/env node
/** The `gantry` command. */
import { Command, CommanderError, Option, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { loadConfig, openStore } from '../infra/config.js';
import { isUserError, oneLine, CancelledError, UserError } from '../infra/errors.js';
import { parseSets } from '../experiments/grid.js';
import { prepareStudy } from '../infra/executor/prepare.js';
import { runEmbedded } from '../infra/executor/embedded.js';
import { Catalog } from '../infra/catalog.js';
import { rebuildCatalog } from '../infra/rebuild.js';
import { loadStudy } from './load-study.js';
import { Progress } from './progress.js';
import { render, type Format } from './format.js';
import { studyStatus } from './status.js';
import { MlflowMirror } from '../infra/mlflow/mirror.js';
import { mlflowTracker } from '../infra/mlflow/tracker.js';
import { createRequire } from 'node:module';

const CODE_VERSION = `gantry@${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}`;

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
  .description('Durable, reproducible pipelines for GAN-based anomaly-detection research.\n\nSettings: GANTRY_HOME (default ./.gantry), GANTRY_STORE, GANTRY_CATALOG, GANTRY_BACKEND (tensorflow|native|wasm|cpu).')
  .option('-v, --verbose', 'full error details and every step event')
  .hook('preAction', (cmd) => {
    verbose = !!cmd.opts().verbose;
  })
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride(); // usage errors exit 2, like other bad input

program
  .command('run')
  .description('run a study: every trial of its grid, skipping steps already done')
  .argument('<study>', "a built-in study ('quickstart') or a study file (.json, .js, .mjs)")
  .option('-p, --profile <name>', "a profile of the study (e.g. smoke, full, real)")
  .option('-s, --set <key=value...>', "override a config value by dotted path, e.g. --set model.iterations=100 --set seeds=[0,1,2]")
  .option('-c, --concurrency <n>', 'trials run at once (training and scoring use a thread each)', positiveInt, Math.min(4, availableParallelism()))
  .option('--retries <n>', 'extra attempts for a step that fails with a transient error', nonNegativeInt, 2)
  .option('--checkpoint-every <n>', 'training iterations between checkpoints', positiveInt, 50)
  .option('--checkpoint-minutes <m>', 'minutes between checkpoints, whichever comes first', positiveNumber, 5)
  .addOption(new Option('--backend <name>', 'tfjs compute backend').choices(['tensorflow', 'native', 'wasm', 'cpu']))
  .action(async (ref: string, o) => {
    const cfg = loadConfig();
    const spec = await loadStudy(ref);
    const study = await prepareStudy(spec, { profile: o.profile, set: parseSets(o.set ?? []) });
    const store = openStore(cfg.storeUrl);
    const progress = new Progress(process.stderr, verbose);
    const abort = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      if (++interrupts > 1) process.exit(EXIT.interrupted);
      process.stderr.write('\nstopping: saving a checkpoint (Ctrl-C again to quit at once)\n');
      abort.abort();
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    // The MLflow mirror, when MLFLOW_TRACKING_URI is set: fed through a durable outbox, so the run
    // never waits on MLflow; what is not sent by the end waits for the next run or `gantry sync mlflow`.
    const mirror = MlflowMirror.fromEnv(join(cfg.home, 'mlflow'), { log: (line) => process.stderr.write(`${line}\n`) });
    mirror?.start();
    const summary = await runEmbedded(study, {
      tracker: mirror && mlflowTracker(mirror, { codeVersion: CODE_VERSION, filesDir: join(cfg.home, 'mlflow', 'files') }),
      store,
      catalogPath: cfg.catalogPath,
      lockPath: join(cfg.home, 'run.lock'),
      concurrency: o.concurrency,
      retries: o.retries,
      checkpoint: { everyIterations: o.checkpointEvery, everyMinutes: o.checkpointMinutes },
      signal: abort.signal,
      onEvent: progress.handle,
      backend: o.backend ?? cfg.backend,
    }).finally(async () => {
      progress.finish();
      if (mirror) {
        await mirror.close({ flushTimeoutMs: 10_000 });
        const left = mirror.pending();
        if (left) process.stderr.write(`mlflow: ${left} items not yet sent; they go with the next run or 'gantry sync mlflow'\n`);
      }
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    });
    if (abort.signal.aborted) {
      process.stderr.write(`interrupted; run the same command again to resume\n`);
      process.exitCode = EXIT.interrupted;
      return;
    }
    const cat = await Catalog.openReadOnly(cfg.catalogPath);
    try {
      const ids = summary.outcomes.map((t) => `'${t.trialId}'`).join(',') || "''";
      const r = await cat.query(`
        SELECT model, cell, count(*) AS seeds,
               round(avg(auc), 4) AS auc_mean, round(stddev_samp(auc), 4) AS auc_std,
               round(avg(logauc), 4) AS logauc_mean, round(stddev_samp(logauc), 4) AS logauc_std
        FROM trial_summary WHERE trial_id IN (${ids}) AND status = 'done'
        GROUP BY model, cell ORDER BY model, cell`);
      process.stdout.write(`\n${render('table', r.columns, r.rows)}\n`);
    } finally {
      cat.close();
    }
    const failed = summary.outcomes.filter((t) => t.status !== 'done');
    process.stdout.write(`\n${summary.outcomes.length - failed.length}/${summary.outcomes.length} trials done; ${summary.stepsRun} steps ran, ${summary.stepsCached} cached. Query them: gantry query "SELECT * FROM cell_summary"\n`);
    if (failed.length) {
      const byError = new Map<string, number>();
      for (const f of failed) byError.set(f.error ?? f.status, (byError.get(f.error ?? f.status) ?? 0) + 1);
      for (const [err, n] of byError) process.stderr.write(`error: ${n} trial${n === 1 ? '' : 's'} failed: ${err}\n`);
      process.exitCode = EXIT.failed;
    }
  });

program
  .command('status')
  .description('trials and steps of a study (or all studies): done, running, failed, cached, and why each step ran')
  .argument('[study]', 'study name')
  .option('--steps', 'list every step of every trial')
  .action(async (study: string | undefined, o) => {
    const cfg = loadConfig();
    process.stdout.write((await studyStatus(openStore(cfg.storeUrl), study, !!o.steps)) + '\n');
  });

program
  .command('query')
  .description('run read-only SQL on the catalog (tables: studies, trials, params, metrics, steps, trial_steps, lineage, artifacts, scores; views: final_metrics, trial_summary, cell_summary)')
  .argument('<sql>', 'the SQL statement')
  .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'))
  .action(async (sql: string, o: { format: Format }) => {
    const cfg = loadConfig();
    const cat = await Catalog.openReadOnly(cfg.catalogPath);
    try {
      const r = await cat.query(sql).catch((e) => {
        throw new UserError(`query failed: ${String((e as Error).message).split('\n')[0]}`);
      });
      process.stdout.write(render(o.format, r.columns, r.rows) + '\n');
    } finally {
      cat.close();
    }
  });

const catalog = program.command('catalog').description('manage the DuckDB catalog');
catalog
  .command('rebuild')
  .description('recreate the catalog from the artifact store alone')
  .action(async () => {
    const cfg = loadConfig();
    const n = await rebuildCatalog(openStore(cfg.storeUrl), cfg.catalogPath);
    process.stdout.write(`catalog ${cfg.catalogPath} rebuilt: ${n.studies} studies, ${n.trials} trials\n`);
  });

const sync = program.command('sync').description('send what is pending to external trackers');
sync
  .command('mlflow')
  .description('flush the MLflow outbox (MLFLOW_TRACKING_URI) until nothing is pending')
  .option('--timeout <s>', 'give up after this many seconds', positiveNumber, 300)
  .action(async (o: { timeout: number }) => {
    const cfg = loadConfig();
    const mirror = MlflowMirror.fromEnv(join(cfg.home, 'mlflow'), { log: (line) => process.stderr.write(`${line}\n`) });
    if (!mirror) throw new UserError('MLFLOW_TRACKING_URI is not set', { hint: 'export MLFLOW_TRACKING_URI=http://host:5000' });
    const deadline = Date.now() + o.timeout * 1000;
    let sent = 0;
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
    process.stdout.write(`mlflow: ${sent} items sent, nothing pending\n`);
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
    else if (!isUserError(e)) process.stderr.write('(run with --verbose for details)\n');
    process.exitCode = isUserError(e) ? EXIT.usage : EXIT.failed;
  }
}
