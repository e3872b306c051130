import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Bank, FsBank, MemoryBank } from '../../src/bank/index.js';
import { blobId } from '../../src/store/blob-id.js';
import { Chunker, ContentStore, type StoreOptions, type WriteResult } from '../../src/store/index.js';
import { KeptLease } from '../../src/store/leases.js';
import {
  asStream,
  banks,
  collect,
  KiB,
  MiB,
  pieces,
  readIndexObject,
  rejectsWith,
  seeded,
} from './helpers.js';

/** Small sizes keep the suite fast: 16 KiB chunks (4 KiB min, 64 KiB max), 256 KiB packs. */
const SMALL: StoreOptions = { averageChunkSize: 16 * KiB, packSize: 256 * KiB };

async function packKeys(bank: Bank): Promise<string[]> {
  return bank.list('store/packs/');
}

for (const fixture of banks) {
  describe(`content store on ${fixture.name}`, () => {
    let bank: Bank;
    let done: () => Promise<void>;
    before(async () => {
      ({ bank, done } = await fixture.make());
    });
    after(() => done());

    it('round-trips random and repetitive data of many sizes byte for byte', async () => {
      const store = new ContentStore(bank.section('round-trip'), SMALL);
      const sizes = [0, 1, 4 * KiB - 1, 4 * KiB, 4 * KiB + 1, 16 * KiB, 64 * KiB, 64 * KiB + 1, 3 * MiB + 7];
      const inputs: Buffer[] = [];
      for (const size of sizes) {
        inputs.push(randomBytes(size));
        inputs.push(Buffer.alloc(size, 'abc'));
      }
      const writer = await store.openWriter('round-trip');
      const written: WriteResult[] = [];
      for (const data of inputs) written.push(await writer.write(data));
      const closed = await writer.close();
      assert.ok(closed.packsWritten > 1, 'more than one pack');
      assert.ok(closed.bytesDeduplicated > 0, 'repetitive data deduplicates');
      const reader = new ContentStore(bank.section('round-trip'), SMALL);
      for (const [i, data] of inputs.entries()) {
        const { blobs, size } = written[i]!;
        assert.equal(size, data.length);
        assert.equal(blobs.length === 0, data.length === 0);
        assert.ok((await collect(reader.readBlobs(blobs))).equals(data), `input ${i} (${data.length} bytes)`);
      }
    });

    it('a writer inside an operation that holds the store (holdAs) shares its lease and marker; one after the holder let go fails LEASE_LOST', async () => {
      const section = bank.section('borrowed');
      const store = new ContentStore(section, { ...SMALL, holdAs: 'the operation' });
      await store.hold();
      const markers = () => section.list('store/locks/writers/');
      assert.equal((await markers()).length, 1);
      const writer = await store.openWriter('a writer');
      assert.equal((await markers()).length, 1, 'no second lease and marker');
      await writer.write(Buffer.from('shared'));
      await writer.close();
      assert.equal((await markers()).length, 1, "the holder's lease outlives its writers");
      const late = await store.openWriter('a late writer');
      await writer.close().catch(() => {});
      await store.release();
      assert.deepEqual(await markers(), []);
      await late.write(randomBytes(64));
      await assert.rejects(late.close(), { code: 'LEASE_LOST' });
      // Without holdAs a writer takes its own, as before.
      const own = await new ContentStore(section, SMALL).openWriter('alone');
      assert.equal((await markers()).length, 1);
      await own.close();
      assert.deepEqual(await markers(), []);
    });

    it('writers confirming one shared lease at once share one renewal, started after each asked', async () => {
      class Renewals extends MemoryBank {
        renewals = 0;
        override async renewLease(...args: Parameters<MemoryBank['renewLease']>) {
          this.renewals++;
          return super.renewLease(...args);
        }
      }
      const counting = new Renewals();
      const kept = new KeptLease(
        counting,
        await counting.acquireLease('shared', { owner: 'o', ttlMs: 60_000 }),
      );
      await Promise.all([kept.confirm(), kept.confirm(), kept.confirm()]);
      assert.equal(counting.renewals, 1);
      // Asked after that renewal ended: a new one each time.
      await kept.confirm();
      await kept.confirm();
      assert.equal(counting.renewals, 3);
      await kept.release();
    });

    it('writes no new pack for data it already holds', async () => {
      const section = bank.section('dedup');
      const data = randomBytes(MiB);
      const first = await new ContentStore(section, SMALL).openWriter('first');
      const a = await first.write(data);
      await first.close();
      const packs = await packKeys(section);
      const second = await new ContentStore(section, SMALL).openWriter('second');
      const b = await second.write(asStream(pieces(data, [1000, 33_333])));
      const closed = await second.close();
      assert.deepEqual(b.blobs, a.blobs);
      assert.equal(b.newBytes, 0);
      assert.deepEqual(closed, { packsWritten: 0, blobsWritten: 0, bytesWritten: 0, bytesDeduplicated: MiB });
      assert.deepEqual(await packKeys(section), packs);
    });

    it('dedups against no pack that is missing: writes its blobs again, and lacking(storedPacks) names them till then', async () => {
      const section = bank.section('missing-pack');
      const data = randomBytes(MiB);
      const first = await new ContentStore(section, SMALL).openWriter('first');
      const a = await first.write(data);
      await first.close();
      // One pack gone, its index object left (damage, or a prune cut short).
      const gone = (await packKeys(section))[0]!;
      await section.delete(gone);
      const packId = gone.split('/').at(-1)!;
      const index = await readIndexObject(section, `store/index/${packId}.json`);
      const lost = index.blobs.map((b) => b.id);
      assert.ok(lost.length > 0);
      const reader = new ContentStore(section, SMALL);
      assert.deepEqual([...(await reader.lacking(a.blobs, { storedPacks: true }))].sort(), [...lost].sort());
      const second = await new ContentStore(section, SMALL).openWriter('second');
      const b = await second.write(data);
      const closed = await second.close();
      assert.deepEqual(b.blobs, a.blobs);
      assert.equal(closed.blobsWritten, lost.length);
      const after = new ContentStore(section, SMALL);
      assert.equal((await after.lacking(a.blobs, { storedPacks: true })).size, 0);
      assert.ok((await collect(after.readBlobs(a.blobs))).equals(data));
    });

    it('stores about one new chunk for a 1-byte change in the middle of a large file', async () => {
      const store = new ContentStore(bank.section('one-byte'), { averageChunkSize: 64 * KiB, packSize: MiB });
      const data = seeded('one byte', 8 * MiB);
      const first = await store.openWriter('before');
      const a = await first.write(data);
      await first.close();
      data[4 * MiB + 12_345] = data[4 * MiB + 12_345]! ^ 1;
      const second = await store.openWriter('after');
      const b = await second.write(data);
      const closed = await second.close();
      const fresh = b.blobs.filter((id) => !a.blobs.includes(id));
      assert.ok(fresh.length >= 1 && fresh.length <= 2, `${fresh.length} new blobs of ${b.blobs.length}`);
      assert.ok(b.newBytes <= 2 * 256 * KiB, `${b.newBytes} new bytes`);
      assert.equal(closed.blobsWritten, fresh.length);
      assert.ok((await collect(store.readBlobs(b.blobs))).equals(data));
    });

    it('gives the same blobs however the input is split into stream pieces', async () => {
      const store = new ContentStore(bank.section('split'), SMALL);
      const data = randomBytes(MiB + 3);
      const writer = await store.openWriter('split');
      const whole = await writer.write(data);
      for (const sizes of [[1, 2, 3, 5, 8, 13], [4095], [16 * KiB + 1, 7], [MiB]]) {
        const small = sizes[0] === 1 ? data.subarray(0, 100 * KiB) : data;
        const expected = sizes[0] === 1 ? (await writer.write(small)).blobs : whole.blobs;
        assert.deepEqual(
          (await writer.write(asStream(pieces(small, sizes)))).blobs,
          expected,
          `pieces of ${sizes}`,
        );
      }
      await writer.close();
    });

    it('stores each blob once when concurrent write() calls overlap', async () => {
      const store = new ContentStore(bank.section('concurrent'), SMALL);
      const shared = randomBytes(600 * KiB);
      const inputs = [
        shared,
        shared,
        Buffer.concat([shared, randomBytes(100 * KiB)]),
        Buffer.concat([randomBytes(50 * KiB), shared]),
        shared,
      ];
      const writer = await store.openWriter('concurrent');
      const results = await Promise.all(
        inputs.map((data, i) => writer.write(asStream(pieces(data, [1000 + i * 777])))),
      );
      const closed = await writer.close();
      const distinct = new Set(results.flatMap((r) => r.blobs));
      assert.equal(closed.blobsWritten, distinct.size);
      assert.equal((await store.stats()).blobs, distinct.size);
      for (const [i, data] of inputs.entries()) {
        assert.ok((await collect(store.readBlobs(results[i]!.blobs))).equals(data), `input ${i}`);
      }
    });

    it('finds a corrupted byte in a pack, naming blob and pack', async () => {
      const section = bank.section('corrupt');
      const store = new ContentStore(section, SMALL);
      const writer = await store.openWriter('corrupt');
      const { blobs } = await writer.write(randomBytes(100 * KiB));
      await writer.close();
      const [key] = await packKeys(section);
      const pack = key!.split('/').pop()!;
      const bytes = await section.get(key!);
      bytes[10] = bytes[10]! ^ 0xff;
      await section.put(key!, bytes);
      const reader = new ContentStore(section, SMALL);
      const first = blobs[0]!;
      const error = await rejectsWith(reader.readBlob(first), 'STORE_CORRUPT');
      assert.ok(error.message.includes(first) && error.message.includes(pack), error.message);
      const problem = await reader.checkBlob(first);
      assert.ok(problem?.includes(first) && problem.includes(pack), problem);
      assert.equal(await reader.checkBlob(blobs[1]!), undefined);
      await rejectsWith(collect(reader.readBlobs(blobs)), 'STORE_CORRUPT', new RegExp(first));
    });

    it('reports a blob it does not have as STORE_CORRUPT, and refuses what is not a blob id', async () => {
      const store = new ContentStore(bank.section('missing'), SMALL);
      const id = 'ab'.repeat(32);
      assert.equal(await store.hasBlob(id), false);
      await rejectsWith(store.readBlob(id), 'STORE_CORRUPT', /not in the content store's index/);
      assert.match((await store.checkBlob(id))!, new RegExp(id));
      await rejectsWith(store.readBlob('../etc/passwd'), 'STORE_ARGUMENT_INVALID');
    });

    it('rebuilds from a pack alone the index it stored', async () => {
      const section = bank.section('rebuild');
      const store = new ContentStore(section, { ...SMALL, compression: 'deflate' });
      const writer = await store.openWriter('rebuild');
      await writer.write(Buffer.concat([randomBytes(300 * KiB), Buffer.alloc(300 * KiB, 'text ')]));
      await writer.close();
      const indexes = await section.list('store/index/');
      assert.ok(indexes.length >= 2);
      for (const key of indexes) {
        const stored = await readIndexObject(section, key);
        assert.deepEqual(await store.rebuildIndex(stored.pack), stored);
        assert.ok(await section.exists(`store/packs/${stored.pack.slice(0, 2)}/${stored.pack}`));
      }
    });
  });
}

describe('content store: options and edge cases', () => {
  it('deflates blobs only when that saves space, and reads them back', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, { ...SMALL, compression: 'deflate' });
    const text = Buffer.alloc(200 * KiB, 'the same words again and again ');
    const noise = randomBytes(200 * KiB);
    const writer = await store.openWriter('deflate');
    const a = await writer.write(text);
    const b = await writer.write(noise);
    const closed = await writer.close();
    assert.ok(closed.bytesWritten < 200 * KiB + 210 * KiB, `${closed.bytesWritten} bytes written`);
    const [key] = await bank.list('store/index/');
    const index = await readIndexObject(bank, key!);
    const kinds = new Set(index.blobs.map((blob: { compression: string }) => blob.compression));
    assert.deepEqual([...kinds].sort(), ['deflate', 'none']);
    assert.ok((await collect(store.readBlobs(a.blobs))).equals(text));
    assert.ok((await collect(store.readBlobs(b.blobs))).equals(noise));
  });

  it('compresses each blob whole with zstd by default, keeping it so only where it shrank', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const text = Buffer.from('a line of text that repeats, as logs and sources do\n'.repeat(4000));
    const noise = randomBytes(200 * KiB);
    // Random at the start, compressible after: a sample of the start would call it incompressible.
    const mixed = Buffer.concat([randomBytes(8 * KiB), Buffer.alloc(40 * KiB, 'compressible ')]);
    const small = Buffer.from('tiny tiny tiny tiny tiny tiny tiny tiny tiny tiny tiny tiny');
    const writer = await store.openWriter('auto');
    const written = [
      await writer.write(text),
      await writer.write(noise),
      await writer.writeBlob(mixed),
      await writer.write(small),
    ];
    await writer.close();
    const kinds = new Map<string, string>();
    for (const key of await bank.list('store/index/')) {
      const index = await readIndexObject(bank, key);
      for (const b of index.blobs) kinds.set(b.id, b.compression);
    }
    const [t, n, m, s] = written as [WriteResult, WriteResult, { id: string }, WriteResult];
    for (const id of t.blobs) assert.equal(kinds.get(id), 'zstd');
    for (const id of n.blobs) assert.equal(kinds.get(id), 'none');
    assert.equal(kinds.get(m.id), 'zstd');
    assert.equal(kinds.get(s.blobs[0]!), 'zstd');
    assert.ok((await collect(store.readBlobs(t.blobs))).equals(text));
    assert.ok((await collect(store.readBlobs(n.blobs))).equals(noise));
    assert.ok((await store.readBlob(m.id)).equals(mixed));
    assert.ok((await collect(store.readBlobs(s.blobs))).equals(small));
    const none = new ContentStore(new MemoryBank(), { ...SMALL, compression: 'none' });
    const w = await none.openWriter('none');
    await w.write(text);
    assert.ok((await w.close()).bytesWritten > text.length);
    assert.throws(() => new ContentStore(bank, { compression: 'lz4' as 'none' }), /compression must be/);
  });

  it('a zstd blob that decompresses to other bytes or another length is damage, named', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const text = Buffer.alloc(100 * KiB, 'squeeze me ');
    const writer = await store.openWriter('damage');
    const { id } = await writer.writeBlob(text);
    await writer.close();
    const [indexKey] = await bank.list('store/index/');
    const index = await readIndexObject(bank, indexKey!);
    const packKey = `store/packs/${index.pack.slice(0, 2)}/${index.pack}`;
    const pack = await bank.get(packKey);
    const entry = index.blobs[0]!;
    assert.equal(entry.compression, 'zstd');
    const at = entry.offset + entry.length - 2;
    pack[at] = pack[at]! ^ 0x55;
    await bank.put(packKey, pack);
    await rejectsWith(
      new ContentStore(bank, SMALL).readBlob(id),
      'STORE_CORRUPT',
      /does not decompress|hashes to/,
    );
  });

  it('streams packs larger than the cache, a run of blobs in one pass', async () => {
    const bank = new MemoryBank();
    const data = randomBytes(2 * MiB);
    const writer = await new ContentStore(bank, SMALL).openWriter('stream');
    const { blobs } = await writer.write(data);
    await writer.close();
    const streaming = new ContentStore(bank, { ...SMALL, cacheSize: 0 });
    assert.ok((await collect(streaming.readBlobs(blobs))).equals(data));
    const shuffled = [blobs[3]!, blobs[1]!, blobs[1]!, blobs[0]!];
    const expected = Buffer.concat(await Promise.all(shuffled.map((id) => streaming.readBlob(id))));
    assert.ok((await collect(streaming.readBlobs(shuffled))).equals(expected));
  });

  it('reads blobs another process wrote after this one loaded its index', async () => {
    const bank = new MemoryBank();
    const reader = new ContentStore(bank, SMALL);
    assert.equal((await reader.stats()).blobs, 0);
    const writer = await new ContentStore(bank, SMALL).openWriter('other process');
    const data = seeded('late', 50 * KiB);
    const { blobs } = await writer.write(data);
    await writer.close();
    assert.equal(await reader.hasBlob(blobs[0]!), true);
    assert.ok((await collect(reader.readBlobs(blobs))).equals(data));
  });

  it('stores a blob as it is with writeBlob, so copying blobs keeps their ids', async () => {
    const source = new ContentStore(new MemoryBank(), SMALL);
    const writer = await source.openWriter('source');
    const { blobs } = await writer.write(randomBytes(200 * KiB));
    await writer.close();
    const target = new ContentStore(new MemoryBank(), { averageChunkSize: 256 });
    const copier = await target.openWriter('copy');
    for (const id of blobs) assert.equal((await copier.writeBlob(await source.readBlob(id))).id, id);
    await copier.close();
    for (const id of blobs) assert.ok((await target.readBlob(id)).equals(await source.readBlob(id)));
  });

  it('refuses use after close, and bad options', async () => {
    const store = new ContentStore(new MemoryBank(), SMALL);
    const writer = await store.openWriter('closed');
    await writer.close();
    await rejectsWith(writer.write(Buffer.from('late')), 'STORE_WRITER_CLOSED');
    await rejectsWith(writer.close(), 'STORE_WRITER_CLOSED');
    await writer.abort();
    assert.throws(() => new ContentStore(new MemoryBank(), { averageChunkSize: 1000 }), /power of two/);
    assert.throws(() => new ContentStore(new MemoryBank(), { packSize: 0 }), /packSize/);
  });

  for (const uploads of [1, 3]) {
    it(`uploads at most ${uploads} pack(s) at once while the next fills, and close waits for them all`, async () => {
      const bank = new MemoryBank();
      let inFlight = 0;
      let most = 0;
      let open = false;
      const held: (() => void)[] = [];
      const letGo = () => {
        for (const go of held.splice(0)) go();
      };
      // Pack puts wait until `uploads` of them are in flight at once (or the writer is done).
      const gate = (target: Bank, at: string): Bank =>
        new Proxy(target, {
          get(inner, property) {
            // biome-ignore lint/suspicious/noExplicitAny: a stand-in for any of the bank's methods
            const value: any = Reflect.get(inner, property, inner);
            if (property === 'section') {
              return (prefix: string, ...rest: unknown[]) =>
                gate(value.call(inner, prefix, ...rest), `${at}${prefix}/`);
            }
            if (property !== 'put') return typeof value === 'function' ? value.bind(inner) : value;
            return async (key: string, data: unknown) => {
              if (!`${at}${key}`.startsWith('store/packs/')) return value.call(inner, key, data);
              inFlight++;
              most = Math.max(most, inFlight);
              const turn = new Promise<void>((go) => held.push(go));
              if (open || inFlight >= uploads) letGo();
              await turn;
              inFlight--;
              return value.call(inner, key, data);
            };
          },
        });
      const gated = gate(bank, '');
      const store = new ContentStore(gated, { ...SMALL, uploads });
      const writer = await store.openWriter('uploads');
      const data = randomBytes(2 * MiB);
      const { blobs } = await writer.write(data);
      open = true;
      letGo();
      const closed = await writer.close();
      assert.ok(closed.packsWritten >= 6, `${closed.packsWritten} packs`);
      assert.equal(most, uploads, 'as many uploads at once as allowed, never more');
      assert.ok((await collect(new ContentStore(bank, SMALL).readBlobs(blobs))).equals(data));
    });
  }

  it('fails close when a pack could not be stored, so no checkpoint refers to lost blobs', async () => {
    const bank = new MemoryBank();
    const failing = new Proxy(bank, {
      get(target, property, receiver) {
        if (property === 'section') {
          return (prefix: string) => {
            const section = target.section(prefix);
            return new Proxy(section, {
              get(inner, name) {
                if (name === 'put') {
                  return (key: string, data: unknown) =>
                    key.startsWith('packs/')
                      ? Promise.reject(new Error('disk full'))
                      : inner.put(key, data as string);
                }
                const value = Reflect.get(inner, name, inner);
                return typeof value === 'function' ? value.bind(inner) : value;
              },
            });
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const writer = await new ContentStore(failing, SMALL).openWriter('failing');
    const first = await writer.write(randomBytes(100 * KiB));
    assert.ok(first.blobs.length > 0);
    await assert.rejects(writer.close(), /disk full/);
    assert.deepEqual(await bank.list('store/locks/'), [], 'the writer marker is gone');
    const report = await new ContentStore(bank, SMALL).prune(async () => new Set(), { owner: 'gc' });
    assert.equal(report.packsRemoved, 0, 'and its lease: a prune is not refused');
  });
});

describe('content store on an encrypted bank', () => {
  it('reads through an index object that fails authentication (rebuilt from its pack), and a writer still writes', async () => {
    const { bank, done } = await banks.find((b) => b.name === 'FsBank, password mode')!.make();
    try {
      const data = seeded('index', 300 * KiB);
      const writer = await new ContentStore(bank, SMALL).openWriter('w');
      const written = await writer.write(data);
      await writer.close();
      const [key] = await bank.list('store/index/');
      const path = join((bank as FsBank).root, key!);
      const bytes = await readFile(path);
      bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 1;
      await writeFile(path, bytes);
      const store = new ContentStore(bank, SMALL);
      assert.ok((await collect(store.readBlobs(written.blobs))).equals(data));
      const again = await store.openWriter('again');
      assert.equal((await again.write(data)).newBytes, 0, 'its blobs are still known: nothing written twice');
      await again.close();
    } finally {
      await done();
    }
  });

  it('names blobs by HMAC under the repository key and cuts with its own gear table', async () => {
    const fixture = banks.find((b) => b.name === 'FsBank, password mode')!;
    const plain = await banks.find((b) => b.name === 'FsBank')!.make();
    const encrypted = await fixture.make();
    try {
      const data = seeded('encrypted', 3 * MiB);
      const write = async (bank: Bank) => {
        const writer = await new ContentStore(bank, SMALL).openWriter('t');
        const result = await writer.write(data);
        await writer.close();
        return result;
      };
      const [p, e] = [await write(plain.bank), await write(encrypted.bank)];
      const chunker = new Chunker(SMALL.averageChunkSize!);
      const first = chunker.push(data)[0]!;
      assert.equal(p.blobs[0], createHash('sha256').update(first).digest('hex'), 'plain: SHA-256');
      assert.equal(new Set(e.blobs.filter((id) => p.blobs.includes(id))).size, 0, 'no id in common');
      const lengths = async (bank: Bank, result: WriteResult) =>
        Promise.all(
          result.blobs.map(async (id) => (await new ContentStore(bank, SMALL).readBlob(id)).length),
        );
      assert.notDeepEqual(
        await lengths(encrypted.bank, e),
        await lengths(plain.bank, p),
        'other chunk boundaries',
      );
      const back = await collect(new ContentStore(encrypted.bank, SMALL).readBlobs(e.blobs));
      assert.ok(back.equals(data));
      // A second store on the same bank (another process) names the same content the same way: it deduplicates.
      const again = await write(encrypted.bank);
      assert.deepEqual(again.blobs, e.blobs);
      assert.equal(again.newBytes, 0);
    } finally {
      await plain.done();
      await encrypted.done();
    }
  });
});

describe('content store: the pack cache', () => {
  it('keeps whole packs up to cacheSize bytes, the least recently used leaving first', async () => {
    const bank = new MemoryBank();
    // Three packs of one 100 KiB blob each (each writer closes its own pack).
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      const writer = await new ContentStore(bank, SMALL).openWriter(name);
      ids.push((await writer.writeBlob(seeded(name, 100 * KiB))).id);
      await writer.close();
    }
    const [a, b, c] = ids as [string, string, string];
    const reader = new ContentStore(bank, { ...SMALL, cacheSize: 250 * KiB }); // two packs fit
    const packOf = async (id: string) =>
      `store/packs/${(await reader.locate([id])).get(id)!.pack.slice(0, 2)}/${(await reader.locate([id])).get(id)!.pack}`;
    await reader.readBlob(a);
    await reader.readBlob(b);
    await reader.readBlob(a); // a is now the most recently used
    await reader.readBlob(c); // makes room: b leaves, not a
    for (const id of [a, b]) await bank.delete(await packOf(id));
    assert.ok((await reader.readBlob(a)).equals(seeded('a', 100 * KiB)), 'a is read from the cache');
    await rejectsWith(reader.readBlob(b), 'STORE_CORRUPT', /missing from the bank/);
    assert.ok((await reader.readBlob(c)).equals(seeded('c', 100 * KiB)), 'c is still there and cached');
  });
});

describe('content store: packs staged on a bank that can (an unencrypted FsBank)', () => {
  it('writes the open pack to a temporary as it fills, small and large blobs in entry order, and names it at the end', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-staged-'));
    try {
      const bank = new FsBank(root);
      const store = new ContentStore(bank.section('s'), { averageChunkSize: 64 * KiB, packSize: 8 * MiB });
      const writer = await store.openWriter('staged');
      // Small blobs are gathered, large ones (half the write buffer and more) written as they
      // lie: each must land after the ones added before it.
      const sizes = [10 * KiB, 700 * KiB, 3 * KiB, 900 * KiB, 20 * KiB, 600 * KiB, 1 * KiB];
      const raws = sizes.map((n, i) => seeded(`staged-${i}`, n));
      const ids: string[] = [];
      for (const raw of raws) {
        const id = blobId(raw);
        ids.push(id);
        await writer.putEncoded({ id, stored: Buffer.from(raw), rawLength: raw.length, compression: 'none' });
      }
      const packs = join(root, 's', 'store', 'packs');
      const temps = async () => (await readdir(packs)).filter((name) => name.startsWith('.tmp-'));
      assert.equal((await temps()).length, 1, 'the open pack is on disk, not in memory');
      assert.deepEqual(await bank.list('s/store/packs/'), []);
      await writer.close();
      assert.deepEqual(await temps(), []);
      assert.equal((await bank.list('s/store/packs/')).length, 1);
      const reader = new ContentStore(bank.section('s'));
      assert.ok((await collect(reader.readBlobs(ids))).equals(Buffer.concat(raws)));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('an aborted writer leaves no temporary behind', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-staged-'));
    try {
      const bank = new FsBank(root);
      const store = new ContentStore(bank.section('s'), { averageChunkSize: 64 * KiB, packSize: 8 * MiB });
      const writer = await store.openWriter('aborted');
      const raw = seeded('aborted', 700 * KiB);
      await writer.putEncoded({ id: blobId(raw), stored: raw, rawLength: raw.length, compression: 'none' });
      const packs = join(root, 's', 'store', 'packs');
      assert.equal((await readdir(packs)).length, 1, 'the open pack has its temporary');
      await writer.abort();
      assert.deepEqual(await readdir(packs), []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
