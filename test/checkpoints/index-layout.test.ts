/**
 * The checkpoint index (docs/bank-layout.md) on the memory, fs and s3 banks: newest first by
 * reversed ids in month/day/hour directories, so a page reads about a page of keys whatever
 * the history; paging, plan, since and until across shard boundaries; and a bank written with
 * the flat index of 2026-12 (test/fixtures/index-2026-12, written by the code as of 79939f6
 * through CheckpointStore) listed as it was, mixed with new checkpoints, and moved by gc's
 * `moveLegacyIndex`, a move cut short included.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Bank, FsBank, MemoryBank, S3Bank } from '../../src/bank/index.js';
import {
  indexEntryPrefix,
  indexPath,
  newCheckpointId,
  planIndexKey,
  reverseId,
  TIME_INDEX,
  timeIndexKey,
} from '../../src/checkpoints/keys.js';
import type { CheckpointStatus } from '../../src/checkpoints/status.js';
import { type CheckpointMeta, CheckpointStore } from '../../src/checkpoints/store.js';
import { freshBucket, removeBucket, SKIP_REASON, s3Server } from '../bank/s3-server.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/index-2026-12', import.meta.url));

/** The fixture's checkpoints (a3 is deleted; a4's delete was killed after its new entries). */
const OLD = {
  a1: '20261120T010000123Z-0a1b2c3d',
  b1: '20261120T020000123Z-1b2c3d4e',
  a2: '20261121T010000123Z-2c3d4e5f',
  a3: '20261122T010000123Z-3d4e5f60',
  b2: '20261123T010000123Z-4e5f6071',
  a4: '20261124T010000123Z-5f607182',
  b3: '20261125T010000123Z-60718293',
};
const OLD_LISTING = [
  [OLD.b3, 'beta', 'available'],
  [OLD.a4, 'alpha', 'available'],
  [OLD.b2, 'beta', 'available'],
  [OLD.a2, 'alpha', 'error'],
  [OLD.b1, 'beta', 'available'],
  [OLD.a1, 'alpha', 'available'],
];

function meta(id: string, plan: string, status: CheckpointStatus, files?: number): CheckpointMeta {
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
    ...(files === undefined
      ? {}
      : { stats: { files, bytes: files * 10, newBytes: 1, storedBytes: 2, durationMs: 3 } }),
  };
}

/** Every file of the fixture, as key and bytes. */
async function fixtureObjects(): Promise<[string, Buffer][]> {
  const out: [string, Buffer][] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push([relative(FIXTURE, path), await readFile(path)]);
    }
  };
  await walk(FIXTURE);
  return out;
}

/** A bank that counts listings (and how many were in flight at once), the keys they return, and record reads. */
function counting(bank: Bank) {
  const counts = { lists: 0, keys: 0, reads: 0, listing: 0, mostListing: 0 };
  const proxy = new Proxy(bank, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'list')
        return async (...args: Parameters<Bank['list']>) => {
          counts.mostListing = Math.max(counts.mostListing, ++counts.listing);
          const keys = await target.list(...args).finally(() => counts.listing--);
          counts.lists++;
          counts.keys += keys.length;
          return keys;
        };
      if (property === 'get')
        return (key: string) => {
          if (key.endsWith('/meta.json')) counts.reads++;
          return target.get(key);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Bank;
  return { bank: proxy, counts };
}

const listed = async (store: CheckpointStore, filter = {}) =>
  (await store.list(filter)).checkpoints.map((c) => [c.id, c.plan, c.status]);

/** Every page of `limit`, followed by its markers. */
async function allPages(store: CheckpointStore, filter: object, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let marker: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.list({ ...filter, limit, ...(marker ? { marker } : {}) });
    ids.push(...page.checkpoints.map((c) => c.id));
    if (!page.next) return ids;
    marker = page.next;
  }
  throw new Error('paging never ended');
}

interface Kind {
  name: string;
  open: () => Promise<Bank>;
  skip?: string;
}

const dirs: string[] = [];
const buckets: string[] = [];
const server = await s3Server();
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  for (const bucket of buckets) if (server) await removeBucket(server, bucket);
});

const kinds: Kind[] = [
  { name: 'memory', open: async () => new MemoryBank() },
  {
    name: 'fs',
    open: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'hoard-index-'));
      dirs.push(dir);
      return new FsBank(dir);
    },
  },
  {
    name: 's3',
    ...(server ? {} : { skip: SKIP_REASON }),
    open: async () => {
      const bucket = await freshBucket(server!, `index-layout-${buckets.length}`);
      buckets.push(bucket);
      return new S3Bank({
        bucket,
        endpoint: server!.endpoint,
        credentials: { accessKeyId: server!.accessKeyId, secretAccessKey: server!.secretAccessKey },
      });
    },
  },
];

describe('stats in index entries', () => {
  it('a bank opened with encryption = none (every provider’s bank) carries them; an encrypted one does not', async () => {
    process.env.HOARD_KDF_N ??= '1024';
    const stats = { files: 7, bytes: 70, newBytes: 1, storedBytes: 2, durationMs: 3 };
    const plain = new MemoryBank({ encryption: { mode: 'none', where: 'a test bank' } });
    const sealed = new MemoryBank({
      encryption: { mode: 'password', where: 'a test bank', password: async () => 'pw' },
    });
    for (const [bank, carried] of [
      [plain, true],
      [sealed, false],
    ] as const) {
      const store = new CheckpointStore(bank);
      const id = newCheckpointId();
      await store.create({ ...meta(id, 'p', 'available'), stats });
      assert.deepEqual(await store.indexKeys(id), [
        timeIndexKey(id, 'available', 'p', carried ? stats : undefined),
        planIndexKey(id, 'available', 'p', carried ? stats : undefined),
      ]);
      assert.deepEqual((await store.list()).checkpoints[0]?.stats, carried ? stats : undefined);
    }
  });
});

describe('reversed ids and their key paths', () => {
  it('reverse the order of ids, are their own inverse, and put an id in its month, day and hour', () => {
    const a = '20261123T094512345Z-3fa9c1d2';
    assert.equal(reverseId(a), '79738876T905487654Z-c0563e2d');
    assert.equal(reverseId(reverseId(a)), a);
    const ids = Array.from({ length: 200 }, (_, i) =>
      newCheckpointId(new Date(Date.UTC(2026, 0, 1) + i * 7_919_000)),
    );
    ids.push('20261123T094512345Z-00000000', '20261123T094512345Z-ffffffff', '20261123T094512345Z-0000000f');
    const byKey = [...ids].sort((x, y) => {
      const [kx, ky] = [timeIndexKey(x, 'available', 'p'), timeIndexKey(y, 'available', 'p')];
      return kx < ky ? -1 : kx > ky ? 1 : 0;
    });
    assert.deepEqual(byKey, [...ids].sort().reverse(), 'ascending keys are descending ids');
    assert.equal(indexPath(reverseId(a)), '797388/76/90/79738876T905487654Z-c0563e2d');
    assert.equal(indexPath(reverseId('202611')), '797388');
    assert.equal(indexPath(reverseId('2026112')), '797388/7');
    assert.equal(indexPath(reverseId('20261123T')), '797388/76/');
    assert.equal(indexPath(reverseId('20261123T0')), '797388/76/9');
  });
});

for (const kind of kinds) {
  describe(`the checkpoint index on the ${kind.name} bank`, { skip: kind.skip ?? false }, () => {
    it('pages newest first across months, days and hours, by plan, since and until', async () => {
      const store = new CheckpointStore(await kind.open());
      // Ids across month, day and hour boundaries, two in one millisecond.
      const times = [
        Date.UTC(2026, 10, 30, 23, 59, 59, 999),
        Date.UTC(2026, 11, 1, 0, 0, 0, 0),
        Date.UTC(2026, 11, 1, 0, 59, 0, 0),
        Date.UTC(2026, 11, 1, 1, 0, 0, 0),
        Date.UTC(2026, 11, 1, 1, 0, 0, 0),
        Date.UTC(2026, 11, 2, 12, 0, 0, 0),
        Date.UTC(2027, 0, 1, 0, 0, 0, 0),
        Date.UTC(2027, 0, 1, 0, 0, 0, 1),
      ];
      const ids = times.map((t) => newCheckpointId(new Date(t)));
      await Promise.all(ids.map((id, i) => store.create(meta(id, i % 2 ? 'odd' : 'even', 'available', i))));
      const newest = [...ids].sort().reverse();
      for (const limit of [1, 2, 3, 100])
        assert.deepEqual(await allPages(store, {}, limit), newest, `limit ${limit}`);
      const odd = newest.filter((id) => ids.indexOf(id) % 2 === 1);
      assert.deepEqual(await allPages(store, { plan: 'odd' }, 2), odd);
      const page = await store.list({ limit: 100 });
      assert.deepEqual(
        page.checkpoints.map((c) => c.stats?.files),
        newest.map((id) => ids.indexOf(id)),
        'each entry carries its stats',
      );
      const window = { since: '2026-12-01T00:00:00Z', until: '2026-12-02T12:00:00Z' };
      assert.deepEqual(
        (await store.list(window)).checkpoints.map((c) => c.id),
        newest.filter((id) => id >= '20261201T000000000Z' && id < '20261202T120000000Z'),
      );
      assert.deepEqual(
        await allPages(store, window, 1),
        (await store.list(window)).checkpoints.map((c) => c.id),
      );
      assert.deepEqual(await store.idsWithPrefix(ids[3]!.slice(0, 15), 10), [ids[3], ids[4]].sort());
    });

    it('a status change leaves one entry with the new status; a change cut short is resolved by the record', async () => {
      const bank = await kind.open();
      const store = new CheckpointStore(bank);
      const id = newCheckpointId();
      await store.create(meta(id, 'p', 'protecting'));
      await store.transition(id, ['protecting'], 'available', {
        stats: { files: 7, bytes: 70, newBytes: 1, storedBytes: 2, durationMs: 3 },
      });
      assert.deepEqual(await store.indexKeys(id), [
        timeIndexKey(id, 'available', 'p', {
          files: 7,
          bytes: 70,
          newBytes: 1,
          storedBytes: 2,
          durationMs: 3,
        }),
        planIndexKey(id, 'available', 'p', {
          files: 7,
          bytes: 70,
          newBytes: 1,
          storedBytes: 2,
          durationMs: 3,
        }),
      ]);
      // A delete killed after its new entries: the record (available) is the truth.
      await bank.put(timeIndexKey(id, 'deleting', 'p'), '');
      await bank.put(planIndexKey(id, 'deleting', 'p'), '');
      assert.deepEqual(await listed(store), [[id, 'p', 'available']]);
      assert.deepEqual(await listed(store, { plan: 'p' }), [[id, 'p', 'available']]);
      // The next change removes every other entry of it.
      await store.transition(id, ['available'], 'deleting');
      assert.deepEqual(await store.indexKeys(id), [
        timeIndexKey(id, 'deleting', 'p', {
          files: 7,
          bytes: 70,
          newBytes: 1,
          storedBytes: 2,
          durationMs: 3,
        }),
        planIndexKey(id, 'deleting', 'p', {
          files: 7,
          bytes: 70,
          newBytes: 1,
          storedBytes: 2,
          durationMs: 3,
        }),
      ]);
      await store.transition(id, ['deleting'], 'deleted');
      assert.deepEqual(await store.indexKeys(id), []);
      assert.deepEqual(await listed(store), []);
    });

    it('a page reads about a page of index keys however long the history', async () => {
      const bank = await kind.open();
      const n = { memory: 3000, fs: 600, s3: 150 }[kind.name] ?? 100;
      const start = Date.UTC(2026, 0, 1);
      const ids = Array.from({ length: n }, (_, i) => newCheckpointId(new Date(start + i * 60_000)));
      // Entries alone: what a listing reads (records only for what it must check).
      for (let i = 0; i < n; i += 50)
        await Promise.all(ids.slice(i, i + 50).map((id) => bank.put(timeIndexKey(id, 'available', 'p'), '')));
      const { bank: counted, counts } = counting(bank);
      const page = await new CheckpointStore(counted).list({ limit: 20 });
      assert.deepEqual(
        page.checkpoints.map((c) => c.id),
        ids.slice(-20).reverse(),
      );
      assert.equal(counts.reads, 0);
      assert.equal(counts.lists, 2, 'one listing of the index, one of the flat index of older banks');
      assert.equal(counts.mostListing, 2, 'the two at once: one round trip');
      assert.ok(counts.keys <= 21, `${counts.keys} keys listed`);
      // The next page starts where it ended, as cheaply.
      counts.keys = 0;
      const next = await new CheckpointStore(counted).list({ limit: 20, marker: page.next! });
      assert.deepEqual(
        next.checkpoints.map((c) => c.id),
        ids.slice(-40, -20).reverse(),
      );
      assert.ok(counts.keys <= 21, `${counts.keys} keys listed`);
    });

    it('lists a bank written with the flat index of 2026-12, alone and mixed with new checkpoints, and moves it', async () => {
      const bank = await kind.open();
      for (const [key, bytes] of await fixtureObjects()) await bank.put(key, bytes);
      const store = new CheckpointStore(bank);
      assert.deepEqual(await listed(store), OLD_LISTING);
      assert.deepEqual(await listed(store, { plan: 'alpha' }), [
        [OLD.a4, 'alpha', 'available'],
        [OLD.a2, 'alpha', 'error'],
        [OLD.a1, 'alpha', 'available'],
      ]);
      assert.deepEqual(
        await allPages(store, {}, 2),
        OLD_LISTING.map(([id]) => id),
      );
      assert.deepEqual(
        (await store.list({ since: '2026-11-21T00:00:00Z', until: '2026-11-24T00:00:00Z' })).checkpoints.map(
          (c) => c.id,
        ),
        [OLD.b2, OLD.a2],
      );
      const stats = await store.indexedStats([OLD.b3, OLD.b2, OLD.a1]);
      assert.deepEqual(
        [...stats.keys()].sort(),
        [OLD.a1, OLD.b3],
        'the flat stats index is read (b2 has none)',
      );
      assert.deepEqual(await store.idsWithPrefix('20261120', 10), [OLD.a1, OLD.b1]);
      assert.deepEqual(
        (await store.indexed(OLD.a4)).map((s) => s.status),
        ['available', 'deleting'],
      );

      // New checkpoints among and after the old ones.
      const among = '20261122T120000000Z-00000001';
      const newest = '20261201T000000000Z-00000002';
      await store.create(meta(among, 'alpha', 'available', 9));
      await store.create(meta(newest, 'beta', 'available'));
      const mixed = [
        [newest, 'beta', 'available'],
        ...OLD_LISTING.slice(0, 3),
        [among, 'alpha', 'available'],
        ...OLD_LISTING.slice(3),
      ].map((row) => [...row]);
      assert.deepEqual(await listed(store), mixed);
      assert.deepEqual(
        await allPages(store, {}, 3),
        mixed.map(([id]) => id),
      );
      // A status change of an old checkpoint leaves no old entry behind.
      await store.transition(OLD.b1, ['available'], 'deleting');
      assert.deepEqual(await store.indexKeys(OLD.b1), [
        timeIndexKey(OLD.b1, 'deleting', 'beta', {
          files: 2,
          bytes: 2000,
          newBytes: 20,
          storedBytes: 10,
          durationMs: 42,
        }),
        planIndexKey(OLD.b1, 'deleting', 'beta', {
          files: 2,
          bytes: 2000,
          newBytes: 20,
          storedBytes: 10,
          durationMs: 42,
        }),
        `index/stats/${OLD.b1}.2.2000.20.10.42`,
      ]);
      // Its process is gone: the next reader stores it as error_deleting.
      assert.equal((await store.get(OLD.b1)).status, 'error_deleting');
      mixed.find(([id]) => id === OLD.b1)![2] = 'error_deleting';
      assert.deepEqual(await listed(store), mixed);

      // A move cut short: today's entries written, the flat ones still there.
      const a1 = await store.read(OLD.a1);
      await bank.put(timeIndexKey(a1.id, a1.status, a1.plan, a1.stats), '');
      await bank.put(planIndexKey(a1.id, a1.status, a1.plan, a1.stats), '');
      const { bank: counted, counts } = counting(bank);
      assert.deepEqual(await listed(new CheckpointStore(counted)), mixed);
      assert.equal(counts.reads, 1, 'only a4, whose two statuses need its record');
      // ... and, on top, a delete killed after its new entries: three entries, two statuses.
      const killed = [timeIndexKey(a1.id, 'deleting', 'alpha'), planIndexKey(a1.id, 'deleting', 'alpha')];
      for (const key of killed) await bank.put(key, '');
      assert.deepEqual(await listed(store), mixed, 'the record (available) decides');
      assert.deepEqual(await listed(store, { plan: 'alpha', status: 'available' }), [
        [OLD.a4, 'alpha', 'available'],
        [among, 'alpha', 'available'],
        [OLD.a1, 'alpha', 'available'],
      ]);
      for (const key of killed) await bank.delete(key);

      for (const id of Object.values(OLD)) await store.moveLegacyIndex(id);
      for (const prefix of ['index/time/', 'index/plan/', 'index/stats/'])
        assert.deepEqual(await bank.list(prefix), [], `${prefix} is empty`);
      assert.deepEqual(await listed(store), mixed);
      assert.deepEqual(await listed(store, { plan: 'alpha' }), [
        [OLD.a4, 'alpha', 'available'],
        [among, 'alpha', 'available'],
        [OLD.a2, 'alpha', 'error'],
        [OLD.a1, 'alpha', 'available'],
      ]);
      const page = await store.list();
      assert.deepEqual(
        page.checkpoints.filter((c) => c.stats).map((c) => [c.id, c.stats!.files]),
        [
          [OLD.b3, 5],
          [OLD.a4, 4],
          [among, 9],
          [OLD.b1, 2],
          [OLD.a1, 1],
        ],
      );
      assert.deepEqual(
        await bank.list(indexEntryPrefix(TIME_INDEX, OLD.a4)),
        [
          timeIndexKey(OLD.a4, 'available', 'alpha', {
            files: 4,
            bytes: 4000,
            newBytes: 40,
            storedBytes: 20,
            durationMs: 42,
          }),
        ],
        'a4 keeps the status its record has',
      );
      assert.equal(await store.moveLegacyIndex(OLD.a1), false, 'nothing left to move');
    });
  });
}
