/**
 * Looking inside checkpoints (SPEC §13): ls from the manifest and saved info, diff from the
 * manifests' chunk lists without reading any file, and a partial restore that reads only the
 * packs its files need.
 */
import assert from 'node:assert/strict';
import { chmod, link, lstat, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { resourcePrefix } from '../../src/checkpoints/keys.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import type { HoardError } from '../../src/errors.js';
import { browseResource, diffCheckpoints, listResources } from '../../src/flows/browse.js';
import { prepareRestore, restore } from '../../src/flows/checkpoint-ops.js';
import { protect } from '../../src/flows/protect.js';
import { readManifest } from '../../src/plugins/fs-directory/manifest.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { ProtectionPlugin } from '../../src/plugins/sdk.js';
import { ContentStore } from '../../src/store/index.js';
import { type Fixture, fixture, plan, sourceTree, treeSums } from './fixture.js';

const code = (c: string, message?: RegExp) => (error: unknown) => {
  assert.equal((error as HoardError).code, c, (error as Error).message);
  if (message) assert.match((error as Error).message, message);
  return true;
};

/** A third-party plugin whose type stores one object and browses it through the SDK. */
const kvPlugin: ProtectionPlugin = {
  name: 'test.kv',
  types: [
    {
      type: 'test.kv',
      schemas: { resource: { type: 'object', properties: { value: { type: 'string' } } } },
      browse: {
        info: async (ctx) => JSON.parse((await ctx.bank.get('value.json')).toString()),
        fingerprint: async (ctx) => (await ctx.bank.get('value.json')).toString(),
      },
    },
  ],
  operation(kind, resource) {
    if (kind !== 'protect') return undefined;
    return {
      onMain: async (ctx) => {
        await ctx.bank.put('value.json', JSON.stringify({ value: (resource.extra?.value as string) ?? '' }));
      },
    };
  },
};

describe('ls, diff and partial restore', () => {
  let fx: Fixture;
  let src = '';
  let a = '';
  let b = '';

  before(async () => {
    fx = await fixture([kvPlugin]);
    src = join(fx.dir, 'src');
    await mkdir(join(src, 'docs/deep'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'alpha');
    await writeFile(join(src, 'same.txt'), 'unchanged');
    await writeFile(join(src, 'docs/readme.md'), '# readme');
    await writeFile(join(src, 'docs/deep/x.bin'), 'x');
    await chmod(join(src, 'docs'), 0o750);
    const db = new Database(join(fx.dir, 'app.db'));
    db.exec('CREATE TABLE users(id); CREATE TABLE "odd ""name"""(v)');
    for (let i = 0; i < 7; i++) db.prepare('INSERT INTO users VALUES (?)').run(i);
    db.close();
    const yaml = (value: string) => `name: browse
resources:
  - {type: fs.directory, id: files, path: ${src}}
  - {type: sqlite.database, id: db, path: ${join(fx.dir, 'app.db')}}
  - {type: test.kv, id: kv, value: ${value}}
  - {type: noop, id: n}
`;
    const first = await protect(plan(yaml('one')), fx.provider);
    assert.equal(first.checkpoint.status, 'available', JSON.stringify(first.operation?.tasks));
    a = first.checkpoint.id;
    await writeFile(join(src, 'a.txt'), 'ALPHA');
    await rm(join(src, 'docs/deep/x.bin'));
    await writeFile(join(src, 'docs/new.md'), 'new');
    const later = new Date('2030-01-01T00:00:00Z');
    await utimes(join(src, 'same.txt'), later, later); // a new mtime, the same content
    const second = await protect(plan(yaml('two')), fx.provider);
    assert.equal(second.checkpoint.status, 'available');
    b = second.checkpoint.id;
  });
  after(() => fx.done());

  it("ls CHECKPOINT lists the resources, what each can show, and the record's stats when it has them", async () => {
    const listing = await listResources(fx.provider, a);
    assert.deepEqual(
      listing.resources.map((r) => [r.resource, r.status, r.browse]),
      [
        ['fs.directory#files', 'available', 'entries'],
        ['sqlite.database#db', 'available', 'info'],
        ['test.kv#kv', 'available', 'info'],
        ['noop#n', 'available', null],
      ],
    );
    // The stats the protect recorded: the four files of 23 bytes, all new in the first checkpoint.
    const recorded = listing.resources[0]!.stats!;
    assert.deepEqual([recorded.files, recorded.bytes, recorded.newBytes], [4, 23, 23]);
    // ls passes on what the record holds, as it is.
    const store = new CheckpointStore(fx.provider.bank);
    const meta = await store.get(a);
    const stats = { files: 4, bytes: 23, newBytes: 23, storedBytes: 40, durationMs: 5 };
    await store.update(a, {
      resources: meta.resources.map((r, i) => (i === 0 ? { ...r, stats } : r)),
    } as never);
    assert.deepEqual((await listResources(fx.provider, a)).resources[0]!.stats, stats);
  });

  it('ls RESOURCE lists the root, a directory (recursively with --recursive) or one file, from the manifest', async () => {
    const at = async (path?: string, recursive = false) => {
      const r = await browseResource(fx.provider, a, 'fs.directory#files', {
        ...(path !== undefined ? { path } : {}),
        recursive,
      });
      assert.ok('entries' in r);
      return r.entries;
    };
    assert.deepEqual(
      (await at()).map((e) => [e.path, e.type]),
      [
        ['a.txt', 'file'],
        ['docs', 'dir'],
        ['same.txt', 'file'],
      ],
    );
    const docs = await at('docs/');
    assert.deepEqual(
      docs.map((e) => e.path),
      ['docs/deep', 'docs/readme.md'],
    );
    assert.deepEqual(
      (await at('/docs', true)).map((e) => e.path),
      ['docs/deep', 'docs/deep/x.bin', 'docs/readme.md'],
    );
    const [one] = await at('docs/readme.md');
    assert.deepEqual(Object.keys(one!).sort(), ['mode', 'mtime', 'path', 'size', 'type']);
    assert.equal(one!.size, 8);
    assert.equal(one!.mode, 0o644 & ~process.umask() & 0o7777);
    assert.match(one!.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal((await at()).find((e) => e.path === 'docs')!.mode, 0o750);
    // The id alone names the resource when it is unique.
    assert.ok('entries' in (await browseResource(fx.provider, a, 'files')));
    await assert.rejects(
      at('docs/missing'),
      code('PATH_NOT_FOUND', /no "docs\/missing" in fs\.directory#files/),
    );
    await assert.rejects(at('../etc'), code('USAGE', /\.\./));
    await assert.rejects(
      browseResource(fx.provider, a, 'fs.directory#nope'),
      code('RESOURCE_NOT_FOUND', /has no resource "fs\.directory#nope"; it has fs\.directory#files, sqlite/),
    );
  });

  it("ls of a database shows its saved info: sqlite's tables and row counts, recorded at protect time", async () => {
    const r = await browseResource(fx.provider, a, 'sqlite.database#db');
    assert.ok('info' in r && r.info);
    assert.equal(r.info.tableCount, 2);
    assert.deepEqual(r.info.tables, [
      { name: 'odd "name"', rows: 0 },
      { name: 'users', rows: 7 },
    ]);
    await assert.rejects(
      browseResource(fx.provider, a, 'sqlite.database#db', { path: 'x' }),
      code('USAGE', /has no entries to list/),
    );
    const kv = await browseResource(fx.provider, a, 'kv');
    assert.deepEqual(kv, { resource: 'test.kv#kv', info: { value: 'one' } });
  });

  it('diff compares manifests without reading a file: no pack is needed', async () => {
    // Every pack gone: a diff that read file contents would fail.
    const packs = (await fx.provider.bank.list('store/')).filter((k) => k.includes('/packs/'));
    assert.ok(packs.length > 0);
    for (const key of packs) await fx.provider.bank.delete(key);
    const diff = await diffCheckpoints({ provider: fx.provider, id: a }, { provider: fx.provider, id: b });
    const files = diff.resources.find((r) => r.resource === 'fs.directory#files')!;
    assert.equal(files.status, 'changed');
    assert.deepEqual(files.added, ['docs/new.md']);
    assert.deepEqual(files.removed, ['docs/deep/x.bin']);
    // a.txt's content changed; same.txt only got a new mtime, which is no modification.
    assert.deepEqual(files.modified, ['a.txt']);
    assert.deepEqual(diff.stats, { added: 1, removed: 1, modified: 1 });
    const empty = { added: [], removed: [], modified: [] };
    assert.deepEqual(
      diff.resources.filter((r) => r.resource !== 'fs.directory#files'),
      [
        { resource: 'sqlite.database#db', status: 'unchanged', compared: 'fingerprint', ...empty },
        { resource: 'test.kv#kv', status: 'changed', compared: 'fingerprint', ...empty },
        // A plugin without browse: its stored objects are compared (noop stores none).
        { resource: 'noop#n', status: 'unchanged', compared: 'objects', ...empty },
      ],
    );
    const none = await diffCheckpoints({ provider: fx.provider, id: b }, { provider: fx.provider, id: b });
    assert.ok(none.resources.every((r) => r.status === 'unchanged'));
    assert.deepEqual(none.stats, { added: 0, removed: 0, modified: 0 });
  });
});

describe('partial restore', () => {
  let fx: Fixture;
  let src = '';
  let id = '';
  const key = 'fs.directory#d';

  before(async () => {
    fx = await fixture();
    src = join(fx.dir, 'src');
    // keep/ comes first in path order and shares the first pack; other/big.bin spills into packs of its own.
    await sourceTree(src, {
      'keep/a.bin': 100_000,
      'keep/sub/b.bin': 50_000,
      'other/big.bin': 18 * 1024 * 1024,
    });
    await writeFile(join(src, 'top.txt'), 'top');
    // One file under three names; a restore of y/ alone must keep y/2 and y/3 one file.
    await mkdir(join(src, 'x'));
    await mkdir(join(src, 'y'));
    await writeFile(join(src, 'x/1'), 'linked');
    await link(join(src, 'x/1'), join(src, 'y/2'));
    await link(join(src, 'x/1'), join(src, 'y/3'));
    await chmod(join(src, 'keep'), 0o711);
    await chmod(join(src, 'keep/sub'), 0o700);
    const r = await protect(
      plan(`name: part\nresources:\n  - {type: fs.directory, id: d, path: ${src}}\n`),
      fx.provider,
    );
    assert.equal(r.checkpoint.status, 'available');
    id = r.checkpoint.id;
  });
  after(() => fx.done());

  it('restores exactly the included paths, with the directories above them and their modes', async () => {
    const target = join(fx.dir, 'r1');
    const r = await restore(id, fx.provider, {
      parameters: { [key]: { target } },
      include: ['keep/sub/b.bin', 'top.txt'],
    });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks));
    assert.deepEqual((await readdir(target, { recursive: true })).sort(), [
      'keep',
      'keep/sub',
      'keep/sub/b.bin',
      'top.txt',
    ]);
    assert.equal((await lstat(join(target, 'keep'))).mode & 0o7777, 0o711);
    assert.equal((await lstat(join(target, 'keep/sub'))).mode & 0o7777, 0o700);
    assert.deepEqual(await treeSums(target, ['keep/sub/b.bin']), await treeSums(src, ['keep/sub/b.bin']));
    assert.equal(await readFile(join(target, 'top.txt'), 'utf8'), 'top');
  });

  it('an included directory comes with everything below it; the parameter form works the same', async () => {
    const target = join(fx.dir, 'r2');
    const r = await restore(id, fx.provider, {
      assignments: [`${key}.target=${target}`, `${key}.include=["keep/"]`],
    });
    assert.equal(r.operation?.status, 'succeeded');
    assert.deepEqual((await readdir(target, { recursive: true })).sort(), [
      'keep',
      'keep/a.bin',
      'keep/sub',
      'keep/sub/b.bin',
    ]);
  });

  it('hard links whose first path is left out stay one file among those restored', async () => {
    const target = join(fx.dir, 'r6');
    const r = await restore(id, fx.provider, { parameters: { [key]: { target } }, include: ['y'] });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks));
    assert.deepEqual((await readdir(target, { recursive: true })).sort(), ['y', 'y/2', 'y/3']);
    const [two, three] = [await lstat(join(target, 'y/2')), await lstat(join(target, 'y/3'))];
    assert.equal(two.ino, three.ino);
    assert.equal(two.nlink, 2);
    assert.equal(await readFile(join(target, 'y/3'), 'utf8'), 'linked');
  });

  it('a path not in the checkpoint is PATH_NOT_FOUND naming it, before anything is written', async () => {
    const target = join(fx.dir, 'r3');
    await assert.rejects(
      prepareRestore(id, fx.provider, {
        parameters: { [key]: { target } },
        include: ['keep', 'keep/nope.txt'],
      }),
      code('PATH_NOT_FOUND', /no "keep\/nope\.txt" in fs\.directory#d/),
    );
    await assert.rejects(lstat(target), { code: 'ENOENT' });
  });

  it('reads only the packs that hold the included files', async () => {
    const section = fx.provider.bank.section(resourcePrefix(id, key));
    const entries = await readManifest(section);
    const store = new ContentStore(fx.provider.bank);
    const blobsOf = (prefix: string) =>
      entries.filter((e) => e.path.startsWith(prefix)).flatMap((e) => e.blobs ?? []);
    const packsOf = async (prefix: string) =>
      new Set([...(await store.locate(blobsOf(prefix))).values()].map((l) => l.pack));
    const needed = await packsOf('keep/');
    const others = [...(await packsOf('other/'))].filter((p) => !needed.has(p));
    assert.ok(others.length > 0, 'other/big.bin has a pack of its own');
    // Those packs gone: a restore that read every pack of the checkpoint would fail.
    const packKeys = (await fx.provider.bank.list('store/')).filter((k) => others.some((p) => k.endsWith(p)));
    assert.equal(packKeys.length, others.length);
    for (const k of packKeys) await fx.provider.bank.delete(k);
    const target = join(fx.dir, 'r4');
    const r = await restore(id, fx.provider, { parameters: { [key]: { target } }, include: ['keep'] });
    assert.equal(r.operation?.status, 'succeeded', JSON.stringify(r.operation?.tasks));
    assert.deepEqual(
      await treeSums(target, ['keep/a.bin', 'keep/sub/b.bin']),
      await treeSums(src, ['keep/a.bin', 'keep/sub/b.bin']),
    );
    const whole = await restore(id, fx.provider, { parameters: { [key]: { target: join(fx.dir, 'r5') } } });
    assert.equal(whole.operation?.status, 'failed', 'the whole restore needs the packs removed');
  });
});

describe('the browse capability of a third-party plugin', () => {
  it('is checked when the plugin is added: a browse method that is not a function is named', () => {
    const bad = { ...kvPlugin, types: [{ type: 'test.kv', browse: { entries: 'nope' } }] } as never;
    assert.throws(
      () => new PluginRegistry('p').add(bad),
      code('PROVIDER_INVALID', /browse\.entries is a string \("nope"\), not a function/),
    );
  });
});
