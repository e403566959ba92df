/** `gantry status`: what the store says about a study's trials and steps (no catalog needed). */
import { probeRecord } from '../infra/ledger.js';
import { getJson, type ArtifactStore } from '../infra/store/store.js';
import { studyFileSchema, studyKey, trialFileSchema, trialKey, trialStatus } from '../activities/record.js';
import { label } from '../experiments/grid.js';
import { UserError } from '../core/errors.js';
import { renderTable, duration } from './format.js';

export async function studyStatus(store: ArtifactStore, study: string | undefined, steps: boolean): Promise<string> {
  const names = study ? [study] : (await store.list('studies')).map((k) => k.slice('studies/'.length, -'.json'.length));
  if (!names.length) return `no studies in ${store.url} yet; try: gantry run quickstart`;
  const out: string[] = [];
  for (const name of names) {
    if (!(await store.exists(studyKey(name)))) throw new UserError(`no study '${name}' in ${store.url}`);
    const s = studyFileSchema.parse(await getJson(store, studyKey(name)));
    const rows: unknown[][] = [];
    const counts: Record<string, number> = {};
    for (const id of s.trials) {
      const t = trialFileSchema.parse(await getJson(store, trialKey(id)));
      const probes = await Promise.all(t.steps.map((x) => probeRecord(store, x.key)));
      const recs = probes.map((p) => p.record);
      const st = trialStatus(recs);
      counts[st.status] = (counts[st.status] ?? 0) + 1;
      const model = (t.config.model as { kind: string }).kind;
      rows.push([id.slice(0, 8), model, label(t.cell), t.config.seed, st.status, st.error ?? '']);
      if (steps) {
        t.steps.forEach((x, i) => {
          const r = recs[i];
          const what = probes[i].unreadable ? `record unreadable, the next run repeats the step (${probes[i].unreadable})` : !r ? 'pending' : r.status === 'done' ? `done (attempt ${r.attempt}, ${duration(r.durationMs ?? 0)}; ran: ${r.reason})` : `${r.status}: ${r.error ?? r.reason}`;
          // Which weights a training kept, and why (model selection on the validation split).
          const sel = r?.status === 'done' ? (r.output?.selection as { criterion: string; iteration: number; value: number | null } | undefined) : undefined;
          rows.push(['', `  ${x.kind}`, x.key, '', what, '']);
          if (sel) rows.push(['', '', '', '', `  model: iteration ${sel.iteration}, by ${sel.criterion}${sel.value === null ? '' : ` ${sel.value.toPrecision(4)}`}`, '']);
        });
      }
    }
    out.push(`study ${s.study} (profile ${s.profile ?? 'none'}, updated ${s.updatedAt}): ` + Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', '));
    out.push(renderTable(['trial', 'model', 'cell', 'seed', 'status', 'error'], rows));
  }
  return out.join('\n');
}
