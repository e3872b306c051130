/**
 * The encrypting decorator (src/bank/encrypted.ts): the bank conformance suite runs unchanged
 * on encrypted memory and fs banks, and what lands in the medium is sealed.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type EncryptionSettings, FsBank, MemoryBank } from '../../src/bank/index.js';
import { newIdentity } from '../../src/crypto/age.js';
import { newSecrets, sealSecrets } from '../../src/crypto/keys.js';
import { bankConformance, memoryFixture, rejectsWith } from './conformance.js';

process.env.HOARD_KDF_N ??= '1024';

function password(secret: string, where = 'the test bank'): EncryptionSettings {
  return { mode: 'password', where, password: async () => secret };
}

bankConformance('MemoryBank, password mode', memoryFixture({ encryption: password('pw') }));

bankConformance('MemoryBank, public-key mode with the identity', async () => {
  const made = newIdentity();
  const dir = await mkdtemp(join(tmpdir(), 'hoard-pk-writer-'));
  const encryption: EncryptionSettings = {
    mode: 'public-key',
    where: 'the test bank',
    recipient: made.recipient,
    identity: async () => made.identity,
    writerKeyFile: join(dir, 'writer.json'),
  };
  let now = Date.now();
  const bank = new MemoryBank({ now: () => now, encryption });
  return {
    bank,
    advance: (ms) => {
      now += ms;
    },
    reopen: () => bank,
    close: () => rm(dir, { recursive: true, force: true }),
  };
});

bankConformance('FsBank, password mode', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hoard-enc-bank-'));
  let now = Date.now();
  const clock = () => now;
  return {
    bank: new FsBank(root, { now: clock, encryption: password('pw') }),
    advance: (ms) => {
      now += ms;
    },
    reopen: () => new FsBank(root, { now: clock, encryption: password('pw') }),
    close: () => rm(root, { recursive: true, force: true }),
  };
});

describe('FsBank, password mode, on disk', () => {
  const withRoot = async (test: (root: string) => Promise<void>) => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-enc-bank-'));
    try {
      await test(root);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  };

  it('stores no plaintext, and another password opens nothing and writes nothing', () =>
    withRoot(async (root) => {
      const bank = new FsBank(root, { encryption: password('right') });
      const secret = 'the launch codes are 0000 '.repeat(5000);
      await bank.put('a/b', secret);
      const stored = await readFile(join(root, 'a', 'b'));
      assert.ok(!stored.includes(Buffer.from('launch codes')), 'the object is sealed');
      assert.equal(stored.subarray(0, 4).toString('latin1'), 'HENC');
      assert.equal((await bank.get('a/b')).toString(), secret);
      assert.equal((await bank.head('a/b'))?.size, Buffer.byteLength(secret));

      const wrong = new FsBank(root, { encryption: password('wrong') });
      await rejectsWith(wrong.get('a/b'), 'ENCRYPTION_KEY_WRONG');
      await rejectsWith(wrong.put('a/c', 'x'), 'ENCRYPTION_KEY_WRONG');
      assert.deepEqual(await readdir(join(root, 'a')), ['b'], 'nothing written with the wrong password');
    }));

  it('names an object that fails authentication, and one moved to another name', () =>
    withRoot(async (root) => {
      const bank = new FsBank(root, { encryption: password('pw') });
      await bank.put('x/one', Buffer.alloc(200_000, 7));
      await bank.put('x/two', 'two');
      const path = join(root, 'x', 'one');
      const bytes = await readFile(path);
      bytes[100_000] = bytes[100_000]! ^ 1;
      await writeFile(path, bytes);
      await rejectsWith(bank.get('x/one'), 'BANK_OBJECT_CORRUPT', /"x\/one" fails authentication/);
      await rejectsWith(
        (async () => {
          for await (const _ of await bank.getStream('x/one'));
        })(),
        'BANK_OBJECT_CORRUPT',
      );
      // Cut short at a segment boundary: the last segment is missing, which the flag tells.
      await writeFile(path, bytes.subarray(0, 21 + 65552));
      await rejectsWith(bank.get('x/one'), 'BANK_OBJECT_CORRUPT');
      // Moved: sealed under its own name, it does not open under another.
      await writeFile(path, await readFile(join(root, 'x', 'two')));
      await rejectsWith(bank.get('x/one'), 'BANK_OBJECT_CORRUPT');
    }));

  it('reads ranges across segments', () =>
    withRoot(async (root) => {
      const bank = new FsBank(root, { encryption: password('pw') });
      const data = Buffer.alloc(300_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
      await bank.put('r', data);
      for (const [offset, length] of [
        [0, 10],
        [65530, 20],
        [65536, 65536],
        [100, 250_000],
        [299_990, 100],
        [300_000, 5],
      ] as const) {
        assert.deepEqual(await bank.getRange('r', offset, length), data.subarray(offset, offset + length));
      }
    }));

  it('refuses to encrypt a bank that holds unencrypted data, and to read an encrypted one as plain', () =>
    withRoot(async (root) => {
      await new FsBank(root).put('old', 'plain');
      const encrypted = new FsBank(root, { encryption: password('pw') });
      await rejectsWith(encrypted.put('new', 'x'), 'ENCRYPTION_MISMATCH', /already holds unencrypted data/);
      await rm(join(root, 'old'));
      await encrypted.put('new', 'x');
      const plain = new FsBank(root, { encryption: { mode: 'none', where: 'plain' } });
      await rejectsWith(plain.get('new'), 'ENCRYPTION_MISMATCH', /is encrypted/);
    }));

  it('two first writers at once make one repository', () =>
    withRoot(async (root) => {
      const banks = [0, 1, 2, 3].map(() => new FsBank(root, { encryption: password('pw') }));
      await Promise.all(banks.map((bank, i) => bank.put(`k${i}`, `v${i}`)));
      const keys = await readdir(join(root, 'keys'));
      assert.equal(keys.filter((k) => k !== 'repository.json').length, 1, keys.join(' '));
      const reader = new FsBank(root, { encryption: password('pw') });
      for (let i = 0; i < 4; i++) assert.equal((await reader.get(`k${i}`)).toString(), `v${i}`);
    }));
});

describe('MemoryBank, password mode, first use', () => {
  it('a first read and a first write at once: the write creates the repository', async () => {
    const bank = new MemoryBank({ encryption: password('pw') });
    // A reader's look (no repository yet: nothing) and a writer's at once.
    const [keys] = await Promise.all([bank.contentKeys(), bank.put('k', 'v')]);
    assert.equal(keys, undefined);
    assert.equal((await bank.get('k')).toString(), 'v');
    assert.ok(await bank.contentKeys(), 'the repository exists');
  });

  it('an empty encrypted bank opened for reading stays empty, with no keys made', async () => {
    const bank = new MemoryBank({ encryption: password('pw') });
    assert.equal(await bank.contentKeys(), undefined);
    assert.deepEqual(await bank.list(''), []);
    assert.equal(bank.keyring() !== undefined && (await bank.keyring()!.list('keys/')).length, 0);
  });
});

describe('FsBank, password mode, a creation that died', () => {
  it('a key file left without its record does not stop the repository made next', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-enc-bank-'));
    try {
      // What a process killed between the key file and the record leaves.
      const orphan = await sealSecrets(newSecrets(), 'pw');
      await mkdir(join(root, 'keys'), { recursive: true });
      await writeFile(join(root, 'keys', '0000000000000000.json'), JSON.stringify(orphan));
      const bank = new FsBank(root, { encryption: password('pw') });
      await bank.put('k', 'v');
      const again = new FsBank(root, { encryption: password('pw') });
      assert.equal((await again.get('k')).toString(), 'v');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
