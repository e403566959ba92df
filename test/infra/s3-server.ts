/**
 * "An S3 server" for tests: MinIO when a minio binary is found (test/live/servers.ts), else the
 * stand-in s3rver, saying which and why on one line; with GANTRY_LIVE=require (CI) a missing MinIO
 * fails instead. Either way the tests reach it through a fault proxy (s3-proxy.ts) that logs
 * requests, injects errors, holds requests and stops like a crashed server, so the same test
 * bodies run against both. Also tiny fault servers: one that accepts and never answers, one that
 * answers every request with a fixed 5xx. Used by the S3 store tests; reusable by any test that
 * needs S3.
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { liveRequired, missingServer } from '../live/servers.js';
import { S3FaultProxy, type HeldRequests, type RequestMatch, type S3TestRequest } from './s3-proxy.js';
import { startMinioBackend } from './s3-minio.js';
import { startS3rver } from './s3rver.js';

// As infra/store/s3.ts does: the SDK's notice that its 2027 releases need Node 22 is only noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export type { S3TestRequest } from './s3-proxy.js';

export interface PendingUpload {
  key: string;
  uploadId: string;
}

/** What a server behind the proxy provides. */
export interface S3Backend {
  /** e.g. 'MinIO <version>', 's3rver (stand-in)'. */
  name: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Multipart uploads in progress in `bucket`, found without the store's own listing; `keys` are those uploads were started for. */
  pendingUploads(bucket: string, keys: string[]): Promise<PendingUpload[]>;
  close(): Promise<void>;
}

export interface S3TestServerOptions {
  /** Buckets created at start (default ['gantry-test']). */
  buckets?: string[];
}

export class S3TestServer {
  private client?: S3Client;

  private constructor(
    readonly backend: S3Backend,
    private readonly proxy: S3FaultProxy,
    readonly buckets: string[],
  ) {}

  /** MinIO if there is one, else s3rver (or a failure, under GANTRY_LIVE=require); prints which. */
  static async start(opts: S3TestServerOptions = {}): Promise<S3TestServer> {
    const buckets = opts.buckets ?? ['gantry-test'];
    let backend = await startMinioBackend(buckets);
    if (backend) {
      process.stdout.write(`s3 suite against ${backend.name} at ${backend.endpoint}\n`);
    } else {
      const why = missingServer('minio').replace(/^skipped: /, '');
      if (liveRequired()) throw new Error(`GANTRY_LIVE=require, but ${why}`);
      backend = await startS3rver(buckets);
      process.stdout.write(`s3 suite against ${backend.name}: ${why}\n`);
    }
    const proxy = await S3FaultProxy.start(backend.endpoint).catch(async (e) => {
      await backend.close();
      throw e;
    });
    return new S3TestServer(backend, proxy, buckets);
  }

  get bucket(): string {
    return this.buckets[0];
  }

  /** Every request received, in order (fault tests count retries with it). */
  get requests(): S3TestRequest[] {
    return this.proxy.requests;
  }

  /** The proxy's port: what clients reach. */
  get port(): number {
    return this.proxy.port;
  }

  get endpoint(): string {
    return this.proxy.endpoint;
  }

  get credentials(): { accessKeyId: string; secretAccessKey: string } {
    return { ...this.backend.credentials };
  }

  /** S3Store options for this server. */
  storeOptions(): { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } } {
    return { endpoint: this.endpoint, region: 'us-east-1', credentials: this.credentials };
  }

  /** Environment for a gantry process (the CLI, worker threads) using this server as its store. */
  env(prefix = 'gantry'): Record<string, string> {
    return {
      GANTRY_STORE: `s3://${this.bucket}/${prefix}`,
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_ACCESS_KEY_ID: this.backend.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.backend.credentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  }

  /** Matching requests stay unanswered until release() or stop(). */
  holdRequests(match: RequestMatch): HeldRequests {
    return this.proxy.holdRequests(match);
  }

  /** Call `listener` on every request as it arrives (before it is answered); returns a remover. */
  onRequest(listener: (r: S3TestRequest) => void): () => void {
    return this.proxy.onRequest(listener);
  }

  /** Answer matching requests (the next `times`) with an S3 error, e.g. 500 InternalError; returns a remover. */
  failRequests(match: RequestMatch, status = 500, code = 'InternalError', times = Infinity): () => void {
    return this.proxy.failRequests(match, status, code, times);
  }

  /** The endpoint dies at once, like a crashed server: open connections are cut, held requests dropped. */
  async stop(): Promise<void> {
    await this.proxy.stop();
  }

  /** The endpoint back on the same port, with the objects and uploads it had. */
  async restart(): Promise<void> {
    await this.proxy.restart();
  }

  /** Multipart uploads in progress in `bucket`, as the server itself has them. */
  async pendingUploads(bucket = this.bucket): Promise<PendingUpload[]> {
    const started = new Set<string>();
    for (const r of this.requests) {
      if (r.method === 'POST' && 'uploads' in r.query && r.path.startsWith(`/${bucket}/`)) started.add(decodeURIComponent(r.path.slice(bucket.length + 2)));
    }
    return this.backend.pendingUploads(bucket, [...started].sort());
  }

  /** Every key under `prefix` in `bucket`, with its size, listed past the proxy (so not logged). */
  async keys(prefix = '', bucket = this.bucket): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.direct().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
      for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out;
  }

  /** Every object under `prefix` in `bucket` up to `maxBytes`, with its metadata and bytes, read past the proxy. */
  async objects(prefix = '', bucket = this.bucket, maxBytes = 1_000_000): Promise<{ key: string; metadata: Record<string, string>; body: Buffer }[]> {
    const out: { key: string; metadata: Record<string, string>; body: Buffer }[] = [];
    for (const { key, size } of await this.keys(prefix, bucket)) {
      if (size > maxBytes) continue;
      const got = await this.direct().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      out.push({ key, metadata: got.Metadata ?? {}, body: Buffer.from(await got.Body!.transformToByteArray()) });
    }
    return out;
  }

  private direct(): S3Client {
    return (this.client ??= new S3Client({ endpoint: this.backend.endpoint, region: 'us-east-1', credentials: this.credentials, forcePathStyle: true }));
  }

  /** Stop the proxy and the server, and remove the server's data. */
  async close(): Promise<void> {
    this.client?.destroy();
    await this.proxy.stop();
    await this.backend.close();
  }
}

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
