/**
 * A bank that counts the bytes stored through it: a resource's section during protect, so
 * its statistics hold what the plugin wrote there (manifests, copies, dumps) without the
 * plugin counting. Sections made from it count into the same total.
 */
import type { Readable } from 'node:stream';
import type {
  AcquireLeaseOptions,
  Bank,
  Lease,
  LeaseInfo,
  ListOptions,
  ObjectInfo,
  PutData,
  ReadOptions,
  SectionOptions,
} from '../bank/index.js';
import { Parts } from '../bank/types.js';

export class CountingBank implements Bank {
  /**
   * @param onStored called with the size of each object once its put succeeded (a failed
   *   put adds nothing: the old object, if any, stays).
   */
  constructor(
    private readonly inner: Bank,
    private readonly onStored: (bytes: number) => void,
  ) {}

  get readOnly(): boolean {
    return this.inner.readOnly;
  }

  async put(key: string, data: PutData): Promise<void> {
    let bytes = 0;
    let counted: PutData;
    if (typeof data === 'string') {
      bytes = Buffer.byteLength(data);
      counted = data;
    } else if (data instanceof Uint8Array) {
      bytes = data.length;
      counted = data;
    } else if (data instanceof Parts) {
      // Passed on as Parts, so that an encrypting bank still seals them whole.
      for (const piece of data.pieces) bytes += piece.length;
      counted = data;
    } else {
      const source = data as AsyncIterable<Uint8Array | string>;
      counted = (async function* () {
        for await (const piece of source) {
          bytes += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.length;
          yield typeof piece === 'string' ? Buffer.from(piece) : piece;
        }
      })();
    }
    await this.inner.put(key, counted);
    this.onStored(bytes);
  }

  get(key: string, options?: ReadOptions): Promise<Buffer> {
    return this.inner.get(key, options);
  }
  getStream(key: string): Promise<Readable> {
    return this.inner.getStream(key);
  }
  getRange(key: string, offset: number, length: number): Promise<Buffer> {
    return this.inner.getRange(key, offset, length);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }
  exists(key: string): Promise<boolean> {
    return this.inner.exists(key);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string, options?: ListOptions): Promise<string[]> {
    return this.inner.list(prefix, options);
  }
  section(prefix: string, options?: SectionOptions): Bank {
    return new CountingBank(this.inner.section(prefix, options), this.onStored);
  }
  withSignal(signal: AbortSignal): Bank {
    return new CountingBank(this.inner.withSignal(signal), this.onStored);
  }
  acquireLease(name: string, options: AcquireLeaseOptions): Promise<Lease> {
    return this.inner.acquireLease(name, options);
  }
  renewLease(lease: Lease, ttlMs?: number): Promise<Lease> {
    return this.inner.renewLease(lease, ttlMs);
  }
  releaseLease(lease: Lease): Promise<void> {
    return this.inner.releaseLease(lease);
  }
  isLeaseValid(lease: Lease): Promise<boolean> {
    return this.inner.isLeaseValid(lease);
  }
  leaseInfo(name: string): Promise<LeaseInfo | undefined> {
    return this.inner.leaseInfo(name);
  }
  sweep(olderThanMs: number): ReturnType<Bank['sweep']> {
    return this.inner.sweep(olderThanMs);
  }
  contentKeys(options?: { create?: boolean }): ReturnType<Bank['contentKeys']> {
    return this.inner.contentKeys(options);
  }
  keyring(): ReturnType<Bank['keyring']> {
    return this.inner.keyring();
  }
  readsAll(): Promise<boolean> {
    return this.inner.readsAll();
  }
}
