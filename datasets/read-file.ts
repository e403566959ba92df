/** A dataset file's bytes, with the usual ways a path can be wrong said in one line. */
import { readFile } from 'node:fs/promises';
import { UserError } from '../core/errors.js';

export async function readDatasetFile(path: string, what: string, hint = 'check the path'): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} not found: ${path}`, { hint, cause: e });
    if (code === 'EISDIR') throw new UserError(`${what} path is a directory: ${path}`, { cause: e });
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`cannot read ${what} ${path}: permission denied`, { cause: e });
    throw e;
  }
}
