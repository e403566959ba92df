/** Find a study by name (built-in) or load it from a file (.json, or .js/.mjs exporting it). */
import { readFile } from 'node:fs/promises';
import { resolve, extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { BUILTIN_STUDIES } from '../experiments/studies.js';
import { defineStudy, type StudySpec, type StudyInput } from '../experiments/spec.js';
import { UserError } from '../core/errors.js';

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
    const mod = (await import(pathToFileURL(path).href)) as { default?: unknown; study?: unknown };
    input = mod.default ?? mod.study;
    if (!input) throw new UserError(`study file ${ref} exports no study`, { hint: 'export default defineStudy({...})' });
  } else {
    throw new UserError(`study file ${ref}: unsupported extension '${ext}'`, { hint: 'use .json, .js or .mjs' });
  }
  return defineStudy(input as StudyInput);
}
