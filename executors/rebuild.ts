/** Recreate the catalog from the artifact store alone. */
import { rename } from 'node:fs/promises';
import { recordStudy, recordTrial } from '../activities/record.js';
import { Catalog, removeCatalog } from '../infra/catalog.js';
import type { ArtifactStore } from '../infra/store/store.js';

export async function rebuildCatalog(store: ArtifactStore, catalogPath: string): Promise<{ studies: number; trials: number }> {
  // Build beside the old catalog and swap at the end: a failed rebuild leaves the old one intact.
  const tmp = `${catalogPath}.rebuild`;
  await removeCatalog(tmp);
  const studies = (await store.list('studies')).filter((k) => k.endsWith('.json'));
  const trials = (await store.list('trials')).filter((k) => k.endsWith('.json'));
  const cat = await Catalog.open(tmp);
  try {
    for (const k of studies) await recordStudy(store, cat, k.slice('studies/'.length, -'.json'.length));
    for (const k of trials) await recordTrial(store, cat, k.slice('trials/'.length, -'.json'.length));
    await cat.conn.run('CHECKPOINT');
  } finally {
    cat.close();
  }
  await removeCatalog(catalogPath);
  await rename(tmp, catalogPath);
  return { studies: studies.length, trials: trials.length };
}
