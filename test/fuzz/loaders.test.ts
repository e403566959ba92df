/**
 * Fuzz test of the dataset loaders (MAT, ENVI, TIFF cubes, images, IDX): mutated small files,
 * a bounded number of cases per loader, each seeded (GANTRY_FUZZ_SEED replays a run; a failure
 * names its case's seed) and timed out on its own. Every case must load or fail with one
 * UserError line: no crash, no hang, no unhandled rejection, no size field believed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUZZ_CASES, fuzzTargets } from './targets.js';

// Where the ENVI cases write their files (workers inherit the environment).
process.env.GANTRY_FUZZ_DIR = mkdtempSync(join(tmpdir(), 'gantry-fuzz-'));

fuzzTargets(
  new URL('./loader-cases.js', import.meta.url).href,
  ['mat', 'envi', 'tiff', 'image', 'idx'].map((t) => [t, `fuzz: the ${t} loader takes ${FUZZ_CASES} mutated files without a crash, a hang or an error that is not a UserError`] as const),
  () => rmSync(process.env.GANTRY_FUZZ_DIR!, { recursive: true, force: true }),
);
