import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sealParts } from '../../src/crypto/seal-pool.js';
import type { ObjectFormat } from '../../src/crypto/stream.js';

const MiB = 1024 * 1024;
const format: ObjectFormat = {
  seal: () => ({ header: Buffer.alloc(16, 7), key: { cipher: 'aes-256-gcm', key: Buffer.alloc(32, 1) } }),
  open: () => undefined,
};

function plaintext(length: number): Uint8Array[] {
  return [new Uint8Array(new SharedArrayBuffer(length)).fill(3)];
}

describe('sealParts (packs sealed on worker threads)', () => {
  it('reuses one output for packs of slightly different sizes, pack after pack', async () => {
    const first = await sealParts(format, plaintext(Math.round(16.8 * MiB)));
    const memory = first.bytes.buffer;
    first.release();
    // A little larger than the first: rounded to 1 MiB, it needed an output of its own.
    const second = await sealParts(format, plaintext(Math.round(17.2 * MiB)));
    // Reused: moved to the worker thread again, so this thread's old handle on it is detached.
    assert.equal(memory.byteLength, 0, 'the first output was not reused');
    assert.equal(second.bytes.subarray(0, 16).toString('hex'), '07'.repeat(16));
    second.release();
  });
});
