/**
 * The body of a HashPool worker (hash-pool.ts): blob ids (blob.ts, `blobId`) of byte ranges
 * of a buffer it is given, answered in the order asked. A transferred ArrayBuffer is sent back with the answer.
 */

import { setFlagsFromString } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { blobId } from './blob-id.js';

// Node resets V8's flags as it starts a worker thread: a CLI command that asked for small
// young generations (cli/util.ts, smallYoungGeneration) has its flag set again here.
if (process.env.HOARD_SMALL_YOUNG_GENERATION === '1') setFlagsFromString('--semi-space-growth-factor=1');

interface Request {
  seq: number;
  buffer: ArrayBuffer | SharedArrayBuffer;
  /** [offset, length] pairs, relative to the start of `buffer`. */
  ranges: number[];
  transferred: boolean;
  /** An encrypted repository's id key: ids are HMACs under it. */
  idKey?: Uint8Array;
}

const port = parentPort;
if (port === null) throw new Error('hash-worker.js runs only as a worker thread');

port.on('message', (request: Request) => {
  const { seq, buffer, ranges, transferred, idKey } = request;
  const back = transferred ? [buffer as ArrayBuffer] : [];
  try {
    const ids: string[] = [];
    for (let i = 0; i < ranges.length; i += 2) {
      const offset = ranges[i]!;
      const length = ranges[i + 1]!;
      if (!(offset >= 0 && length >= 0 && offset + length <= buffer.byteLength)) {
        throw new RangeError(`range ${offset}+${length} is outside the ${buffer.byteLength} bytes given`);
      }
      ids.push(blobId(new Uint8Array(buffer, offset, length), idKey));
    }
    port.postMessage({ seq, ids, buffer: transferred ? buffer : undefined }, back);
  } catch (error) {
    port.postMessage(
      { seq, error: (error as Error).message ?? String(error), buffer: transferred ? buffer : undefined },
      back,
    );
  }
});
