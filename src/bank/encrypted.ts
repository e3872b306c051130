/**
 * Encryption as a decorator around any `BankStore` (composed in compose.ts): every object is
 * sealed on its way in and opened on its way out (crypto/stream.ts), except the `keys/`
 * objects, which hold the repository's secrets wrapped by passwords or sealed to a recipient.
 * Keys, listings and leases pass through: what stays visible is in docs/encryption.md.
 *
 * password: every object under a key derived from the repository's data key.
 * public-key: content (packs, and what plugins keep in their resource sections but their
 * `blobs` lists) is an age file sealed to the recipient, which only the identity opens; the
 * rest (checkpoint records, journals, logs, store indexes, `blobs` lists) is sealed as in
 * password mode under the data key, which a writer keeps in a local file, so that it can
 * protect, deduplicate and change statuses without being able to read what it stored.
 *
 * The repository is opened at the first call that needs it, once per process. The first
 * write to an empty bank creates it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { openWith, parseIdentity, parseRecipient, recipientOf, sealTo } from '../crypto/age.js';
import {
  createRepository,
  KEYS_PREFIX,
  type KeyStore,
  REPOSITORY_KEY,
  readRecord,
  SEALED_SECRETS_KEY,
  unlock,
} from '../crypto/keyring.js';
import {
  type EarlyKey,
  newSecrets,
  parseSecrets,
  type RepositoryRecord,
  type RepositorySecrets,
  repositoryRecord,
  secretsJson,
} from '../crypto/keys.js';
import { sealParts } from '../crypto/seal-pool.js';
import {
  hencFormat,
  hencStaged,
  nameDigest,
  type ObjectFormat,
  openBuffer,
  openSegments,
  openStream,
  plainLength,
  SEGMENT,
  SealError,
  StreamSealer,
  sealBuffer,
  sealedRange,
  sealStream,
} from '../crypto/stream.js';
import { HoardError } from '../errors.js';
import { stagesSealed } from './keys.js';
import {
  type BankStore,
  type CallOptions,
  listHiding,
  ObjectsDecorator,
  type ReadOptions,
  type StoreData,
  type StoreListOptions,
} from './store.js';
import { type ObjectInfo, Parts, type Pieces, type StagedObject } from './types.js';

export type EncryptionMode = 'none' | 'password' | 'public-key';

export interface EncryptionSettings {
  mode: EncryptionMode;
  /** The bank as messages name it: `the bank of provider "offsite"`. */
  where: string;
  /** Password mode: the password, read when the repository is first opened. */
  password?: () => Promise<string>;
  /** Public-key mode: the age recipient (`age1…`) content is sealed to. */
  recipient?: string;
  /** Public-key mode: the identity file's text, if this process may read (restore, verify, gc). */
  identity?: () => Promise<string | undefined>;
  /** Public-key mode: where a writer keeps the repository's data, id and chunker keys (0600). */
  writerKeyFile?: string;
  /**
   * Password mode: a file in this machine's cache holding the KDF parameters (salt and cost,
   * not secret: they are in the clear in the bank) of the key file that opened the bank last,
   * so that the next process derives the key while the bank's key files are still being read
   * (deferred.ts). Default: none, the key is derived once the key file is read.
   */
  kdfHintFile?: string;
}

/** What the content store needs of a repository's secrets to name and cut content. */
export interface ContentKeys {
  idKey: Buffer;
  chunkerSeed: Buffer;
}

/** Lease taken while a repository's keys are created, so two first writers make one repository. */
const CREATE_LEASE = 'keys-create';
/** Enough of an object's start to hold any header of ours (an age header is about 200 bytes). */
const HEADER_PEEK = 1024;

/** The objects a write-only client keeps a copy of: a resource section's, up to this size. */
const CACHED = /^checkpoints\/([^/]+)\/resources\/([^/]+)\/((?!blobs$).+)$/;
/** Under a resource's cache folder: which object names protects asked for (sorts before ids). */
const WANTED = '.wanted';
const CACHED_MAX = 4 * 1024 * 1024;

function cacheName(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The content store's packs: the only objects staged (sealed before their name is known). */
const PACKS_PREFIX = 'store/packs/';

/** Content in public-key mode: what only the identity may read. */
function isContent(key: string): boolean {
  if (key.startsWith(PACKS_PREFIX)) return true;
  return /^checkpoints\/[^/]+\/resources\//.test(key) && !key.endsWith('/blobs');
}

interface Opened {
  secrets: RepositorySecrets;
  /** Public-key mode: the identity, when this process has it. */
  identity?: Buffer;
  recipient?: Buffer;
}

export class EncryptingStore extends ObjectsDecorator implements BankStore {
  private opened: Promise<Opened | undefined> | undefined;

  constructor(
    inner: BankStore,
    private readonly settings: EncryptionSettings,
    /** Password mode: the key derived ahead from `kdfHintFile`'s parameters (deferred.ts). */
    private readonly early?: EarlyKey,
  ) {
    super(inner);
  }

  /**
   * The repository's secrets (undefined for a bank without encryption, or an encrypted one
   * that is still empty and `create` is false). ENCRYPTION_MISMATCH where the bank and the
   * setting disagree, ENCRYPTION_KEY_WRONG for a password or identity that opens nothing.
   */
  private async secrets(create: boolean): Promise<Opened | undefined> {
    for (;;) {
      this.opened ??= this.open(create).then(
        (opened) => {
          // An empty bank opened for reading is looked at again by the next call.
          if (opened === undefined && this.settings.mode !== 'none') this.opened = undefined;
          return opened;
        },
        (error: unknown) => {
          // A wrong password stays wrong (and trying it costs a key derivation per key file).
          if (!(error instanceof HoardError && error.code === 'ENCRYPTION_KEY_WRONG'))
            this.opened = undefined;
          throw error;
        },
      );
      const opened = await this.opened;
      if (opened !== undefined || !create || this.settings.mode === 'none') return opened;
      // This call joined a look that was not to create the repository: look again, creating.
    }
  }

  /** The keys that name and cut content, or undefined without encryption. */
  async contentKeys(create: boolean): Promise<ContentKeys | undefined> {
    const opened = await this.secrets(create);
    return opened && { idKey: opened.secrets.idKey, chunkerSeed: opened.secrets.chunkerSeed };
  }

  private async open(create: boolean): Promise<Opened | undefined> {
    const { mode, where } = this.settings;
    const keys = keyStore(this.inner);
    const record = await readRecord(keys, where);
    if (mode === 'none') {
      if (record) {
        throw new HoardError(
          'ENCRYPTION_MISMATCH',
          `${where} is encrypted (${record.encryption} mode), but the provider says encryption = none: set "encryption = ${record.encryption}" in [provider] and its keys in [encryption]`,
        );
      }
      return undefined;
    }
    if (record) return this.unlock(record, keys);
    if (!create) {
      await this.refuseUnencryptedData();
      return undefined;
    }
    // Asked before the lease: a missing password or recipient must not hold it.
    const password = mode === 'password' ? await this.password() : undefined;
    const recipient = mode === 'public-key' ? this.recipient() : undefined;
    const token = randomBytes(16).toString('hex');
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
      const made = await readRecord(keys, where);
      if (made) return await this.unlock(made, keys);
      await this.refuseUnencryptedData();
      if (password !== undefined) {
        const created = await createRepository(keys, password);
        await this.keepKdfHint(created.kdf);
        return { secrets: created.secrets };
      }
      return await this.createSealed(keys, recipient!);
    } finally {
      await this.inner.releaseLease(CREATE_LEASE, token).catch(() => {});
    }
  }

  private async unlock(record: RepositoryRecord, keys: KeyStore): Promise<Opened> {
    const { mode, where } = this.settings;
    if (record.encryption !== mode) {
      throw new HoardError(
        'ENCRYPTION_MISMATCH',
        `${where} is encrypted in ${record.encryption} mode, but the provider says encryption = ${mode}`,
      );
    }
    if (mode === 'password') {
      const early = this.early ? { early: this.early } : {};
      const opened = await unlock(keys, await this.password(), where, { record, ...early });
      await this.keepKdfHint(opened.kdf);
      return { secrets: opened.secrets };
    }
    const recipient = this.recipient();
    const theirs = record.recipient ?? '';
    if (this.settings.recipient?.trim() !== theirs) {
      throw new HoardError(
        'ENCRYPTION_MISMATCH',
        `${where} is sealed to ${theirs}, but the provider's recipient is ${this.settings.recipient}`,
      );
    }
    const identity = await this.identity();
    if (identity !== undefined) {
      if (recipientOf(identity) !== theirs) {
        throw new HoardError(
          'ENCRYPTION_KEY_WRONG',
          `the identity is not the one of ${theirs}, which ${where} is sealed to`,
        );
      }
      const sealed = await this.inner.get(SEALED_SECRETS_KEY);
      if (sealed === undefined) throw this.damaged(SEALED_SECRETS_KEY, new SealError('it is missing'));
      let secrets: RepositorySecrets;
      try {
        secrets = parseSecrets(openBuffer(openWith(identity), sealed).toString('utf8'));
      } catch (error) {
        throw this.damaged(
          SEALED_SECRETS_KEY,
          error instanceof SealError ? error : new SealError(String(error)),
        );
      }
      return { secrets, identity, recipient };
    }
    return { secrets: await this.writerSecrets(record.id), recipient };
  }

  /** Notes the KDF parameters that opened the bank for the next process (`kdfHintFile`); best effort. */
  private async keepKdfHint(kdf: EarlyKey['kdf']): Promise<void> {
    const file = this.settings.kdfHintFile;
    const text = JSON.stringify(kdf);
    if (file === undefined || (this.early && JSON.stringify(this.early.kdf) === text)) return;
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      const temporary = `${file}.tmp-${randomBytes(4).toString('hex')}`;
      await writeFile(temporary, `${text}\n`, { mode: 0o600 });
      await rename(temporary, file);
    } catch {
      // Only a hint: the next process derives the key after reading the key file.
    }
  }

  /** A public-key repository: its secrets sealed to the recipient in the bank, and kept for this writer. */
  private async createSealed(keys: KeyStore, recipient: Buffer): Promise<Opened> {
    const secrets = newSecrets();
    await keys.put(SEALED_SECRETS_KEY, sealBuffer(sealTo(recipient), Buffer.from(secretsJson(secrets))));
    await this.keepWriterSecrets(secrets);
    // The record last: a bank with keys but no record is not yet encrypted, and is made again.
    const record = repositoryRecord(secrets, this.settings.recipient!.trim());
    await keys.put(REPOSITORY_KEY, Buffer.from(JSON.stringify(record, null, 2)));
    const identity = await this.identity();
    return { secrets, recipient, ...(identity ? { identity } : {}) };
  }

  private async keepWriterSecrets(secrets: RepositorySecrets): Promise<void> {
    const file = this.writerKeyFile();
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    await writeFile(temporary, `${secretsJson(secrets)}\n`, { mode: 0o600 });
    await chmod(temporary, 0o600);
    await rename(temporary, file);
  }

  private async writerSecrets(repository: string): Promise<RepositorySecrets> {
    const file = this.writerKeyFile();
    let secrets: RepositorySecrets;
    try {
      secrets = parseSecrets(await readFile(file, 'utf8'));
    } catch (error) {
      const why =
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'there is none' : (error as Error).message;
      throw new HoardError(
        'ENCRYPTION_KEY_WRONG',
        `${this.settings.where} is write-only here and needs its writer key ${file} (${why}): copy it from the machine that made the repository, or give [encryption] identity_file`,
      );
    }
    if (secrets.repository !== repository) {
      throw new HoardError(
        'ENCRYPTION_KEY_WRONG',
        `the writer key ${file} is for repository ${secrets.repository}, not ${repository} (${this.settings.where})`,
      );
    }
    return secrets;
  }

  private writerKeyFile(): string {
    const file = this.settings.writerKeyFile;
    if (!file)
      throw new HoardError('INTERNAL', `${this.settings.where}: public-key mode without a writer key file`);
    return file;
  }

  private recipient(): Buffer {
    try {
      return parseRecipient(this.settings.recipient ?? '');
    } catch (error) {
      throw new HoardError(
        'PROVIDER_INVALID',
        `${this.settings.where}: [encryption] recipient: ${(error as Error).message}`,
      );
    }
  }

  private async identity(): Promise<Buffer | undefined> {
    const text = await this.settings.identity?.();
    if (text === undefined) return undefined;
    try {
      return parseIdentity(text);
    } catch (error) {
      throw new HoardError(
        'PROVIDER_INVALID',
        `${this.settings.where}: [encryption] identity_file: ${(error as Error).message}`,
      );
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
        `${this.settings.where} already holds unencrypted data (${first}) but the provider says encryption = ${this.settings.mode}: an existing bank cannot be encrypted in place; make a new provider with encryption and "hoard copy" into it`,
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

  /**
   * How `key` is sealed: undefined for an object in the clear (`keys/`, or no encryption).
   * Reading content in public-key mode without the identity is ENCRYPTION_WRITE_ONLY.
   */
  private async format(key: string, writing: boolean): Promise<ObjectFormat | undefined> {
    if (key.startsWith(KEYS_PREFIX)) return undefined;
    const opened = await this.secrets(writing);
    if (this.settings.mode === 'none') return undefined;
    if (opened === undefined) {
      throw new HoardError(
        'ENCRYPTION_MISMATCH',
        `${this.settings.where}: "${key}" exists but the bank has no ${REPOSITORY_KEY}: it was not written with encryption`,
      );
    }
    if (this.settings.mode === 'public-key' && isContent(key)) {
      if (writing) return sealTo(opened.recipient!);
      if (opened.identity === undefined) {
        throw new HoardError(
          'ENCRYPTION_WRITE_ONLY',
          `${this.settings.where} holds only the recipient here, so "${key}" cannot be read: restore, verify and gc need [encryption] identity_file`,
          { details: { key } },
        );
      }
      return openWith(opened.identity);
    }
    return hencFormat(opened.secrets.dataKey, key, key.startsWith(PACKS_PREFIX));
  }

  /** True if this process can read everything in the bank (false: public-key mode without the identity). */
  async readsAll(): Promise<boolean> {
    if (this.settings.mode !== 'public-key') return true;
    const opened = await this.secrets(false);
    return opened === undefined || opened.identity !== undefined;
  }

  async put(key: string, data: StoreData, call?: CallOptions): Promise<void> {
    const format = await this.format(key, true);
    if (format === undefined) return this.inner.put(key, data, call);
    if (data instanceof Parts || Buffer.isBuffer(data)) {
      const pieces = data instanceof Parts ? data.pieces : [data];
      const sealed = await sealParts(format, pieces, key.startsWith(PACKS_PREFIX));
      await this.inner.put(key, sealed.bytes, call);
      sealed.release(); // only after a put that succeeded: see Sealed.release
    } else {
      await this.inner.put(key, sealStream(format, data), call);
    }
    if (Buffer.isBuffer(data)) await this.remember(key, data);
  }

  /**
   * A pack sealed as it fills into the staged object of the store under this one (which
   * must stage), so that no pack is held in memory: no plaintext reaches it. Password mode
   * seals version 2 (stream.ts: the name is bound by the last segment alone, sealed at the
   * commit); public-key mode an age file, as its `put` does. Only packs at the bank's root
   * are staged (`stagesSealed`; elsewhere undefined: `put` them): a version 2 object opens
   * nowhere else.
   */
  stage(prefix: string): StagedObject | undefined {
    if (!stagesSealed(prefix) || this.settings.mode === 'none') return undefined;
    const staged = this.inner.stage?.(prefix);
    if (staged === undefined) return undefined;
    let sealing: Promise<{ sealer: StreamSealer; bind: boolean }> | undefined;
    const sealer = () => {
      sealing ??= this.secrets(true).then((opened) => {
        if (opened === undefined) throw new HoardError('INTERNAL', `${this.settings.where} has no keys`);
        const { header, key } =
          this.settings.mode === 'public-key'
            ? sealTo(opened.recipient!).seal()
            : hencStaged(opened.secrets.dataKey);
        return { sealer: new StreamSealer(header, key), bind: this.settings.mode === 'password' };
      });
      return sealing;
    };
    return {
      write: async (bytes) => {
        const { sealer: s } = await sealer();
        for (const sealed of s.push(bytes)) await staged.write(sealed);
      },
      commit: async (key) => {
        try {
          if (!key.startsWith(PACKS_PREFIX)) {
            throw new HoardError('INTERNAL', `${this.settings.where}: only packs are staged, not "${key}"`);
          }
          const { sealer: s, bind } = await sealer();
          await staged.write(s.end(bind ? nameDigest(key) : undefined));
        } catch (error) {
          await staged.discard();
          throw error;
        }
        await staged.commit(key);
      },
      discard: () => staged.discard(),
    };
  }

  /**
   * A write-only client keeps a plaintext copy of the small objects it stores in a resource's
   * section that a protect has asked for before in an earlier checkpoint (fs.directory's
   * manifest: what did not change), for the newest checkpoint of each resource only, so that
   * the next protect finds them without reading the bank (it cannot). Nothing else is kept:
   * a database dump that no protect reads back never lands here. What this exposes to a
   * thief of the client is in docs/encryption.md.
   */
  private async remember(key: string, data: Buffer): Promise<void> {
    const cache = this.cacheDir();
    const match = CACHED.exec(key);
    if (cache === undefined || match === null || data.length > CACHED_MAX) return;
    const [, checkpoint, resource, name] = match;
    if ((await this.secrets(false))?.identity !== undefined) return;
    const dir = join(cache, resource!);
    const wanted = await stat(join(dir, WANTED, cacheName(name!))).catch(() => undefined);
    if (wanted === undefined) return;
    await mkdir(join(dir, checkpoint!), { recursive: true, mode: 0o700 });
    const file = join(dir, checkpoint!, cacheName(key));
    const temporary = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    await writeFile(temporary, data, { mode: 0o600 });
    await rename(temporary, file);
    // Checkpoint ids sort by time: an older one of this resource is not needed any more.
    for (const other of await readdir(dir)) {
      if (other !== WANTED && other < checkpoint!)
        await rm(join(dir, other), { recursive: true, force: true });
    }
  }

  /**
   * The plaintext a write-only client kept of `key` (see `remember`), if it did; if not, the
   * object's name in its section is marked as wanted, so that the next one is kept.
   */
  private async recall(key: string): Promise<Buffer | undefined> {
    const cache = this.cacheDir();
    const match = CACHED.exec(key);
    if (cache === undefined || match === null) return undefined;
    const [, checkpoint, resource, name] = match;
    const kept = await readFile(join(cache, resource!, checkpoint!, cacheName(key))).catch(() => undefined);
    if (kept === undefined) {
      const wanted = join(cache, resource!, WANTED);
      await mkdir(wanted, { recursive: true, mode: 0o700 });
      await writeFile(join(wanted, cacheName(name!)), '');
    }
    return kept;
  }

  private cacheDir(): string | undefined {
    const file = this.settings.writerKeyFile;
    return this.settings.mode === 'public-key' && file ? file.replace(/\.json$/, '.cache') : undefined;
  }

  async get(key: string, options?: ReadOptions): Promise<Buffer | undefined> {
    const kept = await this.recallWriteOnly(key);
    if (kept) return kept;
    const stored = await this.inner.get(key, options);
    if (stored === undefined) return undefined;
    const format = await this.format(key, false);
    if (format === undefined) return stored;
    try {
      return openBuffer(format, stored);
    } catch (error) {
      throw this.damaged(key, error);
    }
  }

  /** For a write-only client, what it kept of a content object (undefined: read the bank). */
  private async recallWriteOnly(key: string): Promise<Buffer | undefined> {
    if (this.settings.mode !== 'public-key' || !isContent(key)) return undefined;
    if ((await this.secrets(false))?.identity !== undefined) return undefined;
    return this.recall(key);
  }

  async getStream(key: string, call?: CallOptions): Promise<Readable | undefined> {
    const kept = await this.recallWriteOnly(key);
    if (kept) return Readable.from([kept]);
    const stream = await this.inner.getStream(key, call);
    if (stream === undefined) return undefined;
    const pieces = await this.opening(key, stream);
    return pieces === stream ? stream : Readable.from(pieces, { objectMode: false });
  }

  async getPieces(key: string, call?: CallOptions): Promise<Pieces | undefined> {
    const kept = await this.recallWriteOnly(key);
    if (kept) return Readable.from([kept]);
    const source = this.inner.getPieces
      ? await this.inner.getPieces(key, call)
      : await this.inner.getStream(key, call);
    // openStream copies what it keeps of each piece before asking for the next.
    return source && this.opening(key, source);
  }

  /** The stored pieces `source` opened, if the key's objects are sealed; destroying it destroys `source`. */
  private async opening(key: string, source: Pieces): Promise<Pieces> {
    let format: ObjectFormat | undefined;
    try {
      format = await this.format(key, false);
    } catch (error) {
      source.destroy();
      throw error;
    }
    if (format === undefined) return source;
    const opened = openStream(format, source);
    const damaged = (error: unknown) => this.damaged(key, error);
    return {
      destroy: () => source.destroy(),
      async *[Symbol.asyncIterator]() {
        try {
          yield* opened;
        } catch (error) {
          throw damaged(error);
        } finally {
          source.destroy();
        }
      },
    };
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    call?: CallOptions,
  ): Promise<Buffer | undefined> {
    if (key.startsWith(KEYS_PREFIX)) return this.inner.getRange(key, offset, length, call);
    const info = await this.inner.head(key, call);
    if (info === undefined) return undefined;
    const format = await this.format(key, false);
    if (format === undefined) return this.inner.getRange(key, offset, length, call);
    try {
      const peek = await this.inner.getRange(key, 0, HEADER_PEEK, call);
      if (peek === undefined) return undefined;
      const header = format.open(peek);
      if (header === undefined) throw new SealError('its header is cut short');
      const size = plainLength(info.size, header.length);
      if (offset >= size) return Buffer.alloc(0);
      const wanted = Math.min(length, size - offset);
      const { first, from, to } = sealedRange(offset, wanted, header.length);
      const end = Math.min(to, info.size);
      const sealed = await this.inner.getRange(key, from, end - from, call);
      if (sealed === undefined) return undefined;
      const plain = openSegments(header.key, first, sealed, end === info.size);
      const skip = offset - first * SEGMENT;
      return plain.subarray(skip, skip + wanted);
    } catch (error) {
      throw this.damaged(key, error);
    }
  }

  async head(key: string, call?: CallOptions): Promise<ObjectInfo | undefined> {
    const info = await this.inner.head(key, call);
    if (info === undefined || key.startsWith(KEYS_PREFIX) || this.settings.mode === 'none') return info;
    let headerLength = HENC_HEADER;
    if (this.settings.mode === 'public-key' && isContent(key)) {
      // An age header's length varies: read it (its length needs no key).
      const peek = await this.inner.getRange(key, 0, HEADER_PEEK, call);
      headerLength = ageHeaderLength(peek ?? Buffer.alloc(0)) ?? info.size;
    }
    try {
      return { ...info, size: plainLength(info.size, headerLength) };
    } catch {
      // A cut-short object: its size is about this; reading it names the damage.
      return { ...info, size: Math.max(0, info.size - headerLength - 16) };
    }
  }

  delete(key: string, call?: CallOptions): Promise<void> {
    return this.inner.delete(key, call);
  }

  /**
   * The keys under `prefix`, without the key files: they are the bank's own, like its leases,
   * not objects of its users (a listing of the whole bank shows none of them).
   */
  async list(prefix: string, options: StoreListOptions): Promise<string[]> {
    return listHiding(this.inner, prefix, options, KEYS_PREFIX);
  }

  /**
   * The bank's key files, for `hoard key` (which changes passwords, never the secrets);
   * undefined for a bank opened with `encryption = none`, as for one opened without it.
   */
  keyStore(): KeyStore | undefined {
    return this.settings.mode === 'none' ? undefined : keyStore(this.inner);
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

/** Hoard's own header: `HENC`, version, nonce (stream.ts). */
const HENC_HEADER = 21;

/** The length of an age header (through the payload nonce) at the start of `bytes`, if it is whole there. */
function ageHeaderLength(bytes: Uint8Array): number | undefined {
  const text = Buffer.from(bytes).toString('latin1');
  const end = text.indexOf('\n--- ');
  const line = end < 0 ? -1 : text.indexOf('\n', end + 5);
  return line < 0 ? undefined : line + 17;
}
