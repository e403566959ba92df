/** Find a study by name (built-in) or load it from a file (.json, or .js/.mjs exporting it). */
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import { BUILTIN_STUDIES } from '../experiments/studies.js';
import { defineStudy, type StudySpec, type StudyInput } from '../experiments/spec.js';
import { UserError, isUserError } from '../core/errors.js';

/** The project's root (the folder of gantry's package.json): where built-in studies' relative paths start. */
export const PROJECT_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"gantry"/.test(readFileSync(pkg, 'utf8'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
})();

/** Where a study's relative dataset paths start: its file's folder, or the project for a built-in study. */
export function studyBaseDir(ref: string): string {
  return BUILTIN_STUDIES[ref] ? PROJECT_ROOT : dirname(resolve(ref));
}

export async function loadStudy(ref: string): Promise<StudySpec> {
  if (BUILTIN_STUDIES[ref]) return BUILTIN_STUDIES[ref];
  const path = resolve(ref);
  if (!existsSync(path)) {
    throw new UserError(`no study '${ref}': not a built-in study (${Object.keys(BUILTIN_STUDIES).join(', ')}) nor a file`);
  }
  const ext = extname(path);
  let input: unknown;
  if (ext === '.json') {
    try {
      input = JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      throw new UserError(`study file ${ref} is not valid JSON: ${(e as Error).message}`);
    }
  } else if (ext === '.js' || ext === '.mjs') {
    let mod: { default?: unknown; study?: unknown };
    try {
      mod = (await import(pathToFileURL(path).href)) as typeof mod;
    } catch (e) {
      // The study's own code threw (or has a syntax error): bad input, like malformed JSON.
      if (isUserError(e)) throw e;
      const first = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      throw new UserError(`study file ${ref} failed to load: ${e instanceof Error ? `${e.name}: ` : ''}${first}`, { hint: 'fix the module (run it with node to see the stack)', cause: e });
    }
    input = mod.default ?? mod.study;
    if (!input) throw new UserError(`study file ${ref} exports no study`, { hint: 'export default defineStudy({...})' });
  } else {
    throw new UserError(`study file ${ref}: unsupported extension '${ext}'`, { hint: 'use .json, .js or .mjs' });
  }
  return defineStudy(input as StudyInput);
}
