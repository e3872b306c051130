/**
 * Packs staged on an encrypted FsBank (bank/encrypted.ts `stage`; crypto/stream.ts format
 * version 2, age files in public-key mode): sealed as they fill, never in the clear on disk;
 * refused under another name on every read path (docs/encryption.md, "Staged packs"); and
 * packs sealed before (version 1, test/fixtures/encrypted-v1-2026-12) still read.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type EncryptionSettings, FsBank } from '../../src/bank/index.js';
import { newIdentity } from '../../src/crypto/age.js';
import { HoardError } from '../../src/errors.js';
import { ContentStore, decodeBlobSync, type StoreOptions } from '../../src/store/index.js';
import { collect, KiB, MiB, rejectsWith, seeded } from './helpers.js';

process.env.HOARD_KDF_N ??= '1024';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/encrypted-v1-2026-12', import.meta.url));
/** Blobs kept as they are, so that plaintext on disk would be found byte for byte. */
const OPTIONS: StoreOptions = { averageChunkSize: 64 * KiB, packSize: 2 * MiB, compression: 'none' };

function password(secret = 'pw'): EncryptionSettings {
  return { mode: 'password', where: 'the test bank', password: async () => secret };
}

async function withRoot(test: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'hoard-enc-staged-'));
  try {
    await test(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Every file under `dir`, recursively, with its path. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

/** One writer's blobs of `data`, closed: one pack of its own. */
async function written(bank: FsBank, data: Buffer): Promise<string[]> {
  const writer = await new ContentStore(bank, OPTIONS).openWriter('t');
  const { blobs } = await writer.write(data);
  await writer.close();
  return blobs;
}

/** Rejects with one of `codes`. */
async function rejectsWithOneOf(promise: Promise<unknown>, codes: string[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof HoardError, String(error));
    assert.ok(codes.includes(error.code), `${error.code}: ${error.message}`);
    return true;
  });
}

const modes: [
  string,
  () => Promise<{ encryption: EncryptionSettings; magic: string; cleanup(): Promise<void> }>,
][] = [
  ['password mode', async () => ({ encryption: password(), magic: 'HENC\x02', cleanup: async () => {} })],
  [
    'public-key mode',
    async () => {
      const made = newIdentity();
      const dir = await mkdtemp(join(tmpdir(), 'hoard-pk-writer-'));
      return {
        encryption: {
          mode: 'public-key',
          where: 'the test bank',
          recipient: made.recipient,
          identity: async () => made.identity,
          writerKeyFile: join(dir, 'writer.json'),
        },
        magic: 'age-encryption.org/v1\n',
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  ],
];

for (const [name, make] of modes) {
  describe(`packs staged on an encrypted FsBank, ${name}`, () => {
    it('seal the open pack as it fills: its temporary holds no plaintext, and it reads back', () =>
      withRoot(async (root) => {
        const { encryption, magic, cleanup } = await make();
        try {
          const bank = new FsBank(root, { encryption });
          const writer = await new ContentStore(bank, OPTIONS).openWriter('staged');
          const data = seeded('staged', 1536 * KiB);
          const { blobs } = await writer.write(data);
          const packs = join(root, 'store', 'packs');
          const temps = (await readdir(packs)).filter((n) => n.startsWith('.tmp-'));
          assert.equal(temps.length, 1, 'the open pack is on disk, not in memory');
          const temp = await readFile(join(packs, temps[0]!));
          assert.ok(temp.length > 512 * KiB, `${temp.length} bytes sealed so far`);
          assert.equal(temp.subarray(0, magic.length).toString('latin1'), magic);
          for (let at = 0; at + 64 < data.length; at += 32 * KiB) {
            assert.equal(temp.indexOf(data.subarray(at, at + 64)), -1, `plaintext at ${at} is not on disk`);
          }
          await writer.close();
          const [pack] = (await filesUnder(packs)).filter((p) => !p.includes('.tmp-'));
          assert.equal((await readdir(packs)).filter((n) => n.startsWith('.tmp-')).length, 0);
          const stored = await readFile(pack!);
          assert.equal(stored.subarray(0, magic.length).toString('latin1'), magic);
          assert.ok((await collect(new ContentStore(bank).readBlobs(blobs))).equals(data));
          const report = await new ContentStore(bank).check();
          assert.deepEqual(report.damaged, []);
          assert.equal(report.blobsSound, new Set(blobs).size);
        } finally {
          await cleanup();
        }
      }));
  });
}

describe('staged packs (password mode) under another name', () => {
  it('a pack copied over another pack is refused by every read path', () =>
    withRoot(async (root) => {
      const bank = new FsBank(root, { encryption: password() });
      const a = await written(bank, seeded('a', 600 * KiB));
      const b = await written(bank, seeded('b', 600 * KiB));
      const store = new ContentStore(bank);
      const packA = (await store.locate([a[0]!])).get(a[0]!)!.pack;
      const packB = (await store.locate([b[0]!])).get(b[0]!)!.pack;
      const keyA = `store/packs/${packA.slice(0, 2)}/${packA}`;
      const keyB = `store/packs/${packB.slice(0, 2)}/${packB}`;
      await writeFile(join(root, keyA), await readFile(join(root, keyB)));

      const fresh = () => new ContentStore(bank);
      // Whole reads: the last segment is sealed with the name (stream.ts, version 2).
      await rejectsWith(bank.get(keyA), 'BANK_OBJECT_CORRUPT', /fails authentication/);
      await rejectsWith(
        (async () => {
          for await (const _ of await bank.getStream(keyA));
        })(),
        'BANK_OBJECT_CORRUPT',
      );
      // A blob read (restore's readBlobs, copy's readBlob), from the pack cache or a stream.
      await rejectsWithOneOf(fresh().readBlob(a[0]!), ['STORE_CORRUPT', 'BANK_OBJECT_CORRUPT']);
      await rejectsWithOneOf(collect(new ContentStore(bank, { cacheSize: 0 }).readBlobs([a[0]!])), [
        'STORE_CORRUPT',
        'BANK_OBJECT_CORRUPT',
      ]);
      // Batches (restore and verify of fs.directory): each blob is checked against its id.
      const reading = fresh();
      await rejectsWithOneOf(
        (async () => {
          for await (const batch of reading.readBatches((await reading.locate(a)).values())) {
            for (const blob of batch.blobs) {
              decodeBlobSync(blob, batch.bytes.subarray(blob.at, blob.at + blob.length), batch.idKey);
            }
          }
        })(),
        ['STORE_CORRUPT', 'BANK_OBJECT_CORRUPT'],
      );
      // The index rebuilt from the pack's tail (rebuildIndex, a damaged index object).
      await rejectsWithOneOf(fresh().rebuildIndex(packA), ['STORE_CORRUPT', 'BANK_OBJECT_CORRUPT']);
      // verify's check of the store: every blob of the swapped pack is damaged, the other sound.
      const report = await fresh().check({ record: false });
      assert.deepEqual(
        [...new Set(report.damaged.map((d) => d.blob))].sort(),
        [...new Set(a)].sort(),
        'the blobs of the pack that was replaced',
      );
      assert.ok((await collect(fresh().readBlobs(b))).equals(seeded('b', 600 * KiB)), 'the other pack reads');
      // Nor does a staged pack open anywhere but under store/packs/.
      await mkdir(join(root, 'checkpoints', 'x'), { recursive: true });
      await writeFile(join(root, 'checkpoints', 'x', 'meta.json'), await readFile(join(root, keyB)));
      await rejectsWith(bank.get('checkpoints/x/meta.json'), 'BANK_OBJECT_CORRUPT', /version 2/);
    }));

  it('a flipped byte in a staged pack is BANK_OBJECT_CORRUPT, and no blob of it is returned', () =>
    withRoot(async (root) => {
      const bank = new FsBank(root, { encryption: password() });
      const a = await written(bank, seeded('a', 600 * KiB));
      const [path] = await filesUnder(join(root, 'store', 'packs'));
      const bytes = await readFile(path!);
      bytes[100] = bytes[100]! ^ 1;
      await writeFile(path!, bytes);
      const key = path!.slice(root.length + 1);
      await rejectsWith(bank.get(key), 'BANK_OBJECT_CORRUPT', /fails authentication/);
      await rejectsWithOneOf(new ContentStore(bank).readBlob(a[0]!), [
        'STORE_CORRUPT',
        'BANK_OBJECT_CORRUPT',
      ]);
      await rejectsWith(new FsBank(root, { encryption: password('wrong') }).get(key), 'ENCRYPTION_KEY_WRONG');
    }));
});

describe('packs sealed before staging (format version 1)', () => {
  it('still read: test/fixtures/encrypted-v1-2026-12, made by the code before, beside new staged packs', () =>
    withRoot(async (root) => {
      await cp(FIXTURE, root, { recursive: true });
      const expected = JSON.parse(await readFile(`${FIXTURE}.json`, 'utf8')) as {
        password: string;
        blobs: string[];
        sha256: string;
      };
      const [old] = await filesUnder(join(root, 'store', 'packs'));
      assert.equal((await readFile(old!))[4], 1, 'the fixture pack is version 1');
      const bank = new FsBank(root, { encryption: password(expected.password) });
      const read = await collect(new ContentStore(bank).readBlobs(expected.blobs));
      assert.equal(createHash('sha256').update(read).digest('hex'), expected.sha256);
      const pack = old!.split('/').at(-1)!;
      assert.equal((await new ContentStore(bank).rebuildIndex(pack)).blobs.length, expected.blobs.length);
      const added = await written(bank, seeded('new', 300 * KiB));
      const packs = await filesUnder(join(root, 'store', 'packs'));
      assert.deepEqual((await Promise.all(packs.map(async (p) => (await readFile(p))[4]))).sort(), [1, 2]);
      const report = await new ContentStore(bank).check({ record: false });
      assert.deepEqual(report.damaged, []);
      assert.equal(report.blobsSound, new Set([...expected.blobs, ...added]).size);
    }));
});
