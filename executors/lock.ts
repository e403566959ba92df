/**
 * One `gantry run` per GANTRY_HOME at a time: a lock file holding the owner's pid. A lock left
 * by a process that died (kill -9, power loss) is taken over, which is what makes resume work.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UserError } from '../core/errors.js';

export async function acquireLock(path: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new UserError(`cannot create lock ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, { hint: 'set GANTRY_HOME to a writable directory', cause: e });
      }
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid && pid !== process.pid && alive(pid)) {
        throw new UserError(`another gantry run (pid ${pid}) is using ${dirname(path)}`, { hint: 'wait for it, or use another GANTRY_HOME' });
      }
      await rm(path, { force: true }); // stale: its owner is gone
    }
  }
  throw new UserError(`could not acquire lock ${path}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
