/**
 * Lease expiry is judged by the bank's clock (an S3 bank's follows the server's `Date`), never
 * this machine's: a collector on a machine whose clock runs ahead of the bank's must still see
 * a running writer's lease as live, and a writer on such a machine a running prune's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryBank } from '../../src/bank/index.js';
import { ContentStore } from '../../src/store/index.js';
import { acquirePruneLease } from '../../src/store/leases.js';

/** The bank's clock a minute behind this machine's (twice the default lease's time to live). */
const behind = () => Date.now() - 60_000;

describe('content store leases by the bank clock', () => {
  it('a prune on a machine ahead of the bank sees a live writer and refuses', async () => {
    const bank = new MemoryBank({ now: behind });
    const writer = await new ContentStore(bank).openWriter('protect');
    const { blobs } = await writer.write(randomBytes(4096));
    // The collector's store uses this machine's clock by default, as `hoard gc` does.
    await assert.rejects(
      new ContentStore(bank).prune(async () => new Set(), { owner: 'gc' }),
      { code: 'STORE_BUSY' },
    );
    await writer.close();
    assert.equal(await new ContentStore(bank).hasBlob(blobs[0]!), true);
  });

  it('a writer on a machine ahead of the bank waits for a live prune', async () => {
    const bank = new MemoryBank({ now: behind });
    const prune = await acquirePruneLease(bank.section('store'), 'gc', { ttlMs: 30_000, now: behind });
    try {
      await assert.rejects(new ContentStore(bank, { waitMs: 0 }).openWriter('protect'), {
        code: 'STORE_BUSY',
      });
    } finally {
      await prune.release();
    }
  });
});

describe('a renewal that ends after its lease expired', () => {
  it('is LEASE_LOST: a collector may have seen the lease expired before the write', async () => {
    let now = 1_000_000;
    const bank = new MemoryBank({ now: () => now });
    const lease = await bank.acquireLease('shared', { owner: 'protect', ttlMs: 30_000 });
    // The renewal's request starts in time and is answered 40 s later (a stalled process, a
    // slow server): the record was swapped at some moment in between, maybe after expiry.
    const store = (bank as unknown as { store: { renewLease: (...a: unknown[]) => Promise<unknown> } }).store;
    const renew = store.renewLease.bind(store);
    store.renewLease = async (...args) => {
      const answer = await renew(...args);
      now += 40_000;
      return answer;
    };
    await assert.rejects(bank.renewLease(lease), { code: 'LEASE_LOST' });
    // In time, it is a renewal as before.
    store.renewLease = renew;
    const fresh = await bank.acquireLease('other', { owner: 'protect', ttlMs: 30_000 });
    assert.equal((await bank.renewLease(fresh)).expiresAt, now + 30_000);
  });
});

describe('a prune whose lease renewal fails', () => {
  it('stops deleting at once (a writer may take the store as soon as the lease expires)', async () => {
    const bank = new MemoryBank();
    const packs = async () => (await bank.list('store/index/')).length;
    for (let i = 0; i < 3; i++) {
      const writer = await new ContentStore(bank).openWriter('protect');
      await writer.write(randomBytes(4096));
      await writer.close();
    }
    assert.equal(await packs(), 3);
    // The background renewal fails (the server unreachable a moment) while the first delete
    // is in flight; the lease is then left to expire, so a writer may come in.
    const store = (bank as unknown as { store: Record<string, (...a: unknown[]) => Promise<unknown>> }).store;
    const { renewLease, delete: remove } = store;
    let failed!: () => void;
    const renewalFailed = new Promise<void>((resolve) => {
      failed = resolve;
    });
    let deleting = false;
    store.renewLease = async (...args) => {
      // The prune's confirmations before its deletes succeed; the timer's renewal after fails.
      if (!deleting) return renewLease!.apply(store, args);
      failed();
      throw new Error('connection reset');
    };
    store.delete = async (...args) => {
      deleting = true;
      await renewalFailed;
      await new Promise((resolve) => setImmediate(resolve));
      return remove!.apply(store, args);
    };
    // The lease's timer does not hold the process open; this does, until the prune ends.
    const alive = setInterval(() => {}, 1000);
    try {
      await assert.rejects(
        new ContentStore(bank, { leaseTtlMs: 300 }).prune(async () => new Set(), { owner: 'gc' }),
        /connection reset/,
      );
    } finally {
      clearInterval(alive);
    }
    // The first pack went (its delete was under way); the others stay for the next prune.
    assert.equal(await packs(), 2);
  });

  it("stops deleting once a renewal goes unanswered past the lease's time", async () => {
    const bank = new MemoryBank();
    for (let i = 0; i < 3; i++) {
      const writer = await new ContentStore(bank).openWriter('protect');
      await writer.write(randomBytes(4096));
      await writer.close();
    }
    const store = (bank as unknown as { store: Record<string, (...a: unknown[]) => Promise<unknown>> }).store;
    const { renewLease, delete: remove } = store;
    let deleting = false;
    // Once deletes start, a renewal hangs (until its request times out, long after the lease
    // expired), so nothing sets `lost` meanwhile.
    const timeout = () => new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 1000));
    store.renewLease = async (...args) => (deleting ? timeout() : renewLease!.apply(store, args));
    store.delete = async (...args) => {
      deleting = true;
      await new Promise((resolve) => setTimeout(resolve, 300)); // a lease's whole time to live
      return remove!.apply(store, args);
    };
    await assert.rejects(
      new ContentStore(bank, { leaseTtlMs: 300 }).prune(async () => new Set(), { owner: 'gc' }),
      { code: 'LEASE_LOST' },
    );
    assert.equal((await bank.list('store/index/')).length, 2);
  });
});
