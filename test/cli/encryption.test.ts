/**
 * An encrypted provider through the CLI, as a user runs it (README, "An encrypted off-site
 * provider"): protect, verify and restore the quickstart; wrong passwords, mixed settings and
 * tampered objects; `hoard key`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { files, hoard, oneLine } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROVIDER_ID = '5d0b6c2e-8a1f-4c3d-9e7f-0a1b2c3d4e5f';

/** Every file under `dir` with its bytes as base64 (comparable with deepEqual). */
async function treeOf(dir: string): Promise<Map<string, string>> {
  return new Map([...(await files(dir))].map(([path, bytes]) => [path, bytes.toString('base64')]));
}

describe('an encrypted provider through the CLI', () => {
  let home = '';
  let app = '';
  let bank = '';
  let id = '';
  const env = { HOARD_KDF_N: '1024' };
  const run = (args: string[], more: Record<string, string> = {}) =>
    hoard(['--home', home, ...args], { ...env, ...more });

  async function provider(name: string, lines: string[]): Promise<void> {
    await writeFile(
      join(home, 'providers', `${name}.conf`),
      [
        '[provider]',
        `name = ${name}`,
        `id = ${name === 'vault' ? PROVIDER_ID : '6e1c7d3f-9b2a-4d4e-8f80-1b2c3d4e5f60'}`,
        'bank = fs',
        'plugin = exec.task',
        'plugin = fs.directory',
        'plugin = sqlite.database',
        ...lines,
        '[fs]',
        `path = ${bank}`,
        '',
      ].join('\n'),
    );
  }

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'hoard-enc-cli-'));
    bank = join(home, 'vault-bank');
    app = join(home, 'app');
    await mkdir(join(home, 'providers'));
    await writeFile(join(home, 'vault.pass'), 'correct horse battery staple\n');
    await provider('vault', ['encryption = password', '[encryption]', 'password_file = ../vault.pass']);
    // The quickstart application, copied so its data can carry a marker to look for.
    await cp(join(ROOT, 'examples', 'quickstart'), app, { recursive: true });
    await writeFile(join(app, 'data', 'secret.txt'), 'SECRET-MARKER '.repeat(1000));
  });
  after(() => rm(home, { recursive: true, force: true }));

  const plan = () => {
    const text = `name: vaulted
resources:
  - { type: fs.directory, id: notes, path: ${join(app, 'data')} }
`;
    return writeFile(join(home, 'plan.yaml'), text).then(() => join(home, 'plan.yaml'));
  };

  it('protects, verifies and restores, and the bank holds no plaintext', async () => {
    const p = await run(['protect', await plan(), '--provider', 'vault', '--json']);
    assert.equal(p.code, 0, p.stderr);
    id = JSON.parse(p.stdout).checkpoint.id;
    for (const [path, bytes] of await treeOf(bank)) {
      if (path.includes(`${join(bank, 'keys')}`)) continue;
      const raw = Buffer.from(bytes, 'base64');
      assert.ok(!raw.includes(Buffer.from('SECRET-MARKER')), `${path} holds plaintext`);
      assert.ok(!raw.includes(Buffer.from('secret.txt')), `${path} holds a file name`);
      if (raw.length > 0) assert.equal(raw.subarray(0, 4).toString('latin1'), 'HENC', path);
    }
    const v = await run(['verify', id, '--provider', 'vault']);
    assert.equal(v.code, 0, v.stderr);
    const target = join(home, 'restored');
    const r = await run(['restore', id, '--provider', 'vault', '--target', target]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      await readFile(join(target, 'secret.txt')),
      await readFile(join(app, 'data', 'secret.txt')),
    );
  });

  it('a wrong password is one line, exit 2, and writes nothing', async () => {
    const before = await treeOf(bank);
    const wrong = { HOARD_PASSWORD: 'wrong' };
    await writeFile(join(home, 'wrong.pass'), 'wrong\n');
    await provider('vault', ['encryption = password', '[encryption]', 'password_file = ../wrong.pass']);
    try {
      for (const args of [
        ['protect', await plan(), '--provider', 'vault'],
        ['verify', id, '--provider', 'vault'],
        ['restore', id, '--provider', 'vault', '--target', join(home, 'nowhere')],
        ['key', 'list', '--provider', 'vault'],
      ]) {
        oneLine(
          await run(args, wrong),
          2,
          /the password opens none of the 1 key of the bank of provider "vault"/,
        );
      }
      assert.deepEqual(await treeOf(bank), before, 'the bank is as it was');
    } finally {
      await provider('vault', ['encryption = password', '[encryption]', 'password_file = ../vault.pass']);
    }
  });

  it('a missing password file, or a provider without encryption on this bank, is exit 2', async () => {
    await provider('vault', ['encryption = password', '[encryption]', 'password_file = ../missing.pass']);
    try {
      oneLine(
        await run(['verify', id, '--provider', 'vault']),
        2,
        /password_file .*missing\.pass cannot be read/,
      );
    } finally {
      await provider('vault', ['encryption = password', '[encryption]', 'password_file = ../vault.pass']);
    }
    await provider('plainview', []);
    try {
      oneLine(
        await run(['verify', id, '--provider', 'plainview']),
        2,
        /is encrypted \(password mode\), but the provider says encryption = none/,
      );
    } finally {
      await rm(join(home, 'providers', 'plainview.conf'));
    }
  });

  it('a flipped byte in a pack: verify names it, restore writes no bytes that failed authentication', async () => {
    const packs = [...(await treeOf(join(bank, 'store', 'packs'))).keys()];
    assert.equal(packs.length, 1);
    const pack = packs[0]!;
    const good = await readFile(pack);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)] = bad[Math.floor(bad.length / 2)]! ^ 0x40;
    await writeFile(pack, bad);
    try {
      const v = await run(['verify', id, '--provider', 'vault', '--json']);
      assert.notEqual(v.code, 0, 'verify fails');
      assert.match(v.stdout + v.stderr, /fails authentication/);
      const target = join(home, 'restored-bad');
      const r = await run(['restore', id, '--provider', 'vault', '--target', target]);
      assert.notEqual(r.code, 0, 'restore reports the damage');
      const restored = await readFile(join(target, 'secret.txt')).catch(() => undefined);
      assert.ok(
        restored === undefined || restored.equals(await readFile(join(app, 'data', 'secret.txt'))),
        'a damaged file is not written with wrong bytes',
      );
    } finally {
      await writeFile(pack, good);
      // verify recorded the damage; repair clears records of copies found sound again.
      assert.equal((await run(['repair', '--provider', 'vault'])).code, 0);
    }
  });

  it('a tampered checkpoint record is named, exit 3', async () => {
    const meta = join(bank, 'checkpoints', id, 'meta.json');
    const good = await readFile(meta);
    const bad = Buffer.from(good);
    bad[30] = bad[30]! ^ 1;
    await writeFile(meta, bad);
    try {
      oneLine(
        await run(['verify', id, '--provider', 'vault']),
        3,
        new RegExp(`checkpoints/${id}/meta.json" fails authentication`),
      );
    } finally {
      await writeFile(meta, good);
    }
  });

  it('copies encrypted → unencrypted → another encrypted bank, each copy verifying and restoring', async () => {
    const other = async (name: string, uuid: string, lines: string[]) =>
      writeFile(
        join(home, 'providers', `${name}.conf`),
        [
          '[provider]',
          `name = ${name}`,
          `id = ${uuid}`,
          'bank = fs',
          'plugin = fs.directory',
          ...lines,
          '[fs]',
          `path = ${join(home, `${name}-bank`)}`,
          '',
        ].join('\n'),
      );
    await other('plainbank', '7f2d8e4a-0c3b-4e5f-9a1b-2c3d4e5f6a70', []);
    await writeFile(join(home, 'vault2.pass'), 'another\n');
    await other('vault2', '8a3e9f5b-1d4c-4f60-8b2c-3d4e5f6a7b80', [
      'encryption = password',
      '[encryption]',
      'password_file = ../vault2.pass',
    ]);
    const original = await readFile(join(app, 'data', 'secret.txt'));
    for (const [from, to] of [
      ['vault', 'plainbank'],
      ['plainbank', 'vault2'],
    ] as const) {
      const c = await run(['copy', id, '--provider', from, '--to', to]);
      assert.equal(c.code, 0, `${from} → ${to}: ${c.stderr}`);
      const v = await run(['verify', id, '--provider', to]);
      assert.equal(v.code, 0, `verify in ${to}: ${v.stderr}`);
      const target = join(home, `restored-from-${to}`);
      const r = await run(['restore', id, '--provider', to, '--target', target]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readFile(join(target, 'secret.txt')), original);
    }
    // The unencrypted copy names blobs by SHA-256, the encrypted ones by their own HMACs.
    const blobsOf = async (bank: string) =>
      (await readdir(join(bank, 'store', 'packs'), { recursive: true })).filter((p) => p.length > 60).sort();
    const [a, b, c] = await Promise.all(
      [bank, join(home, 'plainbank-bank'), join(home, 'vault2-bank')].map(blobsOf),
    );
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(b, c);
    for (const [path, bytes] of await treeOf(join(home, 'vault2-bank'))) {
      assert.ok(
        !Buffer.from(bytes, 'base64').includes(Buffer.from('SECRET-MARKER')),
        `${path} holds plaintext`,
      );
    }
  });

  it("docs/encryption.md's reader opens a record and a pack with nothing but the password", async () => {
    const doc = await readFile(join(ROOT, 'docs', 'encryption.md'), 'utf8');
    const script = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(script, 'the reader is in the doc');
    const file = join(home, 'open-object.mjs');
    await writeFile(file, script);
    const open = (key: string) =>
      execFileSync(process.execPath, [file, 'correct horse battery staple', bank, key], {
        maxBuffer: 1 << 28,
      });
    const meta = JSON.parse(open(`checkpoints/${id}/meta.json`).toString('utf8'));
    assert.equal(meta.id, id);
    const packs = [...(await treeOf(join(bank, 'store', 'packs'))).keys()];
    const pack = open(packs[0]!.slice(bank.length + 1));
    // Opened, it is a plain pack (store-format.md): its footer hashes to its id.
    const n = pack.readUInt32BE(pack.length - 48);
    const footer = pack.subarray(pack.length - 48 * n - 48);
    assert.equal(createHash('sha256').update(footer).digest('hex'), packs[0]!.split('/').at(-1));
  });

  it('hoard key adds, lists, changes and removes passwords without touching data', async () => {
    const data = [...(await treeOf(join(bank, 'store'))).entries()];
    await writeFile(join(home, 'second.pass'), 'second\n');
    const added = await run([
      'key',
      'add',
      '--provider',
      'vault',
      '--new-password-file',
      join(home, 'second.pass'),
      '--json',
    ]);
    assert.equal(added.code, 0, added.stderr);
    const second = JSON.parse(added.stdout).key.id as string;
    const listed = JSON.parse((await run(['key', 'list', '--provider', 'vault', '--json'])).stdout).keys;
    assert.equal(listed.length, 2);
    const first = listed.find((k: { current: boolean }) => k.current).id as string;
    assert.ok(listed.some((k: { id: string }) => k.id === second));
    oneLine(await run(['key', 'remove', first, '--provider', 'vault']), 2, /is the one this password opens/);
    oneLine(
      await run(['key', 'remove', 'ffffffffffffffff', '--provider', 'vault']),
      2,
      /has no key ffffffffffffffff/,
    );
    // Change the first password; the old one then opens nothing, the new one and the second do.
    const changed = await run(['key', 'passwd', '--provider', 'vault', '--json'], {
      HOARD_NEW_PASSWORD: 'third',
    });
    assert.equal(changed.code, 0, changed.stderr);
    const { removed, added: third } = JSON.parse(changed.stdout).key;
    assert.equal(removed, first);
    oneLine(await run(['key', 'list', '--provider', 'vault']), 2, /opens none of the 2 keys/);
    await writeFile(join(home, 'vault.pass'), 'third\n');
    assert.equal((await run(['verify', id, '--provider', 'vault'])).code, 0);
    await writeFile(join(home, 'vault.pass'), 'second\n');
    assert.equal((await run(['verify', id, '--provider', 'vault'])).code, 0);
    const gone = await run(['key', 'remove', third, '--provider', 'vault']);
    assert.equal(gone.code, 0, gone.stderr);
    oneLine(await run(['key', 'remove', second, '--provider', 'vault']), 2, /has one key only/);
    assert.deepEqual([...(await treeOf(join(bank, 'store'))).entries()], data, 'no data rewritten');
  });
});
