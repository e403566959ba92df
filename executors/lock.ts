/**
 * One `gantry run` per GANTRY_HOME at a time: a lock file naming the owner (pid, host, and the
 * machine id of step-lease.ts). A lock left by a process of this machine that died (kill -9, power
 * loss) is taken over, which is what makes resume work. A lock held from another machine (a home
 * on a shared filesystem) cannot be checked from here, so it is refused, never taken over: two
 * runs on one home would both write its catalog. (Several homes on one store is what step leases
 * are for.)
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { z } from 'zod';
import { EnvironmentError, UserError, isMachineFault } from '../core/errors.js';
import { processGone, thisMachine } from './step-lease.js';

const lockSchema = z.object({ pid: z.number().int().positive(), host: z.string(), machine: z.string() });

export async function acquireLock(path: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), machine: thisMachine() }));
      await fh.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        const Fault = isMachineFault(e) ? EnvironmentError : UserError;
        throw new Fault(`cannot create lock ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, { hint: 'make it writable, or set GANTRY_HOME to a writable directory', cause: e });
      }
      const owner = parseLock(await readFile(path, 'utf8').catch(() => ''));
      if (owner && owner.pid !== process.pid) {
        const gone = processGone(owner.machine, owner.pid);
        if (gone === false) throw new UserError(`another gantry run (pid ${owner.pid}) is using ${dirname(path)}`, { hint: 'wait for it, or use another GANTRY_HOME' });
        if (gone === undefined) {
          throw new UserError(`another gantry run (pid ${owner.pid} on ${owner.host}) may be using ${dirname(path)}`, {
            hint: `this machine cannot check it: wait for it, use another GANTRY_HOME, or delete ${path} if that run is gone`,
          });
        }
      }
      await rm(path, { force: true }); // stale: its owner is gone
    }
  }
  throw new UserError(`could not acquire lock ${path}`);
}

/** The lock's owner; a lock of an older gantry holds only a pid (of this machine, as it assumed). */
function parseLock(text: string): z.output<typeof lockSchema> | undefined {
  const legacy = /^\s*(\d+)\s*$/.exec(text);
  if (legacy) return { pid: Number(legacy[1]), host: hostname(), machine: thisMachine() };
  try {
    const r = lockSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined; // torn by a crash while it was written: stale
  }
}
