/**
 * The encryption layer loaded when first used (src/bank/deferred.ts). With `encryption = none`
 * a bank still refuses to be read or written as plain once it is encrypted, on every call that
 * the encrypting store checked, without loading crypto/ for a bank that is not; the bank
 * conformance suite runs unchanged on such banks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KEYS_PREFIX as OURS_PREFIX, REPOSITORY_KEY as OURS_RECORD } from '../../src/bank/deferred.js';
import { type EncryptionSettings, FsBank, MemoryBank } from '../../src/bank/index.js';
import { KEYS_PREFIX, REPOSITORY_KEY } from '../../src/crypto/keyring.js';
import { newSecrets, openSecrets, sealSecrets, wrappingKey } from '../../src/crypto/keys.js';
import { bankConformance, memoryFixture, rejectsWith } from './conformance.js';

process.env.HOARD_KDF_N ??= '1024';

const NONE: EncryptionSettings = { mode: 'none', where: 'the plain bank' };
const PASSWORD: EncryptionSettings = { mode: 'password', where: 'the test bank', password: async () => 'pw' };

bankConformance('MemoryBank, encryption = none', memoryFixture({ encryption: NONE }));

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

describe('password mode: the key derived ahead from the last KDF parameters (kdfHintFile)', () => {
  it('notes the parameters that opened the bank, and asks for the password at the first call of the next process, before any key file is read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-kdf-hint-'));
    try {
      const hint = join(dir, 'kdf.json');
      let asked = 0;
      const settings = (password = 'pw'): EncryptionSettings => ({
        ...PASSWORD,
        kdfHintFile: hint,
        password: async () => {
          asked++;
          return password;
        },
      });
      await new FsBank(join(dir, 'bank'), { encryption: settings() }).put('x', 'data');
      // Opening an existing repository notes the parameters of the key file that opened it.
      assert.equal(
        (await new FsBank(join(dir, 'bank'), { encryption: settings() }).get('x')).toString(),
        'data',
      );
      const keyFile = (await readdir(join(dir, 'bank', 'keys'))).find((k) => k !== 'repository.json');
      const raw = await readFile(join(dir, 'bank', 'keys', keyFile!));
      assert.deepEqual(JSON.parse(await readFile(hint, 'utf8')), JSON.parse(raw.toString()).kdf);
      // A listing opens no repository, but with the hint the derivation starts at once.
      asked = 0;
      const next = new FsBank(join(dir, 'bank'), { encryption: settings() });
      await next.list('');
      assert.equal(asked, 1, 'the password was asked for to derive the key ahead');
      assert.equal((await next.get('x')).toString(), 'data');
      // A wrong password still opens nothing, with or without the hint.
      await rejectsWith(
        new FsBank(join(dir, 'bank'), { encryption: settings('wrong') }).get('x'),
        'ENCRYPTION_KEY_WRONG',
      );
      // A stale hint (another salt) is ignored: the key is derived from the key file's own.
      const stale = { ...JSON.parse(raw.toString()).kdf, salt: Buffer.alloc(32, 7).toString('base64') };
      await writeFile(hint, JSON.stringify(stale));
      assert.equal(
        (await new FsBank(join(dir, 'bank'), { encryption: settings() }).get('x')).toString(),
        'data',
      );
      assert.deepEqual(
        JSON.parse(await readFile(hint, 'utf8')),
        JSON.parse(raw.toString()).kdf,
        'noted again',
      );
      // Without a hint nothing is derived before it is needed.
      await rm(hint);
      asked = 0;
      await new FsBank(join(dir, 'bank'), { encryption: settings() }).list('');
      assert.equal(asked, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prepare() starts the derivation ahead at once, before any call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-kdf-prepare-'));
    try {
      const hint = join(dir, 'kdf.json');
      let asked = 0;
      const settings: EncryptionSettings = {
        ...PASSWORD,
        kdfHintFile: hint,
        password: async () => {
          asked++;
          return 'pw';
        },
      };
      await new FsBank(join(dir, 'bank'), { encryption: settings }).put('x', 'data');
      await new FsBank(join(dir, 'bank'), { encryption: settings }).get('x'); // notes the hint
      asked = 0;
      const bank = new FsBank(join(dir, 'bank'), { encryption: settings });
      bank.prepare();
      // The layer's module loads, then the password is asked for: no call to the bank at all.
      for (let i = 0; i < 500 && asked === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(asked, 1, 'prepare() asked for the password to derive the key ahead');
      assert.equal((await bank.get('x')).toString(), 'data');
      // Unencrypted: nothing to prepare, nothing happens.
      new FsBank(join(dir, 'plain'), { encryption: NONE }).prepare();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a key derived ahead is used only for a key file with exactly its parameters', async () => {
    const secrets = newSecrets();
    const file = await sealSecrets(secrets, 'pw');
    const wrong = Promise.resolve(Buffer.alloc(32, 1));
    // The early key is used, not derived again: a wrong one opens nothing.
    assert.equal(await openSecrets(file, 'pw', { kdf: file.kdf, key: wrong }), undefined);
    // Another salt: ignored, the file's own parameters derive the key.
    const other = { ...file.kdf, salt: Buffer.alloc(32, 2).toString('base64') };
    assert.equal((await openSecrets(file, 'pw', { kdf: other, key: wrong }))?.repository, secrets.repository);
    // The right one, as deferred.ts derives it: the same key as crypto/keys.ts's.
    const right = { kdf: file.kdf, key: wrappingKey('pw', file.kdf) };
    assert.equal((await openSecrets(file, 'pw', right))?.repository, secrets.repository);
  });
});
