/**
 * Skip-GANomaly (Akçay, Atapour-Abarghouei & Breckon 2019) as a gantry detector, with
 * Mammadova's masked-inpainting variant (method 5). See README.md.
 */
import { ganDetector } from '../components/gan-detector.js';
import { skipGanomalyDefinition } from './model.js';
import { skipGanomalyParams, resolveSkipGanomaly } from './params.js';

export { skipGanomalyParams, resolveSkipGanomaly, SKIP_GANOMALY_PRESETS, SKIP_GANOMALY_PRESET_VALUES, SKIP_GANOMALY_SCORE_ONLY, type SkipGanomalyParams } from './params.js';
export { skipGanomalyNets } from './architecture.js';

export const skipGanomaly = ganDetector(skipGanomalyDefinition, skipGanomalyParams.transform(resolveSkipGanomaly));
