import { Readable } from 'node:stream';

/**
 * `body` handed on in pieces of `size` bytes (the last one shorter), each gathered by one copy
 * into a buffer of its own. An HTTP response arrives in socket reads of at most 64 KiB: every
 * piece costs each reader above (the encrypted layer's segments, the store's batches) a step,
 * and almost every 64 KiB + 16 B sealed segment would straddle two of them and be gathered
 * there. Destroying the result destroys `body`; an error of `body` is the result's error, and
 * so is its closing before its end.
 */
export function gathered(body: Readable, size: number): Readable {
  let buffer: Buffer | undefined;
  let used = 0;
  let ended = false;
  let flowing = false;
  const out = new Readable({
    // One piece: a reader of a byte stream takes all that is buffered at once, joining two
    // pieces by a copy; the body pauses at each piece instead (its socket stops once a MiB).
    highWaterMark: size,
    read() {
      // Not before the first read: a stream opened ahead of its turn holds only its socket's
      // buffers until then.
      if (flowing) body.resume();
      else {
        flowing = true;
        body.on('data', onData);
      }
    },
    destroy(error, callback) {
      body.destroy();
      callback(error);
    },
  });
  const hand = (piece: Buffer) => {
    if (!out.push(piece)) body.pause();
  };
  const onData = (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      if (used === 0 && chunk.length - at >= size) {
        // Already a whole piece: no copy (a body's chunks are its own, never reused).
        hand(chunk.subarray(at, at + size));
        at += size;
        continue;
      }
      buffer ??= Buffer.allocUnsafeSlow(size);
      const take = Math.min(size - used, chunk.length - at);
      chunk.copy(buffer, used, at, at + take);
      used += take;
      at += take;
      if (used === size) {
        hand(buffer);
        buffer = undefined;
        used = 0;
      }
    }
  };
  body.on('end', () => {
    ended = true;
    if (buffer !== undefined && used > 0) out.push(buffer.subarray(0, used));
    buffer = undefined;
    out.push(null);
  });
  body.on('error', (error) => out.destroy(error));
  body.on('close', () => {
    if (!ended && !out.destroyed) {
      out.destroy(
        Object.assign(new Error('the response ended before its body (ECONNRESET)'), { code: 'ECONNRESET' }),
      );
    }
  });
  return out;
}
