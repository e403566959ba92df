/**
 * Workflow code is deterministic and bundles with the Temporal SDK's bundler (webpack, as a
 * worker does at start), offline: no server needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { bundleWorkflows, WORKFLOWS_PATH } from '../../executors/temporal/worker.js';
import { STUDY_WORKFLOW, TRIAL_WORKFLOW } from '../../workflows/temporal/types.js';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runtime imports of a compiled ES module (type-only imports are gone after compilation). */
function importsOf(code: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[;\s])(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of code.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** Every compiled module reachable from the workflow entry point, with its bare imports. */
async function workflowModuleGraph(): Promise<{ files: string[]; bare: Map<string, string> }> {
  const files = new Set<string>();
  const bare = new Map<string, string>();
  const visit = async (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of importsOf(await readFile(file, 'utf8'))) {
      if (spec.startsWith('.')) await visit(resolve(dirname(file), spec));
      else bare.set(spec, relative(DIST, file));
    }
  };
  await visit(WORKFLOWS_PATH);
  return { files: [...files].map((f) => relative(DIST, f)), bare };
}

test('the workflow code bundles with the SDK bundler, and the bundle holds both workflows', { timeout: 120_000 }, async () => {
  const bundle = await bundleWorkflows();
  assert.ok(bundle.code.length > 10_000);
  assert.match(bundle.code, /gantryStudy/);
  assert.match(bundle.code, /gantryTrial/);
  const mod = (await import(WORKFLOWS_PATH)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(mod).sort(), [STUDY_WORKFLOW, TRIAL_WORKFLOW].sort(), 'workflow type names are the exported functions');
});

test('workflow modules import only @temporalio/workflow and other workflow modules: no Node built-ins, no infra, no activities', async () => {
  const { files, bare } = await workflowModuleGraph();
  assert.ok(files.some((f) => f.endsWith(join('workflows', 'trial.js'))), 'the Temporal trial reuses workflows/trial.ts');
  for (const f of files) assert.ok(f.startsWith(`workflows${sep}`), `${f} is reachable from workflow code`);
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  for (const [spec, from] of bare) {
    assert.ok(!builtins.has(spec) && !spec.startsWith('node:'), `${from} imports the Node built-in ${spec}`);
    assert.equal(spec, '@temporalio/workflow', `${from} imports ${spec}`);
  }
});

test('workflow modules use no clock, randomness, timers or process state of their own', async () => {
  const { files } = await workflowModuleGraph();
  for (const f of files) {
    const code = (await readFile(join(DIST, f), 'utf8')).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const bad of [/\bDate\.now\(/, /\bnew Date\(/, /\bMath\.random\(/, /\bsetTimeout\(/, /\bsetInterval\(/, /\bprocess\./, /\bcrypto\b/, /\bperformance\./]) {
      assert.ok(!bad.test(code), `${f} uses ${bad.source}`);
    }
  }
});

test('the bundler rejects workflow code that imports a Node built-in (the check above is real)', { timeout: 120_000 }, async () => {
  // Beside the compiled workflows, so that @temporalio/workflow resolves as it does for them.
  const dir = await mkdtemp(join(dirname(WORKFLOWS_PATH), 'tmp-bad-'));
  try {
    const file = join(dir, 'bad.js');
    await writeFile(file, "import { readFileSync } from 'fs';\nexport async function bad() { return readFileSync('/etc/hostname', 'utf8'); }\n");
    const said: string[] = [];
    const keep = (m: string, meta?: unknown) => void said.push(m + ' ' + JSON.stringify(meta ?? ''));
    const err = await bundleWorkflowCode({ workflowsPath: file, logger: { log: (_l, m, meta) => keep(m, meta), trace() {}, debug() {}, info() {}, warn: keep, error: keep } }).then(
      () => assert.fail('bundled a workflow that reads files'),
      (e: Error) => e,
    );
    assert.match(`${err.message}\n${said.join('\n')}`, /disallowed modules[\s\S]*\bfs\b/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
