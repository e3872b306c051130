import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gathered } from '../../src/bank/gathered.js';

/** A body giving `chunks` as they are, like an HTTP response (its chunks at most a piece long). */
function body(chunks: Buffer[]): Readable {
  return Readable.from(chunks, { objectMode: false });
}

async function pieces(stream: Readable): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const piece of stream) out.push(piece as Buffer);
  return out;
}

describe('gathered: a response body in pieces of one size', () => {
  it('hands on the same bytes in whole pieces, the last one shorter', async () => {
    const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const chunks: Buffer[] = [];
    for (let at = 0, n = 1; at < bytes.length; at += n, n = (n * 7) % 1000 || 1) {
      chunks.push(bytes.subarray(at, at + n));
    }
    const got = await pieces(gathered(body(chunks), 1024));
    assert.deepEqual(
      got.map((p) => p.length),
      [...Array(9).fill(1024), 10_000 - 9 * 1024],
    );
    assert.deepEqual(Buffer.concat(got), bytes);
    assert.deepEqual(await pieces(gathered(body([]), 1024)), []);
    const exact = await pieces(gathered(body([bytes.subarray(0, 1024), bytes.subarray(1024, 2048)]), 1024));
    assert.deepEqual(
      exact.map((p) => p.length),
      [1024, 1024],
    );
  });

  it('reads nothing of the body before its own first read', async () => {
    const source = new Readable({ read() {} });
    source.push(Buffer.alloc(10));
    const out = gathered(source, 1024);
    await new Promise((resolve) => setImmediate(resolve));
    assert.notEqual(source.readableFlowing, true);
    assert.equal(source.readableLength, 10);
    source.push(null);
    assert.deepEqual(
      (await pieces(out)).map((p) => p.length),
      [10],
    );
  });

  it("fails with the body's error, or when the body closes before its end; destroying it destroys the body", async () => {
    const failing = new Readable({ read() {} });
    const out = gathered(failing, 1024);
    failing.push(Buffer.alloc(10));
    failing.destroy(new Error('socket hang up'));
    await assert.rejects(pieces(out), /socket hang up/);

    const cut = new Readable({ read() {} });
    const cutOut = gathered(cut, 1024);
    cut.push(Buffer.alloc(10));
    setImmediate(() => cut.destroy());
    await assert.rejects(pieces(cutOut), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET');

    const source = new Readable({ read() {} });
    const reader = gathered(source, 1024);
    reader.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(source.destroyed, true);
  });
});
