/**
 * MinIO as the S3 tests' server: the real thing (SigV4, multipart, ListObjectsV2 paging), started
 * by test/live/servers.ts on a free loopback port with temporary data and its own root account.
 */
import { CreateBucketCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { startMinio } from '../live/servers.js';
import type { PendingUpload, S3Backend } from './s3-server.js';

/** MinIO with `buckets` created, or undefined when there is no minio binary. */
export async function startMinioBackend(buckets: string[]): Promise<S3Backend | undefined> {
  const minio = await startMinio();
  if (!minio) return undefined;
  const credentials = { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey };
  const client = new S3Client({ endpoint: minio.endpoint, region: 'us-east-1', credentials, forcePathStyle: true });
  try {
    for (const Bucket of buckets) await client.send(new CreateBucketCommand({ Bucket }));
  } catch (e) {
    client.destroy();
    await minio.stop();
    throw e;
  }
  return {
    name: `MinIO ${minio.version}`,
    endpoint: minio.endpoint,
    credentials,
    // MinIO lists the uploads of one object name at a time (a prefix that is not a whole key lists
    // nothing), so the caller names the keys uploads were started for.
    pendingUploads: async (bucket: string, keys: string[]): Promise<PendingUpload[]> => {
      const found: PendingUpload[] = [];
      for (const Prefix of keys) {
        const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix }));
        if (page.IsTruncated) throw new Error(`more incomplete uploads of ${Prefix} than one page`);
        for (const u of page.Uploads ?? []) if (u.Key === Prefix && u.UploadId) found.push({ key: u.Key, uploadId: u.UploadId });
      }
      return found;
    },
    close: async () => {
      client.destroy();
      await minio.stop();
    },
  };
}
