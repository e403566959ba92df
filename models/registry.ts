/** Every detector gantry can train, by `model.kind`. */
import type { Detector } from './detector.js';
import { rx } from './rx/index.js';
import { wganGp } from './wgan-gp/index.js';
import { pca } from './pca/index.js';
import { knn } from './knn/index.js';
import { ganomaly } from './ganomaly/index.js';
import { skipGanomaly } from './skip-ganomaly/index.js';
import { algan } from './algan/index.js';

const DETECTORS: Record<string, Detector<any, any>> = { rx, 'wgan-gp': wganGp, pca, knn, ganomaly, 'skip-ganomaly': skipGanomaly, algan };

export function detectorFor(kind: string): Detector<any, any> {
  const d = DETECTORS[kind];
  if (!d) throw new Error(`unknown model kind '${kind}' (known: ${Object.keys(DETECTORS).join(', ')})`);
  return d;
}
