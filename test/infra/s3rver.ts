/**
 * The stand-in S3 server, for machines without MinIO: s3rver on 127.0.0.1, plus the few things
 * s3rver lacks that the S3 tests rely on (MinIO has them all):
 * - SigV4 signature checks (s3rver only checks that the access key id exists), so a wrong
 *   secret gets S3's own SignatureDoesNotMatch;
 * - ListMultipartUploads and AbortMultipartUpload, on s3rver's own on-disk layout of uploads;
 * - ListObjectsV2 continuation tokens (s3rver makes them with DES, which OpenSSL 3 no longer has:
 *   a second page is a 500), by serving V2 listings through its V1 listing (marker = last key).
 * Faults are not here: the tests reach it through the same proxy as MinIO (s3-proxy.ts).
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Backend, PendingUpload } from './s3-server.js';

/** s3rver's built-in account. */
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

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

/** s3rver with `buckets` on a new temporary directory and a free port. */
export async function startS3rver(buckets: string[]): Promise<S3Backend> {
  const directory = await mkdtemp(join(tmpdir(), 'gantry-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
    vhostBuckets: false,
  });
  // Ahead of s3rver's own middleware, last-added first.
  server.middleware.unshift(multipartShim(directory));
  server.middleware.unshift(listV2Shim);
  server.middleware.unshift(signatureCheck);
  const { port } = await server.run();
  return {
    name: 's3rver (stand-in)',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { ...S3RVER_CREDENTIALS },
    // Read from its files, not through the ListMultipartUploads shim the store itself uses.
    pendingUploads: async (bucket: string): Promise<PendingUpload[]> => {
      const root = join(directory, bucket, '._S3rver_uploads');
      const ids = await readdir(root).catch(() => [] as string[]);
      return Promise.all(ids.map(async (uploadId) => ({ uploadId, key: await readFile(join(root, uploadId, 'key'), 'utf8') })));
    },
    close: async () => {
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function multipartShim(directory: string): Middleware {
  return async (ctx, next) => {
    const [bucket, ...rest] = ctx.path.replace(/^\//, '').split('/');
    const key = decodeURIComponent(rest.join('/'));
    const uploads = join(directory, bucket ?? '', '._S3rver_uploads');
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

