/**
 * Sealing large objects (packs) on worker threads. Sealed on the main thread, a protect's
 * packs cost it the cipher, a copy of every byte and the garbage collection of a fresh buffer
 * per pack (measured: the main thread became the bottleneck). Here the plaintext is shared
 * with a worker (parts over SharedArrayBuffers are not copied), and the sealed object is
 * written into an output buffer that is moved to the worker and back (never copied) and reused
 * pack after pack: a fresh 16 MiB buffer per pack made V8 collect the main heap every few
 * packs for the external memory alone. The outputs are ordinary ArrayBuffers, not shared
 * memory, since the AWS SDK refuses to hash shared memory. Small objects are sealed on the
 * calling thread, where the round trip would cost more than the cipher.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import { HoardError } from '../errors.js';
import type { SealTask } from './seal-worker.js';
import { lengthOf, type ObjectFormat, sealedLength, sealedParts } from './stream.js';

/** Objects with less plaintext than this are sealed on the calling thread. */
const SEAL_INLINE_BELOW = 1024 * 1024;
/** Output buffers kept for reuse: packs upload one or two at a time, plus a prune's. */
const SPARE_OUTPUTS = 4;
const OUTPUT_STEP = 4 * 1024 * 1024;

let pool: Piscina | undefined;
const spare: ArrayBuffer[] = [];

function shared(): Piscina {
  if (pool) return pool;
  // Required here, not imported above: a command that seals nothing (most) does not load it.
  const { Piscina: Pool } = createRequire(import.meta.url)('piscina') as typeof import('piscina');
  pool = new Pool({
    filename: new URL('./seal-worker.js', import.meta.url).href,
    minThreads: 0,
    // The cipher runs at over 1 GB/s a core: two threads keep up with any protect here.
    maxThreads: Math.min(2, availableParallelism()),
    idleTimeout: 10_000,
    // Its heap holds almost nothing (the bytes are shared or moved): a small young generation
    // saves ~10 MiB a thread (V8 otherwise grows it to tens of MiB).
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  return pool;
}

export interface Sealed {
  /** The sealed object; valid until `release`. */
  bytes: Buffer;
  /**
   * Gives the memory back for the next object. Call it only once nothing reads `bytes` any
   * more: after a put that succeeded. After a failed one, drop it instead (a request that
   * timed out may still be sending it).
   */
  release(): void;
}

/**
 * The object whose plaintext `parts` hold back to back, sealed in `format`. `pack`: one of a
 * stream of large objects (packs put whole), sealed on a thread from SEAL_INLINE_BELOW up; any
 * other object is sealed here, whatever its size: written once or twice a protect (a large
 * manifest), it would start a thread (~10 MiB, measured starting at the end of every full-size
 * bench:data protect) and copy its plaintext into shared memory for one cipher pass.
 */
export async function sealParts(
  format: ObjectFormat,
  parts: readonly Uint8Array[],
  pack: boolean,
): Promise<Sealed> {
  const total = lengthOf(parts);
  const { header, key } = format.seal();
  const length = sealedLength(total, header.length);
  if (!pack || total < SEAL_INLINE_BELOW) return { bytes: sealedParts(key, header, parts), release() {} };
  const at = spare.findIndex((memory) => memory.byteLength >= length);
  // Whole 4 MiB: a pack is 16 MiB and up to a blob more, so one output fits pack after pack
  // (rounded to 1 MiB, packs of 16.8 and 17.2 MiB each kept one of their own: 17 MiB of RSS).
  // None fits: the smallest spare goes, so outputs too small to use do not pile up.
  if (at < 0 && spare.length > 0) spare.sort((a, b) => a.byteLength - b.byteLength).shift();
  const out =
    at >= 0 ? spare.splice(at, 1)[0]! : new ArrayBuffer(Math.ceil(length / OUTPUT_STEP) * OUTPUT_STEP);
  const task: SealTask = { cipher: key.cipher, key: key.key, header, parts: sharedParts(parts), out };
  let memory: ArrayBuffer;
  try {
    memory = (await shared().run(task, { transferList: [out] })) as ArrayBuffer;
  } catch (error) {
    throw new HoardError('INTERNAL', `the sealing worker thread failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let released = false;
  return {
    bytes: Buffer.from(memory, 0, length),
    release() {
      if (released) return;
      released = true;
      if (spare.length < SPARE_OUTPUTS) spare.push(memory);
    },
  };
}

/**
 * The parts as views a worker shares: those over SharedArrayBuffers as they are, the others
 * copied once into one shared buffer (posting a view would copy its whole ArrayBuffer).
 */
function sharedParts(parts: readonly Uint8Array[]): Uint8Array[] {
  let unshared = 0;
  for (const part of parts) if (!(part.buffer instanceof SharedArrayBuffer)) unshared += part.length;
  if (unshared === 0) return [...parts];
  const spill = new Uint8Array(new SharedArrayBuffer(unshared));
  let at = 0;
  return parts.map((part) => {
    if (part.buffer instanceof SharedArrayBuffer) return part;
    spill.set(part, at);
    at += part.length;
    return spill.subarray(at - part.length, at);
  });
}
