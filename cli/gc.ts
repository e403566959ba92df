/** `gantry gc`: list (by default) or remove what no trial in the store references. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, openStore } from '../infra/config.js';
import { Catalog } from '../infra/catalog.js';
import { UserError, oneLine } from '../core/errors.js';
import { acquireLock } from '../executors/lock.js';
import { collectGarbage, GC_MIN_AGE_MS, type GcResult } from '../executors/gc.js';
import { renderWrappedTable } from './format.js';

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  for (; v >= 1024 && u < units.length - 1; u++) v /= 1024;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function minutes(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected minutes (a number ≥ 0)');
  return n;
}

export function registerGc(program: Command): void {
  program
    .command('gc')
    .description('remove step folders no trial references (an old plan\'s, a changed dataset\'s) and leftover temp files; lists them unless --yes')
    .option('--dry-run', 'list what would be removed and its size (the default)')
    .option('-y, --yes', 'remove it')
    .option('--min-age <minutes>', 'spare steps started or written less than this long ago: a launch may be registering them', minutes, GC_MIN_AGE_MS / 60_000)
    .action(async (o: { dryRun?: boolean; yes?: boolean; minAge: number }) => {
      if (o.dryRun && o.yes) throw new UserError('gantry gc takes --dry-run or --yes, not both');
      const cfg = loadConfig();
      const store = openStore(cfg.storeUrl);
      // No embedded run on this home while removing: it could be about to reuse a step.
      const release = o.yes ? await acquireLock(join(cfg.home, 'run.lock')) : undefined;
      let r: GcResult;
      try {
        r = await collectGarbage(store, { delete: !!o.yes, minAgeMs: o.minAge * 60_000 });
      } finally {
        await release?.();
      }
      process.stdout.write(report(r, store.url) + '\n');
      if (r.removedSteps.length && existsSync(cfg.catalogPath)) {
        // The catalog is an index: a failure here leaves rows a rebuild drops, never a wrong store.
        try {
          const cat = await Catalog.open(cfg.catalogPath);
          try {
            await cat.forgetSteps(r.removedSteps);
          } finally {
            cat.close();
          }
        } catch (e) {
          process.stderr.write(`gc: the catalog still lists the removed steps (${oneLine(e)}); gantry catalog rebuild drops them\n`);
        }
      }
      if (r.damagedTrials.length) process.exitCode = 1;
    });
}

function report(r: GcResult, url: string): string {
  const out: string[] = [];
  const steps = r.garbage.filter((g) => g.kind === 'step');
  const temps = r.garbage.filter((g) => g.kind === 'temp');
  const total = r.garbage.reduce((a, g) => a + g.bytes, 0);
  const unsized = r.garbage.reduce((a, g) => a + g.unsized, 0);
  const size = `${bytes(total)}${unsized ? ` + ${unsized} file${unsized === 1 ? '' : 's'} of unknown size` : ''}`;
  if (r.garbage.length) {
    out.push(renderWrappedTable(['key', 'step', 'state', 'files', 'size'], r.garbage.map((g) => [g.key, g.kind === 'temp' ? '(temp file)' : (g.step ?? ''), g.status ?? '', g.files, bytes(g.bytes) + (g.unsized ? ` + ${g.unsized} unsized` : '')])));
  }
  for (const k of r.kept) out.push(`kept ${k.key}: ${k.why}`);
  for (const d of r.damagedTrials) out.push(`cannot read ${d.key}: ${d.error}`);
  const what = `${steps.length} step folder${steps.length === 1 ? '' : 's'} and ${temps.length} temp file${temps.length === 1 ? '' : 's'} (${size})`;
  const seen = `${r.trials} trial files and the studies' latest launch plans reference ${r.referenced} steps in ${url}`;
  if (r.deleted) out.push(`removed ${what}; ${seen}`);
  else if (r.damagedTrials.length) out.push(`${r.damagedTrials.length} trial, study or launch file${r.damagedTrials.length === 1 ? ' is' : 's are'} damaged, so the steps they reference are unknown: nothing is removed until they are repaired (gantry verify, gantry repair); ${what} unreferenced`);
  else if (r.garbage.length) out.push(`would remove ${what}; ${seen}. Remove them: gantry gc --yes`);
  else out.push(`nothing to remove; ${seen}`);
  return out.join('\n');
}
