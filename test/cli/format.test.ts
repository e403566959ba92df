/** Query results as the terminal shows them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from '../../cli/format.js';

test('a table of 200,000 rows renders (no call-stack overflow), aligned to its widest cell', () => {
  const rows = Array.from({ length: 200_000 }, (_, i) => [i, i === 123_456 ? 'the widest cell' : 'x']);
  const lines = renderTable(['sample', 'label'], rows).split('\n');
  assert.equal(lines.length, 200_002);
  assert.equal(lines[1], `${'-'.repeat(6)}  ${'-'.repeat('the widest cell'.length)}`);
  assert.equal(lines[2], '0       x');
});

test('cells wider than 60 characters are cut with an ellipsis', () => {
  const lines = renderTable(['v'], [['y'.repeat(80)]]).split('\n');
  assert.equal(lines[2], 'y'.repeat(59) + '…');
});
