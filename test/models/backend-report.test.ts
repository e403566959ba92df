/**
 * Says, in the test log, which tfjs backend this machine's tests run on, through the same
 * selection the CLI uses (models/backend.ts: GANTRY_BACKEND, else auto): e.g.
 * `tfjs backend for tests: native (addon: avx512 GEMM, 2 threads)`, or `wasm (…why not native)`.
 * CI logs show it in the test's name, so a run that silently fell back to wasm is visible.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../models/backend.js';
import { loadAddon } from '../../native/addon.js';

const choice = await selectBackend();
const { addon, reason } = loadAddon();
const addonText = addon
  ? (() => {
      const i = addon.info();
      return `addon: ${i.isa} GEMM, ${i.threads} threads`;
    })()
  : `native addon unavailable: ${reason}`;
const forced = process.env.GANTRY_BACKEND?.trim() ? `, forced by GANTRY_BACKEND=${process.env.GANTRY_BACKEND.trim()}` : '';
const line = `tfjs backend for tests: ${choice.name} (${addonText}${forced})`;
console.log(line);

test(line, () => {
  // Where the addon built, auto-selection must pick it (unless tfjs-node is installed, which ranks first).
  if (addon && !forced && choice.name !== 'tensorflow') assert.equal(choice.name, 'native');
  if (!addon) assert.notEqual(choice.name, 'native');
});
