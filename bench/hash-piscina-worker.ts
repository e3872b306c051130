/** The hash worker as a piscina task, for bench/hash-pool.ts only: the same work as src/store/hash-worker.ts. */
import { Piscina } from 'piscina';
import { blobId } from '../src/store/blob-id.js';

export default function hash(task: {
  buffer: ArrayBuffer | SharedArrayBuffer;
  ranges: number[];
  transferred: boolean;
  idKey?: Uint8Array;
}): { ids: string[]; buffer?: ArrayBuffer } {
  const ids: string[] = [];
  for (let i = 0; i < task.ranges.length; i += 2)
    ids.push(blobId(new Uint8Array(task.buffer, task.ranges[i]!, task.ranges[i + 1]!), task.idKey));
  if (!task.transferred) return { ids };
  // Piscina moves back an object that names its transferables (the buffer) and its value.
  const value = { ids, buffer: task.buffer as ArrayBuffer };
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return [value.buffer];
    },
    get [Piscina.valueSymbol]() {
      return value;
    },
  } as never) as never;
}
