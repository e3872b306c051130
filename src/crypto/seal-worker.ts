/** The worker side of seal-pool.ts: seals one object's parts into a buffer moved back to the caller. */
import { Piscina } from 'piscina';
import { type SegmentKey, sealedLength, sealPartsInto } from './stream.js';

export interface SealTask {
  cipher: SegmentKey['cipher'];
  key: Uint8Array;
  header: Uint8Array;
  /** Views over SharedArrayBuffers: shared with the caller, never copied. */
  parts: Uint8Array[];
}

/** The sealed object, in an ArrayBuffer of its own that is moved (not copied) to the caller. */
export default function seal(task: SealTask): ArrayBuffer {
  let total = 0;
  for (const part of task.parts) total += part.length;
  const out = new Uint8Array(sealedLength(total, task.header.length));
  sealPartsInto({ cipher: task.cipher, key: Buffer.from(task.key) }, task.header, task.parts, out);
  return Piscina.move(out.buffer) as unknown as ArrayBuffer;
}
