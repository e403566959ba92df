/**
 * The orchestration of a study: its trials with bounded fan-out, in plan order, stopping new
 * starts when asked to. Deterministic; executors supply how one trial runs. The trials are pulled
 * one at a time, so a grid that is planned as it goes (executors/prepare.ts) is never a list; a
 * trial whose result is undefined is left out of the results.
 */
export async function studyWorkflow<T, R>(trials: Iterable<T>, concurrency: number, runTrial: (t: T, index: number) => Promise<R>, stopped: () => boolean = () => false): Promise<NonNullable<R>[]> {
  const results: R[] = [];
  const it = trials[Symbol.iterator]();
  let next = 0;
  let ended = false;
  const lane = async () => {
    while (!ended && !stopped()) {
      const n = it.next();
      if (n.done) {
        ended = true;
        return;
      }
      const i = next++;
      results[i] = await runTrial(n.value, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  return results.filter((r): r is NonNullable<R> => r !== undefined);
}
