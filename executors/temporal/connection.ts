/**
 * Temporal connection settings: from the environment (the Temporal CLI's own variable names) and
 * command-line flags, validated with zod before anything connects. Secrets (the API key, the TLS
 * key) never appear in messages: `describeSettings` says only whether they are set.
 *
 *   TEMPORAL_ADDRESS          host:port of the frontend (default localhost:7233)
 *   TEMPORAL_NAMESPACE        namespace (default 'default')
 *   TEMPORAL_TLS              true/false: force TLS on or off (on when a certificate, CA or API key is set)
 *   TEMPORAL_TLS_CERT, _KEY   paths of the client certificate and its private key (mTLS)
 *   TEMPORAL_TLS_CA           path of a CA certificate for the server (default: system roots)
 *   TEMPORAL_TLS_SERVER_NAME  server name to verify (SNI override)
 *   TEMPORAL_API_KEY          API key (Temporal Cloud), sent as a bearer token
 *   GANTRY_TASK_QUEUE         base name of gantry's task queues (default 'gantry': gantry, gantry-gpu, gantry-catalog)
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { Client, Connection } from '@temporalio/client';
import { UserError } from '../../core/errors.js';
import { taskQueues } from '../../workflows/temporal/options.js';
import type { TaskQueues } from '../../workflows/temporal/types.js';

export interface TemporalFlags {
  address?: string;
  namespace?: string;
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
  apiKey?: string;
  taskQueue?: string;
}

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** undefined: plain connection. */
  tls?: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
  apiKey?: string;
  /** Base name of the task queues. */
  taskQueue: string;
  queues: TaskQueues;
}

const flagName: Record<string, string> = {
  address: 'TEMPORAL_ADDRESS (--address)',
  namespace: 'TEMPORAL_NAMESPACE (--namespace)',
  tls: 'TEMPORAL_TLS',
  certPath: 'TEMPORAL_TLS_CERT (--tls-cert)',
  keyPath: 'TEMPORAL_TLS_KEY (--tls-key)',
  caPath: 'TEMPORAL_TLS_CA (--tls-ca)',
  serverName: 'TEMPORAL_TLS_SERVER_NAME',
  apiKey: 'TEMPORAL_API_KEY (--api-key)',
  taskQueue: 'GANTRY_TASK_QUEUE (--task-queue-base)',
};

const envSchema = z.object({
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().optional(),
  TEMPORAL_TLS: z.string().optional(),
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  TEMPORAL_TLS_CA: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
  GANTRY_TASK_QUEUE: z.string().optional(),
});

const nonEmpty = (s: string | undefined) => (s === undefined || s.trim() === '' ? undefined : s.trim());

const settingsSchema = z
  .object({
    address: z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\d{1,5}$/, 'expected host:port, e.g. localhost:7233'),
    namespace: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'letters, digits, . _ - only'),
    tls: z.boolean().optional(),
    certPath: z.string().optional(),
    keyPath: z.string().optional(),
    caPath: z.string().optional(),
    serverName: z.string().regex(/^[A-Za-z0-9.-]+$/, 'expected a host name').optional(),
    // Never echo the key: only its shape is checked, with a message that does not quote it.
    apiKey: z.string().refine((k) => !/\s/.test(k), 'must not contain whitespace').optional(),
    taskQueue: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$/, 'letters, digits, . _ - only'),
  })
  .superRefine((s, ctx) => {
    if (!!s.certPath !== !!s.keyPath) ctx.addIssue({ code: 'custom', path: [s.certPath ? 'keyPath' : 'certPath'], message: 'a client certificate needs its key and a key its certificate' });
    if (s.tls === false && (s.certPath || s.caPath)) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'TLS is off but a certificate is set' });
  });

function parseBool(v: string | undefined, name: string): boolean | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(v.trim())) return true;
  if (/^(0|false|no|off)$/i.test(v.trim())) return false;
  throw new UserError(`invalid ${name}: expected true or false`);
}

/** Settings from the environment and flags (flags win), validated; a bad value is a UserError naming it. */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env, flags: TemporalFlags = {}): TemporalSettings {
  const e = envSchema.parse(env);
  const raw = {
    address: nonEmpty(flags.address) ?? nonEmpty(e.TEMPORAL_ADDRESS) ?? 'localhost:7233',
    namespace: nonEmpty(flags.namespace) ?? nonEmpty(e.TEMPORAL_NAMESPACE) ?? 'default',
    tls: flags.tls ?? parseBool(e.TEMPORAL_TLS, 'TEMPORAL_TLS'),
    certPath: nonEmpty(flags.tlsCert) ?? nonEmpty(e.TEMPORAL_TLS_CERT),
    keyPath: nonEmpty(flags.tlsKey) ?? nonEmpty(e.TEMPORAL_TLS_KEY),
    caPath: nonEmpty(flags.tlsCa) ?? nonEmpty(e.TEMPORAL_TLS_CA),
    serverName: nonEmpty(flags.tlsServerName) ?? nonEmpty(e.TEMPORAL_TLS_SERVER_NAME),
    apiKey: nonEmpty(flags.apiKey) ?? nonEmpty(e.TEMPORAL_API_KEY),
    taskQueue: nonEmpty(flags.taskQueue) ?? nonEmpty(e.GANTRY_TASK_QUEUE) ?? 'gantry',
  };
  const r = settingsSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${flagName[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`);
    throw new UserError(`invalid Temporal settings: ${problems.join('; ')}`);
  }
  const s = r.data;
  const tlsOn = s.tls ?? !!(s.certPath || s.caPath || s.serverName || s.apiKey);
  return {
    address: s.address,
    namespace: s.namespace,
    ...(tlsOn ? { tls: { certPath: s.certPath, keyPath: s.keyPath, caPath: s.caPath, serverName: s.serverName } } : {}),
    ...(s.apiKey ? { apiKey: s.apiKey } : {}),
    taskQueue: s.taskQueue,
    queues: taskQueues(s.taskQueue),
  };
}

/** One line for logs and status output: never the API key or key material. */
export function describeSettings(s: TemporalSettings): string {
  const parts = [`${s.address}`, `namespace ${s.namespace}`];
  if (s.tls) parts.push(s.tls.certPath ? 'TLS with client certificate' : 'TLS');
  if (s.apiKey) parts.push('API key set');
  return parts.join(', ');
}

export interface TlsMaterial {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

/** The TLS option for the SDK's connections: undefined (plain), or certificates read from their files. */
export async function tlsOption(s: TemporalSettings): Promise<TlsMaterial | undefined> {
  if (!s.tls) return undefined;
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path);
    } catch (e) {
      throw new UserError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { hint: 'check the TEMPORAL_TLS_* paths' });
    }
  };
  const out: TlsMaterial = {};
  if (s.tls.serverName) out.serverNameOverride = s.tls.serverName;
  if (s.tls.caPath) out.serverRootCACertificate = await read(s.tls.caPath, 'TLS CA certificate (TEMPORAL_TLS_CA)');
  if (s.tls.certPath && s.tls.keyPath) {
    out.clientCertPair = { crt: await read(s.tls.certPath, 'TLS client certificate (TEMPORAL_TLS_CERT)'), key: await read(s.tls.keyPath, 'TLS client key (TEMPORAL_TLS_KEY)') };
  }
  return out;
}

/** A connection error for the user: where, and what to do; gRPC details only with --verbose (cause). */
export function unreachable(s: TemporalSettings, e: unknown): UserError {
  const raw = String((e as Error)?.message ?? e);
  const msg = /connection ?refused/i.test(raw)
    ? 'connection refused'
    : /dns|lookup|resolve/i.test(raw)
      ? 'unknown host'
      : /timed? ?out|deadline/i.test(raw)
        ? 'no answer before the deadline (is a server running there?)'
        : /certificate|tls|handshake/i.test(raw)
          ? `TLS handshake failed (${raw.split('\n')[0].slice(0, 160)})`
          : raw.split('\n')[0].slice(0, 200);
  return new UserError(`cannot reach Temporal at ${s.address} (namespace ${s.namespace}): ${msg}`, {
    hint: 'start a server (temporal server start-dev, or deploy/docker-compose.yml) or set TEMPORAL_ADDRESS',
    cause: e,
  });
}

export interface ConnectedClient {
  client: Client;
  close(): Promise<void>;
}

export async function connectClient(s: TemporalSettings): Promise<ConnectedClient> {
  const tls = await tlsOption(s);
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: s.address, tls: tls ?? (s.tls ? true : undefined), apiKey: s.apiKey, connectTimeout: '10 seconds' });
  } catch (e) {
    throw unreachable(s, e);
  }
  return { client: new Client({ connection, namespace: s.namespace }), close: () => connection.close() };
}

/** Settings or an already connected client: what the client functions accept. */
export type TemporalTarget = TemporalSettings | { client: Client; settings: TemporalSettings };

/** Run `fn` with a client: the given one, or a fresh connection closed afterwards. */
export async function withClient<T>(target: TemporalTarget, fn: (client: Client, s: TemporalSettings) => Promise<T>): Promise<T> {
  if ('client' in target) return fn(target.client, target.settings);
  const c = await connectClient(target);
  try {
    return await fn(c.client, target);
  } finally {
    await c.close().catch(() => {});
  }
}
