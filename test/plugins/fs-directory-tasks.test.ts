/**
 * The worker-thread tasks of fs.directory, called directly (they are plain synchronous
 * functions): what they do when the tree changes under them or someone plants things.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { run } from '../../src/plugins/fs-directory/pool.js';
import { fanOutNow, walkTree } from '../../src/plugins/fs-directory/snapshot.js';
import {
  CONTINUATION_SLOTS,
  Continuation,
  type RestoreFile,
  read,
  readCapacity,
  restore,
  restoreEmpty,
  type SharedFiles,
} from '../../src/plugins/fs-directory/worker.js';
import { blobId } from '../../src/store/blob.js';
import { chunkSizes } from '../../src/store/chunker.js';
import { MAIN } from '../cli/helpers.js';

/** Every directory a test made, removed when the file's tests end. */
const made: string[] = [];
after(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function scratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

function random(seed: number, size: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(size));
}

function sharedFor(n: number, writes: number[]): SharedFiles {
  const shared: SharedFiles = {
    remaining: new Int32Array(new SharedArrayBuffer(4 * n)),
    state: new Int32Array(new SharedArrayBuffer(4 * n)),
    identity: new BigInt64Array(new SharedArrayBuffer(16 * n)),
    damaged: new Int32Array(new SharedArrayBuffer(4 * n)),
  };
  writes.forEach((w, i) => {
    shared.remaining[i] = w;
  });
  return shared;
}

/** One uncompressed blob in a batch of its own. */
function batchOf(raw: Buffer) {
  const bytes = new Uint8Array(new SharedArrayBuffer(raw.length));
  bytes.set(raw);
  const blob = {
    id: blobId(raw),
    pack: '0'.repeat(64),
    offset: 0,
    at: 0,
    length: raw.length,
    rawLength: raw.length,
  };
  return { bytes, blobs: [{ ...blob, compression: 'none' as const }] };
}

describe('fs.directory tasks', () => {
  it('restore never writes into a file, link or FIFO planted at a temporary name', async () => {
    const dir = await scratch('hoard-tasks-planted-');
    const file = (i: number, name: string): RestoreFile => ({
      index: i,
      temp: join(dir, `.hoard-restore-x-${i}`),
      path: join(dir, name),
      mode: 0o644,
      mtimeNs: '1700000000000000000',
    });
    const files = [file(0, 'planted-file'), file(1, 'planted-fifo'), file(2, 'fine')];
    await writeFile(files[0]!.temp, 'SOMEONE ELSE');
    execFileSync('mkfifo', [files[1]!.temp]);
    const shared = sharedFor(3, [1, 1, 1]);
    const content = Buffer.from('restored content');
    const { bytes, blobs } = batchOf(content);
    for (const f of files) {
      const result = restore({
        bytes,
        blobs,
        targets: [[f.index, 0]],
        files: { [f.index]: f },
        shared,
        overwrite: false,
      });
      if (f.index === 2) {
        assert.equal(result.problem, undefined);
        assert.deepEqual(result.finished, [2]);
      } else {
        // Refused at once (O_EXCL): no hang on the FIFO, nothing written into the planted file.
        assert.equal(result.problem?.code, 'HOOK_FAILED');
        assert.match(result.problem!.message, new RegExp(`cannot restore ${f.path}: EEXIST`));
      }
    }
    assert.equal(await readFile(files[0]!.temp, 'utf8'), 'SOMEONE ELSE');
    assert.equal(await readFile(join(dir, 'fine'), 'utf8'), 'restored content');
    assert.deepEqual((await readdir(dir)).sort(), ['.hoard-restore-x-0', '.hoard-restore-x-1', 'fine']);
  });

  it('restore refuses a temporary file that was swapped for another between two tasks', async () => {
    const dir = await scratch('hoard-tasks-swapped-');
    const f: RestoreFile = {
      index: 0,
      temp: join(dir, '.t-0'),
      path: join(dir, 'big'),
      mode: 0o600,
      mtimeNs: '1000000000',
    };
    const shared = sharedFor(1, [2]);
    const a = Buffer.from('first half ');
    const b = Buffer.from('second half');
    const first = restore({ ...batchOf(a), targets: [[0, 0]], files: { 0: f }, shared, overwrite: false });
    assert.equal(first.problem, undefined);
    assert.deepEqual(first.finished, []);
    // Someone replaces the half-written temporary file with their own.
    await writeFile(join(dir, 'theirs'), 'theirs');
    await rename(join(dir, 'theirs'), f.temp);
    const second = restore({
      ...batchOf(b),
      targets: [[0, a.length]],
      files: { 0: f },
      shared,
      overwrite: false,
    });
    assert.match(second.problem!.message, /its temporary file .* was replaced during the restore/);
    assert.equal(await readFile(f.temp, 'utf8'), 'theirs');
  });

  it('without overwrite, a file that appears at the name meanwhile is refused, not replaced', async () => {
    const dir = await scratch('hoard-tasks-appeared-');
    const f: RestoreFile = {
      index: 0,
      temp: join(dir, '.t-0'),
      path: join(dir, 'name'),
      mode: 0o600,
      mtimeNs: '1000000000',
    };
    await writeFile(f.path, 'already here');
    const refused = restoreEmpty({ files: [f], shared: sharedFor(1, [0]), overwrite: false });
    assert.match(refused.problem!.message, /appeared while restoring; pass --overwrite/);
    assert.equal(await readFile(f.path, 'utf8'), 'already here');
    const g = { ...f, temp: join(dir, '.t-1') };
    const replaced = restoreEmpty({ files: [g], shared: sharedFor(1, [0]), overwrite: true });
    assert.equal(replaced.problem, undefined);
    assert.equal(await readFile(f.path, 'utf8'), '');
  });

  it('read skips what is no longer a regular file and notices a file replaced between pieces', async () => {
    const dir = await scratch('hoard-tasks-read-');
    const sizes = chunkSizes(64 * 1024);
    const budget = 256 * 1024;
    const out = new SharedArrayBuffer(readCapacity(budget, sizes));
    const abs = join(dir, 'a');
    await writeFile(abs, random(1, 2 * 1024 * 1024));
    const first = read({ files: [{ abs, from: 0 }], out, sizes, compression: 'none', budget });
    const piece = first.files[0]!;
    assert.equal(piece.done, false);
    assert.ok(piece.identity);
    // Renamed over by another file, as an editor saves: the next piece must not come from it.
    await writeFile(join(dir, 'b'), random(2, 2 * 1024 * 1024));
    await rename(join(dir, 'b'), abs);
    const expect = { dev: piece.identity.dev, ino: piece.identity.ino };
    const next = read({
      files: [{ abs, from: piece.next, expect }],
      out,
      sizes,
      compression: 'none',
      budget,
    });
    assert.deepEqual(
      next.files.map((f) => [f.replaced, f.count]),
      [[true, 0]],
    );
    // A device (a parent directory swapped for a link to /dev, say) is never read.
    const device = read({ files: [{ abs: '/dev/zero', from: 0 }], out, sizes, compression: 'none', budget });
    assert.equal(device.files[0]!.vanished, true);
    assert.equal(device.chunks.length, 0);
    // Data that compresses to nothing still ends a task after four budgets of input (checked
    // after each read of up to 1 MiB), rather than running through the whole file.
    await writeFile(join(dir, 'zeros'), Buffer.alloc(16 * 1024 * 1024));
    const zeros = read({
      files: [{ abs: join(dir, 'zeros'), from: 0 }],
      out,
      sizes,
      compression: 'auto',
      budget,
    });
    assert.equal(zeros.files[0]!.done, false);
    const bound = 4 * budget + 4 * 1024 * 1024;
    assert.ok(zeros.files[0]!.bytes <= bound, `${zeros.files[0]!.bytes} bytes in one task`);
  });

  it('read says where a file it cannot finish goes on before it hashes, and that nothing goes on otherwise', async () => {
    const dir = await scratch('hoard-tasks-continuation-');
    const sizes = chunkSizes(64 * 1024);
    const budget = 256 * 1024;
    const out = new SharedArrayBuffer(readCapacity(budget, sizes));
    await writeFile(join(dir, 'small'), random(3, 10_000));
    await writeFile(join(dir, 'big'), random(4, 2 * 1024 * 1024));
    const files = [
      { abs: join(dir, 'small'), from: 0 },
      { abs: join(dir, 'big'), from: 0 },
    ];
    const continuation = new SharedArrayBuffer(8 * CONTINUATION_SLOTS);
    const result = read({ files, out, sizes, compression: 'none', budget, continuation });
    const state = new BigInt64Array(continuation);
    const values = new BigUint64Array(continuation);
    assert.equal(state[0], Continuation.CONTINUES);
    const big = result.files[1]!;
    assert.equal(big.done, false);
    assert.deepEqual(
      [values[1], values[2]!.toString(), values[3]!.toString(), values[4]],
      [BigInt(big.next), big.identity!.dev, big.identity!.ino, 1n],
    );
    // The pieces, each started where the previous one said, cut the file as one read would.
    const whole = read({
      files: [{ abs: join(dir, 'big'), from: 0 }],
      out: new SharedArrayBuffer(readCapacity(4 * 1024 * 1024, sizes)),
      sizes,
      compression: 'none',
      budget: 4 * 1024 * 1024,
    });
    const ids: string[] = result.chunks.slice(big.first, big.first + big.count).map((c) => c.id);
    for (let from = big.next, done = false; !done; ) {
      const next = new SharedArrayBuffer(8 * CONTINUATION_SLOTS);
      const piece = read({
        files: [{ abs: join(dir, 'big'), from }],
        out,
        sizes,
        compression: 'none',
        budget,
        continuation: next,
      });
      ids.push(...piece.chunks.map((c) => c.id));
      done = piece.files[0]!.done;
      assert.equal(new BigInt64Array(next)[0], done ? Continuation.SETTLED : Continuation.CONTINUES);
      if (!done) assert.equal(new BigUint64Array(next)[1], BigInt(piece.files[0]!.next));
      from = piece.files[0]!.next;
    }
    assert.deepEqual(
      ids,
      whole.chunks.map((c) => c.id),
    );
    // A task that finishes its files, or meets one that vanished, settles without a continuation.
    const settled = new SharedArrayBuffer(8 * CONTINUATION_SLOTS);
    read({
      files: [{ abs: join(dir, 'gone'), from: 0 }],
      out,
      sizes,
      compression: 'none',
      budget,
      continuation: settled,
    });
    assert.equal(new BigInt64Array(settled)[0], Continuation.SETTLED);
  });

  it('read compresses only the chunks the store lacks, and keeps the others raw in place', async () => {
    const dir = await scratch('hoard-tasks-known-');
    const sizes = chunkSizes(64 * 1024);
    const budget = 4 * 1024 * 1024;
    const out = new SharedArrayBuffer(readCapacity(budget, sizes));
    const abs = join(dir, 'text');
    // Compressible, and varied enough to cut into many chunks.
    const lines = Array.from({ length: 40_000 }, (_, i) => `line ${i} of ${i * 7919} words\n`);
    await writeFile(abs, lines.join(''));
    const all = read({ files: [{ abs, from: 0 }], out, sizes, compression: 'zstd', budget });
    assert.ok(all.chunks.length >= 4, `${all.chunks.length} chunks`);
    assert.ok(all.chunks.every((c) => c.compression === 'zstd'));
    const known = all.chunks.filter((_, i) => i % 2 === 0).map((c) => c.id);
    const again = read({ files: [{ abs, from: 0, known }], out, sizes, compression: 'zstd', budget });
    const whole = await readFile(abs);
    let offset = 0;
    const bytes = Buffer.from(out);
    for (const chunk of again.chunks) {
      const raw = whole.subarray(offset, offset + chunk.rawLength);
      offset += chunk.rawLength;
      assert.equal(chunk.id, blobId(raw));
      if (known.includes(chunk.id)) {
        assert.equal(chunk.compression, 'none');
        assert.ok(bytes.subarray(chunk.at, chunk.at + chunk.length).equals(raw));
      } else assert.equal(chunk.compression, 'zstd');
    }
    assert.equal(offset, whole.length);
  });

  it('restores many files that share their blobs within a small limit of open files', async () => {
    const dir = await scratch('hoard-tasks-fds-');
    const data = join(dir, 'data');
    await mkdir(data);
    // Two blobs or more per file, every file the same: a batch's first blob starts them all.
    const content = random(3, 1536 * 1024);
    await writeFile(join(data, 'f0'), content);
    for (let i = 1; i < 150; i++) await link(join(data, 'f0'), join(data, `f${i}`));
    await writeFile(
      join(dir, 'plan.json'),
      JSON.stringify({ name: 'fds', resources: [{ type: 'fs.directory', id: 'd', path: data }] }),
    );
    const home = join(dir, 'home');
    const cli = (args: string) =>
      promisify(execFile)('sh', ['-c', `ulimit -n 90 && exec node ${MAIN} --home ${home} --json ${args}`]);
    const protected_ = JSON.parse((await cli(`protect ${join(dir, 'plan.json')}`)).stdout);
    assert.equal(protected_.checkpoint.status, 'available');
    const target = join(dir, 'restored');
    const restored = JSON.parse((await cli(`restore ${protected_.checkpoint.id} --target ${target}`)).stdout);
    assert.equal(restored.operation.status, 'succeeded', JSON.stringify(restored.operation.tasks));
    const names = await readdir(target);
    assert.equal(names.length, 150);
    for (const name of ['f0', 'f77', 'f149'])
      assert.ok((await readFile(join(target, name))).equals(content), name);
    assert.equal((await stat(join(target, 'f3'))).size, content.length);
  });
  it('the walk finds the same entries in one thread and fanned out, and fans out only when the disk is slow or the rest long', async () => {
    const root = await scratch('hoard-walk-');
    const expected: string[] = [];
    for (let d = 0; d < 40; d++) {
      await mkdir(join(root, `d${d}`, 'sub'), { recursive: true });
      expected.push(`d${d}`, `d${d}/sub`);
      for (let f = 0; f < 30; f++) {
        await writeFile(join(root, `d${d}`, f % 2 ? `f${f}` : `sub/f${f}`), String(f));
        expected.push(f % 2 ? `d${d}/f${f}` : `d${d}/sub/f${f}`);
      }
    }
    expected.sort();
    const signal = new AbortController().signal;
    const asked: number[] = [];
    for (const fanOut of [() => false, () => true, fanOutNow]) {
      const walked = await walkTree(root, [], 'test', signal, (pace, perShare, left) => {
        asked.push(left);
        return fanOut(pace, perShare, left);
      });
      assert.deepEqual(walked.entries.map((e) => e.path).sort(), expected);
      assert.equal(walked.entries.find((e) => e.path === 'd3/f1')?.type, 'file');
    }
    assert.ok(asked.length > 3, 'asked before each share');
    // The pace: too few entries to judge; a slow disk; a fast disk with a short rest; a long rest.
    assert.equal(fanOutNow({ statted: 500, cpuMs: 5, blockedMs: 500 }, 10, 10), false);
    assert.equal(fanOutNow({ statted: 2000, cpuMs: 10, blockedMs: 200 }, 10, 10), true);
    assert.equal(fanOutNow({ statted: 2000, cpuMs: 10, blockedMs: 1 }, 10, 10), false);
    assert.equal(fanOutNow({ statted: 2000, cpuMs: 10, blockedMs: 1 }, 50, 10), false);
    assert.equal(fanOutNow({ statted: 2000, cpuMs: 10, blockedMs: 1 }, 200, 10), true);
  });

  it('the threads started ahead of a large read run the task that loads its code', async () => {
    // warmForReading() ignores a failure (it only saves time): the task must exist for it to work.
    assert.equal(await run('readReady', undefined), undefined);
  });
});
