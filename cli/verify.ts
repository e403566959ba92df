/** `gantry verify [study]` and `gantry repair [study]`: what in the store is damaged, and recomputing it. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, openStore } from '../infra/config.js';
import { repairStore, verifyStore, type Finding, type VerifyReport } from '../executors/verify.js';
import { LoadBar } from './progress.js';
import { cellText, tableLine, tableRule, tableWidths } from './format.js';

/** Damage is a fault of the data, not bad input: exit 1. */
const DAMAGED_EXIT = 1;

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check every study file, trial file and step record (its seal) and every artifact of every done step (size, sha256); lists what is damaged')
    .argument('[study]', 'one study (default: the whole store)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit 0 when nothing is damaged, 1 when something is (gantry repair, or running the study again, recomputes it).\nUnsealed documents (written by a gantry before seals) are warnings, not damage.')
    .action(async (study: string | undefined, o: { json?: boolean }) => {
      const store = openStore(loadConfig().storeUrl);
      const bar = new LoadBar(process.stderr, 'verifying steps');
      const r = await verifyStore(store, { ...(study ? { study } : {}), progress: bar.update }).finally(bar.done);
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatReport(r));
      if (r.damaged.length) process.exitCode = DAMAGED_EXIT;
    });

  program
    .command('repair')
    .description('verify, then recompute the damaged steps from the store alone; the rest (steps that read the dataset, unreadable records, trial and study files) are listed for `gantry run <study file>`')
    .argument('[study]', 'one study (default: the whole store)')
    .action(async (study: string | undefined) => {
      const cfg = loadConfig();
      const store = openStore(cfg.storeUrl);
      const abort = new AbortController();
      const stop = () => {
        process.stderr.write('\nstopping after the current step\n');
        abort.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const bar = new LoadBar(process.stderr, 'verifying steps');
      try {
        const r = await repairStore(store, {
          ...(study ? { study } : {}), catalogPath: cfg.catalogPath, lockPath: join(cfg.home, 'run.lock'), signal: abort.signal,
          ...(cfg.backend ? { backend: cfg.backend } : {}),
          log: (line) => {
            bar.done();
            process.stderr.write(line + '\n');
          },
          progress: bar.update,
        }).finally(bar.done);
        process.stdout.write(formatReport(r.verify));
        if (!r.verify.damaged.length) return;
        const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
        process.stdout.write(`repaired ${n(r.repaired.length, 'step')}${r.failed.length ? `, ${r.failed.length} failed` : ''}; ${n(r.recorded, 'trial')} indexed again in the catalog\n`);
        for (const f of r.failed) process.stdout.write(`failed: ${f.kind} ${f.key}: ${f.error}\n`);
        if (r.needRun.length) {
          process.stdout.write(`\n${n(r.needRun.length, 'damaged item')} cannot be recomputed from the store alone:\n`);
          process.stdout.write(findingsTable(r.needRun.map((f) => ({ ...f, what: `${f.what}; ${f.why}` }))));
          process.stdout.write('run `gantry run <study file>` to recompute them (it repairs every damaged step it meets)\n');
        }
        if (r.failed.length || r.needRun.length || abort.signal.aborted) process.exitCode = DAMAGED_EXIT;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

function findingsTable(fs: Finding[]): string {
  const columns = ['kind', 'study/trial/step', 'key', 'what'];
  const text = fs.map((f) => [f.kind, f.name, f.key, f.what].map(cellText));
  // The first three columns aligned; what is wrong is never cut.
  const widths = tableWidths(columns.slice(0, 3), text.map((r) => r.slice(0, 3)));
  const line = (r: string[]) => `${tableLine(r.slice(0, 3), widths).padEnd(widths.reduce((a, w) => a + w + 2, 0))}${r[3]}`;
  return [line(columns), `${tableRule(widths)}  ----`, ...text.map(line)].join('\n') + '\n';
}

export function formatReport(r: VerifyReport): string {
  const out: string[] = [];
  if (r.damaged.length) out.push(findingsTable(r.damaged));
  if (r.unsealed.length) {
    const shown = r.unsealed.slice(0, 20);
    out.push(`warning: ${r.unsealed.length} document${r.unsealed.length === 1 ? ' has' : 's have'} no seal (written by an older gantry; read, but nothing vouches for ${r.unsealed.length === 1 ? 'it' : 'them'}):`);
    for (const f of shown) out.push(`  ${f.kind} ${f.name} ${f.key}`);
    if (r.unsealed.length > shown.length) out.push(`  … and ${r.unsealed.length - shown.length} more (--json lists all)`);
  }
  const num = (n: number) => n.toLocaleString('en-US');
  const scope = r.study ? `study ${r.study}: ` : '';
  out.push(`${scope}checked ${num(r.studies)} stud${r.studies === 1 ? 'y' : 'ies'}, ${num(r.trials)} trials, ${num(r.steps)} steps, ${num(r.artifacts)} artifacts (${bytes(r.bytes)}) in ${seconds(r.ms)}: ${num(r.damaged.length)} damaged${r.unsealed.length ? `, ${num(r.unsealed.length)} unsealed` : ''}`);
  return out.join('\n') + '\n';
}

function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
