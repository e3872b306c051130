import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Bank, MemoryBank } from '../../src/bank/index.js';
import { ContentStore, type PruneReport, type StoreOptions } from '../../src/store/index.js';
import { banks, collect, KiB, MiB, readIndexObject, rejectsWith, snapshot } from './helpers.js';

const SMALL: StoreOptions = { averageChunkSize: 16 * KiB, packSize: 256 * KiB };

interface File {
  data: Buffer;
  blobs: string[];
}

/** Writes `sizes` as files through one writer, in order; returns them. */
async function writeFiles(store: ContentStore, owner: string, sizes: number[]): Promise<File[]> {
  const writer = await store.openWriter(owner);
  const files: File[] = [];
  for (const size of sizes) {
    const data = randomBytes(size);
    files.push({ data, blobs: (await writer.write(data)).blobs });
  }
  await writer.close();
  return files;
}

function refs(files: readonly File[]): Set<string> {
  return new Set(files.flatMap((f) => f.blobs));
}

async function assertReadable(bank: Bank, files: readonly File[]): Promise<void> {
  const fresh = new ContentStore(bank, SMALL);
  for (const [i, file] of files.entries()) {
    assert.ok((await collect(fresh.readBlobs(file.blobs))).equals(file.data), `file ${i} reads back`);
  }
}

/** The same report but for `dryRun`. */
function numbers(report: PruneReport): Omit<PruneReport, 'dryRun'> {
  const { dryRun: _, ...rest } = report;
  return rest;
}

for (const fixture of banks) {
  describe(`prune on ${fixture.name}`, () => {
    it('checks a pack against its own entries before deleting it on the word of a JSON index', async () => {
      const { bank, done } = await fixture.make();
      try {
        const store = new ContentStore(bank, SMALL);
        const [kept, dropped] = await writeFiles(store, 'json', [40 * KiB, 200 * KiB]);
        const [indexKey] = await bank.list('store/index/');
        const pack = /([0-9a-f]{64})\.json$/.exec(indexKey!)![1]!;
        const index = await readIndexObject(bank, indexKey!);
        // The index as JSON (as written before 2026-12-07), one digit of a kept blob's id changed:
        // read so, the pack holds nothing referenced.
        const changed = new Set(kept!.blobs);
        const blobs = index.blobs.map((b) =>
          changed.has(b.id) ? { ...b, id: `${b.id[0] === '0' ? '1' : '0'}${b.id.slice(1)}` } : b,
        );
        await bank.put(indexKey!, JSON.stringify({ version: 1, pack, blobs }));
        const report = await new ContentStore(bank, SMALL).prune(async () => refs([kept!]), { owner: 'gc' });
        assert.deepEqual(report.lost, [], JSON.stringify(report));
        assert.ok(
          report.problems.some((p) => p.includes('does not match its pack')),
          JSON.stringify(report),
        );
        await assertReadable(bank, [kept!]);
        assert.ok(dropped!.blobs.length > 0);
      } finally {
        await done();
      }
    });

    it('frees space after half the references go, and every referenced blob still reads back', async () => {
      const { bank, done } = await fixture.make();
      try {
        const store = new ContentStore(bank, SMALL);
        // Kept and dropped files interleaved in shared packs, a pack of dropped files only, and a
        // pack mostly dropped.
        const mixed = await writeFiles(store, 'mixed', [
          200 * KiB,
          200 * KiB,
          150 * KiB,
          150 * KiB,
          300 * KiB,
          100 * KiB,
        ]);
        const dropped = await writeFiles(store, 'dropped', [300 * KiB, 300 * KiB]);
        const mostly = await writeFiles(store, 'mostly', [20 * KiB, 200 * KiB]);
        const keep = [mixed[0]!, mixed[2]!, mixed[4]!, mostly[0]!];
        const before = await store.stats();

        const report = await store.prune(async () => refs(keep), { owner: 'gc' });
        const after = await store.stats();
        assert.equal(report.dryRun, false);
        assert.ok(report.packsRemoved >= 2, JSON.stringify(report));
        assert.ok(report.packsRewritten >= 1, JSON.stringify(report));
        assert.ok(report.blobsRemoved > 0);
        assert.equal(report.bytesFreed, before.bytes - after.bytes);
        assert.equal(report.bytesKept, after.bytes);
        assert.equal(report.blobsMissing, 0);
        assert.deepEqual(report.problems, []);
        const keptBytes = keep.reduce((n, f) => n + f.data.length, 0);
        assert.ok(
          after.bytes < 2 * keptBytes + 64 * KiB,
          `${after.bytes} bytes left for ${keptBytes} referenced`,
        );
        for (const id of refs(dropped)) assert.equal(await store.hasBlob(id), false);
        await assertReadable(bank, keep);

        const again = await store.prune(async () => refs(keep), { owner: 'gc' });
        assert.deepEqual([again.packsRemoved, again.packsRewritten, again.bytesFreed], [0, 0, 0]);
      } finally {
        await done();
      }
    });

    it('with dryRun changes nothing and reports what the real prune then does', async () => {
      const { bank, done } = await fixture.make();
      try {
        const store = new ContentStore(bank, SMALL);
        const files = await writeFiles(store, 'w', [200 * KiB, 300 * KiB, 20 * KiB, 400 * KiB]);
        const keep = [files[1]!, files[2]!];
        const before = await snapshot(bank);
        const dry = await store.prune(async () => refs(keep), { owner: 'gc', dryRun: true });
        assert.equal(dry.dryRun, true);
        assert.ok(dry.bytesFreed > 0);
        assert.deepEqual(await snapshot(bank), before);
        const real = await store.prune(async () => refs(keep), { owner: 'gc' });
        assert.deepEqual(numbers(real), numbers(dry));
        await assertReadable(bank, keep);
      } finally {
        await done();
      }
    });
  });
}

describe('prune and writers exclude each other', () => {
  it('prune refuses while a writer is open, naming it, and runs once it closes', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const writer = await store.openWriter('protect cp-1');
    await writer.write(randomBytes(10 * KiB));
    await rejectsWith(
      store.prune(async () => new Set(), { owner: 'gc' }),
      'STORE_BUSY',
      /protect cp-1/,
    );
    await rejectsWith(
      store.prune(async () => new Set(), { owner: 'gc', dryRun: true }),
      'STORE_BUSY',
      /protect cp-1/,
    );
    await writer.close();
    assert.equal((await store.prune(async () => new Set(), { owner: 'gc' })).packsRemoved, 1);
  });

  it('a writer waits while a prune holds its lease (saying why), refuses after waitMs, and leaves no marker behind', async () => {
    const bank = new MemoryBank();
    const gate = deferred();
    const reached = deferred();
    // Holds the prune at its first listing of packs, which only a prune makes.
    const paused = new Proxy(bank, {
      get(target, property) {
        if (property !== 'section') return Reflect.get(target, property, target);
        return (prefix: string) => {
          const section = target.section(prefix);
          return new Proxy(section, {
            get(inner, name) {
              const value = Reflect.get(inner, name, inner);
              if (name !== 'list') return typeof value === 'function' ? value.bind(inner) : value;
              return async (listed: string, options?: object) => {
                if (listed === 'packs/') {
                  reached.resolve();
                  await gate.promise;
                }
                return inner.list(listed, options);
              };
            },
          });
        };
      },
    });
    const pruning = new ContentStore(paused, SMALL).prune(async () => new Set(), { owner: 'nightly gc' });
    await reached.promise;
    await rejectsWith(
      new ContentStore(bank, { ...SMALL, waitMs: 0 }).openWriter('protect cp-2'),
      'STORE_BUSY',
      /nightly gc/,
    );
    await rejectsWith(
      new ContentStore(bank, { ...SMALL, waitMs: 150 }).openWriter('protect cp-2'),
      'STORE_BUSY',
      /nightly gc.*waited 0 s/,
    );
    assert.deepEqual(await bank.list('store/locks/writers/'), []);
    await rejectsWith(
      new ContentStore(bank, SMALL).prune(async () => new Set(), { owner: 'other gc' }),
      'STORE_BUSY',
      /nightly gc/,
    );
    const told: string[] = [];
    const waiting = new ContentStore(bank, { ...SMALL, onWait: (m) => told.push(m) }).openWriter(
      'protect cp-3',
    );
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(told.length, 1);
    assert.match(told[0]!, /waiting for the content store: "nightly gc" is pruning it/);
    gate.resolve();
    await pruning;
    const writer = await waiting;
    await writer.write(randomBytes(10 * KiB));
    await writer.close();
  });

  it('asks for the references only once it holds the store alone, so none can be added meanwhile', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const [file] = await writeFiles(store, 'protect cp-4', [100 * KiB]);
    let asked = 0;
    const report = await store.prune(
      async () => {
        asked++;
        // A protect starting now cannot write or dedup until the prune is over.
        await rejectsWith(
          new ContentStore(bank, { ...SMALL, waitMs: 0 }).openWriter('protect cp-5'),
          'STORE_BUSY',
          /"gc" is pruning it/,
        );
        return refs([file!]);
      },
      { owner: 'gc' },
    );
    assert.equal(asked, 1);
    assert.equal(report.packsRemoved, 0);
    await assertReadable(bank, [file!]);
  });

  it('a writer that died (lease expired) does not block prune, and its marker is removed', async () => {
    let now = Date.now();
    const clock = () => now;
    const bank = new MemoryBank({ now: clock });
    const options = { ...SMALL, now: clock };
    const store = new ContentStore(bank, options);
    await writeFiles(store, 'finished protect', [100 * KiB]);
    // The dead writer's pack made it to the bank, its index did not.
    for (const key of await bank.list('store/index/')) await bank.delete(key);
    const dead = await store.openWriter('crashed protect');
    await dead.write(randomBytes(10 * KiB));
    await rejectsWith(
      store.prune(async () => new Set(), { owner: 'gc' }),
      'STORE_BUSY',
      /crashed protect/,
    );
    now += 31_000;
    const report = await store.prune(async () => new Set(), { owner: 'gc' });
    assert.equal(report.packsRemoved, 1);
    assert.deepEqual(await bank.list('store/'), []);
    await rejectsWith(dead.close(), 'LEASE_LOST');
  });
});

describe('prune never loses a referenced blob', () => {
  it('recovers the index of a pack that lost it when it holds referenced blobs, and removes it otherwise', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const [kept] = await writeFiles(store, 'a', [100 * KiB]);
    const [dropped] = await writeFiles(store, 'b', [100 * KiB]);
    for (const key of await bank.list('store/index/')) await bank.delete(key);
    const report = await new ContentStore(bank, SMALL).prune(async () => refs([kept!]), { owner: 'gc' });
    assert.equal(report.indexesRecovered, 1);
    assert.equal(report.packsRemoved, 1);
    assert.equal((await bank.list('store/index/')).length, 1);
    await assertReadable(bank, [kept!]);
    assert.equal(await new ContentStore(bank, SMALL).hasBlob(dropped!.blobs[0]!), false);
  });

  it('keeps one copy of a blob two writers stored at once', async () => {
    const bank = new MemoryBank();
    const data = randomBytes(200 * KiB);
    const a = await new ContentStore(bank, SMALL).openWriter('a');
    const b = await new ContentStore(bank, SMALL).openWriter('b');
    // b's pack also holds another blob, or the two packs would be the same object.
    const [wa, , wb] = await Promise.all([a.write(data), b.write(randomBytes(KiB)), b.write(data)]);
    await Promise.all([a.close(), b.close()]);
    assert.deepEqual(wa.blobs, wb.blobs);
    assert.equal((await bank.list('store/packs/')).length, 2);
    const report = await new ContentStore(bank, SMALL).prune(async () => new Set(wa.blobs), { owner: 'gc' });
    assert.equal(report.packsRemoved, 1);
    assert.ok(report.blobsRemoved >= wa.blobs.length);
    await assertReadable(bank, [{ data, blobs: wa.blobs }]);
  });

  it('reads through a damaged index object, and prune rewrites it', async () => {
    const bank = new MemoryBank();
    const [file] = await writeFiles(new ContentStore(bank, SMALL), 'a', [100 * KiB]);
    const [key] = await bank.list('store/index/');
    const good = await bank.get(key!);
    await bank.put(key!, '{"version":1,"pack":"nonsense"');
    await assertReadable(bank, [file!]);
    const report = await new ContentStore(bank, SMALL).prune(async () => refs([file!]), { owner: 'gc' });
    assert.equal(report.indexesRecovered, 1);
    assert.deepEqual(await bank.get(key!), good);
  });

  it('reports referenced blobs whose pack is gone, and drops the index that names it', async () => {
    const bank = new MemoryBank();
    const [file] = await writeFiles(new ContentStore(bank, SMALL), 'a', [50 * KiB]);
    const [pack] = await bank.list('store/packs/');
    await bank.delete(pack!);
    const report = await new ContentStore(bank, SMALL).prune(async () => refs([file!]), { owner: 'gc' });
    assert.equal(report.blobsMissing, file!.blobs.length);
    assert.match(report.problems[0]!, /which is missing/);
    assert.deepEqual(await bank.list('store/'), []);
  });

  it('still reads other packs when an index object is damaged and its pack gone, and prune reports it', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const [lost] = await writeFiles(store, 'a', [50 * KiB]);
    const [lostIndex] = await bank.list('store/index/');
    const [kept] = await writeFiles(store, 'b', [50 * KiB]);
    const lostPack: string = (await readIndexObject(bank, lostIndex!)).pack;
    await bank.put(lostIndex!, 'not json');
    await bank.delete(`store/packs/${lostPack.slice(0, 2)}/${lostPack}`);
    await assertReadable(bank, [kept!]);
    await rejectsWith(new ContentStore(bank, SMALL).readBlob(lost!.blobs[0]!), 'STORE_CORRUPT', /not in the/);
    const report = await new ContentStore(bank, SMALL).prune(async () => refs([lost!, kept!]), {
      owner: 'gc',
    });
    assert.equal(report.blobsMissing, lost!.blobs.length);
    assert.match(report.problems.join('\n'), /its pack is missing/);
    assert.equal(await bank.exists(lostIndex!), false);
    await assertReadable(bank, [kept!]);
  });

  it('moves blobs a reader is about to read: the reader finds them in their new pack', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const [kept, , dropped] = await writeFiles(store, 'a', [30 * KiB, 1, 200 * KiB]);
    const reader = new ContentStore(bank, SMALL);
    assert.equal(await reader.hasBlob(kept!.blobs[0]!), true);
    const report = await store.prune(async () => refs([kept!]), { owner: 'gc' });
    assert.equal(report.packsRewritten, 1);
    assert.ok((await collect(reader.readBlobs(kept!.blobs))).equals(kept!.data));
    await rejectsWith(reader.readBlob(dropped!.blobs[0]!), 'STORE_CORRUPT');
  });

  it('handles a large store in a few packs per MiB', async () => {
    const bank = new MemoryBank();
    const store = new ContentStore(bank, SMALL);
    const files = await writeFiles(store, 'big', [MiB, MiB, MiB, MiB]);
    const report = await store.prune(async () => refs(files.slice(0, 2)), { owner: 'gc' });
    assert.ok(report.bytesFreed >= 1.5 * MiB, JSON.stringify(report));
    await assertReadable(bank, files.slice(0, 2));
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
