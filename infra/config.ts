/** Settings from the environment, validated once. */
import { resolve } from 'node:path';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { LocalStore } from './store/local.js';
import { S3Store } from './store/s3.js';
import type { ArtifactStore } from './store/store.js';

/** The tfjs compute backends a user can ask for (models/backend.ts selects among them). */
export const BACKEND_NAMES = ['tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

const envSchema = z.object({
  GANTRY_HOME: z.string().min(1).default('.gantry'),
  /** Where artifacts live: a directory (default $GANTRY_HOME/store). */
  GANTRY_STORE: z.string().min(1).optional(),
  /** Where the DuckDB catalog lives (default $GANTRY_HOME/catalog.duckdb). */
  GANTRY_CATALOG: z.string().min(1).optional(),
  GANTRY_BACKEND: z.enum(BACKEND_NAMES).optional(),
});

export interface GantryConfig {
  home: string;
  storeUrl: string;
  catalogPath: string;
  backend?: BackendName;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GantryConfig {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UserError(`invalid environment variable ${String(i.path[0])}: ${i.message}`);
  }
  const home = resolve(r.data.GANTRY_HOME);
  return {
    home,
    storeUrl: r.data.GANTRY_STORE ?? resolve(home, 'store'),
    catalogPath: resolve(r.data.GANTRY_CATALOG ?? resolve(home, 'catalog.duckdb')),
    backend: r.data.GANTRY_BACKEND,
  };
}

/**
 * The store at a URL: a directory path or file://… (local), or s3://bucket/prefix. `store.url`
 * opens the same store again (worker threads rely on it); S3 settings other than the location
 * come from the environment, which workers share.
 */
export function openStore(url: string): ArtifactStore {
  if (/^s3:\/\//i.test(url)) return new S3Store(url); // loads the AWS SDK only on first use
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('file://')) {
    throw new UserError(`unsupported store '${url.replace(/\/\/[^@/]*@/, '//***@')}'`, { hint: 'use a directory path or s3://bucket/prefix' });
  }
  return new LocalStore(resolve(url.replace(/^file:\/\//, '')));
}
