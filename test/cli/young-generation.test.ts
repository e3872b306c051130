import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const util = new URL('../../src/cli/util.js', import.meta.url).href;
const hashPool = new URL('../../src/store/hash-pool.js', import.meta.url).href;
const sealPool = new URL('../../src/crypto/seal-pool.js', import.meta.url).href;

/**
 * The main thread's young generation (MiB) after a worker thread of `pool` started and many
 * objects then survived scavenges (as a walk's entries do), in a fresh process.
 */
function youngGenerationAfter(pool: 'hash' | 'seal', small: boolean): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    const { smallYoungGeneration } = await import(${JSON.stringify(util)});
    if (${small}) smallYoungGeneration();
    if (${JSON.stringify(pool)} === 'hash') {
      const { hashPool } = await import(${JSON.stringify(hashPool)});
      await hashPool().hash(Buffer.from(new SharedArrayBuffer(1 << 20)));
    } else {
      const { sealParts } = await import(${JSON.stringify(sealPool)});
      const key = { cipher: 'aes-256-gcm', key: Buffer.alloc(32, 1) };
      const format = { seal: () => ({ header: Buffer.alloc(16), key }) };
      await sealParts(format, [new Uint8Array(new SharedArrayBuffer(2 << 20))], true).catch(() => {});
    }
    const keep = [];
    for (let i = 0; i < 300000; i++) keep.push({ path: 'some/path/' + i, size: i, blobs: ['x' + i] });
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    console.log(young.space_size / 1048576);
    process.exit(0);
  `;
  const env = { ...process.env };
  delete env.HOARD_SMALL_YOUNG_GENERATION;
  const dir = mkdtempSync(join(tmpdir(), 'hoard-young-'));
  try {
    writeFileSync(join(dir, 'probe.mjs'), script);
    return Number(execFileSync(process.execPath, [join(dir, 'probe.mjs')], { env, encoding: 'utf8' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('smallYoungGeneration (protect and restore from the CLI)', () => {
  it('keeps the young generation small though worker threads start (Node resets V8 flags for each)', () => {
    // Without it V8 grows the young generation to tens of MiB: the measure can tell.
    assert.ok(youngGenerationAfter('hash', false) >= 16);
    assert.ok(youngGenerationAfter('hash', true) <= 4);
  });

  it('also when the sealing worker threads start', () => {
    assert.ok(youngGenerationAfter('seal', true) <= 4);
  });
});
