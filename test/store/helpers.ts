import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Bank, FsBank, MemoryBank } from '../../src/bank/index.js';
import { HoardError } from '../../src/errors.js';
import { decodeIndex, type PackIndex } from '../../src/store/pack.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes: SHA-256 of `seed` and a counter, block after block. */
export function seeded(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let block = 0; block * 32 < length; block++) {
    createHash('sha256')
      .update(`${seed}:${block}`)
      .digest()
      .copy(out, block * 32);
  }
  return out;
}

/** `data` cut into pieces of the given sizes, cycling through them. */
export function pieces(data: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, k = 0; at < data.length; k++) {
    const n = sizes[k % sizes.length]!;
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

export async function* asStream(parts: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    await Promise.resolve();
    yield part;
  }
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface BankFixture {
  name: string;
  make(): Promise<{ bank: Bank; done(): Promise<void> }>;
}

export const banks: BankFixture[] = [
  {
    name: 'MemoryBank',
    make: async () => ({ bank: new MemoryBank(), done: async () => {} }),
  },
  {
    name: 'FsBank',
    make: async () => {
      const root = await mkdtemp(join(tmpdir(), 'hoard-store-'));
      return { bank: new FsBank(root), done: () => rm(root, { recursive: true, force: true }) };
    },
  },
  {
    // Everything sealed, blob ids HMACs, the chunker's gear table secret: the store must not notice.
    name: 'FsBank, password mode',
    make: async () => {
      process.env.HOARD_KDF_N ??= '1024';
      const root = await mkdtemp(join(tmpdir(), 'hoard-store-enc-'));
      const encryption = { mode: 'password' as const, where: 'the test bank', password: async () => 'pw' };
      return {
        bank: new FsBank(root, { encryption }),
        done: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
];

/** Every key under `prefix` with its bytes, to compare a bank before and after. */
export async function snapshot(bank: Bank, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await bank.list(prefix)) out.set(key, (await bank.get(key)).toString('base64'));
  return out;
}

export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<HoardError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof HoardError, `expected a HoardError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** The index object at `key` (`store/index/<pack>.json`), in whichever form it was written. */
export async function readIndexObject(bank: Bank, key: string): Promise<PackIndex> {
  const pack = /([0-9a-f]{64})\.json$/.exec(key)?.[1];
  assert.ok(pack !== undefined, `${key} is not an index object's key`);
  return decodeIndex(key, pack, await bank.get(key));
}
