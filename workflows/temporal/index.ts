/**
 * The workflows a gantry worker registers (bundled with the Temporal SDK's bundler from the
 * compiled dist/workflows/temporal/index.js). Deterministic code only: @temporalio/workflow, pure
 * modules of gantry, and types.
 */
export { gantryStudy } from './study.js';
export { gantryTrial } from './trial.js';
