/** The worker side of seal-pool.ts: seals one object's parts into shared memory. */
import { type SegmentKey, sealPartsInto } from './stream.js';

export interface SealTask {
  cipher: SegmentKey['cipher'];
  key: Uint8Array;
  header: Uint8Array;
  /** Views over SharedArrayBuffers: shared with the caller, never copied. */
  parts: Uint8Array[];
  /** A view over a SharedArrayBuffer, `sealedLength` bytes. */
  out: Uint8Array;
}

export default function seal(task: SealTask): number {
  sealPartsInto({ cipher: task.cipher, key: Buffer.from(task.key) }, task.header, task.parts, task.out);
  return task.out.length;
}
