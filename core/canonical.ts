/**
 * Canonical JSON: object keys sorted, undefined dropped, -0 written as 0. Two configs that mean
 * the same thing serialize to the same string, which is what trial ids and step keys hash.
 * Pure (no Node APIs) so workflow code may use it; the hashing itself happens outside workflows.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalize(value));
}

function normalize(v: unknown): unknown {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error(`cannot hash a non-finite number (${v})`);
      return Object.is(v, -0) ? 0 : v;
    }
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : normalize(x)));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v as object).sort()) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = normalize(x);
  }
  return out;
}

/** A function from canonical text to a hex digest; injected so that pure code never imports crypto. */
export type Hasher = (text: string) => string;
