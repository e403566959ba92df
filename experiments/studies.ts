/** The studies that ship with gantry, by name. */
import type { StudySpec } from './spec.js';
import quickstart from './quickstart.js';
import mtdPatches from './mtd-patches.js';
import mtdGans from './mtd-gans.js';

export const BUILTIN_STUDIES: Record<string, StudySpec> = { quickstart, 'mtd-patches': mtdPatches, 'mtd-gans': mtdGans };
