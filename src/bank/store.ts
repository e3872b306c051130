import { Readable } from 'node:stream';
import type { KeyStore } from '../crypto/keyring.js';
import { HoardError } from '../errors.js';
import type { ContentKeys } from './encrypted.js';
import { holderGone } from './holder.js';
import type { ObjectInfo, Pieces, PutData, StagedObject } from './types.js';

/** Bytes, or chunks that can be read once. String chunks are UTF-8. */
export type StoreData = Buffer | AsyncIterable<Uint8Array | string>;

export interface LeaseRecord {
  owner: string;
  token: string;
  expiresAt: number;
  /** The holding process (`holder.ts`), so that a lease whose process died is broken at once. */
  holder?: string;
}

/** A lease holds until it expires or, earlier, until its holder process is provably gone. */
export function leaseLive(record: LeaseRecord, now: number): boolean {
  return record.expiresAt > now && !holderGone(record.holder);
}

export type AcquireResult = { acquired: true; expiresAt: number } | { acquired: false; holder: LeaseRecord };

/**
 * What a data call may carry (puts, reads, heads, deletes, listings): a signal that, once
 * aborted, fails a call not yet sent at once, aborts a request in flight, and stops retries.
 * Lease calls take none: a lease must still be renewed and released while an operation winds
 * down after a cancel.
 */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/**
 * The error of a call cancelled through `signal`: its reason where that is a HoardError (the
 * engine aborts a task with TASK_CANCELLED or TASK_TIMEOUT), else TASK_CANCELLED.
 */
export function cancelledCall(signal: AbortSignal, action: string): HoardError {
  const reason: unknown = signal.reason;
  if (reason instanceof HoardError) return reason;
  const why = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new HoardError('TASK_CANCELLED', `bank call cancelled while ${action}${why}`, { cause: reason });
}

/**
 * `work`, unless `signal` is aborted first: then `cancelledCall`'s error at once, while `work`
 * (shared with other callers, say) goes on.
 */
export function unlessCancelled<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  action: string,
): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(cancelledCall(signal, action));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelledCall(signal, action));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Throws `cancelledCall` if `signal` has been aborted. */
export function checkSignal(signal: AbortSignal | undefined, action: string): void {
  if (signal?.aborted) throw cancelledCall(signal, action);
}

/** See `Bank.get`. */
export interface ReadOptions extends CallOptions {
  /**
   * The caller accepts this machine's cached copy of the object, where the bank keeps one
   * (cache.ts: the content store's index objects of a remote bank). Default false: read the bank.
   */
  cached?: boolean;
}

export interface StoreListOptions extends CallOptions {
  marker: string | undefined;
  desc: boolean;
  /** Greater than 0; Infinity for no limit. */
  limit: number;
}

/**
 * What a bank implementation provides. It sees only full keys that `BankView` has already
 * validated; the view adds sections, read-only views and the errors callers see.
 */
export interface BankStore {
  /** The clock leases expire by, in ms since the epoch. */
  readonly now: () => number;
  /** BANK_KEY_CONFLICT if the key is under an object or has objects under it. */
  put(key: string, data: StoreData, call?: CallOptions): Promise<void>;
  get(key: string, options?: ReadOptions): Promise<Buffer | undefined>;
  getStream(key: string, call?: CallOptions): Promise<Readable | undefined>;
  /** See `Bank.getRange`; `offset` and `length` are checked already, `length` > 0. */
  getRange(key: string, offset: number, length: number, call?: CallOptions): Promise<Buffer | undefined>;
  head(key: string, call?: CallOptions): Promise<ObjectInfo | undefined>;
  delete(key: string, call?: CallOptions): Promise<void>;
  /** Full keys that start with `prefix`, in key order, strictly after `marker`. */
  list(prefix: string, options: StoreListOptions): Promise<string[]>;
  /** Starts, without waiting for it, what the first call will need (see `Bank.prepare`). */
  prepare?(): void;
  /**
   * Creates the lease, recording this process as its holder, unless a live one stops it (see
   * `leaseLive`); an expired one, or one whose holder is gone, is broken first.
   */
  acquireLease(name: string, owner: string, token: string, ttlMs: number): Promise<AcquireResult>;
  /** The new expiry, or undefined if the lease no longer holds `token` or has expired. */
  renewLease(name: string, token: string, ttlMs: number): Promise<number | undefined>;
  /** Removes the lease if it still holds `token`. */
  releaseLease(name: string, token: string): Promise<void>;
  readLease(name: string): Promise<LeaseRecord | undefined>;
  /** See `Bank.stage`; `prefix` is a full one. */
  stage?(prefix: string): StagedObject | undefined;
  /** See `Bank.getPieces`; undefined if there is no such object. */
  getPieces?(key: string, call?: CallOptions): Promise<Pieces | undefined>;
  /** See `Bank.sweep`; `prefix` is where the bank's keys start ('' for the whole bank). */
  sweep?(prefix: string, olderThanMs: number): Promise<SweepReport>;
  /** See `Bank.contentKeys`; only an encrypting store has it. */
  contentKeys?(create: boolean): Promise<ContentKeys | undefined>;
  /** See `Bank.readsAll`; only an encrypting store has it. */
  readsAll?(): Promise<boolean>;
  /** See `Bank.keyring`; only an encrypting store has it. */
  keyStore?(): KeyStore | undefined;
}

/** What `sweep` removed. */
export interface SweepReport {
  /** Temporary files of writes that never finished. */
  temporary: number;
  /** Empty directories left behind. */
  directories: number;
  /** Lease records long expired, or whose holder died, and damaged ones. */
  leases: number;
}

/**
 * The base of a store that wraps another and changes objects, not leases (encryption, the
 * cache of index objects, the deferred encryption layer): its clock, leases and sweep are the
 * wrapped store's.
 */
export abstract class ObjectsDecorator {
  constructor(protected readonly inner: BankStore) {}

  get now(): () => number {
    return this.inner.now;
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

  async sweep(prefix: string, olderThanMs: number): Promise<SweepReport> {
    return (await this.inner.sweep?.(prefix, olderThanMs)) ?? { temporary: 0, directories: 0, leases: 0 };
  }
}

/**
 * The keys under `prefix` in `inner`, without those under `hidden` (an encrypted bank's key
 * files), a page of `options.limit` still full where some were dropped.
 */
export async function listHiding(
  inner: BankStore,
  prefix: string,
  options: StoreListOptions,
  hidden: string,
): Promise<string[]> {
  const keys: string[] = [];
  let marker = options.marker;
  for (;;) {
    const want = options.limit - keys.length;
    const page = await inner.list(prefix, { ...options, marker, limit: want });
    const kept = page.filter((key) => !key.startsWith(hidden));
    keys.push(...kept);
    // A short page is the end; a full one with key files dropped leaves room for more.
    if (page.length < want || kept.length === page.length) return keys;
    marker = page[page.length - 1];
  }
}

export function toStoreData(data: PutData): StoreData {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data !== null && typeof data === 'object') {
    if (Symbol.asyncIterator in data) return data as AsyncIterable<Uint8Array | string>;
    // A stream of the old kind, without async iteration.
    if (typeof (data as NodeJS.ReadableStream).on === 'function') {
      return new Readable().wrap(data as NodeJS.ReadableStream);
    }
  }
  throw new HoardError(
    'BANK_ARGUMENT_INVALID',
    `cannot store a ${typeof data}: give bytes, a string or a stream`,
  );
}

/** The error for an object that would sit under another object, or over other objects. */
export function keyConflict(key: string, other: string): HoardError {
  const message =
    other === key
      ? `cannot store "${key}": keys under "${key}/" exist, and an object cannot have keys under it`
      : `cannot store "${key}": "${other}" is an object, and an object cannot have keys under it`;
  return new HoardError('BANK_KEY_CONFLICT', message, { details: { key, conflict: other } });
}
