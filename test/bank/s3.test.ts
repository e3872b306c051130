/**
 * The s3 bank against a real S3 server (radosgw, see s3-server.ts): the bank conformance
 * suite unchanged, then what only S3 has — the check for conditional writes, clear errors for
 * a missing bucket and refused credentials (also through the CLI), retries of transient
 * failures, the server's clock, leases raced by processes, multipart uploads, and a protect,
 * verify and restore through an s3 provider. Without a server (and not under CI) it all
 * skips, saying in one line how to get one.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { HOST_KEY } from '../../src/bank/holder.js';
import { type Bank, Parts, S3Bank, type S3BankOptions } from '../../src/bank/index.js';
import { HoardError } from '../../src/errors.js';
import { ContentStore } from '../../src/store/index.js';
import { hoard, ROOT } from '../cli/helpers.js';
import { bankConformance, rejectsWith } from './conformance.js';
import { s3ErrorBody, startProxy } from './s3-proxy.js';
import { adminClient, freshBucket, removeBucket, type S3Server, SKIP_REASON, s3Server } from './s3-server.js';

const MiB = 1024 * 1024;
// A cheap scrypt for the encrypted banks, here and in the CLI's children.
process.env.HOARD_KDF_N ??= '1024';

/** `size` bytes in 64 KiB chunks that depend on their position. */
function* pattern(size: number): Generator<Buffer> {
  for (let offset = 0; offset < size; offset += 65536) {
    const chunk = Buffer.alloc(Math.min(65536, size - offset));
    for (let i = 0; i < chunk.length; i++) chunk[i] = ((offset + i) * 31 + ((offset + i) >> 16)) & 0xff;
    yield chunk;
  }
}

const server = await s3Server();

if (server === undefined) {
  it('S3Bank against a real S3 server', { skip: SKIP_REASON }, () => {});
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

  // The same, sealed by password encryption (encrypted.ts) on top of S3.
  bankConformance('S3Bank, password mode', async () => {
    const own = await freshBucket(server, `conformance-enc-${++fixtures}`);
    let now = Date.now();
    const clock = () => now;
    const encryption = { mode: 'password' as const, where: `bucket "${own}"`, password: async () => 'pw' };
    return {
      bank: new S3Bank(options({ bucket: own, now: clock, encryption })),
      advance: (ms) => {
        now += ms;
      },
      reopen: () => new S3Bank(options({ bucket: own, now: clock, encryption })),
      close: () => removeBucket(server, own),
    };
  });

  const bankModule = new URL('../../src/bank/index.js', import.meta.url).href;

  describe('S3Bank on radosgw', () => {
    it('keeps its keys under its prefix, and refuses a key that would not fit beside it', async () => {
      const bank = new S3Bank(options({ prefix: 'layout/p' }));
      await bank.put('a/b', 'x');
      assert.deepEqual(await new S3Bank(options({ prefix: 'layout' })).list(''), ['p/a/b']);
      assert.equal(bank.bucket, bucket);
      const long = Array.from({ length: 5 }, () => 'k'.repeat(203)).join('/');
      await rejectsWith(
        bank.put(long, 'x'),
        'BANK_KEY_INVALID',
        /longer than S3's 1024 bytes \(1015 are left/,
      );
    });

    it('asks about an ancestor once while it holds keys, and again after a delete: conflicts are still found', async () => {
      const proxy = await startProxy(server.endpoint);
      try {
        const bank = new S3Bank(options({ prefix: 'holders', endpoint: proxy.endpoint }));
        const heads = () => proxy.requests.filter((r) => r.startsWith('HEAD ')).length;
        await bank.put('a/b/c1', 'x');
        const first = heads();
        assert.ok(first >= 2, 'the first put asks about a and a/b');
        await bank.put('a/b/c2', 'x');
        await bank.put('a/d', 'x');
        await bank.put('z/y', 'x');
        await bank.delete('z/y'); // not below a: a still holds keys
        await bank.put('a/b/c3', 'x');
        assert.equal(heads(), first + 1, 'no ancestor of a/b/c asked about again (z once)');
        // Under a key: the LIST beside each put still finds it.
        await rejectsWith(bank.put('a/b', 'x'), 'BANK_KEY_CONFLICT', /a\/b/);
        for (const key of ['a/b/c1', 'a/b/c2', 'a/b/c3', 'a/d']) await bank.delete(key);
        await bank.put('a', 'now an object');
        await rejectsWith(bank.put('a/e', 'x'), 'BANK_KEY_CONFLICT', /"a"/);
        assert.equal(await bank.exists('a/e'), false, 'the conflicting key was taken out again');
      } finally {
        await proxy.close();
      }
    });

    it('takes an ancestor of a key it listed or read for one holding keys, and still finds conflicts after a delete', async () => {
      const proxy = await startProxy(server.endpoint);
      try {
        const writer = new S3Bank(options({ prefix: 'learned', endpoint: proxy.endpoint }));
        await writer.put('p/q/r', 'x');
        const heads = () => proxy.requests.filter((r) => r.startsWith('HEAD ')).length;
        const lister = new S3Bank(options({ prefix: 'learned', endpoint: proxy.endpoint }));
        assert.deepEqual(await lister.list('p/'), ['p/q/r']);
        let before = heads();
        await lister.put('p/q/s', 'x');
        assert.equal(heads(), before, 'p and p/q were seen to hold p/q/r: not asked about');
        const reader = new S3Bank(options({ prefix: 'learned', endpoint: proxy.endpoint }));
        assert.equal((await reader.get('p/q/r')).toString(), 'x');
        before = heads();
        await reader.put('p/t', 'x');
        assert.equal(heads(), before, 'p was seen to hold p/q/r: not asked about');
        // A key listed is an object: a put under it is still refused (by the HEAD of it).
        await rejectsWith(reader.put('p/q/r/u', 'x'), 'BANK_KEY_CONFLICT', /"p\/q\/r"/);
        // Another process empties p/q and makes it an object: listed, it is no longer taken for one holding keys.
        for (const key of ['p/q/r', 'p/q/s']) await writer.delete(key);
        await writer.put('p/q', 'now an object');
        assert.deepEqual(await lister.list('p/'), ['p/q', 'p/t']);
        await rejectsWith(lister.put('p/q/w', 'x'), 'BANK_KEY_CONFLICT', /"p\/q"/);
        for (const key of ['p/q', 'p/t']) await lister.delete(key);
        await lister.put('p', 'now an object');
        await rejectsWith(lister.put('p/v', 'x'), 'BANK_KEY_CONFLICT', /"p"/);
      } finally {
        await proxy.close();
      }
    });

    it('uploads a stream larger than a part in parts, and a failed one leaves the old object and no upload', async () => {
      const bank = new S3Bank(options({ prefix: 'multipart', partSize: 5 * MiB }));
      const size = 12 * MiB + 5;
      const chunks = () => Readable.from(pattern(size));
      await bank.put('big', chunks());
      const read = await bank.get('big');
      assert.equal(read.length, size);
      assert.ok(read.equals(Buffer.concat([...pattern(size)])));
      // Exactly two parts: the stream ends at a part's end.
      await bank.put('even', Readable.from(pattern(10 * MiB)));
      assert.equal((await bank.head('even'))?.size, 10 * MiB);
      async function* failing() {
        yield* pattern(7 * MiB);
        throw new Error('source broke');
      }
      await assert.rejects(bank.put('big', failing()), /source broke/);
      assert.equal((await bank.head('big'))?.size, size);
      const uploads = await adminClient(server).send(
        new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'multipart/' }),
      );
      assert.deepEqual(uploads.Uploads ?? [], []);
    });

    it('sweep aborts multipart uploads a crash left, once older than asked', async () => {
      // A clock a few seconds ahead: the server's own is known to a second (its Date headers),
      // so an upload made just now might not yet count as older than 0 ms by it.
      const bank = new S3Bank(options({ prefix: 'sweep-uploads', now: () => Date.now() + 5000 }));
      await adminClient(server).send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'sweep-uploads/packs/abandoned' }),
      );
      assert.equal((await bank.sweep(3_600_000)).temporary, 0);
      assert.deepEqual(await bank.sweep(0), { temporary: 1, directories: 0, leases: 0 });
      const uploads = await adminClient(server).send(
        new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'sweep-uploads/' }),
      );
      assert.deepEqual(uploads.Uploads ?? [], []);
    });

    it('a lease is an object under .leases/ holding owner, token, expiry and holder, never listed', async () => {
      const bank = new S3Bank(options({ prefix: 'lease-layout' }));
      const lease = await bank.section('sec').acquireLease('job', { owner: 'alice', ttlMs: 60_000 });
      const object = await adminClient(server).send(
        new GetObjectCommand({ Bucket: bucket, Key: 'lease-layout/.leases/sec/job' }),
      );
      assert.deepEqual(JSON.parse(await object.Body!.transformToString()), {
        owner: 'alice',
        token: lease.token,
        expiresAt: lease.expiresAt,
        holder: `${HOST_KEY}:${process.pid}`,
      });
      assert.deepEqual(await bank.list(''), []);
      await bank.section('sec').releaseLease(lease);
      const left = await adminClient(server).send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: 'lease-layout/' }),
      );
      assert.deepEqual(left.Contents ?? [], [], 'a released lease leaves no object');
    });

    it("judges lease expiry by the server's clock, read from the Date of its answers", async () => {
      // Less than the 15 minutes of skew a server accepts in a signature (the proxy only
      // pretends: radosgw's real clock is this machine's).
      const ahead = 4 * 60_000;
      const proxy = await startProxy(server.endpoint, {
        onResponseHeaders: (headers) => {
          headers.date = new Date(Date.now() + ahead).toUTCString();
        },
      });
      try {
        const bank = new S3Bank(options({ prefix: 'clock', endpoint: proxy.endpoint }));
        const lease = await bank.acquireLease('job', { owner: 'o', ttlMs: 10_000 });
        const seen = lease.expiresAt - 10_000 - Date.now();
        assert.ok(Math.abs(seen - ahead) < 2_000, `the server seems ${seen} ms ahead, not ${ahead}`);
        // A client that trusts its own clock reads the lease as live for 4 minutes more.
        const local = new S3Bank(options({ prefix: 'clock', now: Date.now }));
        assert.ok((await local.leaseInfo('job'))!.expiresAt > Date.now() + ahead - 2_000);
      } finally {
        await proxy.close();
      }
    });
  });

  describe("S3Bank: this machine's copy of the index objects (bank/cache.ts)", () => {
    const encryption = { mode: 'password' as const, where: 'the cache test', password: async () => 'pw' };
    /** A content store in an encrypted S3 bank reached through a proxy that counts requests. */
    async function cachedStore(prefix: string, cacheDir: string | undefined, endpoint: string) {
      const bank = new S3Bank(options({ prefix, endpoint, encryption, ...(cacheDir ? { cacheDir } : {}) }));
      return { bank, store: new ContentStore(bank) };
    }

    it('a second run reads no index object from S3, a damaged or stale copy is never used, and a check reads the bank', async () => {
      const proxy = await startProxy(server.endpoint);
      const dir = await mkdtemp(join(tmpdir(), 'hoard-s3-cache-'));
      const cacheDir = join(dir, 'cache');
      try {
        const first = await cachedStore('cache', cacheDir, proxy.endpoint);
        const writer = await first.store.openWriter('test');
        const { blobs } = await writer.write(Buffer.from('some content worth keeping '.repeat(2000)));
        await writer.close();
        const id = blobs[0]!;
        const copies = await readdir(cacheDir);
        assert.equal(copies.length, 1, 'the writer keeps a copy of the index object it stored');
        // The copy is the sealed object: nothing of the index in the clear on this disk.
        assert.ok(!(await readFile(join(cacheDir, copies[0]!))).includes(Buffer.from(id)));

        const indexGets = () => proxy.requests.filter((r) => /^GET \/[^?]*\/store\/index\//.test(r)).length;
        const before = indexGets();
        const second = await cachedStore('cache', cacheDir, proxy.endpoint);
        assert.ok(await second.store.hasBlob(id));
        assert.equal(indexGets(), before, 'the index was loaded from the copy');
        const uncached = await cachedStore('cache', undefined, proxy.endpoint);
        assert.ok(await uncached.store.hasBlob(id));
        assert.equal(indexGets(), before + 1, 'without a cache the object is read from S3');

        // A copy damaged on this disk is dropped and read again from the bank.
        const file = join(cacheDir, copies[0]!);
        const bytes = await readFile(file);
        bytes[bytes.length - 1]! ^= 0xff;
        await writeFile(file, bytes);
        const third = await cachedStore('cache', cacheDir, proxy.endpoint);
        assert.ok(await third.store.hasBlob(id));
        assert.equal(indexGets(), before + 2);
        assert.ok(!(await readFile(file)).equals(bytes), "the copy was replaced by the bank's");
        // A copy with a sound checksum that does not open (another repository's, say) is not
        // taken for damage in the bank: the bank's object is read and the pack is not rebuilt.
        const foreign = Buffer.from('not a sealed index object');
        await writeFile(file, Buffer.concat([createHash('sha256').update(foreign).digest(), foreign]));
        const fourth = await cachedStore('cache', cacheDir, proxy.endpoint);
        assert.ok(await fourth.store.hasBlob(id));
        assert.equal(indexGets(), before + 3);

        // A check reads every index object from the bank, whatever this machine keeps.
        const checked = await cachedStore('cache', cacheDir, proxy.endpoint);
        const report = await checked.store.check();
        assert.deepEqual(report.damaged, []);
        assert.equal(indexGets(), before + 4);

        // Gone from the bank (another machine pruned it): the listing says so, and the copy goes.
        const key = (await uncached.bank.list('store/index/'))[0]!;
        await uncached.bank.delete(key);
        const fifth = await cachedStore('cache', cacheDir, proxy.endpoint);
        assert.equal(await fifth.store.hasBlob(id), false);
        assert.deepEqual(await readdir(cacheDir), []);
      } finally {
        await proxy.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('S3Bank: fewer round trips', () => {
    it('checks conditional writes in every process that writes: a pass is not carried over from another bank object', async () => {
      // Rejected trade: remembering a pass on the machine for a day saved 4 requests (~25 ms) a
      // process, and a server at the same address that stopped enforcing conditional writes
      // would have let two writers win one lease until then.
      const proxy = await startProxy(server.endpoint);
      const dir = await mkdtemp(join(tmpdir(), 'hoard-s3-probe-'));
      try {
        const probes = () => proxy.requests.filter((r) => r.includes('.hoard-probe')).length;
        const cacheDir = join(dir, 'cache');
        const bank = () => new S3Bank(options({ prefix: 'probed', endpoint: proxy.endpoint, cacheDir }));
        const first = bank();
        await first.put('a', 'x');
        assert.equal(probes(), 4, 'checked: a PUT, two conditional PUTs, a DELETE');
        await first.put('b', 'x');
        assert.equal(probes(), 4, 'once per bank');
        await bank().put('c', 'x');
        assert.equal(probes(), 8, 'again for the next one, cache folder or not');
      } finally {
        await proxy.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('renews and releases a lease it holds with one compare-and-swap on the ETag it wrote, without reading it; one changed meanwhile is read again', async () => {
      const proxy = await startProxy(server.endpoint);
      try {
        const bank = new S3Bank(options({ prefix: 'leasetrips', endpoint: proxy.endpoint }));
        await bank.put('warm', 'x');
        const leaseRequests = () => proxy.requests.filter((r) => r.includes('/.leases/'));
        const start = leaseRequests().length;
        const lease = await bank.acquireLease('job', { owner: 'o', ttlMs: 60_000 });
        const renewed = await bank.renewLease(lease);
        await bank.renewLease(renewed);
        await bank.releaseLease(renewed);
        assert.deepEqual(
          leaseRequests()
            .slice(start)
            .map((r) => r.split(' ')[0]),
          ['PUT', 'PUT', 'PUT', 'PUT', 'DELETE'],
        );
        // Released: another owner takes it at once.
        await bank.acquireLease('job', { owner: 'another', ttlMs: 1000 });
        // Another process takes over an expired lease: ours fails its swap, reads, and lets go.
        let now = Date.now();
        const clocked = new S3Bank(
          options({ prefix: 'leasetrips', endpoint: proxy.endpoint, now: () => now }),
        );
        const mine = await clocked.acquireLease('job2', { owner: 'me', ttlMs: 1000 });
        now += 5000;
        const theirs = await new S3Bank(
          options({ prefix: 'leasetrips', endpoint: proxy.endpoint, now: () => now }),
        ).acquireLease('job2', { owner: 'them', ttlMs: 60_000 });
        now -= 5000; // our clock thinks ours is still live: only the ETag tells it changed
        await rejectsWith(clocked.renewLease(mine), 'LEASE_LOST');
        await clocked.releaseLease(mine);
        assert.ok(await clocked.isLeaseValid(theirs), 'theirs stays');
      } finally {
        await proxy.close();
      }
    });
  });

  describe('S3Bank against a server that misbehaves', () => {
    it('refuses to write (BANK_UNSUPPORTED, naming the endpoint) where the server ignores conditional writes', async () => {
      await new S3Bank(options({ prefix: 'ignorant' })).put('existing', 'data');
      // What such a server answers: every conditional PUT succeeds.
      const proxy = await startProxy(server.endpoint, {
        onRequest: (req) =>
          req.url?.includes('.hoard-probe')
            ? { status: req.method === 'PUT' ? 200 : 204, headers: { etag: '"e"' } }
            : 'forward',
      });
      try {
        const bank = new S3Bank(options({ prefix: 'ignorant', endpoint: proxy.endpoint }));
        const message = new RegExp(
          `at ${proxy.endpoint.replaceAll('.', '\\.')}: the server does not enforce conditional writes \\(a second PUT with "If-None-Match: \\*" replaced the object\\)`,
        );
        await rejectsWith(bank.put('k', 'x'), 'BANK_UNSUPPORTED', message);
        await rejectsWith(bank.acquireLease('job', { owner: 'o', ttlMs: 1000 }), 'BANK_UNSUPPORTED', message);
        await rejectsWith(bank.delete('existing'), 'BANK_UNSUPPORTED');
        await rejectsWith(bank.sweep(0), 'BANK_UNSUPPORTED');
        // Reading is fine.
        assert.equal((await bank.get('existing')).toString(), 'data');
        assert.deepEqual(await bank.list(''), ['existing']);
        // Checked once per bank (a PUT, then both conditional PUTs at once, a DELETE): the verdict is remembered.
        assert.equal(proxy.requests.filter((r) => r.includes('.hoard-probe')).length, 4);
      } finally {
        await proxy.close();
      }
    });

    it('a missing bucket, an unknown access key or a wrong secret is one BANK_REFUSED naming endpoint and bucket', async () => {
      const missing = new S3Bank(options({ bucket: 'hoard-no-such-bucket' }));
      const where = `bucket "hoard-no-such-bucket" at ${server.endpoint}`;
      await rejectsWith(
        missing.list(''),
        'BANK_REFUSED',
        `s3 bank, ${where}: listing refused: the bucket does not exist`,
      );
      await rejectsWith(missing.get('a/b'), 'BANK_REFUSED', /the bucket does not exist \(key "a\/b"\)/);
      await rejectsWith(missing.put('a/b', 'x'), 'BANK_REFUSED', /the bucket does not exist/);
      const unknown = new S3Bank(options({ credentials: { accessKeyId: 'nobody', secretAccessKey: 'x' } }));
      await rejectsWith(unknown.list(''), 'BANK_REFUSED', /no such access key \(access_key_id\)/);
      const wrong = new S3Bank(
        options({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'wrong' } }),
      );
      await rejectsWith(wrong.get('k'), 'BANK_REFUSED', /signature does not match: check secret_access_key/);
    });

    it('a byte changed on the way is refused by the server, for a whole PUT and for a part, and nothing is stored', async () => {
      // The payload's SHA-256 is signed (x-amz-content-sha256): the server checks the bytes
      // against it, so no Content-MD5 is computed on top of it.
      const proxy = await startProxy(server.endpoint, {
        onRequest: (req, body) => {
          if (req.method === 'PUT' && req.url?.includes('/flipped') && body.length > 100) body[100]! ^= 1;
          return 'forward';
        },
      });
      try {
        const bank = new S3Bank(
          options({ prefix: 'flips', endpoint: proxy.endpoint, retry: { attempts: 1 } }),
        );
        await rejectsWith(bank.put('flipped', Buffer.alloc(1000, 7)), 'BANK_REFUSED');
        const big = new Parts([Buffer.alloc(6 * MiB, 1), Buffer.alloc(6 * MiB, 2)]);
        await rejectsWith(bank.put('flipped-parts', big), 'BANK_REFUSED');
        await bank.put('kept', Buffer.alloc(1000, 7));
        assert.deepEqual(await bank.list(''), ['kept']);
      } finally {
        await proxy.close();
      }
    });

    it('a server that stops answering fails the request after the idle timeout, retried, never a wait without end', async () => {
      const proxy = await startProxy(server.endpoint, { onRequest: () => 'hang' });
      try {
        const bank = new S3Bank(
          options({
            prefix: 'hang',
            endpoint: proxy.endpoint,
            idleTimeoutMs: 500,
            retry: { attempts: 2, initialDelayMs: 5 },
          }),
        );
        const began = Date.now();
        await rejectsWith(bank.get('anything'), 'BANK_UNAVAILABLE');
        assert.ok(Date.now() - began < 10_000, `gave up after ${Date.now() - began} ms`);
        assert.equal(proxy.requests.length, 2, 'each try timed out and the retry sent it again');
      } finally {
        await proxy.close();
      }
    });

    it("a section's signal aborts a request in flight and its retries: get, put of a stream, list", async () => {
      // The server hangs: without the signal each call would wait for the 2-minute idle timeout.
      const proxy = await startProxy(server.endpoint, {
        onRequest: (req) => (req.url?.includes('slow') ? 'hang' : 'forward'),
      });
      try {
        const bank = new S3Bank(options({ prefix: 'signal', endpoint: proxy.endpoint }));
        for (const call of [
          (b: Bank) => b.get('slow/a'),
          (b: Bank) => b.put('slow/b', Readable.from(pattern(12 * MiB))),
          (b: Bank) => b.list('slow/'),
        ]) {
          const controller = new AbortController();
          const section = bank.withSignal(controller.signal);
          const began = Date.now();
          setTimeout(() => controller.abort(new HoardError('TASK_CANCELLED', 'stop now')), 300);
          await rejectsWith(call(section), 'TASK_CANCELLED', 'stop now');
          assert.ok(Date.now() - began < 5_000, `the call ended ${Date.now() - began} ms after it began`);
        }
        const sent = proxy.requests.length;
        // An aborted signal sends nothing more, and a reason that is not a HoardError is TASK_CANCELLED.
        const gone = bank.withSignal(AbortSignal.abort());
        await rejectsWith(
          gone.head('slow/a'),
          'TASK_CANCELLED',
          /bank call cancelled while looking up "slow\/a"/,
        );
        await rejectsWith(gone.put('x', 'y'), 'TASK_CANCELLED');
        assert.equal(proxy.requests.length, sent);
        // The bank itself, and its other sections, are not cancelled.
        await bank.put('kept', 'yes');
        assert.equal((await bank.head('kept'))?.size, 3);
        // Many requests at once under one signal (a hook's puts, each with its conflict
        // checks) each listen to it: no leak warning for that.
        const warnings: string[] = [];
        const onWarning = (warning: Error) => warnings.push(warning.name);
        process.on('warning', onWarning);
        try {
          const busy = bank.withSignal(new AbortController().signal);
          await Promise.all(Array.from({ length: 30 }, (_, i) => busy.put(`many/a/b/k${i}`, 'v')));
          await new Promise((resolve) => setImmediate(resolve));
        } finally {
          process.off('warning', onWarning);
        }
        assert.deepEqual(warnings, []);
      } finally {
        await proxy.close();
      }
    });

    it('retries a 503 and a reset connection with backoff, and gives up with BANK_UNAVAILABLE', async () => {
      let failures = 0;
      const proxy = await startProxy(server.endpoint, {
        onRequest: () => {
          if (failures <= 0) return 'forward';
          failures--;
          return failures % 2 === 0
            ? 'reset'
            : {
                status: 503,
                headers: { 'content-type': 'application/xml' },
                body: s3ErrorBody('SlowDown', 'Please reduce your request rate.'),
              };
        },
      });
      try {
        const retries: string[] = [];
        const bank = new S3Bank(
          options({
            prefix: 'flaky',
            endpoint: proxy.endpoint,
            retry: { attempts: 5, initialDelayMs: 5, onRetry: (error) => retries.push(error.message) },
          }),
        );
        await bank.put('k', 'v'); // the conditional-write check first: 4 requests
        failures = 4;
        assert.equal((await bank.get('k')).toString(), 'v');
        assert.equal(retries.length, 4);
        assert.match(retries[0]!, /reading failed: 503 SlowDown \(key "k"\)/);
        failures = 3;
        await bank.put('k', 'w');
        failures = 2;
        assert.deepEqual(await bank.list(''), ['k']);
        failures = 100;
        await rejectsWith(
          bank.get('k'),
          'BANK_UNAVAILABLE',
          `s3 bank, bucket "${bucket}", prefix "flaky" at ${proxy.endpoint}: reading failed`,
        );
        failures = 0;
        assert.equal((await bank.get('k')).toString(), 'w');
      } finally {
        await proxy.close();
      }
    });
  });

  describe('S3Bank shared by processes', () => {
    const child = `
      import { S3Bank } from ${JSON.stringify(bankModule)};
      const o = JSON.parse(process.env.BANK_OPTIONS);
      const bank = new S3Bank(o);
      await bank.exists('warm-up');
      process.stdout.write('ready\\n');
      process.stdin.once('data', async () => {
        let result;
        try {
          const lease = await bank.acquireLease(process.env.LEASE, { owner: 'child-' + process.pid, ttlMs: 60000 });
          result = { won: true, owner: lease.owner };
        } catch (error) {
          result = { won: false, code: error.code, message: error.message };
        }
        process.stdout.write(JSON.stringify(result) + '\\n');
        process.stdin.once('end', () => process.exit(0));
      });
    `;

    interface Outcome {
      won: boolean;
      owner?: string;
      code?: string;
      message?: string;
    }

    async function race(bankOptions: S3BankOptions, lease: string, count: number): Promise<Outcome[]> {
      const children = Array.from({ length: count }, () => {
        const proc = spawn(process.execPath, ['--input-type=module', '-e', child], {
          env: { ...process.env, BANK_OPTIONS: JSON.stringify(bankOptions), LEASE: lease },
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        let out = '';
        proc.stdout.setEncoding('utf8');
        const ready = new Promise<void>((resolve, reject) => {
          proc.stdout.on('data', (chunk: string) => {
            out += chunk;
            if (out.startsWith('ready\n')) resolve();
          });
          proc.on('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
        });
        const answered = new Promise<Outcome>((resolve, reject) => {
          proc.stdout.on('data', () => {
            const line = out.slice('ready\n'.length);
            if (line.endsWith('\n')) resolve(JSON.parse(line) as Outcome);
          });
          proc.on('close', (code) => reject(new Error(`child exited with ${code}: ${out}`)));
        });
        const exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
        return { proc, ready, answered, exited };
      });
      try {
        await Promise.all(children.map((c) => c.ready));
        for (const c of children) c.proc.stdin.write('go\n');
        const outcomes = await Promise.all(children.map((c) => c.answered));
        for (const c of children) c.proc.stdin.end();
        await Promise.all(children.map((c) => c.exited));
        return outcomes;
      } finally {
        for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
      }
    }

    function exactlyOneWinner(outcomes: Outcome[]): string {
      const winners = outcomes.filter((o) => o.won);
      assert.equal(winners.length, 1, JSON.stringify(outcomes));
      const owner = winners[0]!.owner!;
      for (const loser of outcomes.filter((o) => !o.won)) {
        assert.equal(loser.code, 'LEASE_HELD', loser.message);
        assert.ok(loser.message?.includes(`"${owner}"`), loser.message);
      }
      return owner;
    }

    it('of six processes racing to create one lease, exactly one wins', async () => {
      const o = options({ prefix: 'race-create' });
      const owner = exactlyOneWinner(await race(o, 'fresh', 6));
      assert.equal((await new S3Bank(o).leaseInfo('fresh'))?.owner, owner);
    });

    it('of six processes racing to break one stale lease, exactly one wins', async () => {
      const o = options({ prefix: 'race-break' });
      const past = new S3Bank({ ...o, now: () => Date.now() - 3_600_000 });
      for (const round of [1, 2, 3]) {
        await past.acquireLease(`job-${round}`, { owner: 'crashed', ttlMs: 1000 });
        const owner = exactlyOneWinner(await race(o, `job-${round}`, 6));
        assert.equal((await new S3Bank(o).leaseInfo(`job-${round}`))?.owner, owner);
      }
    });

    it('a lease whose holder process was killed is broken at once', async () => {
      const o = options({ prefix: 'dead-holder' });
      const holder = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { S3Bank } from ${JSON.stringify(bankModule)};
           await new S3Bank(JSON.parse(process.env.BANK_OPTIONS)).acquireLease('gc', { owner: 'killed gc', ttlMs: 600000 });
           process.stdout.write('held\\n');
           setInterval(() => {}, 1000);`,
        ],
        { env: { ...process.env, BANK_OPTIONS: JSON.stringify(o) }, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      const bank = new S3Bank(o);
      await rejectsWith(
        bank.acquireLease('gc', { owner: 'next gc', ttlMs: 1000 }),
        'LEASE_HELD',
        /killed gc/,
      );
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      assert.equal((await bank.leaseInfo('gc'))?.holderGone, true);
      const taken = await bank.acquireLease('gc', { owner: 'next gc', ttlMs: 1000 });
      assert.equal(taken.owner, 'next gc');
    });
  });

  describe('an s3 provider through the CLI', () => {
    /**
     * A home whose provider `s3test` has the bank `[s3]` settings `s3`; with `passwordFile`,
     * password encryption, the password read from that file.
     */
    const homes: string[] = [];
    after(() => Promise.all(homes.map((dir) => rm(dir, { recursive: true, force: true }))));

    async function home(s3: Record<string, string>, passwordFile?: string): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'hoard-s3-cli-'));
      homes.push(dir);
      await mkdir(join(dir, 'providers'));
      await writeProvider(dir, s3, passwordFile);
      return dir;
    }

    async function writeProvider(dir: string, s3: Record<string, string>, passwordFile?: string) {
      const lines = Object.entries(s3).map(([k, v]) => `${k} = ${v}`);
      await writeFile(
        join(dir, 'providers', 's3test.conf'),
        [
          '[provider]',
          'name = s3test',
          'id = 0b7c6d1e-4a4f-4f0e-9a53-2b1c9d8e7f60',
          'bank = s3',
          ...(passwordFile ? ['encryption = password'] : []),
          'plugin = exec.task',
          'plugin = fs.directory',
          'plugin = sqlite.database',
          '[s3]',
          ...lines,
          ...(passwordFile ? ['[encryption]', `password_file = ${passwordFile}`] : []),
          '',
        ].join('\n'),
      );
    }

    const settings = (more: Record<string, string> = {}) => ({
      bucket,
      endpoint: server.endpoint,
      access_key_id: server.accessKeyId,
      secret_access_key: server.secretAccessKey,
      ...more,
    });

    /** `hoard --home DIR ARGS…` in-process, from the repository's root. */
    function cli(args: string[], dir: string) {
      return hoard(['--home', dir, ...args], {}, ROOT);
    }

    function oneLine(r: { code: number | null; stderr: string }, exit: number, message: RegExp): void {
      assert.equal(r.code, exit, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
      assert.match(lines[0]!, message);
    }

    it('a missing bucket or refused credentials is one line and exit 2', async () => {
      oneLine(
        await cli(
          ['checkpoints', 'list', '--provider', 's3test'],
          await home(settings({ bucket: 'hoard-gone' })),
        ),
        2,
        new RegExp(
          `^hoard: s3 bank, bucket "hoard-gone" at ${server.endpoint}: listing refused: the bucket does not exist`,
        ),
      );
      oneLine(
        await cli(
          ['checkpoints', 'list', '--provider', 's3test'],
          await home(settings({ access_key_id: 'nobody' })),
        ),
        2,
        /^hoard: s3 bank, bucket "hoard-s3-test-\w+" at http:\S+: listing refused: the server knows no such access key/,
      );
      oneLine(
        await cli(
          ['checkpoints', 'list', '--provider', 's3test'],
          await home(settings({ secret_access_key: 'wrong' })),
        ),
        2,
        /signature does not match: check secret_access_key/,
      );
      const began = Date.now();
      oneLine(
        await cli(
          ['checkpoints', 'list', '--provider', 's3test'],
          await home(settings({ endpoint: 'http://127.0.0.1:9' })),
        ),
        2,
        /at http:\/\/127\.0\.0\.1:9: listing refused: nothing answers at the endpoint \(connection refused\): check endpoint/,
      );
      assert.ok(Date.now() - began < 5_000, 'no retries where nothing ever answered');
      const bad = await cli(
        ['providers', 'list', '--json'],
        await home(settings({ force_path_style: 'maybe' })),
      );
      assert.match(bad.stdout, /force_path_style must be true or false/);
    });

    it('shows the [s3] settings with the secret masked', async () => {
      const r = await cli(['providers', 'show', 's3test', '--json'], await home(settings()));
      assert.equal(r.code, 0, r.stderr);
      const shown = JSON.parse(r.stdout);
      const text = JSON.stringify(shown);
      assert.ok(!text.includes(server.secretAccessKey), text);
      assert.match(text, /"secret_access_key":"\*+"/);
      assert.match(text, /"bank":"s3"/);
    });

    /**
     * Protects the quickstart into the s3test provider of `dir`, verifies it, restores it and
     * checks the files and the database rows came back; the checkpoint.
     */
    async function quickstartRoundTrip(dir: string): Promise<{ id: string }> {
      const p = await cli(
        ['protect', 'examples/quickstart/plan.yaml', '--provider', 's3test', '--json'],
        dir,
      );
      assert.equal(p.code, 0, p.stderr);
      const { checkpoint } = JSON.parse(p.stdout);
      assert.equal(checkpoint.status, 'available');
      const v = await cli(['verify', checkpoint.id, '--provider', 's3test'], dir);
      assert.equal(v.code, 0, v.stderr);
      const out = join(dir, 'out');
      const r = await cli(
        [
          'restore',
          checkpoint.id,
          '--provider',
          's3test',
          '--param',
          `fs.directory#notes.target=${join(out, 'notes')}`,
          '--param',
          `sqlite.database#db.target=${join(out, 'app.db')}`,
        ],
        dir,
      );
      assert.equal(r.code, 0, r.stderr);
      const data = join(ROOT, 'examples/quickstart/data');
      for (const name of await readdir(data)) {
        if (name === '.frozen') continue;
        assert.ok((await readFile(join(out, 'notes', name))).equals(await readFile(join(data, name))), name);
      }
      const rows = execFileSync(process.execPath, [
        '-e',
        `const D=require(${JSON.stringify(join(ROOT, 'node_modules/better-sqlite3'))});console.log(JSON.stringify(new D(process.argv[1],{readonly:true}).prepare('select item,qty from orders order by id').all()))`,
        join(out, 'app.db'),
      ]).toString();
      assert.deepEqual(
        JSON.parse(rows).map((row: { item: string }) => row.item),
        ['milk', 'bread', 'coffee'],
      );
      return checkpoint;
    }

    it('protects the quickstart into S3, verifies it and restores it bit for bit', async () => {
      execFileSync(process.execPath, ['examples/quickstart/init.mjs'], { cwd: ROOT });
      const dir = await home(settings({ prefix: 'quickstart' }));
      const checkpoint = await quickstartRoundTrip(dir);
      const listed = await cli(['checkpoints', 'list', '--provider', 's3test', '--json'], dir);
      assert.equal(JSON.parse(listed.stdout).checkpoints[0].id, checkpoint.id);
      // Everything is in the bucket, under the prefix.
      const objects = await adminClient(server).send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: 'quickstart/' }),
      );
      assert.ok((objects.KeyCount ?? 0) > 5);
    });

    /** Every object in the bucket under `prefix`, by key: its bytes. */
    async function objectsUnder(prefix: string): Promise<Map<string, Buffer>> {
      const client = adminClient(server);
      const out = new Map<string, Buffer>();
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const { Key } of page.Contents ?? []) {
          const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: Key! }));
          out.set(Key!, Buffer.from(await object.Body!.transformToByteArray()));
        }
        token = page.NextContinuationToken;
      } while (token);
      return out;
    }

    it('an encrypted provider on S3: the quickstart protected, verified and restored bit for bit, no plaintext in the bucket, and a wrong password is exit 2 writing nothing', async () => {
      execFileSync(process.execPath, ['examples/quickstart/init.mjs'], { cwd: ROOT });
      const dir = await home(settings({ prefix: 'sealed' }), '../offsite.pass');
      await writeFile(join(dir, 'offsite.pass'), 'correct horse battery staple\n');
      const checkpoint = await quickstartRoundTrip(dir);

      // What the bucket holds: the wrapped keys, and sealed objects that tell nothing of the data.
      const objects = await objectsUnder('sealed/');
      const keys = [...objects.keys()];
      assert.ok(
        keys.some((k) => k.startsWith('sealed/keys/')),
        keys.join(' '),
      );
      assert.ok(
        keys.some((k) => k.startsWith('sealed/store/packs/')),
        keys.join(' '),
      );
      const known = [
        'Ship Hoard',
        'notes.txt',
        'coffee',
        'CREATE TABLE orders',
        'SQLite format 3',
        'quickstart',
      ];
      let sealed = 0;
      for (const [key, bytes] of objects) {
        if (key.startsWith('sealed/keys/')) continue;
        for (const text of known) assert.ok(!bytes.includes(Buffer.from(text)), `${key} holds "${text}"`);
        if (bytes.length === 0) continue;
        assert.equal(bytes.subarray(0, 4).toString('latin1'), 'HENC', `${key} is not sealed`);
        sealed++;
      }
      assert.ok(sealed > 5, `${sealed} sealed objects`);

      // A wrong password: one line, exit 2, and the bucket as it was.
      await writeFile(join(dir, 'wrong.pass'), 'wrong\n');
      await writeProvider(dir, settings({ prefix: 'sealed' }), '../wrong.pass');
      for (const args of [
        ['protect', 'examples/quickstart/plan.yaml', '--provider', 's3test'],
        ['verify', checkpoint.id, '--provider', 's3test'],
      ]) {
        oneLine(
          await cli(args, dir),
          2,
          /^hoard: .*the password opens none of the 1 key of the bank of provider "s3test"/,
        );
      }
      assert.deepEqual(await objectsUnder('sealed/'), objects, 'the bucket is as it was');
    });

    it('copies a checkpoint from the fs bank to S3 and back, each copy verifying and restoring', async () => {
      execFileSync(process.execPath, ['examples/quickstart/init.mjs'], { cwd: ROOT });
      const dir = await home(settings({ prefix: 'copies' }));
      const protect = async (provider: string) => {
        const p = await cli(
          ['protect', 'examples/quickstart/plan.yaml', '--provider', provider, '--json'],
          dir,
        );
        assert.equal(p.code, 0, p.stderr);
        return JSON.parse(p.stdout).checkpoint.id as string;
      };
      const data = join(ROOT, 'examples/quickstart/data');
      for (const [from, to] of [
        ['local', 's3test'],
        ['s3test', 'local'],
      ] as const) {
        const id = await protect(from);
        const c = await cli(['copy', id, '--provider', from, '--to', to, '--json'], dir);
        assert.equal(c.code, 0, c.stderr);
        assert.equal(JSON.parse(c.stdout).checkpoint.status, 'available');
        const v = await cli(['verify', id, '--provider', to], dir);
        assert.equal(v.code, 0, v.stderr);
        const out = join(dir, `out-${to}`);
        const r = await cli(
          [
            'restore',
            id,
            '--provider',
            to,
            '--param',
            `fs.directory#notes.target=${join(out, 'notes')}`,
            '--param',
            `sqlite.database#db.target=${join(out, 'app.db')}`,
          ],
          dir,
        );
        assert.equal(r.code, 0, r.stderr);
        for (const name of await readdir(data)) {
          if (name === '.frozen') continue;
          assert.ok(
            (await readFile(join(out, 'notes', name))).equals(await readFile(join(data, name))),
            name,
          );
        }
      }
    });
  });
}
