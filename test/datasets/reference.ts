/**
 * What the loader tests share: Debian's python (numpy, scipy, PIL) as the independent writer of
 * reference files, a temporary folder per test, and the check that a call fails as bad input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUserError } from '../../core/errors.js';
import { liveRequired } from '../live/servers.js';

/** Debian's python3 (not a pyenv shim on PATH): the one with numpy 1.24, scipy 1.10 and PIL 9.4 from apt. */
export const PY = '/usr/bin/python3';

/**
 * Why the reference writer cannot run (a reason for t.skip), or null when it can. With
 * GANTRY_LIVE=require (CI, which provisions it) a missing writer is a failure, not a skip.
 */
export function pythonMissing(mods: string[]): string | null {
  let why: string | null = null;
  if (!existsSync(PY)) why = `${PY} not found (Debian's python3 with ${mods.join(', ')} writes the reference files; node scripts/live-servers.mjs provision --only numpy)`;
  else {
    const r = spawnSync(PY, ['-c', `import ${mods.join(', ')}`], { encoding: 'utf8' });
    if (r.status !== 0) why = `${PY} cannot import ${mods.join(', ')}: ${r.stderr.trim().split('\n').pop()}`;
  }
  if (why && liveRequired()) throw new Error(`${why}; GANTRY_LIVE=require wants the round-trip tests to run`);
  return why;
}

/** Run python code in `cwd`; its stdout. */
export function python(code: string, cwd: string): string {
  const r = spawnSync(PY, ['-c', code], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

export async function withDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `gantry-${prefix}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The promise rejects with a one-line UserError whose message holds every part (a string, or a match of a pattern). */
export async function rejectsUser(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    const msg = (e as Error).message;
    for (const part of parts) {
      if (typeof part === 'string') assert.ok(msg.includes(part), `${JSON.stringify(msg)} lacks ${JSON.stringify(part)}`);
      else assert.match(msg, part);
    }
    assert.ok(!msg.includes('\n'), 'one line');
    return true;
  });
}
