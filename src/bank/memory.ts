import { Readable } from 'node:stream';
import { HoardError } from '../errors.js';
import { decorate } from './compose.js';
import type { EncryptionSettings } from './encrypted.js';
import {
  type AcquireResult,
  type BankStore,
  keyConflict,
  type LeaseRecord,
  leaseLive,
  type StoreData,
  type StoreListOptions,
  type SweepReport,
} from './store.js';
import type { ObjectInfo } from './types.js';
import { BankView } from './view.js';

export interface MemoryBankOptions {
  /**
   * The clock for lease expiry and `modifiedAt`, in ms since the epoch.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Refuse every write with BANK_READ_ONLY.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Encrypt what is stored (encrypted.ts).
   * @default no encryption, and no check for it
   */
  encryption?: EncryptionSettings;
}

/**
 * A bank in this process's memory, for tests and the plugin test kit, with the semantics of
 * `FsBank`: the same keys, conflicts, listing order and leases. Objects are copied in and out.
 */
export class MemoryBank extends BankView {
  constructor(options: MemoryBankOptions = {}) {
    const store = new MemoryStore(options.now ?? Date.now);
    super(
      decorate(store, options.encryption ? { encryption: options.encryption } : {}),
      '',
      options.readOnly ?? false,
    );
  }
}

interface StoredObject {
  data: Buffer;
  modifiedAt: number;
}

class MemoryStore implements BankStore {
  private readonly objects = new Map<string, StoredObject>();
  /** Every key, sorted, so that a listing is a binary search and a walk. */
  private readonly keys: string[] = [];
  private readonly leases = new Map<string, LeaseRecord>();

  constructor(readonly now: () => number) {}

  async put(key: string, data: StoreData): Promise<void> {
    const bytes = Buffer.isBuffer(data) ? Buffer.from(data) : await collect(data);
    // Checked after the last await, so that the check and the write are one step.
    const conflict = this.conflict(key);
    if (conflict !== undefined) throw keyConflict(key, conflict);
    if (!this.objects.has(key)) this.keys.splice(lowerBound(this.keys, key), 0, key);
    this.objects.set(key, { data: bytes, modifiedAt: this.now() });
  }

  async get(key: string): Promise<Buffer | undefined> {
    const object = this.objects.get(key);
    return object && Buffer.from(object.data);
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const object = this.objects.get(key);
    return object && Readable.from([Buffer.from(object.data)], { objectMode: false });
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer | undefined> {
    const object = this.objects.get(key);
    return object && Buffer.from(object.data.subarray(offset, offset + length));
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const object = this.objects.get(key);
    return object && { size: object.data.length, modifiedAt: object.modifiedAt };
  }

  async delete(key: string): Promise<void> {
    if (this.objects.delete(key)) this.keys.splice(lowerBound(this.keys, key), 1);
  }

  async list(prefix: string, { marker, desc, limit }: StoreListOptions): Promise<string[]> {
    const keys = this.keys;
    const out: string[] = [];
    if (desc) {
      let i = partition(keys, (k) => k < prefix || k.startsWith(prefix)) - 1;
      if (marker !== undefined) i = Math.min(i, lowerBound(keys, marker) - 1);
      for (; i >= 0 && out.length < limit && keys[i]!.startsWith(prefix); i--) out.push(keys[i]!);
    } else {
      let i = lowerBound(keys, prefix);
      if (marker !== undefined)
        i = Math.max(
          i,
          partition(keys, (k) => k <= marker),
        );
      for (; i < keys.length && out.length < limit && keys[i]!.startsWith(prefix); i++) out.push(keys[i]!);
    }
    return out;
  }

  async acquireLease(name: string, owner: string, token: string, ttlMs: number): Promise<AcquireResult> {
    const holder = this.leases.get(name);
    if (holder && leaseLive(holder, this.now())) return { acquired: false, holder: { ...holder } };
    const expiresAt = this.now() + ttlMs;
    this.leases.set(name, { owner, token, expiresAt });
    return { acquired: true, expiresAt };
  }

  async renewLease(name: string, token: string, ttlMs: number): Promise<number | undefined> {
    const lease = this.leases.get(name);
    if (lease?.token !== token || lease.expiresAt <= this.now()) return undefined;
    lease.expiresAt = this.now() + ttlMs;
    return lease.expiresAt;
  }

  async releaseLease(name: string, token: string): Promise<void> {
    if (this.leases.get(name)?.token === token) this.leases.delete(name);
  }

  async sweep(prefix: string, olderThanMs: number): Promise<SweepReport> {
    let leases = 0;
    const now = this.now();
    if (prefix === '') {
      for (const [name, lease] of this.leases) {
        if (lease.expiresAt < now - olderThanMs) {
          this.leases.delete(name);
          leases++;
        }
      }
    }
    return { temporary: 0, directories: 0, leases };
  }

  async readLease(name: string): Promise<LeaseRecord | undefined> {
    const lease = this.leases.get(name);
    return lease && { ...lease };
  }

  /** The object `key` would sit under, or `key` itself if objects sit under it. */
  private conflict(key: string): string | undefined {
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) {
      const above = key.slice(0, i);
      if (this.objects.has(above)) return above;
    }
    const below = this.keys[lowerBound(this.keys, `${key}/`)];
    return below?.startsWith(`${key}/`) ? key : undefined;
  }
}

async function collect(data: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of data) {
    if (typeof chunk === 'string') chunks.push(Buffer.from(chunk, 'utf8'));
    else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
    else throw new HoardError('BANK_ARGUMENT_INVALID', `a stream to store gave a ${typeof chunk}, not bytes`);
  }
  return Buffer.concat(chunks);
}

/** The first index where `before` is false; `before` must hold for a leading run of `sorted`. */
function partition(sorted: string[], before: (key: string) => boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(sorted[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(sorted: string[], key: string): number {
  return partition(sorted, (k) => k < key);
}
