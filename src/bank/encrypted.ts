/**
 * Encryption as a decorator around any `BankStore` (composed in compose.ts): every object is
 * sealed on its way in and opened on its way out (crypto/stream.ts), except the `keys/`
 * objects, which hold the repository's secrets wrapped by passwords. Keys, listings and
 * leases pass through: what stays visible is written down in docs/bank-layout.md.
 *
 * The repository is opened at the first call that needs it: the password is tried against
 * the key files once per process. The first write to an empty bank creates it.
 */
import { Readable } from 'node:stream';
import { createRepository, KEYS_PREFIX, type KeyStore, readRecord, unlock } from '../crypto/keyring.js';
import type { RepositorySecrets } from '../crypto/keys.js';
import {
  HEADER,
  openBuffer,
  openSegments,
  openStream,
  plainLength,
  readHeader,
  SEGMENT,
  SealError,
  sealBuffer,
  sealedRange,
  sealStream,
} from '../crypto/stream.js';
import { HoardError } from '../errors.js';
import type {
  AcquireResult,
  BankStore,
  LeaseRecord,
  StoreData,
  StoreListOptions,
  SweepReport,
} from './store.js';
import type { ObjectInfo } from './types.js';

export type EncryptionMode = 'none' | 'password';

export interface EncryptionSettings {
  mode: EncryptionMode;
  /** The bank as messages name it: `provider "offsite" (bucket "b" at http://…)`. */
  where: string;
  /** Password mode: the password, read when the repository is first opened. */
  password?: () => Promise<string>;
}

/** What the content store needs of a repository's secrets to name and cut content. */
export interface ContentKeys {
  idKey: Buffer;
  chunkerSeed: Buffer;
}

/** Lease taken while a repository's keys are created, so two first writers make one repository. */
const CREATE_LEASE = 'keys-create';

export class EncryptingStore implements BankStore {
  private opened: Promise<RepositorySecrets | undefined> | undefined;

  constructor(
    private readonly inner: BankStore,
    private readonly settings: EncryptionSettings,
  ) {}

  get now(): () => number {
    return this.inner.now;
  }

  /**
   * The repository's secrets (undefined for a bank without encryption, or an encrypted one
   * that is still empty and `create` is false). ENCRYPTION_MISMATCH where the bank and the
   * setting disagree, ENCRYPTION_KEY_WRONG for a password that opens no key.
   */
  secrets(create: boolean): Promise<RepositorySecrets | undefined> {
    this.opened ??= this.open(create).then(
      (secrets) => {
        // An empty bank opened for reading is looked at again by the next call.
        if (secrets === undefined && this.settings.mode === 'password') this.opened = undefined;
        return secrets;
      },
      (error: unknown) => {
        if (!(error instanceof HoardError) || error.code === 'BANK_UNAVAILABLE') this.opened = undefined;
        throw error;
      },
    );
    return this.opened;
  }

  /** The keys that name and cut content, or undefined without encryption. */
  async contentKeys(create: boolean): Promise<ContentKeys | undefined> {
    const secrets = await this.secrets(create);
    return secrets && { idKey: secrets.idKey, chunkerSeed: secrets.chunkerSeed };
  }

  private async open(create: boolean): Promise<RepositorySecrets | undefined> {
    const { mode, where } = this.settings;
    const keys = keyStore(this.inner);
    const record = await readRecord(keys, where);
    if (mode === 'none') {
      if (record) {
        throw new HoardError(
          'ENCRYPTION_MISMATCH',
          `${where} is encrypted (password mode), but the provider says encryption = none: set "encryption = password" in [provider] and the password in [encryption]`,
        );
      }
      return undefined;
    }
    const password = await this.password();
    if (record) return (await unlock(keys, password, where)).secrets;
    if (!create) {
      await this.refuseUnencryptedData();
      return undefined;
    }
    const token = `${process.pid}-${Date.now()}`;
    for (;;) {
      const taken = await this.inner.acquireLease(
        CREATE_LEASE,
        'creating the repository keys',
        token,
        60_000,
      );
      if (taken.acquired) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    try {
      // Another process may have made it while this one waited.
      if (await readRecord(keys, where)) return (await unlock(keys, password, where)).secrets;
      await this.refuseUnencryptedData();
      return await createRepository(keys, password);
    } finally {
      await this.inner.releaseLease(CREATE_LEASE, token).catch(() => {});
    }
  }

  /** ENCRYPTION_MISMATCH if a bank without a repository record already holds objects (written unencrypted). */
  private async refuseUnencryptedData(): Promise<void> {
    const page = (marker: string | undefined) => this.inner.list('', { marker, desc: false, limit: 1 });
    // `keys/` objects (a creation that died half-way) do not count: they sort before `keys0`.
    let [first] = await page(undefined);
    if (first?.startsWith(KEYS_PREFIX)) [first] = await page('keys0');
    if (first !== undefined) {
      throw new HoardError(
        'ENCRYPTION_MISMATCH',
        `${this.settings.where} already holds unencrypted data (${first}) but the provider says encryption = password: an existing bank cannot be encrypted in place; make a new provider with encryption and "hoard checkpoints copy" into it`,
      );
    }
  }

  private async password(): Promise<string> {
    const password = await this.settings.password?.();
    if (!password) {
      throw new HoardError(
        'PROVIDER_INVALID',
        `${this.settings.where} is encrypted with a password: give [encryption] password_file or set HOARD_PASSWORD`,
      );
    }
    return password;
  }

  private async dataKey(key: string, create: boolean): Promise<Buffer | undefined> {
    if (key.startsWith(KEYS_PREFIX)) return undefined;
    const secrets = await this.secrets(create);
    if (this.settings.mode === 'password' && secrets === undefined) {
      throw new HoardError(
        'ENCRYPTION_MISMATCH',
        `${this.settings.where}: "${key}" exists but the bank has no ${KEYS_PREFIX}repository.json: it was not written with encryption`,
      );
    }
    return secrets?.dataKey;
  }

  async put(key: string, data: StoreData): Promise<void> {
    const dataKey = await this.dataKey(key, true);
    if (dataKey === undefined) return this.inner.put(key, data);
    const sealed = Buffer.isBuffer(data) ? sealBuffer(dataKey, key, data) : sealStream(dataKey, key, data);
    return this.inner.put(key, sealed);
  }

  async get(key: string): Promise<Buffer | undefined> {
    const stored = await this.inner.get(key);
    if (stored === undefined) return undefined;
    const dataKey = await this.dataKey(key, false);
    if (dataKey === undefined) return stored;
    try {
      return openBuffer(dataKey, key, stored);
    } catch (error) {
      throw this.damaged(key, error);
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const stream = await this.inner.getStream(key);
    if (stream === undefined) return undefined;
    let dataKey: Buffer | undefined;
    try {
      dataKey = await this.dataKey(key, false);
    } catch (error) {
      stream.destroy();
      throw error;
    }
    if (dataKey === undefined) return stream;
    const opened = openStream(dataKey, key, stream);
    const damaged = (error: unknown) => this.damaged(key, error);
    return Readable.from(
      (async function* () {
        try {
          yield* opened;
        } catch (error) {
          throw damaged(error);
        } finally {
          stream.destroy();
        }
      })(),
      { objectMode: false },
    );
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer | undefined> {
    if (key.startsWith(KEYS_PREFIX)) return this.inner.getRange(key, offset, length);
    const info = await this.inner.head(key);
    if (info === undefined) return undefined;
    const dataKey = await this.dataKey(key, false);
    if (dataKey === undefined) return this.inner.getRange(key, offset, length);
    try {
      const size = plainLength(info.size);
      if (offset >= size) return Buffer.alloc(0);
      const wanted = Math.min(length, size - offset);
      const { first, from, to } = sealedRange(offset, wanted);
      const end = Math.min(to, info.size);
      const [header, sealed] = await Promise.all([
        this.inner.getRange(key, 0, HEADER),
        this.inner.getRange(key, from, end - from),
      ]);
      if (header === undefined || sealed === undefined) return undefined;
      const plain = openSegments(readHeader(dataKey, key, header), first, sealed, end === info.size);
      const skip = offset - first * SEGMENT;
      return plain.subarray(skip, skip + wanted);
    } catch (error) {
      throw this.damaged(key, error);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.inner.head(key);
    if (info === undefined || key.startsWith(KEYS_PREFIX) || this.settings.mode === 'none') return info;
    try {
      return { ...info, size: plainLength(info.size) };
    } catch {
      // A cut-short object: its size is about this; reading it names the damage.
      return { ...info, size: Math.max(0, info.size - HEADER - 16) };
    }
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  list(prefix: string, options: StoreListOptions): Promise<string[]> {
    return this.inner.list(prefix, options);
  }

  acquireLease(name: string, owner: string, token: string, ttlMs: number): Promise<AcquireResult> {
    return this.inner.acquireLease(name, owner, token, ttlMs);
  }

  renewLease(name: string, token: string, ttlMs: number): Promise<number | undefined> {
    return this.inner.renewLease(name, token, ttlMs);
  }

  releaseLease(name: string, token: string): Promise<void> {
    return this.inner.releaseLease(name, token);
  }

  readLease(name: string): Promise<LeaseRecord | undefined> {
    return this.inner.readLease(name);
  }

  sweep(prefix: string, olderThanMs: number): Promise<SweepReport> {
    return (
      this.inner.sweep?.(prefix, olderThanMs) ?? Promise.resolve({ temporary: 0, directories: 0, leases: 0 })
    );
  }

  private damaged(key: string, error: unknown): unknown {
    if (!(error instanceof SealError)) return error;
    return new HoardError(
      'BANK_OBJECT_CORRUPT',
      `${this.settings.where}: "${key}" fails authentication: ${error.message} (the object is damaged or was tampered with; nothing of it is used)`,
      { details: { key } },
    );
  }
}

/** The keyring's view of the store under the encryption: `keys/` objects in the clear. */
function keyStore(store: BankStore): KeyStore {
  return {
    get: (key) => store.get(key),
    put: (key, data) => store.put(key, data),
    list: (prefix) => store.list(prefix, { marker: undefined, desc: false, limit: Infinity }),
    delete: (key) => store.delete(key),
  };
}
