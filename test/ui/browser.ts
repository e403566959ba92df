/**
 * A headless Chromium for the UI tests (not a test file itself), driven by playwright-core with
 * the machine's own browser (Debian's chromium, provisioned by `node scripts/live-servers.mjs
 * provision --only chromium`; nothing is downloaded), a fresh profile per launch, and the
 * screenshots they save as test artifacts.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers.js';
import { findChromium, missingServer } from '../live/servers.js';

/** Chromium's flags: no sandbox (root in CI containers), no GPU, nothing that calls home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-proxy-server',
];

export interface Browser {
  page: Page;
  context: BrowserContext;
  executable: string;
  version: string;
  close(): Promise<void>;
}

/** Why no browser can be had here, or undefined when one can. */
export async function browserMissing(): Promise<string | undefined> {
  if (!findChromium()) return missingServer('chromium');
  try {
    await import('playwright-core');
  } catch (e) {
    return `skipped: playwright-core is not installed (${(e as Error).message.split('\n')[0]}); it is a devDependency: npm ci`;
  }
  return undefined;
}

export async function launchBrowser(viewport = { width: 1400, height: 900 }): Promise<Browser> {
  const executable = findChromium();
  if (!executable) throw new Error(missingServer('chromium'));
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), 'gantry-chromium-'));
  // A persistent context is how playwright takes a user-data-dir: a fresh one per launch.
  const context = await chromium.launchPersistentContext(profile, { executablePath: executable, headless: true, args: CHROMIUM_ARGS, viewport });
  context.setDefaultTimeout(30_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    page,
    context,
    executable,
    version: context.browser()?.version() ?? 'unknown',
    close: async () => {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Where screenshots go: $GANTRY_TEST_ARTIFACTS, else test-artifacts/ in the repository. */
export async function artifactsDir(): Promise<string> {
  const d = process.env.GANTRY_TEST_ARTIFACTS || 'test-artifacts';
  const dir = isAbsolute(d) ? d : resolve(REPO_ROOT, d);
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Pixels in an element's screenshot whose colour is saturated (a plotted line or marker, not the
 * white background, grey grid lines or dark text); decoded by the browser itself. A chart drawn
 * on WebGL (plotly's scattergl) has no SVG path to look for, so this is how a test sees the line.
 */
export async function saturatedPixels(page: Page, png: Buffer): Promise<number> {
  return page.evaluate(async (b64: string) => {
    // Runs in the page; the project's TypeScript has no DOM types, hence the casts.
    const w = globalThis as any;
    const img = new w.Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = w.document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d: Uint8ClampedArray = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const max = Math.max(d[i], d[i + 1], d[i + 2]);
      const min = Math.min(d[i], d[i + 1], d[i + 2]);
      if (max - min > 80) n++;
    }
    return n;
  }, png.toString('base64'));
}
