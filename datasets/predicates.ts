/**
 * Metadata predicates, declared as data so they live in a study spec (and its hash), e.g. the car
 * photos of Mammadova 2022: one make/model, model years 2007–2011, silver, exterior views with at
 * least three exterior parts in view:
 *
 *   { all: [ { field: 'model', eq: 'Camry' }, { field: 'year', range: [2007, 2011] },
 *            { field: 'colour', matches: '^silver$', flags: 'i' }, { not: { field: 'view', eq: 'interior' } },
 *            { atLeast: 3, of: [ { field: 'fbumper', eq: 1 }, { field: 'bonnet', eq: 1 }, … ] } ] }
 *
 * Metadata values are strings (a CSV row). A number in `eq`/`in` compares numerically ("2007.0"
 * equals 2007); a string compares exactly (case and spaces count). `range` bounds are inclusive.
 * `matches` is a JavaScript regular expression searched anywhere in the value (anchor it with ^…$).
 * A missing field fails the leaf that reads it; under `not` that means the `not` passes, so check
 * `predicateFields()` against the CSV header first (a typo would otherwise pass everything).
 */
import { z } from 'zod';
import { UserError } from '../core/errors.js';

export type Predicate =
  | { field: string; eq: string | number }
  | { field: string; in: (string | number)[] }
  | { field: string; range: [number | null, number | null] }
  | { field: string; matches: string; flags?: string }
  | { all: Predicate[] }
  | { any: Predicate[] }
  | { not: Predicate }
  /** At least `atLeast` of the predicates pass ("≥ 3 exterior parts in view"). */
  | { atLeast: number; of: Predicate[] };

const scalar = z.union([z.string(), z.number().finite()]);
const field = z.string().min(1);

function validRegex(source: string, flags: string | undefined): boolean {
  try {
    new RegExp(source, flags);
    return true;
  } catch {
    return false;
  }
}

// Strict objects: a predicate that mixes forms ({ field, eq, range }) is ambiguous, so it is rejected.
export const predicateSpec: z.ZodType<Predicate> = z.lazy(() =>
  z.union([
    z.strictObject({ field, eq: scalar }),
    z.strictObject({ field, in: z.array(scalar).min(1) }),
    z.strictObject({
      field,
      range: z
        .tuple([z.number().finite().nullable(), z.number().finite().nullable()])
        .refine(([lo, hi]) => lo === null || hi === null || lo <= hi, 'range lower bound is above its upper bound')
        .refine(([lo, hi]) => lo !== null || hi !== null, 'range needs at least one bound (use null for an open end)'),
    }),
    z
      .strictObject({ field, matches: z.string(), flags: z.string().regex(/^[imsu]*$/, "regex flags may only be i, m, s, u").optional() })
      .refine((p) => validRegex(p.matches, p.flags), { message: 'not a valid regular expression', path: ['matches'] }),
    z.strictObject({ all: z.array(predicateSpec).min(1) }),
    z.strictObject({ any: z.array(predicateSpec).min(1) }),
    z.strictObject({ not: predicateSpec }),
    z
      .strictObject({ atLeast: z.number().int().min(0), of: z.array(predicateSpec).min(1) })
      .refine((p) => p.atLeast <= p.of.length, { message: 'atLeast is larger than the number of predicates', path: ['atLeast'] }),
  ]),
);

/** A CSV cell as a number, or NaN (empty cells are not 0). */
function parseNumber(s: string): number {
  const t = s.trim();
  return t === '' ? NaN : Number(t);
}

const q = (s: string) => JSON.stringify(s);
const showScalar = (v: string | number) => (typeof v === 'number' ? String(v) : q(v));
const showBound = (v: number | null, lower: boolean) => (v === null ? (lower ? '(-∞' : '∞)') : lower ? `[${v}` : `${v}]`);
const showRange = (r: [number | null, number | null]) => `${showBound(r[0], true)}, ${showBound(r[1], false)}`;

function scalarMatches(value: string, target: string | number): boolean {
  return typeof target === 'number' ? parseNumber(value) === target : value === target;
}

// Compiled once per predicate object, not once per item.
const regexCache = new WeakMap<object, RegExp>();
function regexOf(p: { matches: string; flags?: string }): RegExp {
  let re = regexCache.get(p);
  if (!re) {
    try {
      // No 'g'/'y': RegExp.test with those is stateful across calls.
      re = new RegExp(p.matches, p.flags);
    } catch (e) {
      throw new UserError(`metadata predicate: /${p.matches}/ is not a valid regular expression`, { cause: e });
    }
    regexCache.set(p, re);
  }
  return re;
}

/**
 * Evaluate on one item's metadata. Returns null when it passes, else one line saying why not,
 * e.g. "year=1998 not in [2000, 2010]" or "no field 'colour'". For `all`, the first failing
 * part's reason; for `any`, every part's.
 */
export function failsPredicate(meta: Record<string, string>, p: Predicate): string | null {
  if ('all' in p) {
    for (const c of p.all) {
      const r = failsPredicate(meta, c);
      if (r !== null) return r;
    }
    return null;
  }
  if ('any' in p) {
    const reasons: string[] = [];
    for (const c of p.any) {
      const r = failsPredicate(meta, c);
      if (r === null) return null;
      reasons.push(r);
    }
    return `none of: ${reasons.join('; ')}`;
  }
  if ('not' in p) {
    return failsPredicate(meta, p.not) === null ? `excluded by not (${describePredicate(p.not)})` : null;
  }
  if ('atLeast' in p) {
    let passed = 0;
    for (const c of p.of) if (failsPredicate(meta, c) === null) passed++;
    return passed >= p.atLeast ? null : `only ${passed} of ${p.of.length} passed, at least ${p.atLeast} needed (${describePredicate(p)})`;
  }
  if (!Object.prototype.hasOwnProperty.call(meta, p.field)) return `no field '${p.field}'`;
  const v = meta[p.field];
  if ('eq' in p) {
    if (typeof p.eq === 'number') {
      const x = parseNumber(v);
      if (Number.isNaN(x)) return `${p.field}=${q(v)} is not a number`;
      return x === p.eq ? null : `${p.field}=${v} is not ${p.eq}`;
    }
    return v === p.eq ? null : `${p.field}=${q(v)} is not ${q(p.eq)}`;
  }
  if ('in' in p) {
    return p.in.some((t) => scalarMatches(v, t)) ? null : `${p.field}=${q(v)} not in [${p.in.map(showScalar).join(', ')}]`;
  }
  if ('range' in p) {
    const x = parseNumber(v);
    if (Number.isNaN(x)) return `${p.field}=${q(v)} is not a number`;
    const [lo, hi] = p.range;
    return (lo === null || x >= lo) && (hi === null || x <= hi) ? null : `${p.field}=${v} not in ${showRange(p.range)}`;
  }
  if ('matches' in p) {
    return regexOf(p).test(v) ? null : `${p.field}=${q(v)} does not match /${p.matches}/${p.flags ?? ''}`;
  }
  throw new UserError(`metadata predicate ${JSON.stringify(p)} has no known form`, { hint: 'use eq, in, range, matches, all, any, not or atLeast' });
}

/** The predicate as one readable line, e.g. `(model = "Camry" and year in [2007, 2011])`. */
export function describePredicate(p: Predicate): string {
  if ('all' in p) return p.all.length === 1 ? describePredicate(p.all[0]) : `(${p.all.map(describePredicate).join(' and ')})`;
  if ('any' in p) return p.any.length === 1 ? describePredicate(p.any[0]) : `(${p.any.map(describePredicate).join(' or ')})`;
  if ('not' in p) return `not ${describePredicate(p.not)}`;
  if ('atLeast' in p) return `at least ${p.atLeast} of (${p.of.map(describePredicate).join(', ')})`;
  if ('eq' in p) return `${p.field} = ${showScalar(p.eq)}`;
  if ('in' in p) return `${p.field} in {${p.in.map(showScalar).join(', ')}}`;
  if ('range' in p) return `${p.field} in ${showRange(p.range)}`;
  if ('matches' in p) return `${p.field} ~ /${p.matches}/${p.flags ?? ''}`;
  return JSON.stringify(p);
}

/** Every metadata field the predicate reads, sorted and unique (to check against a CSV header up front). */
export function predicateFields(p: Predicate): string[] {
  const out = new Set<string>();
  const walk = (x: Predicate): void => {
    if ('all' in x) x.all.forEach(walk);
    else if ('any' in x) x.any.forEach(walk);
    else if ('not' in x) walk(x.not);
    else if ('atLeast' in x) x.of.forEach(walk);
    else out.add(x.field);
  };
  walk(p);
  return [...out].sort();
}
