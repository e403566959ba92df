/**
 * A real S3-compatible server for tests: s3rver on 127.0.0.1 with a random port, plus the few
 * things s3rver lacks that the tests rely on:
 * - SigV4 signature checks (s3rver only checks that the access key id exists), so a wrong
 *   secret gets S3's own SignatureDoesNotMatch;
 * - ListMultipartUploads and AbortMultipartUpload, on s3rver's own on-disk layout of uploads;
 * - ListObjectsV2 continuation tokens (s3rver makes them with DES, which OpenSSL 3 no longer has:
 *   a second page is a 500), by serving V2 listings through its V1 listing (marker = last key);
 * - request hooks: a log of every request, and holding requests unanswered (a server dying mid-upload).
 * Also tiny fault servers: one that accepts and never answers, one that answers every request
 * with a fixed 5xx. Used by the S3 store tests; reusable by any test that needs S3.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** s3rver's built-in account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

// s3rver ships no types: the part of its (Koa) surface used here.
interface KoaContext {
  req: IncomingMessage;
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  querystring: string;
  body: unknown;
  type: string;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverInstance {
  middleware: Middleware[];
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: HttpServer;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

export interface S3TestRequest {
  method: string;
  /** The raw path, e.g. /bucket/pre/fix/key. */
  path: string;
  query: Record<string, string | string[] | undefined>;
}

export interface S3TestServerOptions {
  /** Buckets created at start (default ['gantry-test']). */
  buckets?: string[];
  /** Where s3rver keeps its files (default a new temporary directory). */
  directory?: string;
  /** Default: a free one. */
  port?: number;
  /** Check SigV4 signatures against s3rver's secret (default true). */
  verifySignatures?: boolean;
}

export class S3TestServer {
  /** Every request received, in order (fault tests count retries with it). */
  readonly requests: S3TestRequest[] = [];
  private server?: S3rverInstance;
  private holds: { match: (r: S3TestRequest) => boolean; reached: (r: S3TestRequest) => void }[] = [];
  private listeners: ((r: S3TestRequest) => void)[] = [];
  private faults: { match: (r: S3TestRequest) => boolean; status: number; code: string }[] = [];
  private release: () => void = () => {};
  private released = Promise.resolve();

  private constructor(readonly directory: string, public port: number, readonly buckets: string[], private readonly verify: boolean) {}

  static async start(opts: S3TestServerOptions = {}): Promise<S3TestServer> {
    const dir = opts.directory ?? (await mkdtemp(join(tmpdir(), 'gantry-s3rver-')));
    const s = new S3TestServer(dir, opts.port ?? 0, opts.buckets ?? ['gantry-test'], opts.verifySignatures ?? true);
    await s.listen();
    return s;
  }

  get bucket(): string {
    return this.buckets[0];
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** S3Store options for this server. */
  storeOptions(): { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } } {
    return { endpoint: this.endpoint, region: 'us-east-1', credentials: { ...S3RVER_CREDENTIALS } };
  }

  /** Environment for a gantry process (the CLI, worker threads) using this server as its store. */
  env(prefix = 'gantry'): Record<string, string> {
    return {
      GANTRY_STORE: `s3://${this.bucket}/${prefix}`,
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  }

  /** Resolves with the first request matching `match`; it and later matches stay unanswered until stop(). */
  holdRequests(match: (r: S3TestRequest) => boolean): Promise<S3TestRequest> {
    return new Promise((reached) => this.holds.push({ match, reached }));
  }

  /** Call `listener` on every request as it arrives (before it is answered); returns a remover. */
  onRequest(listener: (r: S3TestRequest) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Answer matching requests with an S3 error (e.g. 500 InternalError) until the returned function is called. */
  failRequests(match: (r: S3TestRequest) => boolean, status = 500, code = 'InternalError'): () => void {
    const fault = { match, status, code };
    this.faults.push(fault);
    return () => {
      this.faults = this.faults.filter((f) => f !== fault);
    };
  }

  /** Stop at once, like a crashed server: open connections are cut, held requests dropped. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.httpServer?.closeAllConnections();
    this.release();
    await server.close();
    this.holds = [];
  }

  /** A new server on the same directory and port (its objects and uploads survive). */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  /** Multipart uploads in progress, read from s3rver's files. */
  async pendingUploads(bucket = this.bucket): Promise<{ key: string; uploadId: string }[]> {
    const root = join(this.directory, bucket, '._S3rver_uploads');
    const ids = await readdir(root).catch(() => [] as string[]);
    return Promise.all(ids.map(async (uploadId) => ({ uploadId, key: await readFile(join(root, uploadId, 'key'), 'utf8') })));
  }

  /** Remove the server's files (after stop). */
  async removeFiles(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }

  private async listen(): Promise<void> {
    const server = new S3rver({
      port: this.port,
      address: '127.0.0.1',
      silent: true,
      directory: this.directory,
      configureBuckets: this.buckets.map((name) => ({ name })),
      vhostBuckets: false,
    });
    this.released = new Promise((r) => (this.release = r));
    // Ahead of s3rver's own middleware, last-added first.
    server.middleware.unshift(this.multipartShim());
    server.middleware.unshift(listV2Shim);
    if (this.verify) server.middleware.unshift(signatureCheck);
    server.middleware.unshift(this.hooks());
    const addr = await server.run();
    this.port = addr.port;
    this.server = server;
  }

  private hooks(): Middleware {
    return async (ctx, next) => {
      const r: S3TestRequest = { method: ctx.method, path: ctx.path, query: { ...ctx.query } };
      this.requests.push(r);
      for (const l of this.listeners) l(r);
      const held = this.holds.filter((h) => h.match(r));
      if (held.length) {
        for (const h of held) h.reached(r);
        await this.released;
        throw new Error('server stopped');
      }
      const fault = this.faults.find((f) => f.match(r));
      if (fault) {
        ctx.req.resume();
        return s3Error(ctx, fault.status, fault.code, 'injected by the test');
      }
      await next();
    };
  }

  private multipartShim(): Middleware {
    return async (ctx, next) => {
      const [bucket, ...rest] = ctx.path.replace(/^\//, '').split('/');
      const key = decodeURIComponent(rest.join('/'));
      const uploads = join(this.directory, bucket ?? '', '._S3rver_uploads');
      if (ctx.method === 'GET' && bucket && !key && 'uploads' in ctx.query) {
        const prefix = String(ctx.query.prefix ?? '');
        const found = [];
        for (const id of await readdir(uploads).catch(() => [] as string[])) {
          const k = await readFile(join(uploads, id, 'key'), 'utf8').catch(() => undefined);
          if (k === undefined || !k.startsWith(prefix)) continue;
          const initiated = (await stat(join(uploads, id, 'key'))).mtime.toISOString();
          found.push(`<Upload><Key>${xml(k)}</Key><UploadId>${id}</UploadId><Initiated>${initiated}</Initiated></Upload>`);
        }
        ctx.type = 'application/xml';
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${xml(bucket)}</Bucket><Prefix>${xml(prefix)}</Prefix><IsTruncated>false</IsTruncated>${found.join('')}</ListMultipartUploadsResult>`;
        return;
      }
      if (ctx.method === 'DELETE' && bucket && key && typeof ctx.query.uploadId === 'string') {
        const dir = join(uploads, ctx.query.uploadId.replace(/[^0-9a-f]/gi, ''));
        const owner = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
        if (owner !== key) return s3Error(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist.');
        await rm(dir, { recursive: true, force: true });
        ctx.status = 204;
        return;
      }
      await next();
    };
  }
}

/** ListObjectsV2 through s3rver's V1 listing: the continuation token is the last key, base64url. */
const listV2Shim: Middleware = async (ctx, next) => {
  const bucketOnly = /^\/[^/]+\/?$/.test(ctx.path);
  if (ctx.method !== 'GET' || !bucketOnly || ctx.query['list-type'] !== '2') return next();
  const q = new URLSearchParams(ctx.querystring);
  const token = q.get('continuation-token');
  const marker = token !== null ? Buffer.from(token, 'base64url').toString('utf8') : q.get('start-after');
  for (const k of ['list-type', 'continuation-token', 'start-after', 'fetch-owner']) q.delete(k);
  if (marker) q.set('marker', marker);
  ctx.querystring = q.toString();
  await next();
  if (typeof ctx.body !== 'string' || !ctx.body.includes('<IsTruncated>true</IsTruncated>')) return;
  const keys = [...ctx.body.matchAll(/<Key>([^<]*)<\/Key>/g)];
  const last = keys.length ? unxml(keys[keys.length - 1][1]) : '';
  ctx.body = ctx.body.replace('</ListBucketResult>', `<NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken><KeyCount>${keys.length}</KeyCount></ListBucketResult>`);
};

function unxml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#(\d+)|#x([0-9a-f]+));/gi, (m, name: string, dec?: string, hex?: string) =>
    dec ? String.fromCharCode(Number(dec)) : hex ? String.fromCharCode(parseInt(hex, 16)) : ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[name.toLowerCase()] ?? m,
  );
}

function xml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function s3Error(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = ctx.method === 'HEAD' ? '' : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message></Error>`;
}

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** SigV4 header-auth check against s3rver's secret; other schemes and unknown keys are left to s3rver. */
const signatureCheck: Middleware = async (ctx, next) => {
  const auth = ctx.req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m || m[1] !== S3RVER_CREDENTIALS.accessKeyId) return next();
  const [, , date, region, service, signed, signature] = m;
  const url = ctx.req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = (q < 0 ? '' : url.slice(q + 1))
    .split('&')
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      return [rfc3986(decodeURIComponent(i < 0 ? p : p.slice(0, i))), rfc3986(decodeURIComponent(i < 0 ? '' : p.slice(i + 1)))] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = signed
    .split(';')
    .map((h) => `${h}:${String(ctx.req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payload = String(ctx.req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD');
  const canonical = [ctx.method, rawPath, query, headers, signed, payload].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', String(ctx.req.headers['x-amz-date'] ?? ''), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${S3RVER_CREDENTIALS.secretAccessKey}`, date), region), service), 'aws4_request');
  if (hmac(key, toSign).toString('hex') !== signature) {
    ctx.req.resume(); // drain an upload's body so the client reads the answer
    return s3Error(ctx, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
  await next();
};

/** A TCP server that accepts connections and never answers (a hung endpoint). Counts connections. */
export async function startBlackholeServer(): Promise<{ endpoint: string; connections: () => number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: TcpServer = createTcpServer((s) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.resume(); // read and ignore
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => count,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** An HTTP server answering every request with `status` and an S3-style error body. Counts requests. */
export async function startErrorServer(status = 503, code = 'ServiceUnavailable'): Promise<{ endpoint: string; requests: () => number; stop: () => Promise<void> }> {
  let count = 0;
  const server = createHttpServer((req, res) => {
    count++;
    req.resume();
    req.on('end', () => {
      const body = req.method === 'HEAD' ? '' : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>test fault</Message></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => count,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
