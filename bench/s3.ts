/**
 * The S3 server of `npm run bench:data`: the radosgw of test/setup/radosgw.sh on loopback,
 * and the few bucket operations the benchmark needs around the tools it times (create,
 * measure, empty and remove).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const SETUP = fileURLToPath(new URL('../../test/setup/radosgw.sh', import.meta.url));

/**
 * The running radosgw; started (idempotent, locked) when installed but not running; else
 * the reason there is none.
 */
export function radosgw(log: (line: string) => void): S3Server | { missing: string } {
  let r = spawnSync('bash', [SETUP, 'env'], { encoding: 'utf8' });
  if (r.status !== 0) {
    if (spawnSync('sh', ['-c', 'command -v radosgw']).status !== 0)
      return { missing: "radosgw not installed: 'bash test/setup/radosgw.sh start' installs and starts it" };
    log('radosgw is installed but not running: bash test/setup/radosgw.sh start');
    r = spawnSync('bash', [SETUP, 'start'], { encoding: 'utf8', timeout: 10 * 60_000 });
    if (r.status !== 0) return { missing: `radosgw did not start: ${r.stderr.trim().split('\n').pop()}` };
  }
  const vars = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return {
    endpoint: vars.HOARD_S3_ENDPOINT!,
    accessKeyId: vars.HOARD_S3_ACCESS_KEY_ID!,
    secretAccessKey: vars.HOARD_S3_SECRET_ACCESS_KEY!,
  };
}

export function client(server: S3Server): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    // radosgw 16 knows none of the SDK's newer checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function createBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Every object of the bucket, with its size (the repository's size on S3). */
export async function listObjects(s3: S3Client, bucket: string): Promise<{ key: string; size: number }[]> {
  const objects: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const o of page.Contents ?? []) objects.push({ key: o.Key!, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/**
 * Empties and removes the bucket, then asks radosgw to free the space now (its garbage
 * collector otherwise waits two hours, and the OSD keeps its data in a 2 GiB memstore).
 */
export async function removeBucket(s3: S3Client, bucket: string): Promise<void> {
  const keys = (await listObjects(s3, bucket)).map((o) => o.key);
  for (let i = 0; i < keys.length; i += 1000) {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? [])
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  const conf = `${process.env.HOARD_RADOSGW_DIR ?? '/tmp/hoard-radosgw'}/ceph.conf`;
  try {
    execFileSync('radosgw-admin', ['-c', conf, 'gc', 'process', '--include-all'], {
      stdio: 'ignore',
      timeout: 120_000,
    });
  } catch {
    // Best effort: the space comes back later anyway.
  }
}
