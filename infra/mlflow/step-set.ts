/**
 * A set of integer steps stored as arithmetic progressions [start, stride, count]. A training
 * logs at 0, 10, 20, …, so the steps of a metric that MLflow has acknowledged take one triple
 * however long the run: the mirror can rewrite its ledger after every batch cheaply.
 */
export type Progression = [start: number, stride: number, count: number];

export class StepSet {
  private runs: Progression[];
  private n: number;

  constructor(runs: Progression[] = []) {
    this.runs = runs.map((r) => [r[0], r[1], r[2]] as Progression);
    this.n = this.runs.reduce((a, r) => a + r[2], 0);
  }

  get size(): number {
    return this.n;
  }

  has(step: number): boolean {
    const at = this.find(step);
    if (at < 0) return false;
    const [start, stride, count] = this.runs[at];
    if (step === start) return true;
    if (count < 2) return false;
    const k = (step - start) / stride;
    return Number.isInteger(k) && k < count;
  }

  /** Adds a step; false when it was already there. O(log n) plus a splice, in any order. */
  add(step: number): boolean {
    if (this.has(step)) return false;
    this.n++;
    const at = this.find(step);
    const cur = at >= 0 ? this.runs[at] : undefined;
    if (cur && step < end(cur)) {
      // Between two members of a strided run: split it around the new step.
      const k = Math.floor((step - cur[0]) / cur[1]) + 1;
      this.runs.splice(at, 1, [cur[0], cur[1], k], [step, 1, 1], [cur[0] + k * cur[1], cur[1], cur[2] - k]);
      return true;
    }
    // The common case, steps in increasing order, extends the last run.
    if (cur && (cur[2] === 1 || step - end(cur) === cur[1])) {
      if (cur[2] === 1) cur[1] = step - cur[0];
      cur[2]++;
      return true;
    }
    const next = this.runs[at + 1];
    if (next && (next[2] === 1 || next[0] - step === next[1])) {
      if (next[2] === 1) next[1] = next[0] - step;
      next[0] = step;
      next[2]++;
      return true;
    }
    this.runs.splice(at + 1, 0, [step, 1, 1]);
    return true;
  }

  /** Index of the last progression starting at or before `step`, or -1: ranges are disjoint and sorted. */
  private find(step: number): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.runs[mid][0] <= step) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at;
  }

  values(): number[] {
    const out: number[] = [];
    for (const [start, stride, count] of this.runs) for (let i = 0; i < count; i++) out.push(start + i * stride);
    return out;
  }

  toJSON(): Progression[] {
    return this.runs;
  }
}

function end(r: Progression): number {
  return r[0] + r[1] * (r[2] - 1);
}
