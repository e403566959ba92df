/**
 * The durable steps, by kind. Plain async functions of (context, params): the embedded executor
 * calls them in-process; the Temporal worker registers the same functions as activities.
 */
import type { StepKind } from '../experiments/plan.js';
import type { StepFn } from './context.js';
import { load } from './load.js';
import { filter } from './filter.js';
import { tile } from './tile.js';
import { train } from './train.js';
import { score } from './score.js';
import { evaluate } from './evaluate.js';
import { scan } from './scan.js';
import { screen } from './screen.js';
import { extract } from './extract.js';
import { embed } from './embed.js';
import { split } from './split.js';
import { exportScores } from './export.js';

export const STEPS: Record<StepKind, StepFn> = { load, filter, tile, scan, screen, extract, embed, split, train, score, evaluate, export: exportScores };
