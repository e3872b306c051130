import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryBank } from '../../src/bank/index.js';
import { ContentStore, type StoreOptions } from '../../src/store/index.js';
import {
  decodeIndex,
  ENTRY_SIZE,
  encodeIndex,
  encodeIndexJson,
  readPackEntries,
  TRAILER_SIZE,
} from '../../src/store/pack.js';
import { collect, KiB, readIndexObject, rejectsWith } from './helpers.js';

const SMALL: StoreOptions = { averageChunkSize: 16 * KiB, packSize: 256 * KiB };

async function storeWithData() {
  const bank = new MemoryBank();
  const store = new ContentStore(bank, SMALL);
  const data = Buffer.concat([randomBytes(300 * KiB), Buffer.alloc(200 * KiB, 'words and words ')]);
  const writer = await store.openWriter('test');
  const { blobs } = await writer.write(data);
  await writer.close();
  return { bank, data, blobs };
}

describe('index objects', () => {
  it("are the pack's own entries and trailer: 48 bytes a blob plus 48, the same entries as the pack's", async () => {
    const { bank } = await storeWithData();
    const keys = await bank.list('store/index/');
    assert.ok(keys.length >= 2, `${keys.length} packs`);
    for (const key of keys) {
      const bytes = await bank.get(key);
      const index = await readIndexObject(bank, key);
      assert.equal(bytes.length, index.blobs.length * ENTRY_SIZE + TRAILER_SIZE);
      const pack = await bank.get(`store/packs/${index.pack.slice(0, 2)}/${index.pack}`);
      assert.ok(bytes.equals(pack.subarray(pack.length - bytes.length)));
      assert.deepEqual(index.blobs, readPackEntries(index.pack, pack));
    }
  });

  it('written earlier as JSON, are still read (and a store of them restores its data)', async () => {
    const { bank, data, blobs } = await storeWithData();
    for (const key of await bank.list('store/index/')) {
      const index = await readIndexObject(bank, key);
      const json = encodeIndexJson(index);
      assert.equal(json[0], '{');
      await bank.put(key, json);
      assert.deepEqual(decodeIndex(key, index.pack, await bank.get(key)), index);
    }
    const fresh = new ContentStore(bank, SMALL);
    assert.ok((await collect(fresh.readBlobs(blobs))).equals(data));
    const report = await fresh.check();
    assert.deepEqual([report.damaged, report.unreadable], [[], []]);
    assert.equal(report.blobsSound, new Set(blobs).size);
  });

  it('of a pack named the older way (the hash of all its bytes) stay JSON', async () => {
    const { bank } = await storeWithData();
    const [key] = await bank.list('store/index/');
    const index = await readIndexObject(bank, key!);
    const renamed = { ...index, pack: 'ab'.repeat(32) };
    const encoded = encodeIndex(renamed);
    assert.equal(encoded.toString('utf8')[0], '{');
    assert.deepEqual(decodeIndex('k', renamed.pack, encoded), renamed);
    assert.ok(encodeIndex(index).length < encoded.length / 2);
  });

  it('that are damaged, or name another pack, are STORE_CORRUPT; the store reads through them', async () => {
    const { bank, data, blobs } = await storeWithData();
    const keys = await bank.list('store/index/');
    const [key, other] = keys as [string, string];
    const bytes = await bank.get(key);
    const index = decodeIndex(key, /([0-9a-f]{64})\.json$/.exec(key)![1]!, bytes);
    const flipped = Buffer.from(bytes);
    flipped[40] = flipped[40]! ^ 1; // a blob's stored length
    assert.throws(() => decodeIndex(key, index.pack, flipped), /do not match the hash in its trailer/);
    const otherPack = /([0-9a-f]{64})\.json$/.exec(other)![1]!;
    assert.throws(() => decodeIndex(key, otherPack, bytes), /do not hash to its id/);
    assert.throws(() => decodeIndex(key, index.pack, bytes.subarray(ENTRY_SIZE)), /trailer says/);
    await bank.put(key, flipped);
    const fresh = new ContentStore(bank, SMALL);
    assert.ok((await collect(fresh.readBlobs(blobs))).equals(data));
    await rejectsWith(
      (async () => decodeIndex(key, index.pack, flipped))(),
      'STORE_CORRUPT',
      /index store\/index\/.* is damaged/,
    );
  });
});
