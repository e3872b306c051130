import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { type Bank, MemoryBank } from '../../src/bank/index.js';
import { operationStore } from '../../src/flows/operation-store.js';
import {
  type BlobBatch,
  type BlobLocation,
  ContentStore,
  decodeBlobSync,
  type StoreOptions,
} from '../../src/store/index.js';
import { KiB, MiB, rejectsWith, seeded } from './helpers.js';

/** 16 KiB chunks, 256 KiB packs: a few MiB make several packs. */
const SMALL: StoreOptions = { averageChunkSize: 16 * KiB, packSize: 256 * KiB };

/** `bank`, counting getStream() and getPieces() calls by key, sections included. */
function counting(bank: Bank, streams: Map<string, number>): Bank {
  return new Proxy(bank, {
    get(target, prop, receiver) {
      if (prop === 'section')
        return (...args: Parameters<Bank['section']>) => counting(target.section(...args), streams);
      if (prop === 'getStream' || prop === 'getPieces') {
        return (key: string) => {
          streams.set(key, (streams.get(key) ?? 0) + 1);
          return target[prop]!(key);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** `bank`, recording each getStream() or getPieces() and each destroy() of what it returned, in order. */
function watching(bank: Bank, events: string[] = [], streams: Readable[] = []) {
  const watched = (inner: Bank): Bank =>
    new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'section')
          return (...args: Parameters<Bank['section']>) => watched(target.section(...args));
        if (prop === 'getStream' || prop === 'getPieces') {
          return async (key: string) => {
            events.push(`open ${key}`);
            // A MemoryBank's pieces are its stream.
            const stream = (await target[prop]!(key)) as Readable;
            const destroy = stream.destroy.bind(stream);
            stream.destroy = (error?: Error) => {
              events.push(`closed ${key}`);
              return destroy(error);
            };
            streams.push(stream);
            return stream;
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return { bank: watched(bank), events, streams };
}

async function filled(bank: Bank) {
  const store = new ContentStore(bank, SMALL);
  const writer = await store.openWriter('batches');
  // Seeded, not random: chunk and pack sizes (and so how batches fill) are the same every run.
  const random = await writer.write(seeded('random', MiB + 5));
  const text = await writer.write(Buffer.from('compressible text, line after line\n'.repeat(20_000)));
  const again = await writer.write(seeded('again', 100 * KiB));
  const closed = await writer.close();
  assert.ok(closed.packsWritten >= 3, `${closed.packsWritten} packs`);
  // Some ids twice, in no particular order: each must come back once.
  const ids = [...text.blobs, ...random.blobs, ...again.blobs, ...random.blobs.slice(0, 3)];
  return { store, ids, distinct: new Set(ids) };
}

async function drain(batches: AsyncIterable<BlobBatch>): Promise<BlobBatch[]> {
  const out: BlobBatch[] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

describe('content store: reading in batches', () => {
  it('yields every distinct blob once, in shared memory, reading each pack once', async () => {
    const streams = new Map<string, number>();
    const bank = counting(new MemoryBank(), streams);
    const { store, ids, distinct } = await filled(bank);
    const locations = await store.locate(ids);
    assert.equal(locations.size, distinct.size);
    streams.clear();
    const batches = await drain(store.readBatches(locations.values(), { batchBytes: 100 * KiB }));
    const seen = new Map<string, number>();
    for (const batch of batches) {
      assert.ok(batch.bytes.buffer instanceof SharedArrayBuffer);
      const sum = batch.blobs.reduce((n, b) => n + b.length, 0);
      assert.equal(batch.bytes.length, sum);
      assert.ok(sum <= 100 * KiB || batch.blobs.length === 1, `a batch of ${sum} bytes`);
      for (const blob of batch.blobs) {
        seen.set(blob.id, (seen.get(blob.id) ?? 0) + 1);
        const raw = decodeBlobSync(blob, batch.bytes.subarray(blob.at, blob.at + blob.length));
        assert.ok(Buffer.from(raw).equals(await store.readBlob(blob.id)), blob.id);
      }
    }
    assert.deepEqual([...seen.keys()].sort(), [...distinct].sort());
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'each blob once',
    );
    const packs = new Set([...locations.values()].map((l) => l.pack));
    assert.equal(streams.size, packs.size);
    assert.ok(
      [...streams.values()].every((n) => n === 1),
      'each pack streamed once',
    );
  });

  it('with readAhead, asks for the next packs before the one before is read, and closes those it did not read', async () => {
    const { bank, events, streams } = watching(new MemoryBank());
    const { store: writing, ids } = await filled(bank);
    const locations = [...(await writing.locate(ids)).values()];
    const packs = [...new Set(locations.map((l) => l.pack))];
    assert.ok(packs.length >= 3, `${packs.length} packs`);
    const opens = async (store: ContentStore) => {
      events.length = 0;
      await drain(store.readBatches(locations));
      return events.filter((e) => e.startsWith('open')).map((e) => e.slice(5));
    };
    /** Whether the third pack was asked for before the first was read and closed. */
    const ahead = (opened: string[]) =>
      events.indexOf(`open ${opened[2]}`) < events.indexOf(`closed ${opened[0]}`);

    const reading = new ContentStore(bank, { ...SMALL, readAhead: 2 });
    const opened = await opens(reading);
    assert.deepEqual(
      opened.map((key) => key.split('/').pop()),
      packs,
      'each pack opened once, in order',
    );
    assert.ok(ahead(opened), events.join('\n'));
    // Without (the default): each pack in its turn.
    assert.ok(!ahead(await opens(new ContentStore(bank, SMALL))), events.join('\n'));
    // An operation's store reads ahead from S3, not from a local disk.
    for (const [type, expected] of [
      ['s3', true],
      ['fs', false],
    ] as const) {
      const store = operationStore(bank, `restore ${type}`, type);
      assert.equal(ahead(await opens(store)), expected, type);
      await store.release();
    }

    // A reader that stops after the first batch leaves no stream open.
    streams.length = 0;
    for await (const _ of reading.readBatches(locations, { batchBytes: 16 * KiB })) break;
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(streams.length >= 2, `${streams.length} streams`);
    assert.ok(
      streams.every((s) => s.destroyed),
      'every stream opened is closed',
    );
  });

  it('fills memory handed back for reuse instead of making new memory', async () => {
    const { store, ids } = await filled(new MemoryBank());
    const reuse: SharedArrayBuffer[] = [];
    const used = new Set<ArrayBufferLike>();
    let batches = 0;
    for await (const batch of store.readBatches((await store.locate(ids)).values(), {
      batchBytes: 100 * KiB,
      reuse,
    })) {
      batches++;
      used.add(batch.bytes.buffer);
      reuse.push(batch.bytes.buffer as SharedArrayBuffer); // done with it at once
    }
    // A piece of a pack can fill a few batches before they are handed out; after that, the
    // same few buffers go round.
    assert.ok(batches >= 10, `${batches} batches`);
    assert.ok(used.size <= 4, `${used.size} buffers for ${batches} batches`);
  });

  it('reports blobs past the end of a cut-short pack, and reads the rest', async () => {
    const bank = new MemoryBank();
    const { store, ids } = await filled(bank);
    const locations = await store.locate(ids);
    const pack = [...locations.values()][0]!.pack;
    const key = `store/packs/${pack.slice(0, 2)}/${pack}`;
    const whole = await bank.get(key);
    const inPack = [...locations.values()].filter((l) => l.pack === pack).sort((a, b) => a.offset - b.offset);
    const cut = inPack[1]!.offset + 10; // inside the second blob of the pack
    await bank.put(key, whole.subarray(0, cut));
    const damaged: string[] = [];
    const batches = await drain(
      store.readBatches(locations.values(), {
        damaged: (blobs, why) => {
          assert.equal(why.code, 'STORE_CORRUPT');
          assert.match(why.message, /the pack ends at byte/);
          damaged.push(...blobs.map((b) => b.id));
        },
      }),
    );
    assert.deepEqual(
      damaged.sort(),
      inPack
        .slice(1)
        .map((l) => l.id)
        .sort(),
    );
    const read = batches.flatMap((b) => b.blobs.map((blob) => blob.id));
    assert.equal(read.length, locations.size - damaged.length);
    assert.ok(read.includes(inPack[0]!.id));
    for (const batch of batches)
      for (const blob of batch.blobs)
        decodeBlobSync(blob, batch.bytes.subarray(blob.at, blob.at + blob.length));
    // Without a damaged() callback the first such blob throws.
    await rejectsWith(drain(store.readBatches(locations.values())), 'STORE_CORRUPT', /pack ends at byte/);
  });

  it('names a missing pack, and a blob the store does not have', async () => {
    const bank = new MemoryBank();
    const { store, ids } = await filled(bank);
    const locations = await store.locate(ids);
    const pack = [...locations.values()][0]!.pack;
    await bank.delete(`store/packs/${pack.slice(0, 2)}/${pack}`);
    const error = await rejectsWith(
      drain(store.readBatches(locations.values())),
      'STORE_CORRUPT',
      /is missing from the bank/,
    );
    assert.equal((error.details as { pack: string }).pack, pack);
    await rejectsWith(store.locate(['0'.repeat(64)]), 'STORE_CORRUPT', /not in the content store's index/);
    await rejectsWith(store.locate(['not a blob id']), 'STORE_ARGUMENT_INVALID');
  });

  it('finds blobs a prune moved to another pack since their locations were read', async () => {
    const bank = new MemoryBank();
    const writer = await new ContentStore(bank, SMALL).openWriter('a');
    const kept = seeded('kept', 30 * KiB);
    const keptBlobs = (await writer.write(kept)).blobs;
    await writer.write(seeded('dropped', 200 * KiB));
    await writer.close();
    const reader = new ContentStore(bank, SMALL);
    const stale: BlobLocation[] = [...(await reader.locate(keptBlobs)).values()];
    const report = await new ContentStore(bank, SMALL).prune(async () => new Set(keptBlobs), { owner: 'gc' });
    assert.equal(report.packsRewritten, 1, 'the shared pack was rewritten');
    const batches = await drain(reader.readBatches(stale));
    const got = batches.flatMap((batch) =>
      batch.blobs.map((blob) =>
        Buffer.from(decodeBlobSync(blob, batch.bytes.subarray(blob.at, blob.at + blob.length))),
      ),
    );
    assert.ok(Buffer.concat(got).equals(kept));
    assert.notEqual(batches[0]!.blobs[0]!.pack, stale[0]!.pack);
  });
});
