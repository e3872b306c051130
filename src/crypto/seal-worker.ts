/** The worker side of seal-pool.ts: seals one object's parts into a buffer moved here and back. */
import { Piscina } from 'piscina';
import { lengthOf, type SegmentKey, sealedLength, sealPartsInto } from './stream.js';

export interface SealTask {
  cipher: SegmentKey['cipher'];
  key: Uint8Array;
  header: Uint8Array;
  /** Views over SharedArrayBuffers: shared with the caller, never copied. */
  parts: Uint8Array[];
  /** Where the sealed object goes, from its start; moved here and back, never copied. */
  out: ArrayBuffer;
}

/** Seals into `task.out` and moves it back. */
export default function seal(task: SealTask): ArrayBuffer {
  const out = new Uint8Array(task.out, 0, sealedLength(lengthOf(task.parts), task.header.length));
  sealPartsInto({ cipher: task.cipher, key: Buffer.from(task.key) }, task.header, task.parts, out);
  return Piscina.move(task.out) as unknown as ArrayBuffer;
}
