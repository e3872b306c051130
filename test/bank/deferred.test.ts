/**
 * The encryption layer loaded when first used (src/bank/deferred.ts). With `encryption = none`
 * a bank still refuses to be read or written as plain once it is encrypted, on every call that
 * the encrypting store checked, without loading crypto/ for a bank that is not; the bank
 * conformance suite runs unchanged on such banks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KEYS_PREFIX as OURS_PREFIX, REPOSITORY_KEY as OURS_RECORD } from '../../src/bank/deferred.js';
import { type EncryptionSettings, FsBank, MemoryBank } from '../../src/bank/index.js';
import { KEYS_PREFIX, REPOSITORY_KEY } from '../../src/crypto/keyring.js';
import { bankConformance, rejectsWith } from './conformance.js';

process.env.HOARD_KDF_N ??= '1024';

const NONE: EncryptionSettings = { mode: 'none', where: 'the plain bank' };
const PASSWORD: EncryptionSettings = { mode: 'password', where: 'the test bank', password: async () => 'pw' };

bankConformance('MemoryBank, encryption = none', async () => {
  let now = Date.now();
  const bank = new MemoryBank({ now: () => now, encryption: NONE });
  return {
    bank,
    advance: (ms) => {
      now += ms;
    },
    reopen: () => bank,
    close: async () => {},
  };
});

describe('encryption = none, without loading the encryption layer', () => {
  const withRoot = async (test: (root: string) => Promise<void>) => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-deferred-'));
    try {
      await test(root);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  };

  it('names the key files as crypto/keyring.ts does', () => {
    assert.equal(OURS_PREFIX, KEYS_PREFIX);
    assert.equal(OURS_RECORD, REPOSITORY_KEY);
  });

  it('refuses every read and write of an encrypted bank, each time, as the encrypting store did', () =>
    withRoot(async (root) => {
      const encrypted = new FsBank(root, { encryption: PASSWORD });
      await encrypted.put('a/object', 'secret');
      const plain = new FsBank(root, { encryption: NONE });
      // Twice each: a refusal is not remembered as a check that passed.
      for (let i = 0; i < 2; i++) {
        await rejectsWith(plain.get('a/object'), 'ENCRYPTION_MISMATCH', /is encrypted \(password mode\)/);
        await rejectsWith(plain.getStream('a/object'), 'ENCRYPTION_MISMATCH', /is encrypted/);
        await rejectsWith(plain.getRange('a/object', 0, 2), 'ENCRYPTION_MISMATCH', /is encrypted/);
        await rejectsWith(plain.put('a/other', 'x'), 'ENCRYPTION_MISMATCH', /is encrypted/);
        await rejectsWith(plain.contentKeys(), 'ENCRYPTION_MISMATCH', /is encrypted/);
      }
      // Nothing was written; what was not checked before is not now either.
      await rejectsWith(plain.get('a/other'), 'BANK_NOT_FOUND', /a\/other/);
      assert.deepEqual(await plain.list(''), ['a/object']);
      assert.equal((await plain.head('a/object'))?.size !== undefined, true);
      assert.equal(plain.keyring(), undefined);
      assert.equal(await plain.readsAll(), true);
      assert.equal((await encrypted.get('a/object')).toString(), 'secret');
    }));

  it('a damaged repository record is named as damaged, as before', () =>
    withRoot(async (root) => {
      await new FsBank(root).put('a', 'x');
      await new FsBank(root).put(REPOSITORY_KEY, 'not json');
      const plain = new FsBank(root, { encryption: NONE });
      await rejectsWith(plain.get('a'), 'BANK_OBJECT_CORRUPT', /keys\/repository\.json is damaged/);
    }));

  it('a plain bank reads and writes as it is, its key files hidden from listings', () =>
    withRoot(async (root) => {
      const plain = new FsBank(root, { encryption: NONE });
      await plain.put('a', 'x');
      await writeFile(join(root, 'keys-not'), 'y'); // sorts after keys/, not a key file
      await new FsBank(root).put('keys/leftover.json', '{}');
      await plain.put('z', 'z');
      assert.equal((await plain.get('a')).toString(), 'x');
      assert.equal((await plain.getRange('a', 0, 1)).toString(), 'x');
      assert.equal(await plain.contentKeys(), undefined);
      assert.deepEqual(await plain.list(''), ['a', 'keys-not', 'z']);
      // A full page whose key file was dropped is filled from the next.
      assert.deepEqual(await plain.list('', { limit: 1, marker: 'keys-not' }), ['z']);
    }));
});

describe('password mode, its layer made at the first call', () => {
  it('a key store reached before any call works, and reaches the same key files', async () => {
    const bank = new MemoryBank({ encryption: PASSWORD });
    const keys = bank.keyring();
    assert.ok(keys);
    await bank.put('x', 'data');
    assert.ok((await keys.list(KEYS_PREFIX)).includes(REPOSITORY_KEY));
    assert.equal(JSON.parse((await keys.get(REPOSITORY_KEY))!.toString()).encryption, 'password');
  });
});
