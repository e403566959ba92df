/**
 * Recreate the catalog from the artifact store alone. Atomic: it is built beside the old catalog
 * (<catalog>.rebuild) and swapped in at the end; a failed rebuild removes its file and leaves the
 * old catalog as it was. Damage does not fail it whole: a trial with a damaged step record or
 * artifact is indexed with what can be read and status 'damaged' (never counted as done); a
 * study or trial file that is itself damaged is skipped. Both are listed in `damaged`.
 */
import { rename, rm } from 'node:fs/promises';
import { indexTrial, isDamage, recordStudy } from '../activities/record.js';
import { recordLaunches } from '../activities/launches.js';
import { oneLine } from '../core/errors.js';
import { Catalog, catalogFault, removeCatalog } from '../infra/catalog.js';
import type { ArtifactStore } from '../infra/store/store.js';

export interface RebuildResult {
  studies: number;
  trials: number;
  /** What could not be indexed whole: `skipped` when nothing of it could be (its own file is damaged). */
  damaged: { kind: 'study' | 'trial'; id: string; what: string; skipped: boolean }[];
}

export async function rebuildCatalog(store: ArtifactStore, catalogPath: string): Promise<RebuildResult> {
  const tmp = `${catalogPath}.rebuild`;
  await removeCatalog(tmp); // left by a rebuild that was killed
  const result: RebuildResult = { studies: 0, trials: 0, damaged: [] };
  try {
    const studies = (await store.list('studies')).filter((k) => /^studies\/[^/]+\.json$/.test(k)).map((k) => k.slice('studies/'.length, -'.json'.length));
    const trials = (await store.list('trials')).filter((k) => /^trials\/[^/]+\.json$/.test(k)).map((k) => k.slice('trials/'.length, -'.json'.length));
    const cat = await Catalog.open(tmp);
    try {
      for (const s of studies) {
        try {
          await recordStudy(store, cat, s);
          result.studies++;
        } catch (e) {
          if (!isDamage(e)) throw e;
          result.damaged.push({ kind: 'study', id: s, what: oneLine(e), skipped: true });
        }
      }
      await recordLaunches(store, cat);
      for (const id of trials) {
        try {
          const r = await indexTrial(store, cat, id);
          result.trials++;
          if (r.damaged.length) result.damaged.push({ kind: 'trial', id, what: r.damaged.join('; '), skipped: false });
        } catch (e) {
          if (!isDamage(e)) throw e;
          result.damaged.push({ kind: 'trial', id, what: oneLine(e), skipped: true });
        }
      }
      await cat.conn.run('CHECKPOINT');
    } finally {
      cat.close();
    }
    // rename() replaces the old file atomically; its WAL must go first, or it would be replayed onto the new one.
    await rm(`${tmp}.wal`, { force: true });
    await rm(`${catalogPath}.wal`, { force: true });
    await rename(tmp, catalogPath);
  } catch (e) {
    await removeCatalog(tmp).catch(() => {});
    throw catalogFault(catalogPath, e);
  }
  return result;
}
