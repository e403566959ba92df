/**
 * The S3 store: the same key layout as the local store, under s3://bucket/prefix. Works with AWS
 * and with S3-compatible servers (MinIO, Ceph) through AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
 *
 * The AWS SDK is imported on first use, not at load: local-store users never pay for it.
 * Credentials come from the SDK's default chain (env, profiles, SSO, instance roles) and never
 * appear in `url` or in an error message.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { z } from 'zod';
import type { S3Client } from '@aws-sdk/client-s3';
import { EnvironmentError, UserError } from '../../core/errors.js';
import { sha256Hex } from '../hash.js';
import { checkKey, ConditionalWritesUnsupportedError, NotFoundError, type ArtifactRef, type ArtifactStore, type CasResult, type Versioned } from './store.js';

type S3Sdk = typeof import('@aws-sdk/client-s3');
let sdk: Promise<S3Sdk> | undefined;
const loadSdk = (): Promise<S3Sdk> => {
  // The SDK warns on every thread that its releases after January 2027 need Node 22; gantry pins
  // its version in package-lock.json, so on Node 20 the 8-line notice is only noise in each run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return (sdk ??= import('@aws-sdk/client-s3'));
};

export interface S3Location {
  bucket: string;
  /** '' or a '/'-separated prefix without leading or trailing '/'. */
  prefix: string;
}

const BUCKET = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'bucket names are 3–63 lowercase letters, digits, dots and hyphens');

/** Parse s3://bucket/prefix. Refuses credentials in the URL (without echoing them). */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  if (m && m[1].includes('@')) {
    throw new UserError('the S3 store URL must not contain credentials', { hint: 'use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE instead' });
  }
  if (!m) throw new UserError(`invalid S3 store URL '${url}'`, { hint: 'use s3://bucket or s3://bucket/prefix' });
  const bucket = BUCKET.safeParse(m[1]);
  if (!bucket.success) throw new UserError(`invalid S3 bucket '${m[1]}' in store URL: ${bucket.error.issues[0].message}`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix) checkKey(prefix);
  return { bucket: bucket.data, prefix };
}

export function s3Url(loc: S3Location): string {
  return loc.prefix ? `s3://${loc.bucket}/${loc.prefix}` : `s3://${loc.bucket}`;
}

// Empty variables count as unset, as they do for the AWS CLI.
const blankIsUnset = (v: unknown) => (v === '' ? undefined : v);
const envSchema = z.object({
  AWS_ENDPOINT_URL_S3: z.preprocess(blankIsUnset, z.url().optional()),
  AWS_ENDPOINT_URL: z.preprocess(blankIsUnset, z.url().optional()),
  AWS_REGION: z.preprocess(blankIsUnset, z.string().optional()),
  AWS_DEFAULT_REGION: z.preprocess(blankIsUnset, z.string().optional()),
  AWS_MAX_ATTEMPTS: z.preprocess(blankIsUnset, z.coerce.number().int().min(1).max(20).optional()),
  AWS_REQUEST_CHECKSUM_CALCULATION: z.preprocess(blankIsUnset, z.string().optional()),
  GANTRY_S3_FORCE_PATH_STYLE: z.preprocess(blankIsUnset, z.enum(['0', '1', 'true', 'false']).optional()),
});

export interface S3StoreOptions {
  /** Default: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, else AWS itself. */
  endpoint?: string;
  /** Default: AWS_REGION / AWS_DEFAULT_REGION, then the profile's region, else us-east-1. */
  region?: string;
  /** Default: GANTRY_S3_FORCE_PATH_STYLE, else on exactly when a custom endpoint is set. */
  forcePathStyle?: boolean;
  /** Default: the SDK's credential chain. Tests pass fixed ones. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, first included (SDK standard retry: exponential backoff with jitter). Default AWS_MAX_ATTEMPTS or 5. */
  maxAttempts?: number;
  /** TCP connect limit per attempt. Default 5 s. */
  connectionTimeoutMs?: number;
  /** A socket idle this long fails the attempt (a server that accepts and never answers). Default 30 s. */
  socketTimeoutMs?: number;
  /** Whole-request limit per attempt, up to the response headers. Default 15 min. */
  requestTimeoutMs?: number;
  /** Multipart part size for putFile (≥ 5 MiB, S3's minimum). Default 8 MiB. */
  partSize?: number;
  /** Parts in flight per putFile; memory is about partSize × (queueSize + 1). Default 2. */
  queueSize?: number;
  /** ListObjectsV2 page size (S3 caps it at 1000). */
  listPageSize?: number;
  /** Incomplete multipart uploads under the prefix older than this are aborted by checkWritable. Default 24 h. */
  staleUploadMs?: number;
  env?: NodeJS.ProcessEnv;
}

const MIB = 1024 * 1024;
const PROBE_PREFIX = '.gantry-probe-';
/** `<prefix>/.gantry-uploads/<id>/<key>`: a multipart upload of <key> in progress (see putFile). */
const UPLOADS_PREFIX = '.gantry-uploads/';
/** `<prefix>/.gantry-versioned/<key>`: a versioned document (a step lease), never listed as an artifact. */
const VERSIONED_PREFIX = '.gantry-versioned/';
const CREDENTIAL_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'InvalidClientTokenId', 'Forbidden']);
/** The server is out of space or over a quota: MinIO (XMinioStorageFull 507, XMinioAdminBucketQuotaExceeded 400), Ceph RGW (QuotaExceeded 403), WebDAV-style 507. */
const STORAGE_FULL_ERRORS = new Set(['XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'QuotaExceeded', 'InsufficientStorage']);
const REGION_ERRORS = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  errors?: { code?: string }[];
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** A server-side failure that outlasted the SDK's retries: transient, so not a UserError. */
export class S3UnavailableError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'S3UnavailableError';
  }
}

export class S3Store implements ArtifactStore {
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly keyPrefix: string;
  private readonly endpoint?: string;
  private readonly forcePathStyle: boolean;
  private readonly maxAttempts: number;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize?: number;
  private readonly staleUploadMs: number;
  private readonly whenRequiredChecksums: boolean;
  private region?: string;
  private clientP?: Promise<S3Client>;
  /** Multipart uploads whose abort could not reach the server (upload id → key and record); retried by checkWritable and putFile. */
  private readonly orphans = new Map<string, { Key: string; record?: string }>();

  constructor(location: string | S3Location, private readonly opts: S3StoreOptions = {}) {
    const loc = typeof location === 'string' ? parseS3Url(location) : location;
    this.bucket = loc.bucket;
    this.prefix = loc.prefix;
    this.keyPrefix = loc.prefix ? `${loc.prefix}/` : '';
    this.url = s3Url(loc);
    const parsed = envSchema.safeParse(opts.env ?? process.env);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new UserError(`invalid environment variable ${String(i.path[0])}: ${i.message}`);
    }
    const env = parsed.data;
    this.endpoint = opts.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    const pathStyleEnv = env.GANTRY_S3_FORCE_PATH_STYLE === undefined ? undefined : env.GANTRY_S3_FORCE_PATH_STYLE === '1' || env.GANTRY_S3_FORCE_PATH_STYLE === 'true';
    // MinIO and Ceph rarely have wildcard DNS for virtual-host buckets.
    this.forcePathStyle = opts.forcePathStyle ?? pathStyleEnv ?? this.endpoint !== undefined;
    this.region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    this.maxAttempts = opts.maxAttempts ?? env.AWS_MAX_ATTEMPTS ?? 5;
    this.partSize = Math.max(5 * MIB, opts.partSize ?? 8 * MIB);
    this.queueSize = Math.max(1, opts.queueSize ?? 2);
    this.listPageSize = opts.listPageSize;
    this.staleUploadMs = opts.staleUploadMs ?? 24 * 3600_000;
    // S3-compatible servers often reject the SDK's default aws-chunked CRC32 uploads; AWS itself takes both.
    this.whenRequiredChecksums = this.endpoint !== undefined && env.AWS_REQUEST_CHECKSUM_CALCULATION === undefined;
  }

  /** The object key of an artifact key. */
  private objectKey(key: string): string {
    return this.keyPrefix + checkKey(key);
  }

  private get host(): string {
    if (this.endpoint) return new URL(this.endpoint).host;
    return `s3.${this.region ?? 'us-east-1'}.amazonaws.com`;
  }

  private client(): Promise<S3Client> {
    return (this.clientP ??= this.makeClient());
  }

  private async makeClient(): Promise<S3Client> {
    const { S3Client } = await loadSdk();
    if (!this.region) {
      // The SDK's own region chain (AWS_PROFILE's config file); S3 does not need one, so default it.
      const probe = new S3Client({});
      this.region = await probe.config.region().catch(() => 'us-east-1');
      probe.destroy();
    }
    const custom = this.endpoint !== undefined;
    return new S3Client({
      region: this.region,
      endpoint: this.endpoint,
      forcePathStyle: this.forcePathStyle,
      credentials: this.opts.credentials,
      followRegionRedirects: !custom,
      retryMode: 'standard',
      maxAttempts: this.maxAttempts,
      requestHandler: {
        connectionTimeout: this.opts.connectionTimeoutMs ?? 5_000,
        socketTimeout: this.opts.socketTimeoutMs ?? 30_000,
        requestTimeout: this.opts.requestTimeoutMs ?? 15 * 60_000,
        throwOnRequestTimeout: true,
      },
      ...(this.whenRequiredChecksums ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    });
  }

  /** Run one SDK call, turning its failures into errors that say what to do. */
  private async call<T>(what: string, key: string | undefined, fn: (c: S3Client, s: S3Sdk) => Promise<T>): Promise<T> {
    const [c, s] = await Promise.all([this.client(), loadSdk()]);
    try {
      return await fn(c, s);
    } catch (e) {
      throw this.explain(e, what, key);
    }
  }

  private explain(e: unknown, what: string, key?: string): unknown {
    if (!(e instanceof Error) || e.name === 'UserError' || e.name === 'EnvironmentError' || e instanceof NotFoundError) return e;
    const err = e as SdkError;
    const name = err.name ?? 'Error';
    const status = err.$metadata?.httpStatusCode;
    const attempts = err.$metadata?.attempts;
    const tries = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
    // The machine's faults (exit 1, running again once fixed works), before the 403 catch-all below: Ceph's quota answer is a 403.
    if (STORAGE_FULL_ERRORS.has(name) || status === 507) {
      return new EnvironmentError(`S3 store ${this.url} is full: it refused to ${what}${key ? ` '${key}'` : ''} (${name}${status ? `, HTTP ${status}` : ''})`, {
        hint: "free space or raise the bucket's quota on the server, then run again: finished steps are kept",
      });
    }
    // No `cause` on credential errors: the SDK's exception carries the access key id and the string signed.
    if (CREDENTIAL_ERRORS.has(name) || (status === 403 && name !== 'AccessDenied')) {
      return new UserError(`S3 rejected the credentials for bucket '${this.bucket}' (${name})`, { hint: 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE' });
    }
    // Valid credentials without the rights: a permission of the environment, like EACCES on a local store.
    if (name === 'AccessDenied') {
      return new EnvironmentError(`S3 denied access to ${this.url} (AccessDenied)`, { hint: 'the credentials (AWS_ACCESS_KEY_ID / AWS_PROFILE) need read, write, list and delete rights on this bucket and prefix' });
    }
    if (name === 'CredentialsProviderError') {
      return new UserError(`no AWS credentials found for bucket '${this.bucket}'`, { hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE' });
    }
    if (name === 'NoSuchBucket') {
      return new UserError(`S3 bucket '${this.bucket}' does not exist${this.endpoint ? ` at ${this.host}` : ''}`, { hint: 'create it, or point GANTRY_STORE at an existing bucket' });
    }
    if (REGION_ERRORS.has(name)) {
      return new UserError(`S3 bucket '${this.bucket}' is not in region ${this.region ?? 'us-east-1'} (${name})`, { hint: "set AWS_REGION to the bucket's region" });
    }
    const code = err.code ?? err.errors?.find((x) => x.code)?.code;
    if ((code && NETWORK_CODES.has(code)) || name === 'TimeoutError' || /socket hang up/i.test(err.message ?? '')) {
      // The server down, or the network: the machine's fault (exit 1, retried), not the input's.
      return new EnvironmentError(`cannot reach S3 endpoint ${this.host} (${code ?? name}${tries})`, {
        hint: this.endpoint ? 'check AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and that the server is up' : 'check the network connection',
        cause: e,
      });
    }
    if (status !== undefined && status >= 500) {
      return new S3UnavailableError(`S3 endpoint ${this.host} failed to ${what}${key ? ` '${key}'` : ''}: HTTP ${status} ${name}${tries}`, e);
    }
    if (err.$metadata) {
      return new Error(`S3 failed to ${what}${key ? ` '${key}'` : ''} in ${this.url}: ${name}${status ? ` (HTTP ${status})` : ''}`, { cause: e });
    }
    return e; // not the SDK's (a local file, a changed source): as it is
  }

  async checkWritable(): Promise<void> {
    const probe = `${this.keyPrefix}${PROBE_PREFIX}${randomBytes(6).toString('hex')}`;
    await this.call('write a probe object', undefined, async (c, s) => {
      await c.send(new s.PutObjectCommand({ Bucket: this.bucket, Key: probe, Body: 'probe', Metadata: { sha256: sha256Hex('probe') } }));
      await c.send(new s.DeleteObjectCommand({ Bucket: this.bucket, Key: probe }));
    });
    await this.abortIncompleteUploads(this.staleUploadMs).catch(() => {}); // housekeeping, never a reason to fail a run
  }

  async put(key: string, data: Uint8Array | string): Promise<ArtifactRef> {
    const Key = this.objectKey(key);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const sha256 = sha256Hex(bytes);
    // A PutObject is atomic on S3: readers see the old object or the whole new one.
    await this.call('write', key, (c, s) => c.send(new s.PutObjectCommand({ Bucket: this.bucket, Key, Body: bytes, ContentLength: bytes.byteLength, Metadata: { sha256 } })));
    return { key, sha256, size: bytes.byteLength };
  }

  async putFile(key: string, path: string): Promise<ArtifactRef> {
    const Key = this.objectKey(key);
    // The sha256 goes into the object's metadata, which a multipart upload fixes at its start: hash
    // the file first (streamed), then hash it again as it is sent and fail the upload before it
    // completes if the two differ (the file changed underneath).
    const { sha256, size } = await hashFile(path);
    const [c, { Upload }] = await Promise.all([this.client(), import('@aws-sdk/lib-storage')]);
    await this.reapOrphans();
    // MinIO lists incomplete uploads only by their exact key, so a process that dies mid-upload
    // would leave parts no sweep can find: record each multipart upload first, under the prefix.
    const record = size > this.partSize ? `${this.keyPrefix}${UPLOADS_PREFIX}${randomBytes(6).toString('hex')}/${key}` : undefined;
    if (record) await this.call('upload', key, (c, s) => c.send(new s.PutObjectCommand({ Bucket: this.bucket, Key: record, Body: '', ContentLength: 0 })));
    const where = `${this.url}/${key}`;
    const source = createReadStream(path);
    const again = createHash('sha256');
    let seen = 0;
    const body = new Transform({
      transform(chunk: Buffer, _enc, done) {
        again.update(chunk);
        seen += chunk.byteLength;
        done(null, chunk);
      },
      flush(done) {
        const ok = seen === size && again.digest('hex') === sha256;
        done(ok ? null : new Error(`'${path}' changed while it was being uploaded to ${where}`));
      },
    });
    source.on('error', (e) => body.destroy(e));
    source.pipe(body);
    const upload = new Upload({
      client: c,
      params: { Bucket: this.bucket, Key, Body: body, ContentLength: size, Metadata: { sha256 } },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: true, // we abort ourselves, below, and remember what could not be aborted
    });
    try {
      await upload.done();
    } catch (e) {
      source.destroy();
      body.destroy();
      // Until CompleteMultipartUpload succeeds nothing is visible at Key; aborting frees the parts.
      if (upload.uploadId) await this.abortUpload(Key, upload.uploadId, record);
      else await this.dropRecord(record);
      throw this.explain(e, 'upload', key);
    }
    await this.dropRecord(record);
    return { key, sha256, size };
  }

  async get(key: string): Promise<Uint8Array> {
    const Key = this.objectKey(key);
    return this.call('read', key, async (c, s) => {
      try {
        const out = await c.send(new s.GetObjectCommand({ Bucket: this.bucket, Key }));
        return await out.Body!.transformToByteArray();
      } catch (e) {
        if ((e as SdkError).name === 'NoSuchKey') throw new NotFoundError(key, this.url);
        throw e;
      }
    });
  }

  async getStream(key: string): Promise<Readable> {
    const Key = this.objectKey(key);
    return this.call('read', key, async (c, s) => {
      try {
        const out = await c.send(new s.GetObjectCommand({ Bucket: this.bucket, Key }));
        if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no stream for '${key}'`);
        return out.Body;
      } catch (e) {
        if ((e as SdkError).name === 'NoSuchKey') throw new NotFoundError(key, this.url);
        throw e;
      }
    });
  }

  async exists(key: string): Promise<boolean> {
    const Key = this.objectKey(key);
    return this.call('check', key, async (c, s) => {
      try {
        await c.send(new s.HeadObjectCommand({ Bucket: this.bucket, Key }));
        return true;
      } catch (e) {
        const err = e as SdkError;
        if (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return false;
        throw e;
      }
    });
  }

  async list(prefix: string): Promise<string[]> {
    const under = prefix.replace(/\/$/, '');
    const Prefix = under ? `${this.objectKey(under)}/` : this.keyPrefix;
    const out: string[] = [];
    for (const o of await this.listObjects(Prefix, prefix || undefined)) {
      const rel = o.Key.slice(this.keyPrefix.length);
      if (isKey(rel)) out.push(rel); // probes, upload records and foreign objects are not artifacts
    }
    return out.sort();
  }

  /** Every object whose key starts with Prefix, through ListObjectsV2's pages. */
  private async listObjects(Prefix: string, key?: string, what = 'list'): Promise<{ Key: string; LastModified?: Date }[]> {
    const out: { Key: string; LastModified?: Date }[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(what, key, (c, s) =>
        c.send(new s.ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken: token, MaxKeys: this.listPageSize })),
      );
      for (const o of page.Contents ?? []) if (o.Key) out.push({ Key: o.Key, LastModified: o.LastModified });
      if (page.IsTruncated && !page.NextContinuationToken) throw new Error(`S3 listing of ${this.url} was truncated without a continuation token`);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    await this.call('delete', key, (c, s) => c.send(new s.DeleteObjectCommand({ Bucket: this.bucket, Key })));
  }

  /**
   * Abort incomplete multipart uploads under the prefix started more than `olderThanMs` ago, and
   * any this process could not abort earlier. Their parts are invisible but billed. A bucket
   * lifecycle rule (AbortIncompleteMultipartUpload) does the same on AWS, MinIO's
   * stale_uploads_expiry (default 24 h) on MinIO. Returns how many were aborted.
   */
  async abortIncompleteUploads(olderThanMs: number): Promise<number> {
    await this.reapOrphans();
    const cutoff = Date.now() - olderThanMs;
    const stale = (d?: Date) => !d || d.getTime() <= cutoff;
    // Every upload under the prefix, where the server lists by prefix (AWS, Ceph, not MinIO)…
    let { aborted } = await this.abortUploadsUnder(this.keyPrefix, stale);
    // …and every recorded one by its exact key, which every server lists.
    const records = `${this.keyPrefix}${UPLOADS_PREFIX}`;
    for (const r of await this.listObjects(records, undefined, 'list upload records')) {
      const Key = this.keyPrefix + r.Key.slice(records.length).replace(/^[^/]*\//, '');
      const under = await this.abortUploadsUnder(Key, stale, Key);
      aborted += under.aborted;
      // An upload may be recorded before it starts: a young record stays.
      if (under.left === 0 && stale(r.LastModified)) await this.dropRecord(r.Key);
    }
    return aborted;
  }

  /** Abort the stale uploads whose key starts with Prefix (or is exactly `only`); counts those aborted and those left. */
  private async abortUploadsUnder(Prefix: string, stale: (initiated?: Date) => boolean, only?: string): Promise<{ aborted: number; left: number }> {
    let aborted = 0;
    let left = 0;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.call('list incomplete uploads', undefined, (c, s) =>
        c.send(new s.ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix, KeyMarker, UploadIdMarker })),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || (only !== undefined && u.Key !== only)) continue;
        if (stale(u.Initiated) && (await this.abortUpload(u.Key, u.UploadId))) aborted++;
        else left++;
      }
      if (!page.IsTruncated || !page.NextKeyMarker) return { aborted, left };
      KeyMarker = page.NextKeyMarker;
      UploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** True when the upload is gone (its record too); otherwise it is remembered and retried later. */
  private async abortUpload(Key: string, UploadId: string, record?: string): Promise<boolean> {
    const [c, s] = await Promise.all([this.client(), loadSdk()]);
    try {
      await c.send(new s.AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }));
    } catch (e) {
      if ((e as SdkError).name !== 'NoSuchUpload') {
        this.orphans.set(UploadId, { Key, record });
        return false;
      }
    }
    this.orphans.delete(UploadId);
    await this.dropRecord(record);
    return true;
  }

  /** Best effort: a record left behind is dropped by a later sweep. */
  private async dropRecord(record: string | undefined): Promise<void> {
    if (!record) return;
    const [c, s] = await Promise.all([this.client(), loadSdk()]);
    await c.send(new s.DeleteObjectCommand({ Bucket: this.bucket, Key: record })).catch(() => {});
  }

  private async reapOrphans(): Promise<void> {
    for (const [id, { Key, record }] of [...this.orphans]) await this.abortUpload(Key, id, record);
  }

  /*
   * Versioned documents: S3's conditional writes. PutObject with If-None-Match: * creates only
   * when the key is absent, with If-Match: <etag> replaces only that version; the server decides
   * atomically (412 to every loser; AWS answers 409 to a loser of two writes in flight at once).
   * A server that ignores the headers would let every writer win, so it is probed first, once.
   */
  async getVersioned(key: string): Promise<Versioned | undefined> {
    const Key = this.versionedKey(key);
    return this.call('read', key, async (c, s) => {
      try {
        const out = await c.send(new s.GetObjectCommand({ Bucket: this.bucket, Key }));
        const data = await out.Body!.transformToByteArray();
        if (!out.ETag) throw new Error(`S3 returned no ETag for '${key}'`);
        return { data, etag: out.ETag };
      } catch (e) {
        if ((e as SdkError).name === 'NoSuchKey') return undefined;
        throw e;
      }
    });
  }

  async createExclusive(key: string, data: Uint8Array | string): Promise<CasResult> {
    await this.conditionalWrites();
    return this.conditionalPut(key, data, { IfNoneMatch: '*' });
  }

  async replaceIfMatch(key: string, data: Uint8Array | string, etag: string): Promise<CasResult> {
    await this.conditionalWrites();
    return this.conditionalPut(key, data, { IfMatch: etag });
  }

  async deleteVersioned(key: string): Promise<void> {
    const Key = this.versionedKey(key);
    await this.call('delete', key, (c, s) => c.send(new s.DeleteObjectCommand({ Bucket: this.bucket, Key })));
  }

  private versionedKey(key: string): string {
    return `${this.keyPrefix}${VERSIONED_PREFIX}${checkKey(key)}`;
  }

  private async conditionalPut(key: string, data: Uint8Array | string, condition: { IfNoneMatch: string } | { IfMatch: string }): Promise<CasResult> {
    const Key = this.versionedKey(key);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.call('write', key, async (c, s) => {
      try {
        const out = await c.send(new s.PutObjectCommand({ Bucket: this.bucket, Key, Body: bytes, ContentLength: bytes.byteLength, ...condition }));
        if (!out.ETag) throw new Error(`S3 returned no ETag for '${key}'`);
        return { ok: true, etag: out.ETag };
      } catch (e) {
        if (lostCondition(e)) return { ok: false };
        throw e;
      }
    });
  }

  private casProbe?: Promise<void>;
  /** Resolves when the server honours If-None-Match and If-Match; a ConditionalWritesUnsupportedError (kept) when it does not. */
  private conditionalWrites(): Promise<void> {
    this.casProbe ??= this.probeConditionalWrites().catch((e: unknown) => {
      if (!(e instanceof ConditionalWritesUnsupportedError)) this.casProbe = undefined; // a transient failure: probe again next time
      throw e;
    });
    return this.casProbe;
  }

  private async probeConditionalWrites(): Promise<void> {
    const Key = `${this.keyPrefix}${PROBE_PREFIX}cas-${randomBytes(6).toString('hex')}`;
    const put = (condition: { IfNoneMatch: string } | { IfMatch: string }) =>
      this.call('write a probe object', undefined, async (c, s) => {
        try {
          await c.send(new s.PutObjectCommand({ Bucket: this.bucket, Key, Body: 'probe', ...condition }));
          return true;
        } catch (e) {
          if (lostCondition(e)) return false;
          throw e;
        }
      });
    try {
      const created = await put({ IfNoneMatch: '*' });
      const again = await put({ IfNoneMatch: '*' });
      const wrongEtag = await put({ IfMatch: '"00000000000000000000000000000000"' });
      if (!created || again || wrongEtag) {
        throw new ConditionalWritesUnsupportedError(`S3 endpoint ${this.host} ignores conditional writes (If-None-Match / If-Match on PutObject)`);
      }
    } finally {
      await this.call('delete a probe object', undefined, (c, s) => c.send(new s.DeleteObjectCommand({ Bucket: this.bucket, Key }))).catch(() => {});
    }
  }

  /** Release the client's sockets (tests, short-lived tools). */
  async close(): Promise<void> {
    if (this.clientP) (await this.clientP.catch(() => undefined))?.destroy();
    this.clientP = undefined;
  }
}

/** A conditional write that lost: 412 (another version is there, or none for If-Match), 409 (a concurrent conditional write won), 404 (If-Match on no object). */
function lostCondition(e: unknown): boolean {
  const err = e as SdkError;
  const status = err.$metadata?.httpStatusCode;
  return err.name === 'PreconditionFailed' || err.name === 'ConditionalRequestConflict' || err.name === 'NoSuchKey' || status === 412 || status === 409;
}

function isKey(rel: string): boolean {
  try {
    checkKey(rel);
    return true;
  } catch {
    return false;
  }
}

async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}
