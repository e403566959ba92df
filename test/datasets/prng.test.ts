import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../datasets/prng.js';
test('prng', () => { const a = new Prng(1); const s = a.state(); const x = a.normal(); assert.equal(Prng.fromState(s).normal(), x); });
