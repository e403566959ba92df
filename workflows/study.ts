/**
 * The orchestration of a study: its trials with bounded fan-out, in plan order, stopping new
 * starts when asked to. Deterministic; executors supply how one trial runs.
 */
export async function studyWorkflow<T, R>(trials: T[], concurrency: number, runTrial: (t: T) => Promise<R>, stopped: () => boolean = () => false): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const lane = async () => {
    while (next < trials.length && !stopped()) {
      const i = next++;
      results[i] = await runTrial(trials[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, trials.length)) }, lane));
  return results.filter((r) => r !== undefined);
}
