/**
 * `hoard ls`, `hoard diff` and `hoard restore --include` as a user runs them (SPEC §13):
 * JSON shapes, human output, help with examples, exit 2 naming a bad reference, resource or
 * path, and an encrypted provider (password mode reads; a public-key writer is refused).
 */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hoard, oneLine } from './helpers.js';

describe('ls, diff and restore --include through the CLI', () => {
  let home = '';
  let data = '';
  let a = '';
  let b = '';
  const run = (args: string[], env: Record<string, string> = {}) => hoard(['--home', home, ...args], env);

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'hoard-browse-cli-'));
    data = join(home, 'data');
    await mkdir(join(data, 'docs', 'deep'), { recursive: true });
    await writeFile(join(data, 'a.txt'), 'alpha');
    await writeFile(join(data, 'docs', 'readme.md'), '# readme\n');
    await writeFile(join(data, 'docs', 'deep', 'x.bin'), 'x');
    await chmod(join(data, 'docs'), 0o750);
    await writeFile(
      join(home, 'plan.yaml'),
      `name: browse\nresources:\n  - { type: fs.directory, id: notes, path: ${data} }\n`,
    );
    const first = await run(['protect', join(home, 'plan.yaml'), '--json']);
    assert.equal(first.code, 0, first.stderr);
    a = JSON.parse(first.stdout).checkpoint.id;
    await writeFile(join(data, 'a.txt'), 'ALPHA');
    await rm(join(data, 'docs', 'deep', 'x.bin'));
    await writeFile(join(data, 'new.txt'), 'new');
    const second = await run(['protect', join(home, 'plan.yaml'), '--json']);
    assert.equal(second.code, 0, second.stderr);
    b = JSON.parse(second.stdout).checkpoint.id;
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('every new command has --help with real examples', async () => {
    for (const [args, example] of [
      [['ls', '--help'], /hoard ls latest --plan quickstart/],
      [['diff', '--help'], /hoard diff 20261122T0300 20261123T0300/],
      [['restore', '--help'], /--include docs --include notes\/todo\.md/],
    ] as const) {
      const r = await run([...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, example);
    }
  });

  it('ls CHECKPOINT lists the resources; a prefix and latest --plan name the checkpoint', async () => {
    const r = await run(['ls', a.slice(0, 18), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const listing = JSON.parse(r.stdout);
    assert.equal(listing.checkpoint.id, a);
    const [notes, ...others] = listing.resources;
    assert.deepEqual(others, []);
    const { stats, ...resource } = notes;
    assert.deepEqual(resource, {
      resource: 'fs.directory#notes',
      type: 'fs.directory',
      id: 'notes',
      status: 'available',
      browse: 'entries',
    });
    // The protect's statistics, as recorded: three files of 15 bytes, all new in the first checkpoint.
    assert.equal(stats.files, 3);
    assert.equal(stats.bytes, 15);
    assert.equal(stats.newBytes, 15);
    assert.ok(stats.storedBytes > 0 && Number.isInteger(stats.durationMs), JSON.stringify(stats));
    const human = await run(['ls', 'latest', '--plan', 'browse']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`checkpoint ${b}`));
    assert.match(human.stdout, /^RESOURCE +STATUS +FILES +SIZE +NEW +TIME +LS$/m);
    assert.match(human.stdout, /^fs\.directory#notes +available +3 +17 B +8 B +\d+ ms +files$/m);
  });

  it('ls CHECKPOINT RESOURCE [PATH] gives the entries SPEC §13 names, and ls -l style lines', async () => {
    const r = await run(['ls', a, 'fs.directory#notes', 'docs', '--recursive', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { entries } = JSON.parse(r.stdout);
    assert.deepEqual(
      entries.map((e: { path: string; type: string }) => [e.path, e.type]),
      [
        ['docs/deep', 'dir'],
        ['docs/deep/x.bin', 'file'],
        ['docs/readme.md', 'file'],
      ],
    );
    for (const e of entries)
      for (const field of ['path', 'type', 'size', 'mode', 'mtime']) assert.ok(field in e);
    const human = await run(['ls', a, 'notes']);
    assert.equal(human.code, 0, human.stderr);
    const lines = human.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^MODE +SIZE +MODIFIED +PATH$/);
    assert.match(lines[1]!, /^-rw-r--r-- +5 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +a\.txt$/);
    assert.match(lines[2]!, /^drwxr-x--- +- +.* docs\/$/);
  });

  it('a bad checkpoint, resource or path is exit 2 in one line naming it', async () => {
    oneLine(
      await run(['ls', a, 'notes', 'docs/missing.md']),
      2,
      /no "docs\/missing\.md" in fs\.directory#notes/,
    );
    oneLine(
      await run(['ls', a, 'fs.directory#nope']),
      2,
      /has no resource "fs\.directory#nope"; it has fs\.directory#notes/,
    );
    oneLine(await run(['ls', '199901']), 2, /no checkpoint id starts with 199901/);
    oneLine(await run(['diff', a, '199901']), 2, /no checkpoint id starts with 199901/);
    const json = await run(['ls', a, 'notes', 'nope', '--json']);
    assert.equal(json.code, 2);
    assert.equal(JSON.parse(json.stdout).error.code, 'PATH_NOT_FOUND');
  });

  it('diff: per resource added / removed / modified, with totals, and + - M lines', async () => {
    const r = await run(['diff', a, b, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const diff = JSON.parse(r.stdout);
    assert.deepEqual(diff.resources, [
      {
        resource: 'fs.directory#notes',
        status: 'changed',
        compared: 'entries',
        added: ['new.txt'],
        removed: ['docs/deep/x.bin'],
        modified: ['a.txt'],
      },
    ]);
    assert.deepEqual(diff.stats, { added: 1, removed: 1, modified: 1 });
    const human = await run(['diff', a, b]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^fs\.directory#notes: 1 added, 1 removed, 1 modified$/m);
    assert.match(human.stdout, /^M a\.txt\n- docs\/deep\/x\.bin\n\+ new\.txt$/m);
  });

  it('restore --include restores exactly those paths; a path not in the checkpoint is exit 2 naming it', async () => {
    const target = join(home, 'part');
    const r = await run(['restore', a, '--target', target, '--include', 'docs/deep/x.bin', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(target, { recursive: true })).sort(), [
      'docs',
      'docs/deep',
      'docs/deep/x.bin',
    ]);
    assert.equal((await lstat(join(target, 'docs'))).mode & 0o7777, 0o750);
    assert.equal(await readFile(join(target, 'docs/deep/x.bin'), 'utf8'), 'x');
    const missing = join(home, 'missing');
    oneLine(
      await run(['restore', a, '--target', missing, '--include', 'docs', '--include', 'gone.txt']),
      2,
      /no "gone\.txt" in fs\.directory#notes/,
    );
    await assert.rejects(lstat(missing), { code: 'ENOENT' });
    const param = join(home, 'param');
    const p = await run([
      'restore',
      a,
      '--param',
      `fs.directory#notes.target=${param}`,
      '--param',
      'fs.directory#notes.include=["a.txt"]',
    ]);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(await readdir(param), ['a.txt']);
  });
});

describe('ls and diff on an encrypted provider', () => {
  let home = '';
  const run = (args: string[], env: Record<string, string> = {}) => hoard(['--home', home, ...args], env);

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'hoard-browse-enc-'));
    await mkdir(join(home, 'providers'));
    await mkdir(join(home, 'data'));
    await writeFile(join(home, 'data', 'secret.txt'), 'sealed');
    await writeFile(
      join(home, 'providers', 'sealed.conf'),
      `[provider]\nname = sealed\nid = 5c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f\nbank = fs\nplugin = fs.directory\nencryption = password\n[fs]\npath = ${join(home, 'bank')}\n`,
    );
    await writeFile(
      join(home, 'plan.yaml'),
      `name: enc\nresources:\n  - { type: fs.directory, id: d, path: ${join(home, 'data')} }\n`,
    );
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('password mode: ls and diff read the sealed manifests; a wrong password is exit 2', async () => {
    const env = { HOARD_PASSWORD: 'correct horse' };
    const p = await run(['protect', join(home, 'plan.yaml'), '--provider', 'sealed', '--json'], env);
    assert.equal(p.code, 0, p.stderr);
    const id = JSON.parse(p.stdout).checkpoint.id;
    const r = await run(['ls', id, 'd', '--provider', 'sealed', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).entries.map((e: { path: string }) => e.path),
      ['secret.txt'],
    );
    const d = await run(['diff', id, id, '--provider', 'sealed', '--json'], env);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(JSON.parse(d.stdout).resources[0].status, 'unchanged');
    const wrong = await run(['ls', id, 'd', '--provider', 'sealed'], { HOARD_PASSWORD: 'wrong' });
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.doesNotMatch(wrong.stderr, /\n {4}at /);
  });

  it('public-key mode without the identity: ls and diff are refused, exit 2, saying what they need', async () => {
    const made = await run(['key', 'new-identity', '--out', join(home, 'id.key'), '--json']);
    assert.equal(made.code, 0, made.stderr);
    const recipient = JSON.parse(made.stdout).identity.recipient;
    await writeFile(
      join(home, 'providers', 'writer.conf'),
      `[provider]\nname = writer\nid = 6d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f70\nbank = fs\nplugin = fs.directory\nencryption = public-key\n[encryption]\nrecipient = ${recipient}\n[fs]\npath = ${join(home, 'pk-bank')}\n`,
    );
    const p = await run(['protect', join(home, 'plan.yaml'), '--provider', 'writer', '--json']);
    assert.equal(p.code, 0, p.stderr);
    const id = JSON.parse(p.stdout).checkpoint.id;
    for (const args of [
      ['ls', id, '--provider', 'writer'],
      ['ls', id, 'd', '--provider', 'writer'],
      ['diff', id, id, '--provider', 'writer'],
    ])
      oneLine(
        await run(args),
        2,
        /holds only the recipient here \(public-key mode\): (ls|diff) needs \[encryption\] identity_file/,
      );
  });
});
