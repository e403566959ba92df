/**
 * Fuzz test of the study-spec path: random and mutated specs through defineStudy, resolveStudy
 * and planning, and random --set values on valid studies. Bounded (GANTRY_FUZZ_CASES, default
 * 300 per target), seeded (GANTRY_FUZZ_SEED replays a run), each case timed out on its own:
 * every case resolves or fails with a UserError, and no --set reaches Object.prototype.
 */
import { FUZZ_CASES, fuzzTargets } from './targets.js';

fuzzTargets(new URL('./spec-cases.js', import.meta.url).href, [
  ['spec', `fuzz: ${FUZZ_CASES} random and mutated study specs resolve or fail with a UserError, without a crash or a hang`],
  ['sets', `fuzz: ${FUZZ_CASES} random --set values resolve or fail with a UserError, without a crash or a hang`],
]);
