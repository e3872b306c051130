/**
 * The encryption layer (encrypted.ts) with its modules (crypto/, @scure/base) imported when
 * a call first needs them rather than when a bank is made: every provider's bank is made as
 * its provider loads, and a command that reads one unencrypted bank (`hoard checkpoints
 * list`) should not pay for a layer it does not use.
 *
 * `encryption = password | public-key`: every call goes to an `EncryptingStore`, made at the
 * first call.
 *
 * `encryption = none`: the layer's one task is to refuse a bank that is encrypted, which holds
 * `keys/repository.json`. `UnencryptedStore` checks the calls that `EncryptingStore` checks in
 * mode none (a put, a read of an object that exists, `contentKeys`; not under `keys/`) by
 * looking for that object once: absent, the calls pass through, `keys/` hidden from listings
 * as there; present, an `EncryptingStore` is made to judge it, and throws what it always threw
 * (ENCRYPTION_MISMATCH, or the record's damage). Like there, a check that passed is not made
 * again in this process, and one that failed is.
 */
import { scrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { EncryptingStore, EncryptionSettings } from './encrypted.js';
import { stagesSealed } from './keys.js';
import {
  type AcquireResult,
  type BankStore,
  type CallOptions,
  type LeaseRecord,
  listHiding,
  ObjectsDecorator,
  type ReadOptions,
  type StoreData,
  type StoreListOptions,
  type SweepReport,
} from './store.js';
import type { ObjectInfo, Pieces, StagedObject } from './types.js';

/**
 * The key files' prefix and the repository record's key, as crypto/keyring.ts names them
 * (KEYS_PREFIX, REPOSITORY_KEY): repeated here so that an unencrypted bank loads nothing of
 * crypto/; test/bank/deferred.test.ts checks that they agree.
 */
export const KEYS_PREFIX = 'keys/';
export const REPOSITORY_KEY = 'keys/repository.json';

/** `inner` under the encryption `settings` ask for, its modules loaded when first used. */
export function deferredEncryption(inner: BankStore, settings: EncryptionSettings): BankStore {
  return settings.mode === 'none'
    ? new UnencryptedStore(inner, settings)
    : new DeferredStore(inner, settings);
}

/** An `EncryptingStore` around `inner`, its module imported at the first call. */
function encrypting(
  inner: BankStore,
  settings: EncryptionSettings,
  early?: EarlyKey,
): Promise<EncryptingStore> {
  return import('./encrypted.js').then(({ EncryptingStore }) => new EncryptingStore(inner, settings, early));
}

/** The parameters of crypto/keys.ts's `KeyFile['kdf']`, as `kdfHintFile` keeps them. */
interface Kdf {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}
interface EarlyKey {
  kdf: Kdf;
  key: Promise<Buffer | undefined>;
}

/**
 * Password mode: the wrapping key derived from the password and the KDF parameters that opened
 * the bank last time (`kdfHintFile`), started at once: scrypt (about 0.3 s, on libuv's thread
 * pool) then runs while the S3 SDK and the encryption modules load and the key files are read,
 * not after. It is used only for a key file with exactly these parameters (the key depends on
 * nothing else), so a stale hint costs a derivation and nothing more; it is the same scrypt as
 * crypto/keys.ts's `wrappingKey`, with the same parameters (test/bank/deferred.test.ts).
 */
function deriveEarly(settings: EncryptionSettings): EarlyKey | undefined {
  if (settings.mode !== 'password' || settings.kdfHintFile === undefined || !settings.password) return;
  let kdf: Kdf;
  try {
    kdf = JSON.parse(readFileSync(settings.kdfHintFile, 'utf8')) as Kdf;
  } catch {
    return;
  }
  const sane =
    kdf?.name === 'scrypt' &&
    [kdf.N, kdf.r, kdf.p].every((n) => Number.isSafeInteger(n) && n > 0) &&
    kdf.N <= 2 ** 22 &&
    kdf.r <= 32 &&
    kdf.p <= 16 &&
    typeof kdf.salt === 'string';
  if (!sane) return;
  const key = settings
    .password()
    .then((password) =>
      password === ''
        ? undefined
        : new Promise<Buffer | undefined>((resolve) =>
            scrypt(
              password,
              Buffer.from(kdf.salt, 'base64'),
              32,
              { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 },
              (error, derived) => resolve(error ? undefined : derived),
            ),
          ),
    )
    .catch(() => undefined);
  return { kdf, key };
}

class DeferredStore implements BankStore {
  private layer: Promise<EncryptingStore> | undefined;

  /**
   * Where the store under it stages, the content store's packs are staged sealed
   * (EncryptingStore.stage); the layer is made at the first write.
   */
  readonly stage?: (prefix: string) => StagedObject | undefined;

  constructor(
    private readonly inner: BankStore,
    private readonly settings: EncryptionSettings,
  ) {
    if (inner.stage) {
      this.stage = (prefix) => {
        if (!stagesSealed(prefix)) return undefined;
        let staged: Promise<StagedObject> | undefined;
        const opened = () => {
          staged ??= this.store().then((store) => {
            const made = store.stage(prefix);
            if (made === undefined) throw new Error(`the encrypting store did not stage "${prefix}"`);
            return made;
          });
          return staged;
        };
        return {
          write: async (bytes) => (await opened()).write(bytes),
          commit: async (key) => (await opened()).commit(key),
          discard: async () => {
            await (await staged?.catch(() => undefined))?.discard();
          },
        };
      };
    }
  }

  private store(): Promise<EncryptingStore> {
    this.layer ??= encrypting(this.inner, this.settings, deriveEarly(this.settings));
    return this.layer;
  }

  get now(): () => number {
    return this.inner.now;
  }

  /**
   * Loads the layer and starts the early key derivation (deriveEarly) now: a command that
   * knows it will use this bank lets scrypt run while it loads its own modules. A failure
   * is the first call's to report.
   */
  prepare(): void {
    this.store().catch(() => {});
  }

  async put(key: string, data: StoreData, call?: CallOptions): Promise<void> {
    return (await this.store()).put(key, data, call);
  }

  async get(key: string, options?: ReadOptions): Promise<Buffer | undefined> {
    return (await this.store()).get(key, options);
  }

  async getStream(key: string, call?: CallOptions): Promise<Readable | undefined> {
    return (await this.store()).getStream(key, call);
  }

  async getPieces(key: string, call?: CallOptions): Promise<Pieces | undefined> {
    return (await this.store()).getPieces(key, call);
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    call?: CallOptions,
  ): Promise<Buffer | undefined> {
    return (await this.store()).getRange(key, offset, length, call);
  }

  async head(key: string, call?: CallOptions): Promise<ObjectInfo | undefined> {
    return (await this.store()).head(key, call);
  }

  async delete(key: string, call?: CallOptions): Promise<void> {
    return (await this.store()).delete(key, call);
  }

  async list(prefix: string, options: StoreListOptions): Promise<string[]> {
    return (await this.store()).list(prefix, options);
  }

  async acquireLease(name: string, owner: string, token: string, ttlMs: number): Promise<AcquireResult> {
    return (await this.store()).acquireLease(name, owner, token, ttlMs);
  }

  async renewLease(name: string, token: string, ttlMs: number): Promise<number | undefined> {
    return (await this.store()).renewLease(name, token, ttlMs);
  }

  async releaseLease(name: string, token: string): Promise<void> {
    return (await this.store()).releaseLease(name, token);
  }

  async readLease(name: string): Promise<LeaseRecord | undefined> {
    return (await this.store()).readLease(name);
  }

  async sweep(prefix: string, olderThanMs: number): Promise<SweepReport> {
    return (await this.store()).sweep(prefix, olderThanMs);
  }

  async contentKeys(create: boolean) {
    return (await this.store()).contentKeys(create);
  }

  async readsAll(): Promise<boolean> {
    return (await this.store()).readsAll();
  }

  /** The encrypting store's key files (never undefined in these modes), reached through it. */
  keyStore() {
    const keys = async () => (await this.store()).keyStore()!;
    return {
      get: async (key: string) => (await keys()).get(key),
      put: async (key: string, data: Buffer) => (await keys()).put(key, data),
      list: async (prefix: string) => (await keys()).list(prefix),
      delete: async (key: string) => (await keys()).delete(key),
    };
  }
}

class UnencryptedStore extends ObjectsDecorator implements BankStore {
  /** The check that the bank is not encrypted, once it has passed (see `check`). */
  private checked: Promise<void> | undefined;

  /** Staging passes through where the store under it stages, checked at the commit as a put is. */
  readonly stage?: (prefix: string) => StagedObject | undefined;

  constructor(
    inner: BankStore,
    private readonly settings: EncryptionSettings,
  ) {
    super(inner);
    const stage = inner.stage?.bind(inner);
    if (stage) {
      this.stage = (prefix) => {
        const staged = stage(prefix);
        if (staged === undefined) return undefined;
        return {
          write: (bytes) => staged.write(bytes),
          commit: async (key) => {
            if (!key.startsWith(KEYS_PREFIX)) {
              try {
                await this.check();
              } catch (error) {
                await staged.discard();
                throw error;
              }
            }
            await staged.commit(key);
          },
          discard: () => staged.discard(),
        };
      };
    }
  }

  /**
   * Resolves if the bank holds no repository record; else the encrypting store's error for
   * it. A failure is not kept: the next call looks again.
   */
  private check(): Promise<void> {
    if (this.checked === undefined) {
      const checking = (async () => {
        if ((await this.inner.get(REPOSITORY_KEY)) === undefined) return;
        // Encrypted (or a damaged record): the encryption layer says so, in its words.
        await (await encrypting(this.inner, this.settings)).contentKeys(false);
      })();
      this.checked = checking;
      checking.catch(() => {
        if (this.checked === checking) this.checked = undefined;
      });
    }
    return this.checked;
  }

  async put(key: string, data: StoreData, call?: CallOptions): Promise<void> {
    if (!key.startsWith(KEYS_PREFIX)) await this.check();
    return this.inner.put(key, data, call);
  }

  async get(key: string, options?: ReadOptions): Promise<Buffer | undefined> {
    const stored = await this.inner.get(key, options);
    if (stored !== undefined && !key.startsWith(KEYS_PREFIX)) await this.check();
    return stored;
  }

  async getPieces(key: string, call?: CallOptions): Promise<Pieces | undefined> {
    if (!this.inner.getPieces) return this.getStream(key, call);
    return this.afterCheck(key, await this.inner.getPieces(key, call));
  }

  async getStream(key: string, call?: CallOptions): Promise<Readable | undefined> {
    return this.afterCheck(key, await this.inner.getStream(key, call));
  }

  /** `source` once the bank is known not to be encrypted (closed if it is); keys are always readable. */
  private async afterCheck<T extends { destroy(): unknown }>(
    key: string,
    source: T | undefined,
  ): Promise<T | undefined> {
    if (source === undefined || key.startsWith(KEYS_PREFIX)) return source;
    try {
      await this.check();
    } catch (error) {
      source.destroy();
      throw error;
    }
    return source;
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    call?: CallOptions,
  ): Promise<Buffer | undefined> {
    const bytes = await this.inner.getRange(key, offset, length, call);
    if (bytes !== undefined && !key.startsWith(KEYS_PREFIX)) await this.check();
    return bytes;
  }

  head(key: string, call?: CallOptions): Promise<ObjectInfo | undefined> {
    return this.inner.head(key, call);
  }

  delete(key: string, call?: CallOptions): Promise<void> {
    return this.inner.delete(key, call);
  }

  /** The keys under `prefix` without the key files, as `EncryptingStore.list` gives them. */
  async list(prefix: string, options: StoreListOptions): Promise<string[]> {
    return listHiding(this.inner, prefix, options, KEYS_PREFIX);
  }

  /** No keys without encryption; ENCRYPTION_MISMATCH (through `check`) if the bank is encrypted. */
  async contentKeys(_create: boolean): Promise<undefined> {
    await this.check();
    return undefined;
  }

  async readsAll(): Promise<boolean> {
    return true;
  }

  /** No key files to manage with `encryption = none`, as for a bank opened without encryption. */
  keyStore(): undefined {
    return undefined;
  }
}
