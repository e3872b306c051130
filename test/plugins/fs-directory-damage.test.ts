/**
 * fs.directory with a damaged content store: a byte flipped in a pack, a pack cut short, a
 * pack deleted (its index object left, or deleted too). Restore brings back every file whose
 * blobs are sound, bit for bit, and every directory and link as recorded, leaves nothing of
 * the damaged files, and fails naming each of them; verify names the same files.
 */
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { restore, verify } from '../../src/flows/checkpoint-ops.js';
import type { OperationLog } from '../../src/flows/operation.js';
import { protect } from '../../src/flows/protect.js';
import { parsePlan } from '../../src/plans/plan.js';
import type { DamagedFile } from '../../src/plugins/fs-directory/damage.js';
import type { Entry } from '../../src/plugins/fs-directory/manifest.js';
import { localProvider, type Provider } from '../../src/providers/provider.js';
import { decodeIndex } from '../../src/store/pack.js';
import { hoard } from '../cli/helpers.js';

const MiB = 1024 * 1024;
const WHEN = new Date('2023-07-14T09:08:07.654Z');

function random(seed: number, size: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(size));
}

/**
 * 24 MiB of random files (two packs, so damage to one leaves files in the other whole) in a
 * 0750 and a 0705 directory, small and empty files, and links; fixed mtimes everywhere.
 */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'open/deep'), { recursive: true });
  await mkdir(join(root, 'closed'));
  for (let i = 0; i < 4; i++) await writeFile(join(root, 'open', `f${i}.bin`), random(i + 1, 3 * MiB));
  for (let i = 4; i < 8; i++) await writeFile(join(root, 'closed', `f${i}.bin`), random(i + 1, 3 * MiB));
  await writeFile(join(root, 'open/deep/note.txt'), 'a note\n'.repeat(100));
  await writeFile(join(root, 'small.txt'), 'hello\n');
  await writeFile(join(root, 'empty.txt'), '');
  await symlink('small.txt', join(root, 'link'));
  await symlink('open/f0.bin', join(root, 'closed/link-to-f0'));
  for (const rel of await readdir(root, { recursive: true })) {
    const st = await lstat(join(root, rel));
    if (st.isFile()) await utimes(join(root, rel), WHEN, WHEN);
  }
  await chmod(join(root, 'open'), 0o750);
  await chmod(join(root, 'closed'), 0o705);
  for (const d of ['open/deep', 'open', 'closed']) await utimes(join(root, d), WHEN, WHEN);
}

interface Blob {
  id: string;
  pack: string;
  offset: number;
  length: number;
}

/** Every case's directory, removed when the file's tests end. */
const made: string[] = [];
after(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-fsdir-damage-'));
  made.push(dir);
  const data = join(dir, 'data');
  await mkdir(data);
  await makeTree(data);
  const home = join(dir, 'home');
  const provider = await localProvider(home);
  const plan = parsePlan(
    JSON.stringify({ name: 'files', resources: [{ type: 'fs.directory', id: 'data', path: data }] }),
    'plan.json',
  );
  const p = await protect(plan, provider);
  assert.equal(p.checkpoint.status, 'available');
  const store = join(home, 'banks', 'local', 'store');
  const blobs = new Map<string, Blob>();
  for (const name of await readdir(join(store, 'index'))) {
    const pack = name.replace(/\.json$/, '');
    const index = decodeIndex(name, pack, await readFile(join(store, 'index', name)));
    for (const b of index.blobs) blobs.set(b.id, { ...b, pack: index.pack });
  }
  const entries = await manifest(provider, p.checkpoint.id);
  const files = entries.filter((e) => e.type === 'file');
  // The pack with the most blobs: some files have all their blobs in it, some none.
  const count = new Map<string, number>();
  for (const b of blobs.values()) count.set(b.pack, (count.get(b.pack) ?? 0) + 1);
  const pack = [...count].sort((a, b) => b[1] - a[1])[0]![0];
  const inPack = [...blobs.values()].filter((b) => b.pack === pack).sort((a, b) => a.offset - b.offset);
  assert.ok(count.size >= 2 && inPack.length >= 3, `${count.size} packs`);
  return {
    dir,
    data,
    home,
    provider,
    id: p.checkpoint.id,
    files,
    pack,
    inPack,
    packFile: join(store, 'packs', pack.slice(0, 2), pack),
    indexFile: join(store, 'index', `${pack}.json`),
    /** The files that need any of `ids`. */
    filesWith: (ids: Set<string>) =>
      files
        .filter((e) => e.blobs?.some((b) => ids.has(b)))
        .map((e) => e.path)
        .sort(),
  };
}

async function manifest(provider: Provider, id: string): Promise<Entry[]> {
  const keys = await provider.bank.list(`checkpoints/${id}/resources/`);
  const key = keys.find((k) => k.endsWith('/manifest.jsonl.gz'))!;
  const text = (await promisify(gunzip)(await provider.bank.get(key))).toString();
  return text.split('\n').map((line) => JSON.parse(line) as Entry);
}

function failure(log: OperationLog | undefined) {
  assert.equal(log?.status, 'failed');
  const error = log.tasks.find((t) => t.error)?.error;
  assert.ok(error, 'a hook failed with an error');
  return error;
}

/**
 * A restore of the damaged checkpoint: every file not in `damaged` exactly as protected, the
 * damaged ones absent, no temporary file, every directory and link as recorded, and the
 * error and the operation log naming each damaged file with its blob and pack.
 */
async function restoresAllButDamaged(s: Awaited<ReturnType<typeof setup>>, damaged: string[]) {
  assert.ok(damaged.length > 0, 'the damage reaches some file');
  assert.ok(damaged.length < s.files.length - 3, 'and leaves some whole');
  const target = join(s.dir, 'restored');
  const r = await restore(s.id, s.provider, { target });
  const error = failure(r.operation);
  assert.equal(error.code, 'HOOK_FAILED');
  assert.match(
    error.message,
    new RegExp(`^fs\\.directory#data: ${damaged.length} damaged file\\(s\\) not restored`),
  );
  for (const path of damaged)
    assert.ok(error.message.includes(path), `the error names ${path}: ${error.message}`);
  const details = error.details as { files: string[]; damaged: DamagedFile[] };
  assert.deepEqual(details.files, damaged);
  assert.deepEqual(
    details.damaged.map((d) => d.path),
    damaged,
  );
  for (const d of details.damaged) {
    assert.match(d.blob ?? '', /^[0-9a-f]{64}$/, d.path);
    if (d.pack !== undefined) assert.equal(d.pack, s.pack);
    assert.ok(d.problem.includes(d.blob!), d.problem);
  }
  for (const path of damaged)
    assert.ok(
      r.operation!.log.some((line) => line.includes(`damaged, not restored: ${path}: blob `)),
      `the operation log names ${path}: ${r.operation!.log.join('\n')}`,
    );

  const names = (await readdir(target, { recursive: true })).sort();
  assert.deepEqual(
    names.filter((n) => n.includes('.hoard-restore-')),
    [],
    'no temporary file is left',
  );
  for (const entry of s.files) {
    const at = join(target, entry.path);
    if (damaged.includes(entry.path)) {
      await assert.rejects(lstat(at), { code: 'ENOENT' }, `${entry.path} is damaged and must not be there`);
      continue;
    }
    assert.ok((await readFile(at)).equals(await readFile(join(s.data, entry.path))), entry.path);
    const st = await lstat(at);
    assert.equal(st.mode & 0o7777, entry.mode, entry.path);
    assert.equal(Math.floor(st.mtimeMs), WHEN.getTime(), entry.path);
  }
  for (const [path, mode] of [
    ['open', 0o750],
    ['closed', 0o705],
    ['open/deep', (await lstat(join(s.data, 'open/deep'))).mode & 0o7777],
  ] as const) {
    const st = await lstat(join(target, path));
    assert.ok(st.isDirectory(), path);
    assert.equal((st.mode & 0o7777).toString(8), mode.toString(8), `${path}'s mode`);
    assert.equal(Math.floor(st.mtimeMs), WHEN.getTime(), `${path}'s mtime`);
  }
  assert.equal(await readlink(join(target, 'link')), 'small.txt');
  assert.equal(await readlink(join(target, 'closed/link-to-f0')), 'open/f0.bin');
  return { target, error };
}

/** Verify fails naming exactly the damaged files, each with its blob. */
async function verifyNames(s: Awaited<ReturnType<typeof setup>>, damaged: string[]) {
  const v = await verify(s.id, s.provider);
  const error = failure(v.operation);
  assert.match(error.message, new RegExp(`damaged blob\\(s\\) in ${damaged.length} file\\(s\\): `));
  assert.deepEqual(error.details?.files, damaged);
  for (const path of damaged) {
    assert.ok(error.message.includes(path), `verify names ${path}: ${error.message}`);
    assert.ok(
      v.operation!.log.some((line) => line.includes(`damaged: ${path}: blob `)),
      path,
    );
  }
}

describe('fs.directory with damaged blobs', () => {
  it('a flipped byte: the files holding that blob are not restored, every other file is, bit for bit', async () => {
    const s = await setup();
    // Two blobs, far apart in the pack: damage is found past the first.
    const hit = [s.inPack[0]!, s.inPack[s.inPack.length - 1]!];
    const bytes = await readFile(s.packFile);
    for (const b of hit) {
      const at = b.offset + Math.floor(b.length / 2);
      bytes[at] = bytes[at]! ^ 0x01;
    }
    await writeFile(s.packFile, bytes);
    const damaged = s.filesWith(new Set(hit.map((b) => b.id)));
    const { error } = await restoresAllButDamaged(s, damaged);
    assert.match(error.message, /is damaged: it hashes to [0-9a-f]{64}/);
    await verifyNames(s, damaged);
  });

  it('a pack cut short: files with a blob past the cut are not restored, the rest are', async () => {
    const s = await setup();
    const middle = s.inPack[Math.floor(s.inPack.length / 2)]!;
    await truncate(s.packFile, middle.offset + 10);
    const damaged = s.filesWith(
      new Set(s.inPack.filter((b) => b.offset + b.length > middle.offset + 10).map((b) => b.id)),
    );
    const { error } = await restoresAllButDamaged(s, damaged);
    assert.match(error.message, /the pack ends at byte \d+/);
    await verifyNames(s, damaged);
  });

  it('a deleted pack whose index object remains: its files are not restored, the rest are; the CLI exits 1', async () => {
    const s = await setup();
    await rm(s.packFile);
    const damaged = s.filesWith(new Set(s.inPack.map((b) => b.id)));
    const { error } = await restoresAllButDamaged(s, damaged);
    assert.match(error.message, /that pack is missing from the bank/);
    await verifyNames(s, damaged);

    const cli = await hoard(['--home', s.home, '--json', 'restore', s.id, '--target', join(s.dir, 'by-cli')]);
    assert.equal(cli.code, 1, cli.stderr);
    const out = JSON.parse(cli.stdout) as { operation: OperationLog };
    assert.equal(out.operation.status, 'failed');
    assert.deepEqual(out.operation.tasks.find((t) => t.error)?.error?.details?.files, damaged);
    assert.ok((await readFile(join(s.dir, 'by-cli/small.txt'), 'utf8')) === 'hello\n');
  });

  it('a deleted pack and its index object: blobs in no index cost their files only', async () => {
    const s = await setup();
    await rm(s.packFile);
    await rm(s.indexFile);
    const damaged = s.filesWith(new Set(s.inPack.map((b) => b.id)));
    const { error } = await restoresAllButDamaged(s, damaged);
    assert.match(error.message, /in no index/);
    assert.match(error.message, /is not in the content store's index/);
    await verifyNames(s, damaged);
  });
});
