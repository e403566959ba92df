/**
 * The saved SQL behind every report: the same queries a user can run with `gantry query`
 * (reports print them in an appendix). `?` placeholders take quoted literals, in order.
 */

export const QUERIES = {
  /** A study's trials, one row each. */
  trials: `SELECT trial_id, cell_id, cell, seed, model, status, backend, error
FROM trials WHERE study = ? ORDER BY cell_id, seed`,
  /** Final metrics of a study's trials (training and validation curves excluded). */
  finalMetrics: `SELECT f.trial_id, f.name, f.value
FROM final_metrics f JOIN trials t USING (trial_id)
WHERE t.study = ? AND f.name NOT LIKE 'train/%' AND f.name NOT LIKE 'val/%'`,
  /** One trial's scores of one set on the test split (all samples where there is no split), ambiguous samples out. */
  testScores: `SELECT value, label FROM scores
WHERE trial_id = ? AND score_set = ? AND label < 2 AND (split IS NULL OR split = '' OR split = 'test')`,
  /** One trial's test scores of one set with each sample's class (item studies: scored_samples joins the lineage). */
  classScores: `SELECT value, label, class FROM scored_samples
WHERE trial_id = ? AND score_set = ? AND label < 2 AND split = 'test' AND class IS NOT NULL`,
  /** One trial's test scores of one set per patch, with the patch's image and position (maps over images). */
  patchScores: `SELECT item, rel, y, x, value, label FROM scored_samples
WHERE trial_id = ? AND score_set = ? AND split = 'test' AND y IS NOT NULL AND label < 2 ORDER BY item, y, x`,
  /** One trial's scores of one set, every sample (maps over a scene). */
  sceneScores: `SELECT sample, value, label FROM scores WHERE trial_id = ? AND score_set = ? ORDER BY sample`,
  /** One trial's training and validation curves. */
  curves: `SELECT name, step, value FROM metrics
WHERE trial_id = ? AND (name LIKE 'train/%' OR name LIKE 'val/%') ORDER BY name, step`,
  /** Per cell: seeds, mean and standard deviation of each final metric (the report's summary, as SQL). */
  cellSummary: `SELECT t.cell_id, t.cell, t.model, f.name AS metric, count(*) AS seeds,
       avg(f.value) AS mean, stddev_samp(f.value) AS std
FROM final_metrics f JOIN trials t USING (trial_id)
WHERE t.study = ? AND t.status = 'done' AND f.name NOT LIKE 'train/%' AND f.name NOT LIKE 'val/%'
GROUP BY ALL ORDER BY metric, mean DESC`,
} as const;

/** A SQL string literal. */
export function literal(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

/** A saved query with its placeholders filled, in order. */
export function sql(query: string, ...args: string[]): string {
  let i = 0;
  const out = query.replace(/\?/g, () => {
    if (i >= args.length) throw new Error(`query needs more than ${args.length} arguments: ${query}`);
    return literal(args[i++]);
  });
  if (i !== args.length) throw new Error(`query takes ${i} arguments, got ${args.length}`);
  return out;
}
