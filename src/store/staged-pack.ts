/**
 * A pack written to the bank as it fills (`Bank.stage`: a temporary that no key shows), named
 * once full by its id, which its entries give: its blobs are not held in memory until then.
 * This is how restic keeps a backup's memory low (a temporary file per pack); a bank that
 * cannot stage (memory, S3) gets `PackBuilder`'s packs in memory instead. An encrypted fs
 * bank seals the pack as it comes (bank/encrypted.ts `stage`).
 */
import type { StagedObject } from '../bank/index.js';
import { type BlobEntry, type Compression, type PackIndex, packTail } from './pack.js';

/** Small blobs are gathered into writes of about this size. */
export const WRITE_BUFFER = 1024 * 1024;

export class StagedPack {
  private readonly entries: BlobEntry[] = [];
  /** Bytes of blob data so far. */
  size = 0;
  private buffer: Buffer | undefined;
  private used = 0;
  /** The writes, in the order the blobs were added; a failed one fails every later one. */
  private queue: Promise<void> = Promise.resolve();

  /** `spare`: write buffers to take one from, and give it back to once the pack is sealed. */
  constructor(
    private readonly staged: StagedObject,
    private readonly spare: Buffer[],
  ) {}

  get count(): number {
    return this.entries.length;
  }

  /**
   * Adds a blob at once (its place in the pack is taken before this returns); resolves once
   * `stored` is copied or written, after which the caller may reuse it.
   */
  add(id: string, stored: Uint8Array, rawLength: number, compression: Compression): Promise<void> {
    this.entries.push({ id, offset: this.size, length: stored.length, rawLength, compression });
    this.size += stored.length;
    this.queue = this.queue.then(() => this.append(stored));
    return this.queue;
  }

  /** Writes what is left and the entries and trailer; then `commit` names it. */
  async seal(): Promise<{ index: PackIndex; size: number }> {
    await this.queue;
    await this.flush();
    if (this.buffer !== undefined) this.spare.push(this.buffer);
    this.buffer = undefined;
    const { index, tail } = packTail(this.entries, this.size);
    await this.staged.write(tail);
    return { index, size: this.size + tail.length };
  }

  /** Stores the sealed pack under `key`. */
  commit(key: string): Promise<void> {
    return this.staged.commit(key);
  }

  /** Drops the pack (its temporary goes), once the writes under way have ended. */
  async discard(): Promise<void> {
    await this.queue.catch(() => {});
    await this.staged.discard();
  }

  private async append(stored: Uint8Array): Promise<void> {
    this.buffer ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(WRITE_BUFFER);
    // A large blob is written from where it lies, after what is gathered (the order is the pack's).
    const large = stored.length >= this.buffer.length / 2;
    if (large || this.used + stored.length > this.buffer.length) await this.flush();
    if (large) await this.staged.write(stored);
    else {
      this.buffer.set(stored, this.used);
      this.used += stored.length;
    }
  }

  private async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.staged.write(this.buffer!.subarray(0, this.used));
    this.used = 0;
  }
}
