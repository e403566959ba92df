import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyClassProtocol, classProtocolSpec, type ClassProtocol } from '../../datasets/classes.js';
import { isUserError, UserError } from '../../core/errors.js';

// Three object classes (layout flags all false), plus one labelled defect of 'cat'.
const items = [
  { cls: 'cat', anomalous: false },
  { cls: 'dog', anomalous: false },
  { cls: 'car', anomalous: false },
  { cls: 'cat', anomalous: true },
  { cls: 'dog', anomalous: false },
];
const roles = (p: ClassProtocol) => applyClassProtocol(items, p).map((r) => r.role);

test('as-labelled keeps the layout flags', () => {
  assert.deepEqual(roles({ kind: 'as-labelled' }), ['normal', 'normal', 'normal', 'anomalous', 'normal']);
});

test('one-class: one class normal, every other anomalous; a labelled defect stays anomalous', () => {
  assert.deepEqual(roles({ kind: 'one-class', normal: 'dog' }), ['anomalous', 'normal', 'anomalous', 'anomalous', 'normal']);
  assert.deepEqual(roles({ kind: 'one-class', normal: 'cat' }), ['normal', 'anomalous', 'anomalous', 'anomalous', 'anomalous']);
});

test('leave-one-out: every class normal but one', () => {
  assert.deepEqual(roles({ kind: 'leave-one-out', anomalous: 'car' }), ['normal', 'normal', 'anomalous', 'anomalous', 'normal']);
  assert.deepEqual(roles({ kind: 'leave-one-out', anomalous: 'dog' }), ['normal', 'anomalous', 'normal', 'anomalous', 'anomalous']);
});

test('multi-normal: several normal classes', () => {
  assert.deepEqual(roles({ kind: 'multi-normal', normal: ['cat', 'car'] }), ['normal', 'anomalous', 'normal', 'anomalous', 'anomalous']);
});

test('select: keeps only the named classes, drops the rest with a reason', () => {
  const out = applyClassProtocol(items, { kind: 'select', normal: ['dog'], anomalous: ['car'] });
  assert.deepEqual(out, [
    { role: 'dropped', reason: "class 'cat' is not selected" },
    { role: 'normal' },
    { role: 'anomalous' },
    { role: 'dropped', reason: "class 'cat' is not selected" },
    { role: 'normal' },
  ]);
  assert.deepEqual(applyClassProtocol(items, { kind: 'select', normal: ['cat'], anomalous: [] }).map((r) => r.role), ['normal', 'dropped', 'dropped', 'anomalous', 'dropped']);
});

test('unknown class → UserError listing the classes found', () => {
  const check = (p: ClassProtocol, missing: RegExp) =>
    assert.throws(
      () => applyClassProtocol(items, p),
      (e: unknown) => {
        assert.ok(isUserError(e) && e instanceof UserError);
        assert.match((e as Error).message, missing);
        assert.match((e as Error).message, /classes found: car, cat, dog$/);
        return true;
      },
    );
  check({ kind: 'one-class', normal: 'horse' }, /'horse'/);
  check({ kind: 'leave-one-out', anomalous: 'Cat' }, /'Cat'/);
  check({ kind: 'multi-normal', normal: ['cat', 'bird', 'fish'] }, /'bird', 'fish'/);
  check({ kind: 'select', normal: ['dog'], anomalous: ['truck'] }, /'truck'/);
  assert.throws(() => applyClassProtocol([], { kind: 'one-class', normal: 'x' }), /classes found: \(none\)/);
  // Long class lists are shortened.
  const many = Array.from({ length: 100 }, (_, i) => ({ cls: `obj${String(i).padStart(3, '0')}`, anomalous: false }));
  assert.throws(() => applyClassProtocol(many, { kind: 'one-class', normal: 'obj100' }), /obj039, … \(100 in all\)/);
  // 'as-labelled' names no class: fine on any data.
  assert.deepEqual(applyClassProtocol([], { kind: 'as-labelled' }), []);
});

test('zod: accepts each protocol, rejects malformed ones', () => {
  const good: ClassProtocol[] = [
    { kind: 'as-labelled' },
    { kind: 'one-class', normal: '3' },
    { kind: 'leave-one-out', anomalous: 'obj1' },
    { kind: 'multi-normal', normal: ['a', 'b'] },
    { kind: 'select', normal: ['a'], anomalous: ['b', 'c'] },
  ];
  for (const g of good) assert.deepEqual(classProtocolSpec.parse(g), g);
  const bad: unknown[] = [
    { kind: 'one-class' },
    { kind: 'one-class', normal: 3 },
    { kind: 'one-class', normal: '' },
    { kind: 'one-class', normal: 'a', extra: 1 },
    { kind: 'multi-normal', normal: [] },
    { kind: 'multi-normal', normal: ['a', 'a'] },
    { kind: 'select', normal: ['a'], anomalous: ['a'] },
    { kind: 'select', normal: [], anomalous: ['a'] },
    { kind: 'leave-two-out', anomalous: 'a' },
  ];
  for (const b of bad) assert.equal(classProtocolSpec.safeParse(b).success, false, JSON.stringify(b));
});
