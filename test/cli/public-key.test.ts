/**
 * Public-key mode through the CLI (docs/encryption.md): a writer that holds only the
 * recipient protects, incrementally in what it stores, and can read nothing it stored; a
 * reader with the identity verifies, restores and collects; packs open with the `age` tool.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { files, hoard, oneLine } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const AGE = spawnSync('age', ['--version']).status === 0;

describe('public-key mode through the CLI', () => {
  let home = '';
  let bank = '';
  let data = '';
  let recipient = '';
  const ids: string[] = [];
  const run = (args: string[], dir = home) => hoard(['--home', dir, ...args]);

  async function provider(dir: string, name: string, id: string, lines: string[]): Promise<void> {
    await mkdir(join(dir, 'providers'), { recursive: true });
    await writeFile(
      join(dir, 'providers', `${name}.conf`),
      [
        '[provider]',
        `name = ${name}`,
        `id = ${id}`,
        'bank = fs',
        'plugin = fs.directory',
        'encryption = public-key',
        '[encryption]',
        `recipient = ${recipient}`,
        ...lines,
        '[fs]',
        `path = ${bank}`,
        '',
      ].join('\n'),
    );
  }

  const WRITER = '3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  const READER = '4b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e';

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'hoard-pk-cli-'));
    bank = join(home, 'bank');
    data = join(home, 'data');
    await cp(join(ROOT, 'examples', 'quickstart', 'data'), data, { recursive: true });
    await writeFile(join(data, 'secret.txt'), 'PK-SECRET-MARKER '.repeat(2000));
    const made = await run(['key', 'new-identity', '--out', join(home, 'id.key'), '--json']);
    assert.equal(made.code, 0, made.stderr);
    recipient = JSON.parse(made.stdout).identity.recipient;
    await provider(home, 'writer', WRITER, []);
    await provider(home, 'reader', READER, ['identity_file = ../id.key']);
    await writeFile(
      join(home, 'plan.yaml'),
      `name: vaulted\nresources:\n  - { type: fs.directory, id: notes, path: ${data} }\n`,
    );
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('new-identity writes a 0600 identity and never over a file', async () => {
    assert.equal((await stat(join(home, 'id.key'))).mode & 0o777, 0o600);
    assert.match(recipient, /^age1[0-9a-z]{58}$/);
    oneLine(
      await run(['key', 'new-identity', '--out', join(home, 'id.key')]),
      2,
      /never written over an existing file/,
    );
  });

  it('a writer with only the recipient protects, and stores nothing readable without the identity', async () => {
    // The first asks for nothing; the second asks for the first's manifest (not kept: read
    // every file, store nothing again); the third finds the second's in the local cache.
    for (let i = 0; i < 3; i++) {
      const p = await run(['protect', join(home, 'plan.yaml'), '--provider', 'writer', '--json']);
      assert.equal(p.code, 0, p.stderr);
      const { checkpoint, operation } = JSON.parse(p.stdout);
      assert.equal(checkpoint.status, 'available');
      ids.push(checkpoint.id);
      const log = operation.log.join('\n');
      if (i > 0) assert.match(log, /, 0 new/, 'a later protect stores nothing again');
      if (i === 1)
        assert.match(log, /2 files \(0 unchanged/, 'the first manifest was not kept: every file read');
      if (i === 2)
        assert.match(log, /2 files \(2 unchanged/, 'the manifest came from the local cache: no file read');
    }
    // The local cache holds the newest checkpoint of the resource only, and what was asked for.
    assert.deepEqual(await readdir(join(home, 'keys', `${WRITER}.cache`, 'fs.directory#notes')), [
      '.wanted',
      ids[2],
    ]);
    assert.equal(
      (await stat(join(home, 'keys', `${WRITER}.json`))).mode & 0o777,
      0o600,
      'the writer key is private',
    );
    for (const [path, bytes] of await files(bank)) {
      if (path.startsWith(join(bank, 'keys'))) continue;
      assert.ok(!bytes.includes(Buffer.from('PK-SECRET-MARKER')), `${path} holds plaintext`);
      const content =
        path.includes(`${join(bank, 'store', 'packs')}/`) || /\/resources\/.*\/(?!blobs$)[^/]+$/.test(path);
      const magic = content ? 'age-encryption.org/v1\n' : 'HENC';
      if (bytes.length > 0) assert.equal(bytes.subarray(0, magic.length).toString('latin1'), magic, path);
    }
  });

  it('the writer cannot verify, restore or collect: one line, exit 2, nothing written', async () => {
    const before = await files(bank);
    for (const args of [
      ['verify', ids[0]!, '--provider', 'writer'],
      ['restore', ids[0]!, '--provider', 'writer', '--target', join(home, 'nowhere')],
      ['gc', '--provider', 'writer'],
      ['repair', '--provider', 'writer'],
    ]) {
      oneLine(
        await run(args),
        2,
        /holds only the recipient here \(public-key mode\): \w+ needs \[encryption\] identity_file/,
      );
    }
    assert.deepEqual(await files(bank), before);
  });

  it('the reader verifies, restores both checkpoints bit for bit and collects', async () => {
    for (const id of ids) {
      const v = await run(['verify', id, '--provider', 'reader']);
      assert.equal(v.code, 0, v.stderr);
      const target = join(home, `restored-${id}`);
      const r = await run(['restore', id, '--provider', 'reader', '--target', target]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readFile(join(target, 'secret.txt')), await readFile(join(data, 'secret.txt')));
    }
    const gc = await run(['gc', '--provider', 'reader']);
    assert.equal(gc.code, 0, gc.stderr);
  });

  it('a pack opens with the age tool and the identity', {
    skip: AGE ? false : 'age is not installed (apt-get install age)',
  }, async () => {
    const packs = [...(await files(join(bank, 'store', 'packs'))).keys()];
    const pack = execFileSync('age', ['-d', '-i', join(home, 'id.key'), packs[0]!]);
    const n = pack.readUInt32BE(pack.length - 48);
    const footer = pack.subarray(pack.length - 48 * n - 48);
    assert.equal(createHash('sha256').update(footer).digest('hex'), packs[0]!.split('/').at(-1));
  });

  it('another identity, or a writer without its writer key, is refused with exit 2', async () => {
    const other = await mkdtemp(join(tmpdir(), 'hoard-pk-other-'));
    try {
      assert.equal((await run(['key', 'new-identity', '--out', join(other, 'other.key')], other)).code, 0);
      await provider(other, 'reader', READER, [`identity_file = ${join(other, 'other.key')}`]);
      oneLine(
        await run(['verify', ids[0]!, '--provider', 'reader'], other),
        2,
        /the identity is not the one of age1/,
      );
      // A second machine with the same provider file but no writer key.
      await provider(other, 'writer', WRITER, []);
      oneLine(
        await run(['protect', join(home, 'plan.yaml'), '--provider', 'writer'], other),
        2,
        /is write-only here and needs its writer key .* \(there is none\)/,
      );
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('a flipped byte in a pack is named by the reader, and its file not restored', async () => {
    const packs = [...(await files(join(bank, 'store', 'packs'))).entries()];
    const [path, good] = packs[0]!;
    const bad = Buffer.from(good);
    bad[bad.length - 100] = bad[bad.length - 100]! ^ 1;
    await writeFile(path, bad);
    try {
      const v = await run(['verify', ids[1]!, '--provider', 'reader', '--json']);
      assert.notEqual(v.code, 0);
      assert.match(v.stdout + v.stderr, /fails authentication/);
    } finally {
      await writeFile(path, good);
      assert.equal((await run(['repair', '--provider', 'reader'])).code, 0);
    }
  });
});
