/**
 * Why a step with no record runs: compared with the steps of the same kind recorded before this
 * run, either its parameters changed (naming them, old → new) or one of its inputs did (naming
 * it), as DVC and Flyte tell their users. A step kind never run before is simply 'new'.
 *
 * A key can also be old with its record gone (a step folder deleted by hand): when an earlier
 * step lists it as an input, it did run, and saying 'input changed' would be untrue. And when the
 * inputs that differ from its siblings' were all made before this run, nothing changed either:
 * it never ran, or its record was deleted.
 */
import { canonicalJson } from '../core/canonical.js';
import type { StepCall } from '../experiments/plan.js';
import type { StepRecord } from '../infra/ledger.js';

export function explainNewStep(call: StepCall, earlier: StepRecord[]): string {
  if (earlier.some((r) => Object.values(r.inputs).includes(call.key))) return 'its record is missing (deleted?); it runs again';
  const same = earlier.filter((r) => r.kind === call.kind);
  if (!same.length) return 'new';
  const inputs = canonicalJson(call.inputs);
  const params = canonicalJson(call.params);
  const sameInputs = same.filter((r) => canonicalJson(r.inputs) === inputs);
  if (sameInputs.length) {
    // The closest earlier step: fewest parameters differ.
    const diffs = sameInputs.map((r) => diffLeaves(r.params, call.params)).sort((a, b) => a.length - b.length);
    const d = diffs[0];
    if (d.length === 0) return r0Version(call, sameInputs);
    const shown = d.slice(0, 3).map((x) => `${x.path} ${fmt(x.from)} → ${fmt(x.to)}`).join(', ');
    return `params changed: ${shown}${d.length > 3 ? ` (+${d.length - 3} more)` : ''}`;
  }
  const sameParams = same.filter((r) => canonicalJson(r.params) === params);
  if (sameParams.length) {
    const changed = Object.keys(call.inputs).filter((name) => !sameParams.some((r) => r.inputs[name] === call.inputs[name]));
    const before = new Set(earlier.map((r) => r.key));
    if (changed.length && changed.every((name) => before.has(call.inputs[name]))) return 'new: its inputs are from earlier runs (it never ran, or its record was deleted)';
    return `input changed: ${changed.join(', ') || Object.keys(call.inputs).join(', ')}`;
  }
  return 'new';
}

function r0Version(call: StepCall, rs: StepRecord[]): string {
  const v = rs.find((r) => r.version !== call.version);
  return v ? `step version changed: ${v.version} → ${call.version}` : 'new';
}

interface LeafDiff {
  path: string;
  from: unknown;
  to: unknown;
}

export function diffLeaves(a: unknown, b: unknown, path = ''): LeafDiff[] {
  const isObj = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])].sort();
    return keys.flatMap((k) => diffLeaves((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  return canonicalJson(a ?? null) === canonicalJson(b ?? null) ? [] : [{ path: path || '(value)', from: a, to: b }];
}

function fmt(v: unknown): string {
  return v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v);
}
