import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predicateSpec, failsPredicate, describePredicate, predicateFields, type Predicate } from '../../datasets/predicates.js';
import { isUserError } from '../../core/errors.js';

const car = { make: 'Toyota', model: 'Camry', year: '2009', colour: 'Silver', view: 'exterior', fbumper: '1', bonnet: '1', grille: '0', lheadlamp: '1', price: '' };

test('eq: numbers parsed from strings, strings exact', () => {
  assert.equal(failsPredicate(car, { field: 'year', eq: 2009 }), null);
  assert.equal(failsPredicate({ year: ' 2009.0 ' }, { field: 'year', eq: 2009 }), null);
  assert.equal(failsPredicate(car, { field: 'year', eq: 2010 }), 'year=2009 is not 2010');
  assert.equal(failsPredicate(car, { field: 'model', eq: 'Camry' }), null);
  assert.equal(failsPredicate(car, { field: 'colour', eq: 'silver' }), 'colour="Silver" is not "silver"');
  // A string target compares as text: "2009.0" is not "2009".
  assert.equal(failsPredicate({ year: '2009.0' }, { field: 'year', eq: '2009' }), 'year="2009.0" is not "2009"');
  assert.equal(failsPredicate(car, { field: 'model', eq: 3 }), 'model="Camry" is not a number');
  assert.equal(failsPredicate(car, { field: 'price', eq: 0 }), 'price="" is not a number');
});

test('in: mixed numbers and strings', () => {
  assert.equal(failsPredicate(car, { field: 'colour', in: ['Grey', 'Silver'] }), null);
  assert.equal(failsPredicate(car, { field: 'year', in: [2007, 2009] }), null);
  assert.equal(failsPredicate(car, { field: 'year', in: [2007, '2008'] }), 'year="2009" not in [2007, "2008"]');
});

test('range: inclusive, open ends, non-numbers', () => {
  assert.equal(failsPredicate(car, { field: 'year', range: [2007, 2011] }), null);
  assert.equal(failsPredicate(car, { field: 'year', range: [2009, 2009] }), null);
  assert.equal(failsPredicate({ year: '1998' }, { field: 'year', range: [2000, 2010] }), 'year=1998 not in [2000, 2010]');
  assert.equal(failsPredicate({ year: '2011' }, { field: 'year', range: [null, 2010] }), 'year=2011 not in (-∞, 2010]');
  assert.equal(failsPredicate({ year: '1e4' }, { field: 'year', range: [2000, null] }), null);
  assert.equal(failsPredicate({ year: 'n/a' }, { field: 'year', range: [2000, null] }), 'year="n/a" is not a number');
});

test('matches: regular expression searched in the value, optional flags', () => {
  assert.equal(failsPredicate(car, { field: 'model', matches: '^Cam' }), null);
  assert.equal(failsPredicate(car, { field: 'colour', matches: '^silver$' }), 'colour="Silver" does not match /^silver$/');
  assert.equal(failsPredicate(car, { field: 'colour', matches: '^silver$', flags: 'i' }), null);
  assert.equal(failsPredicate(car, { field: 'view', matches: 'ter' }), null);
});

test('missing field: reason names it', () => {
  assert.equal(failsPredicate(car, { field: 'body', eq: 'sedan' }), "no field 'body'");
  assert.equal(failsPredicate(car, { field: 'mileage', range: [0, 1e5] }), "no field 'mileage'");
  // Inherited object keys are not fields.
  assert.equal(failsPredicate({}, { field: 'toString', eq: 'x' }), "no field 'toString'");
});

test('nested all / any / not / atLeast (the car-photo filter)', () => {
  const parts = ['fbumper', 'bonnet', 'grille', 'lheadlamp'].map((f): Predicate => ({ field: f, eq: 1 }));
  const p: Predicate = {
    all: [
      { field: 'make', eq: 'Toyota' },
      { field: 'model', eq: 'Camry' },
      { field: 'year', range: [2007, 2011] },
      { any: [{ field: 'colour', eq: 'Silver' }, { field: 'colour', eq: 'silver' }] },
      { not: { field: 'view', in: ['interior', 'concealed'] } },
      { atLeast: 3, of: parts },
    ],
  };
  assert.deepEqual(predicateSpec.parse(p), p);
  assert.equal(failsPredicate(car, p), null);
  // all: the first failing part's reason.
  assert.equal(failsPredicate({ ...car, year: '2005', colour: 'Red' }, p), 'year=2005 not in [2007, 2011]');
  assert.equal(failsPredicate({ ...car, colour: 'Red' }, p), 'none of: colour="Red" is not "Silver"; colour="Red" is not "silver"');
  assert.equal(failsPredicate({ ...car, view: 'interior' }, p), 'excluded by not (view in {"interior", "concealed"})');
  assert.match(failsPredicate({ ...car, bonnet: '0' }, p) ?? '', /^only 2 of 4 passed, at least 3 needed/);
  // not of a missing field passes (logic), which is why predicateFields exists.
  assert.equal(failsPredicate({}, { not: { field: 'view', eq: 'interior' } }), null);
  assert.equal(failsPredicate({ a: '1' }, { not: { not: { field: 'a', eq: 1 } } }), null);
  assert.deepEqual(predicateFields(p), ['bonnet', 'colour', 'fbumper', 'grille', 'lheadlamp', 'make', 'model', 'view', 'year'].sort());
});

test('describePredicate', () => {
  assert.equal(
    describePredicate({ all: [{ field: 'model', eq: 'Camry' }, { field: 'year', range: [2007, null] }, { not: { field: 'n', in: [1, 'x'] } }] }),
    '(model = "Camry" and year in [2007, ∞) and not n in {1, "x"})',
  );
  assert.equal(describePredicate({ any: [{ field: 'c', matches: '^s', flags: 'i' }, { field: 'y', eq: 3 }] }), '(c ~ /^s/i or y = 3)');
  assert.equal(describePredicate({ atLeast: 1, of: [{ field: 'a', eq: 1 }] }), 'at least 1 of (a = 1)');
});

test('zod rejects malformed specs', () => {
  const bad: unknown[] = [
    {},
    { field: 'year' },
    { field: '', eq: 1 },
    { field: 'year', eq: true },
    { field: 'year', eq: 1, range: [0, 1] }, // two forms at once
    { field: 'year', in: [] },
    { field: 'year', range: [2011, 2007] },
    { field: 'year', range: [null, null] },
    { field: 'year', range: [1] },
    { field: 'model', matches: '(' },
    { field: 'model', matches: 'a', flags: 'g' },
    { all: [] },
    { any: [{ field: 'x' }] },
    { not: [{ field: 'x', eq: 1 }] },
    { atLeast: 3, of: [{ field: 'x', eq: 1 }] },
    { atLeast: 1.5, of: [{ field: 'x', eq: 1 }, { field: 'y', eq: 1 }] },
    { all: [{ field: 'x', eq: 1 }], any: [{ field: 'x', eq: 1 }] },
  ];
  for (const b of bad) assert.equal(predicateSpec.safeParse(b).success, false, JSON.stringify(b));
  assert.equal(predicateSpec.safeParse({ not: { all: [{ field: 'x', range: [0, null] }] } }).success, true);
  // Not validated through zod: a bad regex still fails as a UserError, not a crash.
  assert.throws(() => failsPredicate({ m: 'a' }, { field: 'm', matches: '(' }), isUserError);
});
