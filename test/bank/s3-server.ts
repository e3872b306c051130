/**
 * The S3 server the s3 tests run against: radosgw on loopback, started once by
 * test/setup/radosgw.sh (which `npm test` and .ci/run run first, and which reuses a running
 * one), or any server named by HOARD_TEST_S3_ENDPOINT, HOARD_TEST_S3_ACCESS_KEY_ID and
 * HOARD_TEST_S3_SECRET_ACCESS_KEY. Each test file gets a fresh bucket.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

export const SETUP_SCRIPT = fileURLToPath(new URL('../../../test/setup/radosgw.sh', import.meta.url));

/** Why the s3 tests skip, in one line: what to run to get them. */
export const SKIP_REASON =
  "no radosgw here: 'bash test/setup/radosgw.sh start' installs it (apt-get, as root) and starts it";

/**
 * The server, or undefined when there is none to be had here (not under CI=true, radosgw not
 * installed, no HOARD_TEST_S3_ENDPOINT). Under CI a failure to start fails the tests.
 */
export async function s3Server(): Promise<S3Server | undefined> {
  const env = process.env;
  if (env.HOARD_TEST_S3_ENDPOINT) {
    return {
      endpoint: env.HOARD_TEST_S3_ENDPOINT,
      accessKeyId: env.HOARD_TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.HOARD_TEST_S3_SECRET_ACCESS_KEY ?? '',
    };
  }
  if (env.CI !== 'true' && !(await installed())) return undefined;
  const { stdout } = await promisify(execFile)('bash', [SETUP_SCRIPT, 'start'], {
    maxBuffer: 1 << 20,
    timeout: 15 * 60_000,
  });
  const vars = Object.fromEntries(
    stdout
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

async function installed(): Promise<boolean> {
  try {
    await promisify(execFile)('sh', ['-c', 'command -v radosgw']);
    return true;
  } catch {
    return false;
  }
}

export function adminClient(server: S3Server): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A new, empty bucket named after `name`. */
export async function freshBucket(server: S3Server, name: string): Promise<string> {
  const bucket = `hoard-${name}-${randomBytes(4).toString('hex')}`.toLowerCase();
  await adminClient(server).send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Removes the bucket with every object and upload in it. */
export async function removeBucket(server: S3Server, bucket: string): Promise<void> {
  const client = adminClient(server);
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
