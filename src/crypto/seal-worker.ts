/** The worker side of seal-pool.ts: seals one object's parts into a buffer moved here and back. */
import { setFlagsFromString } from 'node:v8';
import { Piscina } from 'piscina';
import { lengthOf, type SegmentKey, sealedLength, sealPartsInto } from './stream.js';

// Node resets V8's flags as it starts a worker thread: a CLI command that asked for small
// young generations (cli/util.ts, smallYoungGeneration) has its flag set again here.
if (process.env.HOARD_SMALL_YOUNG_GENERATION === '1') setFlagsFromString('--semi-space-growth-factor=1');

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
