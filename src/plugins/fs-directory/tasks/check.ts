/** Verify, in a worker thread: each blob of a batch decoded and re-hashed. */

import type { BatchBlob } from '../../../store/batches.js';
import { decodeBlobSync } from '../../../store/blob.js';
import type { DamagedBlob } from './common.js';

export interface CheckTask {
  bytes: Uint8Array;
  blobs: BatchBlob[];
  /** The store's id key, if its bank is encrypted. */
  idKey?: Uint8Array;
}

/** Decodes and re-hashes each blob; the damaged ones, with why. */
export function check({ bytes, blobs, idKey }: CheckTask): { damaged: DamagedBlob[] } {
  const damaged: DamagedBlob[] = [];
  for (const blob of blobs) {
    try {
      decodeBlobSync(blob, bytes.subarray(blob.at, blob.at + blob.length), idKey, true);
    } catch (error) {
      damaged.push({ id: blob.id, pack: blob.pack, problem: (error as Error).message });
    }
  }
  return { damaged };
}
