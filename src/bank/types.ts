import type { Readable } from 'node:stream';
import type { KeyStore } from '../crypto/keyring.js';
import type { ContentKeys } from './encrypted.js';
import type { ReadOptions, SweepReport } from './store.js';

/** What `put` stores: bytes, a string (stored as UTF-8), or a stream of bytes that is read once. */
export type PutData = Buffer | Uint8Array | string | AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

/**
 * An object given as pieces all in memory at once (a pack's blobs), read as a stream by
 * banks that stream, and sealed whole by an encrypting bank without joining the pieces first.
 * A bank must not keep the pieces after its put has resolved.
 */
export class Parts implements AsyncIterable<Uint8Array> {
  constructor(readonly pieces: readonly Uint8Array[]) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    yield* this.pieces;
  }
}

/**
 * An object written piece by piece under a temporary name that no key or listing shows, then
 * given its key at once (`Bank.stage`): for an object whose key depends on its content (a
 * pack), so that it need not be held in memory until the key is known.
 */
export interface StagedObject {
  /** Appends `bytes`; the caller may reuse them once this resolves. One call at a time. */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Stores what was written under `key`, as durably and atomically as `put` (a reader sees no
   * object, or the whole of it); the staged object is spent. On failure the temporary is gone.
   */
  commit(key: string): Promise<void>;
  /** Drops what was written (the temporary is removed); nothing is stored. */
  discard(): Promise<void>;
}

/** An object's bytes piece by piece, each valid until the next is asked for (`Bank.getPieces`). */
export interface Pieces extends AsyncIterable<Uint8Array> {
  /** Ends the reading early (a reader that stops before the end). */
  destroy(): void;
}

export interface ObjectInfo {
  size: number;
  /** When the object was last written, in ms since the epoch. */
  modifiedAt: number;
}

export interface ListOptions {
  /**
   * At most this many keys.
   * @default Infinity (no limit)
   */
  limit?: number;
  /**
   * Only keys strictly after this one in `order`; it need not exist.
   * @default from the first key
   */
  marker?: string;
  /**
   * By the key string: 'asc' or 'desc'.
   * @default 'asc'
   */
  order?: 'asc' | 'desc';
}

export interface SectionOptions {
  /**
   * Refuse every write through this section and the sections made from it. A section of a
   * read-only bank or section is read-only whatever this says.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Every data call through this section and the sections made from it (put, get, getStream,
   * getRange, head, exists, delete, list) carries this signal: once it is aborted, a call not
   * yet sent fails at once, a request in flight is aborted and no retry follows, with the
   * signal's reason if it is a HoardError, else TASK_CANCELLED. Taking a lease checks it too;
   * renewing and releasing one never stop for it (an operation winding down must still give
   * its leases back). A section's signal adds to its parent's: either one cancels.
   * @default none
   */
  signal?: AbortSignal;
}

export interface AcquireLeaseOptions {
  /** Who holds the lease, as other processes see it (`leaseInfo`, `LEASE_HELD` errors). */
  owner: string;
  /** How long the lease lives unless renewed, in ms. */
  ttlMs: number;
}

/** A held lease. Only the holder has the token; renewing returns a new `Lease`. */
export interface Lease {
  /** The lease's name relative to the bank or section that acquired it. */
  readonly name: string;
  readonly owner: string;
  readonly token: string;
  /** In ms since the epoch, by the bank's clock. */
  readonly expiresAt: number;
  /** The time to live it was acquired or last renewed with; `renewLease`'s default. */
  readonly ttlMs: number;
}

export interface LeaseInfo {
  owner: string;
  /**
   * When the lease stops holding, by the bank's clock: past for an expired lease that nobody
   * has broken yet, and now for one whose holder process is provably gone (`holderGone`).
   */
  expiresAt: number;
  /**
   * Whether the lease holds now, judged by the bank's clock (an S3 bank's follows the server):
   * what to decide on, rather than comparing `expiresAt` with this machine's clock.
   */
  live: boolean;
  /** The holder ran on this machine and has died: the lease is void, whatever its expiry said. */
  holderGone?: true;
}

/**
 * A key/object store. Keys are '/'-separated segments relative to the bank or section (see
 * `keyProblem` for what a key may hold). An object is a leaf: a key cannot also have keys
 * under it ('a' and 'a/b' cannot both exist), so that a bank maps onto a file tree.
 */
export interface Bank {
  /** True if writes through this bank fail with BANK_READ_ONLY. */
  readonly readOnly: boolean;

  /**
   * Starts, without waiting for it, what the first call will need: in password mode the key
   * derivation from the password (scrypt, about 0.3 s), so that it runs while a command that
   * knows it will use this bank loads its modules. Optional; a no-op where nothing is slow.
   */
  prepare?(): void;

  /**
   * Stores `data` under `key`, replacing any object there. Atomic: a reader sees the old
   * object or the whole new one, never part of it; a failed put leaves the old one.
   * BANK_KEY_CONFLICT if `key` is under another object or has objects under it.
   */
  put(key: string, data: PutData): Promise<void>;
  /**
   * An object to write in pieces and name at the end (see `StagedObject`), its temporary kept
   * beside the keys under `prefix`; undefined where the bank cannot (then `put` the whole
   * object). A crash leaves only a temporary, which `sweep` removes. The fs bank offers it;
   * encrypted, only for the content store's packs (`store/packs`), which it seals as they
   * come (docs/encryption.md, "Staged packs").
   */
  stage?(prefix: string): StagedObject | undefined;
  /**
   * The whole object; BANK_NOT_FOUND if there is none. `options.cached`: a copy kept on this
   * machine will do (only immutable objects are kept; see bank/cache.ts).
   */
  get(key: string, options?: ReadOptions): Promise<Buffer>;
  /** The object as a stream of its bytes as of the call; BANK_NOT_FOUND if there is none. */
  getStream(key: string): Promise<Readable>;
  /**
   * The object's bytes as `getStream` gives them, but each piece valid only until the next is
   * asked for (the pieces may share one buffer): a reader that copies each piece at once (a
   * restore filling its batches) allocates nothing per piece, and leaves no garbage that
   * starts full collections. BANK_NOT_FOUND if there is none. Optional: else `getStream`.
   */
  getPieces?(key: string): Promise<Pieces>;
  /**
   * At most `length` bytes of the object from byte `offset` on: fewer where the object ends
   * first, none from an offset at or past its end. One request to the medium (a positioned
   * read, an HTTP Range), so a reader fetches only the part it needs. BANK_NOT_FOUND if there
   * is no object; BANK_ARGUMENT_INVALID unless both are whole numbers >= 0.
   */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  head(key: string): Promise<ObjectInfo | undefined>;
  exists(key: string): Promise<boolean>;
  /** Removes the object; nothing happens if there is none. */
  delete(key: string): Promise<void>;

  /**
   * Keys starting with `prefix` (a plain string prefix: '', 'a/' or 'a/b' are all fine),
   * sorted by the key string, strictly after `marker`, at most `limit`. Reads only the part
   * of the bank that can hold such keys, and stops once `limit` keys are found.
   */
  list(prefix: string, options?: ListOptions): Promise<string[]>;

  /** A view whose keys and lease names are relative to `prefix` (a trailing '/' is allowed). */
  section(prefix: string, options?: SectionOptions): Bank;
  /** This bank or section, with `signal` added to its own (see `SectionOptions.signal`). */
  withSignal(signal: AbortSignal): Bank;

  /**
   * Takes the lease `name`. LEASE_HELD, naming the owner and expiry, if someone holds it and
   * it has not expired; an expired lease is broken and taken. Not re-entrant: the same owner
   * asking twice gets LEASE_HELD too.
   */
  acquireLease(name: string, options: AcquireLeaseOptions): Promise<Lease>;
  /**
   * Extends the lease by `ttlMs` (default the lease's own) from now. LEASE_LOST if it has
   * expired or is no longer ours: once expired, others may have acted on it.
   */
  renewLease(lease: Lease, ttlMs?: number): Promise<Lease>;
  /** Gives the lease up; nothing happens if it is no longer ours. */
  releaseLease(lease: Lease): Promise<void>;
  /** True while the lease is ours and has not expired. */
  isLeaseValid(lease: Lease): Promise<boolean>;
  /** The lease recorded under `name`, expired or not, as any process sharing the bank sees it. */
  leaseInfo(name: string): Promise<LeaseInfo | undefined>;

  /**
   * Removes what interrupted writes left behind, which no key or listing shows: temporary
   * files of puts that never finished, empty directories, lease records that expired (or
   * whose holder died) at least `olderThanMs` ago. Nothing younger than that is touched, so
   * a write in progress is never disturbed. Leases are swept with the whole bank only.
   */
  sweep(olderThanMs: number): Promise<SweepReport>;

  /**
   * For an encrypted bank, the keys the content store names blobs (HMAC) and cuts content
   * with; undefined for a bank without encryption. `create`: make the repository's keys if
   * the bank is still empty (a writer); otherwise an empty encrypted bank gives undefined.
   */
  contentKeys(options?: { create?: boolean }): Promise<ContentKeys | undefined>;

  /**
   * The key files of a bank opened with encryption (`keys/…`, which listings never show), for
   * `hoard key`; undefined for a bank opened without, and for a section.
   */
  keyring(): KeyStore | undefined;

  /**
   * False for a bank in public-key mode opened without its identity: it can protect (write,
   * deduplicate, change statuses) but not read what plugins stored, so restore, verify and
   * gc refuse at once (ENCRYPTION_WRITE_ONLY) rather than fail half-way.
   */
  readsAll(): Promise<boolean>;
}

/** What `Bank.sweep` removed. */
export type { SweepReport } from './store.js';
