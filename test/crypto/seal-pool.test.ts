import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    const first = await sealParts(format, plaintext(Math.round(16.8 * MiB)), true);
    const memory = first.bytes.buffer;
    first.release();
    // A little larger than the first: rounded to 1 MiB, it needed an output of its own.
    const second = await sealParts(format, plaintext(Math.round(17.2 * MiB)), true);
    // Reused: moved to the worker thread again, so this thread's old handle on it is detached.
    assert.equal(memory.byteLength, 0, 'the first output was not reused');
    assert.equal(second.bytes.subarray(0, 16).toString('hex'), '07'.repeat(16));
    second.release();
  });
});

describe('sealParts (objects other than packs)', () => {
  /** Worker threads a fresh process starts to seal 2 MiB, as a pack or not. */
  function threadsStarted(pack: boolean): number {
    const dir = mkdtempSync(join(tmpdir(), 'hoard-seal-threads-'));
    try {
      // Counts the workers made: piscina takes worker_threads' Worker once it loads, after this.
      writeFileSync(
        join(dir, 'count.cjs'),
        `const wt = require('node:worker_threads'); const W = wt.Worker; globalThis.made = 0;
         wt.Worker = class extends W { constructor(...a) { globalThis.made++; super(...a); } };`,
      );
      const script = `
        const { sealParts } = await import(${JSON.stringify(new URL('../../src/crypto/seal-pool.js', import.meta.url).href)});
        const format = { seal: () => ({ header: Buffer.alloc(16), key: { cipher: 'aes-256-gcm', key: Buffer.alloc(32, 1) } }) };
        const sealed = await sealParts(format, [Buffer.alloc(2 << 20)], ${pack});
        if (sealed.bytes.length !== 16 + (2 << 20) + 32 * 16) throw new Error('wrong length');
        console.log(globalThis.made);
        process.exit(0);`;
      writeFileSync(join(dir, 'probe.mjs'), script);
      const out = execFileSync(process.execPath, [
        '--require',
        join(dir, 'count.cjs'),
        join(dir, 'probe.mjs'),
      ]);
      return Number(out.toString().trim());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('seals a large object that is not a pack (a manifest) on the calling thread: no thread starts for it', () => {
    assert.equal(threadsStarted(true), 1, 'the probe sees a pack start the thread');
    assert.equal(threadsStarted(false), 0);
  });
});
