/**
 * A launch of a very large grid asks first: planning 10⁵ trials took minutes and wrote a file per
 * trial before any training, with no output. The count comes from the spec alone (maxTrials), so
 * the question comes at once. On a terminal it is a y/N prompt; elsewhere (CI, scripts) `--yes`.
 */
import { createInterface } from 'node:readline/promises';
import { UserError } from '../core/errors.js';

export const CONFIRM_ABOVE_DEFAULT = 10_000;

export async function confirmGridSize(study: string, trials: number | undefined, o: { yes?: boolean; confirmAbove: number }): Promise<void> {
  if (trials === undefined) return; // resolving the grid names what is wrong with it
  const n = trials.toLocaleString('en-US');
  if (trials > 1000) process.stderr.write(`study ${study}: planning up to ${n} trials\n`);
  if (trials <= o.confirmAbove || o.yes) return;
  const limit = o.confirmAbove.toLocaleString('en-US');
  if (process.stdin.isTTY && process.stderr.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`run up to ${n} trials (more than ${limit})? [y/N] `);
      if (/^y(es)?$/i.test(answer.trim())) return;
    } finally {
      rl.close();
    }
    throw new UserError(`not started: study ${study} asks for up to ${n} trials`);
  }
  throw new UserError(`study ${study} asks for up to ${n} trials, more than the ${limit} that run without asking`, {
    hint: 'pass --yes to run them, narrow the grid, or set --confirm-above',
  });
}
