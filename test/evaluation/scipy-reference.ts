/** Runs test/evaluation/scipy_reference.py (Debian's python3 with SciPy): the independent check of evaluation/statistics.ts. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers.js';
import { PY, pythonMissing } from '../datasets/reference.js';

export interface ReferenceCase {
  n: number;
  mean_a: number | null;
  std_a: number | null;
  mean_diff: number | null;
  wilcoxon_p: number | null;
  wilcoxon_mode: 'exact' | 'approx' | null;
  perm_p: number | null;
  perm_p_scipy: number | null;
  rank_biserial: number;
}

export interface ReferenceAnswer {
  scipy: string;
  cases: ReferenceCase[];
  holm: number[][];
}

/** The reason the SciPy checks cannot run (for t.skip), or null; under GANTRY_LIVE=require a missing SciPy throws. */
export function scipyMissing(): string | null {
  return pythonMissing(['numpy', 'scipy']);
}

export function scipyReference(req: { cases: { a: number[]; b: number[] }[]; families?: number[][] }): ReferenceAnswer {
  const script = join(REPO_ROOT, 'test', 'evaluation', 'scipy_reference.py');
  const r = spawnSync(PY, [script], { input: JSON.stringify(req), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`scipy_reference.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ReferenceAnswer;
}
