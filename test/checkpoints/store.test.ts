import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBank } from '../../src/bank/index.js';
import { newCheckpointId } from '../../src/checkpoints/keys.js';
import type { CheckpointStatus } from '../../src/checkpoints/status.js';
import { type CheckpointMeta, CheckpointStore } from '../../src/checkpoints/store.js';
import { HoardError } from '../../src/errors.js';

function meta(id: string, plan: string, status: CheckpointStatus = 'available'): CheckpointMeta {
  const now = new Date().toISOString();
  return {
    version: 1,
    id,
    plan,
    provider: { id: 'p', name: 'p' },
    status,
    createdAt: now,
    updatedAt: now,
    resources: [],
    graph: { resources: [] },
    parameters: {},
    operations: [],
  };
}

/** Ids one second apart, oldest first. */
function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => newCheckpointId(new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
}

/** Counts reads, to show listing does no read per checkpoint. */
class CountingBank extends MemoryBank {
  gets = 0;
  override async get(key: string): Promise<Buffer> {
    this.gets++;
    return super.get(key);
  }
}

/** Records the order of index writes and deletes, and how many were in flight at once. */
class OverlapBank extends MemoryBank {
  log: string[] = [];
  inFlight = 0;
  most = 0;
  private async track<T>(what: string, call: () => Promise<T>): Promise<T> {
    this.most = Math.max(this.most, ++this.inFlight);
    this.log.push(`${what} (${this.inFlight} in flight)`);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      return await call();
    } finally {
      this.inFlight--;
    }
  }
  override put(key: string, data: Parameters<MemoryBank['put']>[1]): Promise<void> {
    return this.track(`put ${key}`, () => super.put(key, data));
  }
  override delete(key: string): Promise<void> {
    return this.track(`delete ${key}`, () => super.delete(key));
  }
}

/**
 * A status change that stalls while it writes its index entry: meanwhile the record's lock
 * expires (by the bank's clock and the monotonic one alike) and `meanwhile` runs.
 */
class StallingBank extends MemoryBank {
  clock = Date.now();
  stall: (() => Promise<void>) | undefined;
  constructor() {
    super({ now: () => this.clock });
  }
  override async put(key: string, data: Parameters<MemoryBank['put']>[1]): Promise<void> {
    const stall = this.stall;
    if (stall && key.startsWith('index/')) {
      this.stall = undefined;
      await stall();
    }
    return super.put(key, data);
  }
}

describe('checkpoint store', () => {
  it("a status change that stalls past its record lock's life does not write over another's", async () => {
    const bank = new StallingBank();
    const store = new CheckpointStore(bank);
    const [id] = ids(1);
    await store.create(meta(id!, 'db', 'protecting'));
    const realNow = performance.now;
    let skew = 0;
    performance.now = () => realNow.call(performance) + skew;
    try {
      bank.stall = async () => {
        // 11 s pass (the lock lives 10 s); another process finds the protect dead.
        bank.clock += 11_000;
        skew += 11_000;
        await new CheckpointStore(bank).transition(id!, ['protecting'], 'error');
      };
      await assert.rejects(store.transition(id!, ['protecting'], 'available'), (e: unknown) => {
        return e instanceof HoardError && e.code === 'LEASE_LOST';
      });
    } finally {
      performance.now = realNow;
    }
    assert.equal((await store.get(id!)).status, 'error', "the other process's change stands");
  });

  it('a status change writes its index entries at once, then the record, then deletes the old entries at once', async () => {
    const bank = new OverlapBank();
    const store = new CheckpointStore(bank);
    const [id] = ids(1);
    await store.create(meta(id!, 'db', 'protecting'));
    bank.log = [];
    bank.most = 0;
    await store.transition(id!, ['protecting'], 'available');
    const record = bank.log.findIndex((l) => l.startsWith('put checkpoints/'));
    const puts = bank.log.slice(0, record);
    const deletes = bank.log.slice(record + 1);
    assert.equal(puts.length, 2, 'the time and plan entries first');
    assert.ok(puts.every((l) => l.startsWith('put index/') && l.includes('.available')));
    assert.match(puts[1]!, /\(2 in flight\)$/, 'the two entries written at once');
    assert.match(bank.log[record]!, /\(1 in flight\)$/, 'the record alone, after the entries');
    assert.ok(deletes.length >= 2 && deletes.every((l) => l.startsWith('delete ')));
    assert.ok(deletes.some((l) => l.includes('.protecting')));
    // Each group in flight together (one round trip each on S3), never across the record.
    assert.equal(bank.most, deletes.length, 'the deletes ran at once, and the puts before the record');
    assert.deepEqual(
      (await store.list({})).checkpoints.map((c) => [c.id, c.status]),
      [[id, 'available']],
    );
  });

  it('lists newest first with marker and limit, filtered by plan and status, without reading each checkpoint', async () => {
    const bank = new CountingBank();
    const store = new CheckpointStore(bank);
    const all = ids(9);
    for (const [i, id] of all.entries())
      await store.create(meta(id, i % 3 === 0 ? 'db' : 'web', i === 4 ? 'error' : 'available'));
    bank.gets = 0;
    const first = await store.list({ limit: 4 });
    assert.deepEqual(
      first.checkpoints.map((c) => c.id),
      all.slice(5).reverse(),
    );
    assert.equal(first.next, all[5]);
    const second = await store.list({ limit: 4, marker: first.next! });
    assert.deepEqual(
      second.checkpoints.map((c) => c.id),
      all.slice(1, 5).reverse(),
    );
    const last = await store.list({ limit: 4, marker: second.next! });
    assert.deepEqual(
      last.checkpoints.map((c) => c.id),
      [all[0]],
    );
    assert.equal(last.next, null);
    assert.equal(bank.gets, 0, 'listing read checkpoint records');

    assert.deepEqual(
      (await store.list({ plan: 'db' })).checkpoints.map((c) => c.id),
      [all[6], all[3], all[0]],
    );
    assert.deepEqual(
      (await store.list({ status: 'error' })).checkpoints.map((c) => [c.id, c.plan]),
      [[all[4], 'web']],
    );
    const window = await store.list({ since: '2026-01-01T00:00:02Z', until: '2026-01-01T00:00:05Z' });
    assert.deepEqual(
      window.checkpoints.map((c) => c.id),
      [all[4], all[3], all[2]],
    );
  });

  it('status changes are validated compare-and-swap: of two racing changes exactly one wins', async () => {
    const store = new CheckpointStore(new MemoryBank());
    const [id] = ids(1) as [string];
    await store.create(meta(id, 'web', 'protecting'));
    const results = await Promise.allSettled([
      store.transition(id, ['protecting'], 'available'),
      store.transition(id, ['protecting'], 'error'),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(lost.reason instanceof HoardError && lost.reason.code === 'CHECKPOINT_STATE');
    const listed = await store.list();
    assert.equal(listed.checkpoints.length, 1, 'one index entry after the race');
    assert.equal(listed.checkpoints[0]!.status, (await store.read(id)).status);
  });

  it('refuses transitions the lifecycle does not have', async () => {
    const store = new CheckpointStore(new MemoryBank());
    const [id] = ids(1) as [string];
    await store.create(meta(id, 'web', 'available'));
    await assert.rejects(
      store.transition(id, ['available'], 'protecting'),
      /available; it cannot become protecting/,
    );
  });

  it('a protecting checkpoint whose lease is gone reads as error, and is stored so', async () => {
    const bank = new MemoryBank();
    const store = new CheckpointStore(bank);
    const [dead, alive] = ids(2) as [string, string];
    await store.create(meta(dead, 'web', 'protecting'));
    await store.create(meta(alive, 'web', 'protecting'));
    await store.acquireWork(alive);
    const listed = await store.list();
    assert.deepEqual(
      listed.checkpoints.map((c) => [c.id, c.status]),
      [
        [alive, 'protecting'],
        [dead, 'error'],
      ],
    );
    const stored = await store.read(dead);
    assert.equal(stored.status, 'error');
    assert.equal(stored.error?.code, 'LEASE_LOST');
  });

  it('removes every key of a checkpoint and its index entries', async () => {
    const bank = new MemoryBank();
    const store = new CheckpointStore(bank);
    const [keep, drop] = ids(2) as [string, string];
    await store.create(meta(keep, 'web'));
    await store.create(meta(drop, 'web'));
    await bank.put(`checkpoints/${drop}/resources/t#x/data`, 'x');
    await store.removeAll(drop, 'web');
    const keys = await bank.list('');
    assert.ok(
      keys.every((k) => !k.includes(drop)),
      keys.join('\n'),
    );
    assert.ok(keys.some((k) => k.includes(keep)));
  });

  it('rejects an id that is not one, showing a control character escaped', async () => {
    const store = new CheckpointStore(new MemoryBank());
    await assert.rejects(store.read('../../etc/passwd'), /is not a checkpoint id/);
    await assert.rejects(
      store.read('20261123T094512345Z-3fa9c1d2\nX'),
      (e: unknown) =>
        e instanceof HoardError &&
        e.code === 'CHECKPOINT_NOT_FOUND' &&
        e.message.startsWith('"20261123T094512345Z-3fa9c1d2\\nX" is not a checkpoint id') &&
        !e.message.includes('\n'),
    );
  });

  it('a truncated or incomplete meta.json is CHECKPOINT_CORRUPT naming the key and what is wrong; list still shows it', async () => {
    const bank = new MemoryBank();
    const store = new CheckpointStore(bank);
    const [truncated, incomplete, odd] = ids(3) as [string, string, string];
    for (const id of [truncated, incomplete, odd]) await store.create(meta(id, 'web'));
    const text = JSON.stringify(meta(truncated, 'web'), null, 2);
    await bank.put(`checkpoints/${truncated}/meta.json`, text.slice(0, text.length / 2));
    const { graph: _graph, ...rest } = meta(incomplete, 'web');
    await bank.put(`checkpoints/${incomplete}/meta.json`, JSON.stringify(rest));
    await bank.put(`checkpoints/${odd}/meta.json`, JSON.stringify({ ...meta(odd, 'web'), status: 'fine' }));
    const corrupt = (id: string, problem: RegExp) =>
      assert.rejects(store.get(id), (e: unknown) => {
        assert.ok(e instanceof HoardError);
        assert.equal(e.code, 'CHECKPOINT_CORRUPT');
        assert.ok(
          e.message.startsWith(`checkpoint ${id}: checkpoints/${id}/meta.json is damaged: `),
          e.message,
        );
        assert.match(e.message, problem);
        assert.equal(e.details?.key, `checkpoints/${id}/meta.json`);
        return true;
      });
    await corrupt(truncated, /not valid JSON \(.+\)$/);
    await corrupt(incomplete, /"graph\.resources" is missing or not an array$/);
    await corrupt(odd, /"status" is "fine", not one of protecting, available/);
    // Listing reads the index, not the records: the damage shows when one is read.
    const listed = await store.list();
    assert.deepEqual(
      listed.checkpoints.map((c) => c.status),
      ['available', 'available', 'available'],
    );
  });

  it('discards a damaged checkpoint (keys, index entries, record) but not a sound one', async () => {
    const bank = new MemoryBank();
    const store = new CheckpointStore(bank);
    const [sound, damaged] = ids(2) as [string, string];
    await store.create(meta(sound, 'web'));
    await store.create(meta(damaged, 'web.v2'));
    await bank.put(`checkpoints/${damaged}/resources/t#x/data`, 'x');
    await bank.put(`checkpoints/${damaged}/meta.json`, '{"version": 1, "id": ');
    await assert.rejects(
      store.discard(sound),
      (e: unknown) => e instanceof HoardError && e.code === 'CHECKPOINT_STATE',
    );
    const held = await store.acquireWork(damaged);
    await assert.rejects(
      store.discard(damaged),
      (e: unknown) => e instanceof HoardError && e.code === 'LEASE_HELD',
    );
    await bank.releaseLease(held);
    assert.deepEqual(await store.discard(damaged), { keys: 2, plans: ['web.v2'] });
    const keys = await bank.list('');
    assert.deepEqual(
      keys.filter((k) => k.includes(damaged)),
      [],
    );
    assert.deepEqual(
      (await store.list()).checkpoints.map((c) => c.id),
      [sound],
    );
  });
});

/** A bank whose process "dies" at its n-th write or delete: that call and every later one fail. */
class DyingBank extends MemoryBank {
  writes = 0;
  dieAt = Number.POSITIVE_INFINITY;
  private check(): void {
    if (++this.writes >= this.dieAt) throw new Error('killed');
  }
  override async put(key: string, data: Parameters<MemoryBank['put']>[1]): Promise<void> {
    this.check();
    return super.put(key, data);
  }
  override async delete(key: string): Promise<void> {
    this.check();
    return super.delete(key);
  }
}

describe('checkpoint store: a status change killed at any step', () => {
  for (const [from, to] of [
    ['available', 'deleting'],
    ['protecting', 'available'],
    ['deleting', 'deleted'],
  ] as [CheckpointStatus, CheckpointStatus][]) {
    it(`${from} → ${to}: every listing shows what the record says (never an old status the record no longer has)`, async () => {
      for (let step = 1; ; step++) {
        const bank = new DyingBank();
        const store = new CheckpointStore(bank);
        const [id] = ids(1);
        await store.create(meta(id!, 'nightly', from));
        bank.writes = 0;
        bank.dieAt = step;
        const finished = await store.transition(id!, [from], to).then(
          () => true,
          () => false,
        );
        bank.dieAt = Number.POSITIVE_INFINITY;
        // Listed first, as a `prune` would see it, before anything reads the record.
        const listed = (await store.list()).checkpoints.map((c) => c.status);
        const byPlan = (await store.list({ plan: 'nightly' })).checkpoints.map((c) => c.status);
        // What the record says, a dead worker's status read as its failure status.
        const raw = (await store.read(id!)).status;
        const record = raw === 'deleting' ? 'error_deleting' : raw === 'protecting' ? 'error' : raw;
        const expected = record === 'deleted' ? [] : [record];
        assert.deepEqual(listed, expected, `killed at write ${step}: the record says ${raw}`);
        assert.deepEqual(byPlan, expected, `killed at write ${step} (plan index): the record says ${raw}`);
        if (finished) break;
      }
    });
  }
});
