/**
 * GANomaly (Akçay, Atapour-Abarghouei & Breckon 2018) as a gantry detector: trained on normal
 * images with validation-based selection, scored in inference mode. See README.md.
 */
import { ganDetector } from '../components/gan-detector.js';
import { ganomalyDefinition } from './model.js';
import { ganomalyParams, resolveGanomaly } from './params.js';

export { ganomalyParams, resolveGanomaly, GANOMALY_PRESETS, GANOMALY_PRESET_VALUES, GANOMALY_SCORE_ONLY, type GanomalyParams } from './params.js';
export { ganomalyNets } from './architecture.js';

export const ganomaly = ganDetector(ganomalyDefinition, ganomalyParams.transform(resolveGanomaly));
