import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { copyCheckpoint, deleteCheckpoint, restore, verify } from '../../src/flows/checkpoint-ops.js';
import { protect } from '../../src/flows/protect.js';
import { parsePlan } from '../../src/plans/plan.js';
import type { Entry } from '../../src/plugins/fs-directory/manifest.js';
import { read, readCapacity, walk } from '../../src/plugins/fs-directory/worker.js';
import { localProvider, type Provider } from '../../src/providers/provider.js';
import { Chunker, chunkSizes } from '../../src/store/chunker.js';
import { decodeReferences } from '../../src/store/references.js';

/** Every directory a test made, removed when the file's tests end (a case holds ~340 MB). */
const made: string[] = [];
after(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `hoard-fsdir-${name}-`));
  made.push(dir);
  return dir;
}

/** A tree with every kind of entry, odd modes and fixed mtimes. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'docs/deep/deeper'), { recursive: true });
  await mkdir(join(root, 'empty-dir'));
  await writeFile(join(root, 'empty.txt'), '');
  await writeFile(join(root, 'small.txt'), 'hello\n');
  await writeFile(join(root, 'docs/readme.md'), '# Readme\n'.repeat(1000));
  await writeFile(join(root, 'docs/deep/deeper/random.bin'), randomBytes(3 * 1024 * 1024 + 17));
  await writeFile(join(root, 'docs/deep/cache.tmp'), 'excluded');
  await writeFile(join(root, 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'script.sh'), 0o755);
  await writeFile(join(root, 'secret'), 'x');
  await chmod(join(root, 'secret'), 0o600);
  await symlink('docs/readme.md', join(root, 'link-relative'));
  await symlink('/etc/hostname', join(root, 'link-absolute'));
  await symlink('missing-target', join(root, 'link-dangling'));
  const when = new Date('2024-02-29T12:34:56.789Z');
  for (const p of ['small.txt', 'docs/readme.md', 'script.sh', 'docs/deep/deeper/random.bin'])
    await utimes(join(root, p), when, when);
  await utimes(join(root, 'docs/deep'), when, when);
}

interface Seen {
  type: string;
  mode: number;
  mtimeMs: number;
  content?: string;
  target?: string;
}

/** Everything restore must reproduce, by relative path (mtimes to the millisecond). */
async function describeTree(
  root: string,
  skip: (rel: string) => boolean = () => false,
): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  for (const rel of (await readdir(root, { recursive: true })).sort()) {
    if (skip(rel)) continue;
    const abs = join(root, rel);
    const st = await lstat(abs);
    const seen: Seen = {
      type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file',
      mode: st.mode & 0o7777,
      mtimeMs: Math.floor(st.mtimeMs),
    };
    if (st.isFile()) seen.content = (await readFile(abs)).toString('base64');
    if (st.isSymbolicLink()) {
      seen.target = await readlink(abs);
      seen.mode = 0; // link modes are not meaningful on Linux
    }
    out.set(rel, seen);
  }
  return out;
}

async function setup(exclude: string[] = []) {
  const dir = await tempDir('case');
  const data = join(dir, 'data');
  await mkdir(data);
  await makeTree(data);
  const provider = await localProvider(join(dir, 'home'));
  const plan = parsePlan(
    JSON.stringify({
      name: 'files',
      resources: [{ type: 'fs.directory', id: 'data', path: data }],
      parameters: { 'fs.directory': { exclude } },
    }),
    'plan.json',
  );
  return { dir, data, provider, plan, bankDir: join(dir, 'home', 'banks', 'local') };
}

async function info(provider: Provider, id: string) {
  const keys = await provider.bank.list(`checkpoints/${id}/resources/`);
  const key = keys.find((k) => k.endsWith('/info.json'))!;
  return JSON.parse((await provider.bank.get(key)).toString()) as {
    bytesRead: number;
    bytesNew: number;
    filesReused: number;
    files: number;
  };
}

async function manifest(provider: Provider, id: string): Promise<Entry[]> {
  const keys = await provider.bank.list(`checkpoints/${id}/resources/`);
  const key = keys.find((k) => k.endsWith('/manifest.jsonl.gz'))!;
  const text = (await promisify(gunzip)(await provider.bank.get(key))).toString();
  return text.split('\n').map((line) => JSON.parse(line) as Entry);
}

async function packBytes(bankDir: string): Promise<number> {
  let total = 0;
  for (const rel of await readdir(join(bankDir, 'store'), { recursive: true }).catch(() => [] as string[])) {
    const st = await stat(join(bankDir, 'store', rel));
    if (st.isFile() && rel.startsWith('packs/')) total += st.size;
  }
  return total;
}

describe('fs.directory', () => {
  it('round trip: every byte, mode, mtime and link comes back; excluded files stay out', async () => {
    const { dir, data, provider, plan } = await setup(['**/*.tmp']);
    const p = await protect(plan, provider);
    assert.equal(p.checkpoint.status, 'available', JSON.stringify(p.operation?.tasks.find((t) => t.error)));
    const target = join(dir, 'restored');
    const r = await restore(p.checkpoint.id, provider, { target });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks.find((t) => t.error)));
    const want = await describeTree(data, (rel) => rel.endsWith('.tmp'));
    const got = await describeTree(target);
    assert.deepEqual([...got.keys()], [...want.keys()]);
    for (const [rel, w] of want) assert.deepEqual(got.get(rel), w, rel);
    assert.equal((await verify(p.checkpoint.id, provider)).operation?.status, 'succeeded');
    // Its `blobs` object is the checked binary form and names every blob of the manifest.
    const keys = await provider.bank.list(`checkpoints/${p.checkpoint.id}/resources/`);
    const refs = await provider.bank.get(keys.find((k) => k.endsWith('/blobs'))!);
    assert.equal(refs.subarray(0, 11).toString('latin1'), 'HOARDREFS2\n');
    const used = new Set((await manifest(provider, p.checkpoint.id)).flatMap((e) => e.blobs ?? []));
    assert.deepEqual(decodeReferences('blobs', refs), [...used].sort());
  });

  it('mtimes come back to the nanosecond, for files, directories and links', async () => {
    const { dir, data, provider, plan } = await setup();
    const when = (ns: string) => `@${ns.slice(0, -9)}.${ns.slice(-9)}`;
    const times: [string, string][] = [
      ['small.txt', '1700000000123456789'],
      ['docs/readme.md', '1700000000000000001'],
      ['docs/deep', '1600000000999999999'],
      ['link-relative', '1500000000100000007'],
    ];
    for (const [rel, ns] of times) execFileSync('touch', ['-h', '-d', when(ns), join(data, rel)]);
    const ns = async (path: string) => (await lstat(path, { bigint: true })).mtimeNs.toString();
    for (const [rel, want] of times) assert.equal(await ns(join(data, rel)), want, `the source's ${rel}`);
    const p = await protect(plan, provider);
    const target = join(dir, 'restored');
    const r = await restore(p.checkpoint.id, provider, { target });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks.find((t) => t.error)));
    for (const [rel, want] of times) assert.equal(await ns(join(target, rel)), want, rel);
  });

  it("the target directory gets the protected root's mode and mtime", async () => {
    const { dir, data, provider, plan } = await setup();
    await chmod(data, 0o750);
    execFileSync('touch', ['-d', '@1650000000.123456789', data]);
    const p = await protect(plan, provider);
    for (const [target, overwrite] of [
      [join(dir, 'new'), false],
      [join(dir, 'existing'), true],
    ] as const) {
      if (overwrite) await mkdir(target, { mode: 0o700 });
      const r = await restore(p.checkpoint.id, provider, { target, overwrite });
      assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks.find((t) => t.error)));
      const st = await stat(target, { bigint: true });
      assert.equal(Number(st.mode & 0o7777n).toString(8), '750', target);
      assert.equal(st.mtimeNs, 1650000000123456789n, target);
    }
  });

  it('hard links come back as hard links, and a manifest without them restores copies', async () => {
    const { dir, data, provider, plan } = await setup();
    await writeFile(join(data, 'a-original'), 'linked content\n'.repeat(1000));
    await link(join(data, 'a-original'), join(data, 'docs/b-link'));
    await link(join(data, 'a-original'), join(data, 'docs/deep/c-link'));
    // A file whose other link is outside the tree is a plain file.
    await link(join(data, 'small.txt'), join(dir, 'outside-link'));
    const p = await protect(plan, provider);
    assert.equal(p.checkpoint.status, 'available', JSON.stringify(p.operation?.tasks.find((t) => t.error)));
    const entries = await manifest(provider, p.checkpoint.id);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.equal(byPath.get('a-original')?.hardLink, undefined);
    assert.equal(byPath.get('docs/b-link')?.hardLink, 'a-original');
    assert.equal(byPath.get('docs/deep/c-link')?.hardLink, 'a-original');
    assert.deepEqual(byPath.get('docs/b-link')?.blobs, byPath.get('a-original')?.blobs);
    assert.equal(byPath.get('small.txt')?.hardLink, undefined);
    // The file is read once, not once per path.
    const once = entries.filter((e) => e.type === 'file' && !e.hardLink).reduce((n, e) => n + e.size!, 0);
    assert.equal((await info(provider, p.checkpoint.id)).bytesRead, once);

    const target = join(dir, 'restored');
    const r = await restore(p.checkpoint.id, provider, { target });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks.find((t) => t.error)));
    const original = await stat(join(target, 'a-original'));
    assert.equal(original.nlink, 3);
    for (const rel of ['docs/b-link', 'docs/deep/c-link'])
      assert.equal((await stat(join(target, rel))).ino, original.ino, rel);
    assert.equal((await stat(join(target, 'small.txt'))).nlink, 1);
    const want = await describeTree(data);
    const got = await describeTree(target);
    for (const [rel, w] of want) assert.deepEqual(got.get(rel), w, rel);

    // With overwrite, over an earlier restore: still one file.
    const again = await restore(p.checkpoint.id, provider, { target, overwrite: true });
    assert.equal(
      again.operation?.status,
      'succeeded',
      JSON.stringify(again.operation?.tasks.find((t) => t.error)),
    );
    assert.equal(
      (await stat(join(target, 'docs/deep/c-link'))).ino,
      (await stat(join(target, 'a-original'))).ino,
    );
    assert.equal((await stat(join(target, 'a-original'))).nlink, 3);

    // A manifest written before hard links were kept: the same paths come back as copies.
    const keys = await provider.bank.list(`checkpoints/${p.checkpoint.id}/resources/`);
    const manifestKey = keys.find((k) => k.endsWith('/manifest.jsonl.gz'))!;
    const old = entries.map(({ hardLink, ...e }) => JSON.stringify(e)).join('\n');
    await provider.bank.put(manifestKey, await promisify(gzip)(Buffer.from(old)));
    const copies = join(dir, 'copies');
    const c = await restore(p.checkpoint.id, provider, { target: copies });
    assert.equal(c.operation?.status, 'succeeded', JSON.stringify(c.operation?.tasks.find((t) => t.error)));
    assert.equal((await stat(join(copies, 'a-original'))).nlink, 1);
    assert.deepEqual(
      await readFile(join(copies, 'docs/deep/c-link')),
      await readFile(join(data, 'a-original')),
    );
  });

  it('a second protect of unchanged data reads nothing and writes no new data', async () => {
    const { provider, plan, bankDir } = await setup();
    const first = await protect(plan, provider);
    const packsBefore = await packBytes(bankDir);
    const second = await protect(plan, provider);
    assert.equal(second.checkpoint.status, 'available');
    const stats = await info(provider, second.checkpoint.id);
    assert.equal(stats.bytesRead, 0);
    assert.equal(stats.bytesNew, 0);
    assert.equal(stats.filesReused, (await info(provider, first.checkpoint.id)).files);
    assert.equal(await packBytes(bankDir), packsBefore);
  });

  it("carries an unchanged file's manifest line over as it is, and a file whose mode alone changed keeps its blobs under the new mode", async () => {
    const { data, provider, plan } = await setup();
    await writeFile(join(data, 'we"ird\\name.txt'), 'escaped in JSON');
    const first = await protect(plan, provider);
    await chmod(join(data, 'small.txt'), 0o640);
    const second = await protect(plan, provider);
    const stats = await info(provider, second.checkpoint.id);
    assert.equal(stats.bytesRead, 0);
    assert.equal(stats.filesReused, stats.files);
    const lines = async (id: string) => {
      const keys = await provider.bank.list(`checkpoints/${id}/resources/`);
      const key = keys.find((k) => k.endsWith('/manifest.jsonl.gz'))!;
      return (await promisify(gunzip)(await provider.bank.get(key))).toString().split('\n');
    };
    const [before, after] = [await lines(first.checkpoint.id), await lines(second.checkpoint.id)];
    const byPath = (all: string[]) => new Map(all.map((l) => [(JSON.parse(l) as Entry).path, l]));
    const [was, is] = [byPath(before), byPath(after)];
    assert.deepEqual([...is.keys()], [...was.keys()]);
    for (const [path, line] of is) {
      if (path === 'small.txt') continue;
      assert.equal(line, was.get(path), path);
    }
    const small = JSON.parse(is.get('small.txt')!) as Entry;
    const smallBefore = JSON.parse(was.get('small.txt')!) as Entry;
    assert.equal(small.mode, 0o640);
    assert.deepEqual(small.blobs, smallBefore.blobs);
    assert.deepEqual({ ...small, mode: smallBefore.mode }, smallBefore);
    const restored = join(data, '..', 'restored');
    await restore(second.checkpoint.id, provider, { target: restored });
    assert.equal((await stat(join(restored, 'small.txt'))).mode & 0o7777, 0o640);
    assert.equal(await readFile(join(restored, 'we"ird\\name.txt'), 'utf8'), 'escaped in JSON');
  });

  it('reads a previous manifest line by line: plain file lines by their pattern, others parsed, damaged ones as absent', async () => {
    const { PreviousManifest } = await import('../../src/plugins/fs-directory/manifest.js');
    const id = 'ab'.repeat(32);
    const plain = `{"path":"a.txt","mode":420,"mtimeNs":"5","type":"file","size":3,"ino":"7","blobs":["${id}"]}`;
    const linked = `{"path":"b.txt","mode":420,"mtimeNs":"5","type":"file","size":3,"ino":"7","blobs":["${id}"],"hardLink":"a.txt"}`;
    const other = '{"type":"file","path":"c\\\\d","mode":384,"mtimeNs":"1","size":0,"ino":"8","blobs":[]}';
    const dir = '{"path":"d","mode":493,"mtimeNs":"2","type":"dir"}';
    const previous = new PreviousManifest([plain, linked, other, dir, '{"path":"e", not json', '']);
    const a = previous.get('a.txt')!;
    assert.deepEqual(a, {
      path: 'a.txt',
      mode: 420,
      mtimeNs: '5',
      type: 'file',
      size: 3,
      ino: '7',
      blobs: [id],
    });
    assert.equal(previous.line(a), plain);
    const b = previous.get('b.txt')!;
    assert.equal(b.hardLink, 'a.txt');
    assert.equal(previous.line(b), undefined, 'a line with more than a plain file holds is not carried over');
    assert.equal(previous.get('c\\d')?.mode, 384);
    assert.equal(previous.line(previous.get('c\\d')!), undefined);
    assert.equal(previous.get('d')?.type, 'dir');
    assert.equal(previous.get('e'), undefined);
    assert.equal(previous.get('nowhere'), undefined);
    // all(): every entry that reads, as the objects get() gives (line() knows them), none damaged.
    const all = await previous.all();
    assert.deepEqual(
      all.map((e) => e.path),
      ['a.txt', 'b.txt', 'c\\d', 'd'],
    );
    assert.equal(all[0], a);
    const fresh = new PreviousManifest([plain]);
    assert.equal(fresh.line((await fresh.all())[0]!), plain, 'all() parses as get() does');
    // What writeManifest is given as an entry's line goes in as it is; the others are serialized.
    const { MemoryBank } = await import('../../src/bank/index.js');
    const { writeManifest, readManifest } = await import('../../src/plugins/fs-directory/manifest.js');
    const bank = new MemoryBank();
    const spaced = plain.replace('"mode":420', '"mode": 420');
    await writeManifest(bank, [a, previous.get('d')!], new Map([[a, spaced]]));
    const text = (await promisify(gunzip)(await bank.get('manifest.jsonl.gz'))).toString();
    assert.equal(text, `${spaced}\n${JSON.stringify(previous.get('d'))}`);
    assert.deepEqual(await readManifest(bank), [a, previous.get('d')]);
  });

  it('writes and reads a large manifest a piece at a time: every line, multibyte paths across pieces, the gzip checked first', async () => {
    const { MemoryBank } = await import('../../src/bank/index.js');
    const { writeManifest, readManifest, PreviousManifest } = await import(
      '../../src/plugins/fs-directory/manifest.js'
    );
    const bank = new MemoryBank();
    // More lines than a write batch, and more text than an inflated chunk, 3-byte characters throughout.
    const entries: Entry[] = Array.from({ length: 5000 }, (_, i) => ({
      path: `dir/€€€-${i}-${'ü'.repeat(i % 37)}`,
      mode: 0o644,
      mtimeNs: String(i),
      type: 'file',
      size: i,
      ino: String(i + 1),
      blobs: [createHash('sha256').update(String(i)).digest('hex')],
    }));
    await writeManifest(bank, entries);
    const text = (await promisify(gunzip)(await bank.get('manifest.jsonl.gz'))).toString();
    assert.equal(text, entries.map((e) => JSON.stringify(e)).join('\n'));
    assert.deepEqual(await readManifest(bank), entries);
    const previous = await PreviousManifest.read(bank);
    for (const e of entries) assert.deepEqual(previous.get(e.path), e);

    // A damaged line in a gzip stream cut short: the stream's damage is what is reported.
    const whole = await promisify(gzip)(Buffer.from(`${text}\n{"path": "b", "ty\n${text}`));
    await bank.put('manifest.jsonl.gz', whole.subarray(0, whole.length - 20));
    await assert.rejects(readManifest(bank, 'm'), /^HoardError: m: not a gzip stream/);
    await bank.put('manifest.jsonl.gz', whole);
    await assert.rejects(readManifest(bank, 'm'), /^HoardError: m line 5001: not a JSON entry/);
    assert.equal((await PreviousManifest.read(bank)).get('b'), undefined);
  });

  it('a 1-byte change in a large file stores about one chunk', async () => {
    const { dir, data, provider, plan, bankDir } = await setup();
    const big = join(data, 'big.bin');
    // Seeded, so the chunk boundaries near the edit are the same on every run.
    const bytes = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16)).update(
      Buffer.alloc(12 * 1024 * 1024),
    );
    await writeFile(big, bytes);
    await protect(plan, provider);
    const before = await packBytes(bankDir);
    bytes.writeUInt8(bytes.readUInt8(6 * 1024 * 1024) ^ 0xff, 6 * 1024 * 1024);
    await writeFile(big, bytes);
    const second = await protect(plan, provider);
    const stats = await info(provider, second.checkpoint.id);
    assert.equal(stats.bytesRead, bytes.length, 'only the changed file is read');
    assert.ok(
      stats.bytesNew > 0 && stats.bytesNew <= 4 * 1024 * 1024,
      `${stats.bytesNew} new bytes for a 1-byte change`,
    );
    assert.ok((await packBytes(bankDir)) - before <= 4.5 * 1024 * 1024);
    // The unchanged chunks were read again but not re-encoded (tasks/read.ts `known`): the
    // checkpoint still restores byte for byte.
    const target = join(dir, 'restored');
    const r = await restore(second.checkpoint.id, provider, { target });
    assert.equal(r.operation?.status, 'succeeded');
    assert.ok((await readFile(join(target, 'big.bin'))).equals(bytes));
  });

  it('a file larger than a read task is cut exactly as one piece would be, restores and verifies', async () => {
    const { dir, data, provider, plan } = await setup();
    // 21 MiB: six read tasks of 4 MiB, each carrying on at the previous one's last boundary;
    // random and compressible stretches, so the zstd scratch memory of each thread is used
    // chunk after chunk (and a mistake in it would show in the restored bytes).
    const random = createCipheriv('aes-128-ctr', Buffer.alloc(16, 9), Buffer.alloc(16)).update(
      Buffer.alloc(14 * 1024 * 1024),
    );
    const big = Buffer.concat([random, Buffer.from('text that deflates\n'.repeat((7 * 1024 * 1024) / 19))]);
    await writeFile(join(data, 'big.bin'), big);
    const p = await protect(plan, provider);
    assert.equal(p.checkpoint.status, 'available');
    const chunker = new Chunker(1024 * 1024);
    const chunks = [...chunker.push(big)];
    const last = chunker.finish();
    if (last) chunks.push(last);
    const expected = chunks.map((c) => createHash('sha256').update(c).digest('hex'));
    const entry = (await manifest(provider, p.checkpoint.id)).find((e) => e.path === 'big.bin')!;
    assert.equal(entry.size, big.length);
    assert.deepEqual(entry.blobs, expected);
    const target = join(dir, 'restored');
    const r = await restore(p.checkpoint.id, provider, { target });
    assert.equal(r.operation?.status, 'succeeded');
    assert.ok((await readFile(join(target, 'big.bin'))).equals(big));
    assert.equal((await verify(p.checkpoint.id, provider)).operation?.status, 'succeeded');
  });

  it('reads files in worker threads that never follow a link put in a file’s place', async () => {
    const dir = await tempDir('worker');
    await writeFile(join(dir, 'plain'), 'plain');
    await symlink('/etc/hostname', join(dir, 'was-a-file'));
    const sizes = chunkSizes(1024 * 1024);
    const budget = 1024 * 1024;
    const out = new SharedArrayBuffer(readCapacity(budget, sizes));
    const files = ['was-a-file', 'gone', 'plain'].map((name) => ({ abs: join(dir, name), from: 0 }));
    const result = read({ files, out, sizes, compression: 'none', budget });
    assert.equal(result.problem, undefined);
    assert.deepEqual(
      result.files.map((f) => [f.vanished ?? false, f.done, f.count]),
      [
        [true, true, 0],
        [true, true, 0],
        [false, true, 1],
      ],
    );
    const chunk = result.chunks[0]!;
    assert.equal(Buffer.from(out, chunk.at, chunk.length).toString(), 'plain');
    // The walk lists what is there, and leaves out what is neither file, directory nor link.
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const walked = walk({ root: dir, dirs: [''], depth: Number.POSITIVE_INFINITY, exclude: ['gone'] });
    assert.deepEqual(walked.skipped, ['pipe']);
    assert.deepEqual(
      walked.entries.map((e) => [e.path, e.type]),
      [
        ['plain', 'file'],
        ['was-a-file', 'symlink'],
      ],
    );
    // One level at a time: what lies deeper is handed back to be walked next.
    await mkdir(join(dir, 'a/b/c'), { recursive: true });
    await writeFile(join(dir, 'a/b/c/deep'), 'deep');
    const top = walk({ root: dir, dirs: [''], depth: 1, exclude: [] });
    assert.deepEqual(top.deeper, ['a']);
    assert.ok(top.entries.some((e) => e.path === 'a' && e.type === 'dir'));
    const rest = walk({ root: dir, dirs: top.deeper, depth: Number.POSITIVE_INFINITY, exclude: [] });
    assert.deepEqual(
      rest.entries.map((e) => e.path),
      ['a/b', 'a/b/c', 'a/b/c/deep'],
    );
    assert.deepEqual(rest.deeper, []);
  });

  it('verify finds a corrupted pack byte and names the file', async () => {
    const { provider, plan, bankDir } = await setup();
    const p = await protect(plan, provider);
    const packs = (await readdir(join(bankDir, 'store', 'packs'), { recursive: true })).filter(
      (f) => !f.includes('/') || f.split('/').length === 2,
    );
    const files = [];
    for (const rel of packs) {
      const abs = join(bankDir, 'store', 'packs', rel);
      if ((await stat(abs)).isFile()) files.push({ abs, size: (await stat(abs)).size });
    }
    const largest = files.sort((a, b) => b.size - a.size)[0]!;
    const buf = await readFile(largest.abs);
    buf.writeUInt8(buf.readUInt8(1000) ^ 0x01, 1000); // inside the first blob's data, well before the trailer
    await writeFile(largest.abs, buf);
    const v = await verify(p.checkpoint.id, provider);
    assert.equal(v.operation?.status, 'failed');
    const error = v.operation!.tasks.find((t) => t.status === 'failed')!.error!;
    assert.match(error.message, /damaged blob\(s\) in \d+ file\(s\): .*(random\.bin|readme\.md)/);
  });

  it('prune after delete frees space and never removes a chunk a live checkpoint uses', async () => {
    const { dir, data, provider, plan, bankDir } = await setup();
    const keep = await protect(plan, provider);
    await writeFile(join(data, 'unique.bin'), randomBytes(5 * 1024 * 1024));
    const drop = await protect(plan, provider);
    const before = await packBytes(bankDir);
    const d = await deleteCheckpoint(drop.checkpoint.id, provider);
    assert.equal(d.checkpoint.status, 'deleted');
    assert.ok(d.gc && 'bytesFreed' in d.gc && d.gc.bytesFreed >= 5 * 1024 * 1024, JSON.stringify(d.gc));
    assert.ok((await packBytes(bankDir)) <= before - 5 * 1024 * 1024);
    assert.equal((await verify(keep.checkpoint.id, provider)).operation?.status, 'succeeded');
    const target = join(dir, 'kept');
    await restore(keep.checkpoint.id, provider, { target });
    assert.deepEqual(
      await readFile(join(target, 'docs/deep/deeper/random.bin')),
      await readFile(join(data, 'docs/deep/deeper/random.bin')),
    );
  });

  it("copy to another provider carries the content store's blobs, so the copy restores alone", async () => {
    const { dir, data, provider, plan } = await setup();
    const p = await protect(plan, provider);
    const offsite: Provider = {
      ...(await localProvider(join(dir, 'offsite-home'))),
      id: '6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e11',
      name: 'offsite',
    };
    const c = await copyCheckpoint(p.checkpoint.id, provider, offsite);
    assert.equal(c.checkpoint.status, 'available');
    // Delete the original and collect its data: the copy must not depend on it.
    await deleteCheckpoint(p.checkpoint.id, provider);
    const target = join(dir, 'from-offsite');
    const r = await restore(p.checkpoint.id, offsite, { target });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks.find((t) => t.error)));
    assert.deepEqual(
      await readFile(join(target, 'docs/deep/deeper/random.bin')),
      await readFile(join(data, 'docs/deep/deeper/random.bin')),
    );
    assert.equal((await verify(p.checkpoint.id, offsite)).operation?.status, 'succeeded');
  });

  it('refuses to restore into a non-empty target unless asked to overwrite', async () => {
    const { dir, provider, plan } = await setup();
    const p = await protect(plan, provider);
    const target = join(dir, 'busy');
    await mkdir(target);
    await writeFile(join(target, 'small.txt'), 'mine');
    const refused = await restore(p.checkpoint.id, provider, { target });
    assert.equal(refused.operation?.status, 'failed');
    assert.match(
      refused.operation!.tasks.find((t) => t.error)!.error!.message,
      /is not empty; .*--overwrite/,
    );
    assert.equal(await readFile(join(target, 'small.txt'), 'utf8'), 'mine');
    const forced = await restore(p.checkpoint.id, provider, { target, overwrite: true });
    assert.equal(forced.operation?.status, 'succeeded');
    assert.equal(await readFile(join(target, 'small.txt'), 'utf8'), 'hello\n');
  });

  it('with overwrite, replaces a directory or a link that stands where a file goes', async () => {
    const { dir, data, provider, plan } = await setup();
    const p = await protect(plan, provider);
    const target = join(dir, 'crowded');
    await mkdir(join(target, 'small.txt', 'inside'), { recursive: true });
    await writeFile(join(target, 'small.txt', 'inside', 'x'), 'x');
    await symlink(join(dir, 'elsewhere'), join(target, 'script.sh'));
    await writeFile(join(dir, 'elsewhere'), 'not to be written through');
    const r = await restore(p.checkpoint.id, provider, { target, overwrite: true });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks.find((t) => t.error)));
    assert.equal(await readFile(join(target, 'small.txt'), 'utf8'), 'hello\n');
    assert.ok((await lstat(join(target, 'script.sh'))).isFile());
    assert.equal(
      await readFile(join(target, 'script.sh'), 'utf8'),
      await readFile(join(data, 'script.sh'), 'utf8'),
    );
    assert.equal(await readFile(join(dir, 'elsewhere'), 'utf8'), 'not to be written through');
  });

  it('a cancelled restore stops and leaves no temporary file', async () => {
    const { dir, data, provider, plan } = await setup();
    const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 5), Buffer.alloc(16));
    await mkdir(join(data, 'many'));
    for (let i = 0; i < 40; i++)
      await writeFile(join(data, 'many', `f${i}.bin`), cipher.update(Buffer.alloc(2 * 1024 * 1024)));
    const p = await protect(plan, provider);
    const target = join(dir, 'cancelled');
    const controller = new AbortController();
    const r = await restore(p.checkpoint.id, provider, {
      target,
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'progress' && event.fraction > 0) controller.abort();
      },
    });
    assert.notEqual(r.operation?.status, 'succeeded');
    const names = await readdir(target, { recursive: true });
    assert.ok(!names.some((n) => n.includes('.hoard-restore-')), `temporary files left: ${names}`);
    assert.ok(names.filter((n) => n.startsWith('many/')).length < 40, 'stopped before the end');
  });

  it('restores by pack: files that share blobs and files spread over several packs, byte for byte', async () => {
    const { dir, data, provider, plan } = await setup();
    const cipher = (seed: number, size: number) =>
      createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(size));
    // 40 MiB of random data: at least three 16 MiB packs.
    const big = cipher(3, 40 * 1024 * 1024);
    await mkdir(join(data, 'shared'));
    await writeFile(join(data, 'shared/big.bin'), big);
    await writeFile(join(data, 'shared/big-copy.bin'), big);
    await writeFile(
      join(data, 'shared/big-twice.bin'),
      Buffer.concat([big.subarray(0, 20 * 1024 * 1024), big]),
    );
    const text = Buffer.from('the same small file\n'.repeat(50));
    for (let i = 0; i < 300; i++) await writeFile(join(data, 'shared', `same-${i}.txt`), text);
    const p = await protect(plan, provider);
    assert.equal(p.checkpoint.status, 'available');
    const target = join(dir, 'by-pack');
    const r = await restore(p.checkpoint.id, provider, { target });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks.find((t) => t.error)));
    const want = await describeTree(data);
    const got = await describeTree(target);
    assert.deepEqual([...got.keys()], [...want.keys()]);
    for (const [rel, w] of want) assert.deepEqual(got.get(rel), w, rel);
    assert.ok((await readFile(join(target, 'shared/big-twice.bin'))).subarray(20 * 1024 * 1024).equals(big));
    const names = await readdir(target, { recursive: true });
    assert.ok(!names.some((n) => n.includes('.hoard-restore-')), 'no temporary file left');
  });

  it('a corrupted blob fails the restore cleanly: no partial file, no temporary file', async () => {
    const { dir, data, provider, plan, bankDir } = await setup();
    await writeFile(join(data, 'solo.bin'), randomBytes(3 * 1024 * 1024));
    const p = await protect(plan, provider);
    const packs = await readdir(join(bankDir, 'store', 'packs'), { recursive: true });
    let damaged = false;
    for (const rel of packs) {
      const abs = join(bankDir, 'store', 'packs', rel);
      if (!(await stat(abs)).isFile()) continue;
      const buf = await readFile(abs);
      buf.writeUInt8(buf.readUInt8(0) ^ 0x01, 0); // the first blob of every pack
      await writeFile(abs, buf);
      damaged = true;
    }
    assert.ok(damaged);
    const target = join(dir, 'damaged');
    const r = await restore(p.checkpoint.id, provider, { target });
    assert.equal(r.operation?.status, 'failed');
    assert.match(r.operation!.tasks.find((t) => t.error)!.error!.message, /damaged/);
    const names = await readdir(target, { recursive: true });
    assert.ok(!names.some((n) => n.includes('.hoard-restore-')), `temporary files left: ${names}`);
    // Every file there is whole.
    for (const rel of names) {
      const abs = join(target, rel);
      const st = await lstat(abs);
      if (st.isFile()) assert.ok((await readFile(abs)).equals(await readFile(join(data, rel))), rel);
    }
  });

  it('a damaged manifest (not gzip, or a line that is not JSON) is STORE_CORRUPT naming checkpoint, resource and manifest.jsonl.gz', async () => {
    const { dir, provider, plan } = await setup();
    const p = await protect(plan, provider);
    const id = p.checkpoint.id;
    const keys = await provider.bank.list(`checkpoints/${id}/resources/`);
    const manifestKey = keys.find((k) => k.endsWith('/manifest.jsonl.gz'))!;
    const failure = (r: Awaited<ReturnType<typeof verify>>) => {
      assert.equal(r.operation?.status, 'failed');
      const task = r.operation!.tasks.find((t) => t.status === 'failed')!;
      assert.equal(task.resource, 'fs.directory#data');
      return task.error!.cause!;
    };
    const named = `checkpoint ${id}, fs.directory#data, manifest.jsonl.gz`;

    await provider.bank.put(manifestKey, 'this is not gzip');
    let cause = failure(await verify(id, provider));
    assert.equal(cause.code, 'STORE_CORRUPT');
    assert.equal(cause.message.split(': ')[0], named);
    assert.match(cause.message, /not a gzip stream .*the manifest is damaged/);
    assert.equal(cause.details?.object, named);

    const good = JSON.stringify({ path: 'a', type: 'dir', mode: 0o755, mtimeNs: '0' });
    await provider.bank.put(manifestKey, await promisify(gzip)(Buffer.from(`${good}\n{"path": "b", "ty`)));
    cause = failure(await restore(id, provider, { target: join(dir, 'restored') }));
    assert.equal(cause.code, 'STORE_CORRUPT');
    assert.match(
      cause.message,
      new RegExp(`^${named} line 2: not a JSON entry \\(.*\\); the manifest is damaged$`),
    );
    assert.equal(cause.details?.line, 2);
    await assert.rejects(stat(join(dir, 'restored', 'a')), 'nothing was restored');
  });

  describe('a hostile checkpoint cannot write outside the target', () => {
    const hostile: [string, object[]][] = [
      ['a ../ path', [{ path: '../../escaped', type: 'file', mode: 0o644, mtimeNs: '0', size: 6 }]],
      [
        'an absolute path',
        [{ path: '/tmp/hoard-escaped-absolute', type: 'file', mode: 0o644, mtimeNs: '0', size: 6 }],
      ],
      [
        'a symlink escape',
        [
          { path: 'link', type: 'symlink', mode: 0o777, mtimeNs: '0', target: 'OUTSIDE' },
          { path: 'link/escaped', type: 'file', mode: 0o644, mtimeNs: '0', size: 6 },
        ],
      ],
    ];
    for (const [name, entries] of hostile) {
      it(name, async () => {
        const { dir, provider, plan } = await setup();
        const p = await protect(plan, provider);
        const outside = join(dir, 'outside');
        await mkdir(outside);
        // Rewrite the manifest as an attacker with write access to the bank would.
        const keys = await provider.bank.list(`checkpoints/${p.checkpoint.id}/resources/`);
        const manifestKey = keys.find((k) => k.endsWith('/manifest.jsonl.gz'))!;
        const smallBlob = (await provider.bank.get(keys.find((k) => k.endsWith('/blobs'))!))
          .toString()
          .split('\n')[0];
        const lines = entries.map((e) =>
          JSON.stringify({
            ...e,
            ...('size' in e ? { blobs: [smallBlob] } : {}),
            ...('target' in e ? { target: outside } : {}),
          }),
        );
        await provider.bank.put(manifestKey, await promisify(gzip)(Buffer.from(lines.join('\n'))));
        const target = join(dir, 'target');
        const r = await restore(p.checkpoint.id, provider, { target });
        assert.equal(r.operation?.status, 'failed', `${name} was restored`);
        assert.deepEqual(await readdir(outside), []);
        await assert.rejects(stat(join(dir, 'escaped')));
        await assert.rejects(stat('/tmp/hoard-escaped-absolute'));
        const written = await readdir(target, { recursive: true }).catch(() => [] as string[]);
        for (const rel of written) assert.ok(!relative(target, join(target, rel)).startsWith('..'));
      });
    }
  });
});
