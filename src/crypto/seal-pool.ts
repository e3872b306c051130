/**
 * Sealing large objects (packs) on worker threads. Sealed on the main thread, a protect's
 * packs cost it the cipher, a copy of every byte and the garbage collection of a fresh buffer
 * per pack (measured: the main thread became the bottleneck and an encrypted protect used
 * 40 % more CPU than a plain one). Here the plaintext is shared with a worker (parts over
 * SharedArrayBuffers are not copied) and the sealed object is moved back, not copied. It is
 * an ordinary ArrayBuffer, not shared memory, since the AWS SDK refuses to hash shared memory.
 * Small objects are sealed on the calling thread, where the round trip would cost more.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { HoardError } from '../errors.js';
import type { SealTask } from './seal-worker.js';
import { type ObjectFormat, sealedLength, sealPartsInto } from './stream.js';

/** Objects with less plaintext than this are sealed on the calling thread. */
export const SEAL_INLINE_BELOW = 1024 * 1024;

let pool: Piscina | undefined;

function shared(): Piscina {
  pool ??= new Piscina({
    filename: new URL('./seal-worker.js', import.meta.url).href,
    minThreads: 0,
    // The cipher runs at over 1 GB/s a core: two threads keep up with any protect here.
    maxThreads: Math.min(2, availableParallelism()),
    idleTimeout: 10_000,
  });
  return pool;
}

/** The object whose plaintext `parts` hold back to back, sealed in `format`. */
export async function sealParts(format: ObjectFormat, parts: readonly Uint8Array[]): Promise<Buffer> {
  let total = 0;
  for (const part of parts) total += part.length;
  const { header, key } = format.seal();
  if (total < SEAL_INLINE_BELOW) {
    const bytes = Buffer.allocUnsafe(sealedLength(total, header.length));
    sealPartsInto(key, header, parts, bytes);
    return bytes;
  }
  const task: SealTask = { cipher: key.cipher, key: key.key, header, parts: sharedParts(parts) };
  try {
    return Buffer.from((await shared().run(task)) as ArrayBuffer);
  } catch (error) {
    throw new HoardError('INTERNAL', `the sealing worker thread failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
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
