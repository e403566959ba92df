/** The fuzz test files' shared shape (kept apart from harness.ts, which the worker threads import too). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz, BASE_SEED, type FuzzSummary } from './harness.js';

export const FUZZ_CASES = Number(process.env.GANTRY_FUZZ_CASES ?? 300);

/**
 * One test per target of a case module: FUZZ_CASES cases, no failing one (each named by its seed),
 * and a summary line per target at the end (cases, UserErrors, time, the slowest case).
 */
export function fuzzTargets(moduleUrl: string, targets: readonly (readonly [target: string, title: string])[], after?: () => void): void {
  const summaries: FuzzSummary[] = [];
  for (const [target, title] of targets) {
    test(title, async () => {
      const s = await runFuzz(moduleUrl, target, FUZZ_CASES, { caseTimeoutMs: 5000 });
      summaries.push(s);
      const report = s.failures.map((f) => `case ${f.index} (seed '${f.seed}'): ${f.message}`).join('\n\n');
      assert.equal(s.failures.length, 0, `${s.failures.length} failing case(s) of ${target}:\n${report}`);
      assert.equal(s.cases, FUZZ_CASES, 'every case ran');
    });
  }
  test.after(() => {
    after?.();
    const lines = summaries.map((s) => `  ${s.target.padEnd(6)} ${String(s.cases).padStart(4)} cases (${s.userErrors} UserErrors) in ${(s.totalMs / 1000).toFixed(1)} s; slowest ${s.slowest.ms.toFixed(0)} ms (seed '${s.slowest.seed}')`);
    process.stdout.write(`fuzz (base seed '${BASE_SEED}'):\n${lines.join('\n')}\n`);
  });
}
