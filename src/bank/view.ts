import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import type { KeyStore } from '../crypto/keyring.js';
import { HoardError } from '../errors.js';
import type { ContentKeys } from './encrypted.js';
import { relativeKey, resolveKey } from './keys.js';
import {
  type BankStore,
  type CallOptions,
  checkSignal,
  leaseLive,
  type ReadOptions,
  type SweepReport,
  toStoreData,
} from './store.js';
import type {
  AcquireLeaseOptions,
  Bank,
  Lease,
  LeaseInfo,
  ListOptions,
  ObjectInfo,
  Pieces,
  PutData,
  SectionOptions,
  StagedObject,
} from './types.js';

/**
 * The `Bank` every implementation shares: a store seen through a section prefix ('' for the
 * whole bank). Every key, prefix and lease name is joined to the prefix and validated here,
 * before the store sees it.
 */
export class BankView implements Bank {
  /** What each data call passes to the store: the section's signal, if it has one. */
  private readonly call: CallOptions;

  constructor(
    private readonly store: BankStore,
    private readonly prefix: string,
    readonly readOnly: boolean,
    private readonly signal?: AbortSignal,
  ) {
    this.call = signal ? { signal } : {};
    // Each request in flight listens to the signal until it ends (the SDK's and the retry's
    // waits): a hook's puts, conflict checks and reads at once pass Node's leak warning (10).
    if (signal) setMaxListeners(1000, signal);
  }

  prepare(): void {
    this.store.prepare?.();
  }

  async put(key: string, data: PutData): Promise<void> {
    try {
      const full = this.writable(key, 'key');
      checkSignal(this.signal, `writing "${full}"`);
      await this.store.put(full, toStoreData(data), this.call);
    } catch (error) {
      // A stream handed over and not read to its end (a refused key, a failed write) must
      // not keep its file open until the garbage collector closes it.
      const stream = data as { destroy?: (error?: Error) => void; readableEnded?: boolean };
      if (typeof stream?.destroy === 'function' && stream.readableEnded !== true) stream.destroy();
      throw error;
    }
  }

  stage(prefix: string): StagedObject | undefined {
    if (this.readOnly || this.store.stage === undefined) return undefined;
    const staged = this.store.stage(resolveKey(this.prefix, prefix, 'section prefix'));
    if (staged === undefined) return undefined;
    return {
      write: (bytes) => {
        checkSignal(this.signal, 'writing a staged object');
        return staged.write(bytes);
      },
      commit: async (key) => {
        let full: string;
        try {
          full = this.writable(key, 'key');
          checkSignal(this.signal, `writing "${full}"`);
        } catch (error) {
          await staged.discard();
          throw error;
        }
        await staged.commit(full);
      },
      discard: () => staged.discard(),
    };
  }

  async get(key: string, options?: ReadOptions): Promise<Buffer> {
    const full = this.readable(key, 'reading');
    return (
      (await this.store.get(full, this.signal ? { ...options, signal: this.signal } : options)) ??
      notFound(full)
    );
  }

  async getStream(key: string): Promise<Readable> {
    const full = this.readable(key, 'reading');
    return (await this.store.getStream(full, this.call)) ?? notFound(full);
  }

  async getPieces(key: string): Promise<Pieces> {
    const full = this.readable(key, 'reading');
    const pieces = this.store.getPieces
      ? await this.store.getPieces(full, this.call)
      : await this.store.getStream(full, this.call);
    return pieces ?? notFound(full);
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    const full = this.readable(key, 'reading');
    for (const [name, value] of [
      ['offset', offset],
      ['length', length],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw argument(`a range's ${name} must be a whole number >= 0, got ${value}`);
      }
    }
    if (length === 0) {
      if ((await this.store.head(full, this.call)) === undefined) notFound(full);
      return Buffer.alloc(0);
    }
    return (await this.store.getRange(full, offset, length, this.call)) ?? notFound(full);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return this.store.head(this.readable(key, 'looking up'), this.call);
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    const full = this.writable(key, 'key');
    checkSignal(this.signal, `deleting "${full}"`);
    await this.store.delete(full, this.call);
  }

  async list(prefix: string, options: ListOptions = {}): Promise<string[]> {
    const full = resolveKey(this.prefix, prefix, 'list prefix');
    const { limit = Number.POSITIVE_INFINITY, marker, order = 'asc' } = options;
    if (!(limit === Number.POSITIVE_INFINITY || (Number.isSafeInteger(limit) && limit >= 0))) {
      throw argument(`list limit must be a whole number >= 0, got ${limit}`);
    }
    if (order !== 'asc' && order !== 'desc')
      throw argument(`list order must be "asc" or "desc", got "${order}"`);
    if (marker !== undefined && typeof marker !== 'string') throw argument('list marker must be a string');
    if (limit === 0) return [];
    checkSignal(this.signal, `listing "${full}"`);
    const fullMarker =
      marker === undefined ? undefined : this.prefix === '' ? marker : `${this.prefix}/${marker}`;
    const keys = await this.store.list(full, {
      marker: fullMarker,
      desc: order === 'desc',
      limit,
      ...this.call,
    });
    return keys.map((k) => relativeKey(this.prefix, k));
  }

  section(prefix: string, options: SectionOptions = {}): Bank {
    const full = resolveKey(this.prefix, prefix, 'section prefix');
    return new BankView(
      this.store,
      full,
      this.readOnly || options.readOnly === true,
      this.also(options.signal),
    );
  }

  withSignal(signal: AbortSignal): Bank {
    return new BankView(this.store, this.prefix, this.readOnly, this.also(signal));
  }

  /** This view's signal and `signal`: either one cancels. */
  private also(signal: AbortSignal | undefined): AbortSignal | undefined {
    if (signal === undefined || signal === this.signal) return this.signal;
    return this.signal === undefined ? signal : AbortSignal.any([this.signal, signal]);
  }

  async acquireLease(name: string, options: AcquireLeaseOptions): Promise<Lease> {
    const full = this.writable(name, 'lease name');
    const { owner, ttlMs } = options;
    if (typeof owner !== 'string' || owner === '') throw argument('a lease owner must be a non-empty string');
    checkTtl(ttlMs);
    checkSignal(this.signal, `taking lease "${full}"`);
    const token = randomBytes(16).toString('hex');
    const result = await this.store.acquireLease(full, owner, token, ttlMs);
    if (!result.acquired) {
      const { holder } = result;
      throw new HoardError(
        'LEASE_HELD',
        `lease "${full}" is held by "${holder.owner}" until ${time(holder.expiresAt)}`,
        { details: { name: full, owner: holder.owner, expiresAt: holder.expiresAt } },
      );
    }
    return { name, owner, token, expiresAt: result.expiresAt, ttlMs };
  }

  async renewLease(lease: Lease, ttlMs: number = lease.ttlMs): Promise<Lease> {
    const full = this.writable(lease.name, 'lease name');
    checkTtl(ttlMs);
    const expiresAt = await this.store.renewLease(full, lease.token, ttlMs);
    // A renewal that ends after the lease's expiry may have been written after it: a prune
    // that saw it expired meanwhile has acted on that, so it counts as lost (the record it
    // wrote only holds others off longer).
    if (expiresAt === undefined || this.store.now() >= lease.expiresAt) {
      const now = this.store.now();
      const why =
        lease.expiresAt <= now ? `it expired at ${time(lease.expiresAt)}` : 'another holder took it';
      throw new HoardError('LEASE_LOST', `lease "${full}" held by "${lease.owner}" is lost: ${why}`, {
        details: { name: full, owner: lease.owner, expiresAt: lease.expiresAt },
      });
    }
    return { ...lease, expiresAt, ttlMs };
  }

  async releaseLease(lease: Lease): Promise<void> {
    await this.store.releaseLease(this.writable(lease.name, 'lease name'), lease.token);
  }

  async isLeaseValid(lease: Lease): Promise<boolean> {
    const record = await this.store.readLease(resolveKey(this.prefix, lease.name, 'lease name'));
    return record !== undefined && record.token === lease.token && record.expiresAt > this.store.now();
  }

  async leaseInfo(name: string): Promise<LeaseInfo | undefined> {
    const record = await this.store.readLease(resolveKey(this.prefix, name, 'lease name'));
    if (record === undefined) return undefined;
    const now = this.store.now();
    // A lease whose holder died ends now, not when its time would have run out.
    if (record.expiresAt > now && !leaseLive(record, now)) {
      return { owner: record.owner, expiresAt: now, live: false, holderGone: true };
    }
    return { owner: record.owner, expiresAt: record.expiresAt, live: record.expiresAt > now };
  }

  async contentKeys(options: { create?: boolean } = {}): Promise<ContentKeys | undefined> {
    return this.store.contentKeys?.(options.create === true && !this.readOnly);
  }

  async readsAll(): Promise<boolean> {
    return (await this.store.readsAll?.()) ?? true;
  }

  keyring(): KeyStore | undefined {
    return this.prefix === '' ? this.store.keyStore?.() : undefined;
  }

  async sweep(olderThanMs: number): Promise<SweepReport> {
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
      throw argument(`sweep takes an age in ms >= 0, got ${olderThanMs}`);
    }
    if (this.readOnly) throw new HoardError('BANK_READ_ONLY', 'cannot sweep a read-only bank');
    return (
      (await this.store.sweep?.(this.prefix, olderThanMs)) ?? { temporary: 0, directories: 0, leases: 0 }
    );
  }

  /** `key` in full, once the section's signal is checked. */
  private readable(key: string, action: string): string {
    const full = resolveKey(this.prefix, key);
    checkSignal(this.signal, `${action} "${full}"`);
    return full;
  }

  private writable(key: string, kind: 'key' | 'lease name'): string {
    const full = resolveKey(this.prefix, key, kind);
    if (this.readOnly) {
      const where = this.prefix === '' ? 'the bank is' : `section "${this.prefix}" is`;
      throw new HoardError('BANK_READ_ONLY', `cannot write ${kind} "${full}": ${where} read-only`, {
        details: { key: full },
      });
    }
    return full;
  }
}

function notFound(full: string): never {
  throw new HoardError('BANK_NOT_FOUND', `no object at key "${full}"`, { details: { key: full } });
}

function argument(message: string): HoardError {
  return new HoardError('BANK_ARGUMENT_INVALID', message);
}

function checkTtl(ttlMs: number): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw argument(`a lease's ttlMs must be a number > 0, got ${ttlMs}`);
  }
}

function time(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
