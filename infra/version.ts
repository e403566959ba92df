/**
 * What code is running: gantry's package version, and the git commit of its checkout when it runs
 * from one. Trackers record both with every run (MLflow's mlflow.source.git.commit convention).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** e.g. `gantry@0.1.0`. */
export const CODE_VERSION = `gantry@${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}`;

/** The package's root (dist/infra/version.js → the folder holding package.json). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let commit: string | null | undefined;

/** The commit HEAD points to in gantry's own checkout, read from .git without running git; null when it is not a checkout. */
export function gitCommit(root: string = ROOT): string | null {
  if (root === ROOT && commit !== undefined) return commit;
  let found: string | null = null;
  try {
    const gitDir = join(root, '.git');
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) found = head;
    else if (head.startsWith('ref: ')) {
      const ref = head.slice(5);
      try {
        found = readFileSync(join(gitDir, ref), 'utf8').trim();
      } catch {
        // A packed ref: `<sha> <ref>` lines.
        const line = readFileSync(join(gitDir, 'packed-refs'), 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`));
        found = line ? line.slice(0, 40) : null;
      }
    }
  } catch {
    found = null;
  }
  if (found !== null && !/^[0-9a-f]{40}$/.test(found)) found = null;
  if (root === ROOT) commit = found;
  return found;
}
