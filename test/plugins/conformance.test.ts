/**
 * The conformance kit (`hoard/testkit`) run against every built-in plugin, postgres on the real
 * server at 127.0.0.1:5432 (HOARD_TEST_PG_URL), and against deliberately broken plugins: each
 * check must report a failure when the plugin breaks what it checks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { definePlugin, defineType, type HookContext, type ProtectionPlugin, Type } from '../../src/index.js';
import { execTaskPlugin } from '../../src/plugins/exec-task/plugin.js';
import { fsDirectoryPlugin } from '../../src/plugins/fs-directory/plugin.js';
import { noopPlugin } from '../../src/plugins/noop/plugin.js';
import { postgresPlugin } from '../../src/plugins/postgres/plugin.js';
import { sqliteDatabasePlugin } from '../../src/plugins/sqlite-database/plugin.js';
import {
  CONFORMANCE_CHECKS,
  type ConformanceCheck,
  type ConformanceFixture,
  type ConformanceResult,
  pluginConformance,
} from '../../src/testkit.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-conformance-test-'));
  dirs.push(dir);
  return dir;
}

/** Every check passed, or was skipped for a reason the fixture gives; the failures' reasons otherwise. */
function assertConforms(results: ConformanceResult[], skipped: ConformanceCheck[] = []): void {
  const failed = results.filter((r) => r.status === 'failed');
  assert.deepEqual(failed, [], failed.map((r) => `${r.check}: ${r.reason}`).join('\n'));
  assert.deepEqual(
    results.filter((r) => r.status === 'skipped').map((r) => r.check),
    skipped,
  );
  assert.equal(results.length, CONFORMANCE_CHECKS.length);
}

/** A directory's files, path → contents, for equality. */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path.slice(root.length + 1)] = await readFile(path, 'utf8');
  }
  return out;
}

/** Temporary files a restore may leave beside its target. */
async function besides(target: string): Promise<string[]> {
  const names = await readdir(dirname(target)).catch(() => [] as string[]);
  return names.filter((n) => n.includes('.hoard') && n.endsWith('.tmp')).map((n) => join(dirname(target), n));
}

async function fsFixture(): Promise<ConformanceFixture> {
  const dir = await tempDir();
  const source = join(dir, 'source');
  await mkdir(join(source, 'sub'), { recursive: true });
  await writeFile(join(source, 'a.txt'), 'alpha\n');
  await writeFile(join(source, 'sub', 'b.bin'), randomBytes(200_000).toString('base64'));
  let n = 0;
  return {
    resource: { type: 'fs.directory', id: 'files', extra: { path: source } },
    source: () => tree(source),
    target: async () => ({ target: join(dir, `restored-${n++}`) }),
    restored: (t) => tree(String(t.target)),
    // A file the source has too, with other contents: overwrite replaces it.
    fill: async (t) => {
      await mkdir(String(t.target), { recursive: true });
      await writeFile(join(String(t.target), 'a.txt'), 'old');
    },
  };
}

function sqliteRows(file: string): unknown {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, name FROM items ORDER BY id').all();
  } finally {
    db.close();
  }
}

async function sqliteFixture(): Promise<ConformanceFixture> {
  const dir = await tempDir();
  const file = join(dir, 'app.db');
  const db = new Database(file);
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)');
  const insert = db.prepare('INSERT INTO items (name) VALUES (?)');
  for (let i = 0; i < 2000; i++) insert.run(`item ${i} ${'x'.repeat(i % 50)}`);
  db.close();
  let n = 0;
  return {
    resource: { type: 'sqlite.database', id: 'db', extra: { path: file } },
    source: async () => sqliteRows(file),
    target: async () => ({ target: join(dir, `restored-${n++}.db`) }),
    restored: async (t) => sqliteRows(String(t.target)),
    fill: (t) => writeFile(String(t.target), 'not a database'),
    leftovers: (t) => besides(String(t.target)),
  };
}

describe('the conformance kit on the built-in plugins', () => {
  it('fs.directory passes every check', async () => {
    assertConforms(await pluginConformance(await fsDirectoryPlugin({}), await fsFixture()));
  });

  it('sqlite.database passes every check', async () => {
    assertConforms(await pluginConformance(await sqliteDatabasePlugin({}), await sqliteFixture()));
  });

  it('postgres.database passes every check, on the real server', async () => {
    const admin = process.env.HOARD_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
    const run = randomBytes(4).toString('hex');
    const source = `hoard_conformance_${run}`;
    const url = (database: string) => {
      const u = new URL(admin);
      u.pathname = `/${encodeURIComponent(database)}`;
      return u.toString();
    };
    const query = async <T>(database: string, sql: string): Promise<T[]> => {
      const client = new pg.Client({ connectionString: url(database) });
      await client.connect();
      try {
        return (await client.query(sql)).rows as T[];
      } finally {
        await client.end();
      }
    };
    const made: string[] = [source];
    await query('postgres', `CREATE DATABASE ${source}`);
    try {
      await query(
        source,
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g",
      );
      let n = 0;
      const databases = async () =>
        (await query<{ datname: string }>('postgres', 'SELECT datname FROM pg_database')).map(
          (r) => r.datname,
        );
      const results = await pluginConformance(await postgresPlugin({}), {
        resource: { type: 'postgres.database', id: source, extra: { url: url(source) } },
        source: () => query(source, 'SELECT id, name FROM items ORDER BY id'),
        target: async () => {
          const target = `hoard_conformance_${run}_t${n++}`;
          made.push(target);
          return { target };
        },
        restored: (t) => query(String(t.target), 'SELECT id, name FROM items ORDER BY id'),
        fill: async (t) => {
          await query('postgres', `CREATE DATABASE ${String(t.target)}`);
          await query(String(t.target), 'CREATE TABLE other (x int)');
        },
        // Staging and scratch databases a cancelled restore or verify may leave.
        leftovers: async () => (await databases()).filter((d) => /^hoard_(verify|restore|staging)_/.test(d)),
      });
      // The cancel check once hung here: an abort while node-postgres was still loading was
      // missed (plugins/postgres/sql.ts withClient).
      assertConforms(results);
    } finally {
      for (const database of made)
        await query('postgres', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  });

  it('exec.task passes the checks that apply to commands', async () => {
    const dir = await tempDir();
    const why = 'exec.task stores nothing: the commands keep their data where they put it';
    const results = await pluginConformance(await execTaskPlugin({}), {
      resource: { type: 'exec.task', id: 'app' },
      parameters: { protect: { main: `echo protected > ${join(dir, 'out')}` }, restore: { main: 'true' } },
      source: async () => undefined,
      target: async () => ({}),
      restored: async () => undefined,
      fill: async () => {},
      skip: {
        'round trip': why,
        'verify finds a corrupted byte': why,
        'restore refuses a non-empty target': 'exec.task has no restore target',
      },
    });
    assertConforms(results, [
      'round trip',
      'verify finds a corrupted byte',
      'restore refuses a non-empty target',
    ]);
  });

  it('noop passes the checks that apply to a plugin that stores nothing', async () => {
    const why = 'noop stores nothing';
    const results = await pluginConformance(await noopPlugin({}), {
      resource: { type: 'noop', id: 'n' },
      source: async () => undefined,
      target: async () => ({}),
      restored: async () => undefined,
      fill: async () => {},
      skip: {
        'round trip': why,
        'verify finds a corrupted byte': why,
        'restore refuses a non-empty target': why,
      },
    });
    assertConforms(results, [
      'round trip',
      'verify finds a corrupted byte',
      'restore refuses a non-empty target',
    ]);
  });
});

// --- broken plugins: each check can fail ----------------------------------------------------

/** What a broken file plugin gets wrong (one thing each). */
interface Breakage {
  restoreWrongData?: boolean;
  verifyIgnoresCorruption?: boolean;
  restoreOverwritesAlways?: boolean;
  leavesTemporaryFile?: boolean;
  deleteWritesKey?: boolean;
}

/** A small file plugin, correct unless `broken` says otherwise. */
function filePlugin(broken: Breakage = {}): Promise<ProtectionPlugin> | ProtectionPlugin {
  const restoreSchema = Type.Object(
    { target: Type.String(), overwrite: Type.Optional(Type.Boolean()) },
    { additionalProperties: false },
  );
  return definePlugin(() => ({
    name: 'test.file',
    types: [
      defineType({
        type: 'test.file',
        restoreTarget: true,
        schemas: { resource: Type.Object({ path: Type.String() }), restore: restoreSchema },
        operations: {
          protect: (resource) => ({
            onMain: async (ctx) => {
              if (broken.leavesTemporaryFile) {
                await writeFile(join(tmpdir(), `test-file-${randomBytes(4).toString('hex')}`), 'scratch');
                await new Promise((r) => setTimeout(r, 20));
                ctx.signal.throwIfAborted();
              }
              const data = await readFile(resource.extra!.path);
              await ctx.bank.put('data', data);
              await ctx.bank.put('sha256', createHash('sha256').update(data).digest('hex'));
            },
          }),
          verify: () => ({
            onMain: async (ctx) => {
              const data = await ctx.bank.get('data');
              const sum = (await ctx.bank.get('sha256')).toString('utf8');
              if (!broken.verifyIgnoresCorruption && createHash('sha256').update(data).digest('hex') !== sum)
                throw new Error('the stored copy is damaged');
            },
          }),
          restore: () => ({
            onMain: async (ctx: HookContext<{ target: string; overwrite?: boolean }>) => {
              const { target, overwrite } = ctx.parameters;
              let data = await ctx.bank.get('data');
              if (broken.restoreWrongData) data = Buffer.concat([data, Buffer.from(' ')]);
              await writeFile(target, data, {
                flag: overwrite || broken.restoreOverwritesAlways ? 'w' : 'wx',
              });
            },
          }),
          delete: () =>
            broken.deleteWritesKey
              ? { onMain: async (ctx) => ctx.bank.put('tombstone', 'deleted') }
              : undefined,
        },
      }),
    ],
  }))({});
}

async function fileFixture(): Promise<ConformanceFixture> {
  const dir = await tempDir();
  const source = join(dir, 'doc.json');
  await writeFile(source, '{"ok":true,"padding":"' + 'p'.repeat(100) + '"}');
  let n = 0;
  return {
    resource: { type: 'test.file', id: basename(source), extra: { path: source } },
    source: () => readFile(source, 'utf8'),
    target: async () => ({ target: join(dir, `restored-${n++}.json`) }),
    restored: (t) => readFile(String(t.target), 'utf8'),
    fill: (t) => writeFile(String(t.target), 'old'),
  };
}

/** The status of each check, by name. */
async function statuses(
  plugin: ProtectionPlugin | Promise<ProtectionPlugin>,
): Promise<Record<string, string>> {
  const results = await pluginConformance(await plugin, await fileFixture());
  return Object.fromEntries(
    results.map((r) => [r.check, r.status === 'failed' ? `failed: ${r.reason}` : r.status]),
  );
}

describe('the conformance kit on broken plugins: every check can fail', () => {
  it('a correct plugin passes every check (so the failures below are the breakage)', async () => {
    assertConforms(await pluginConformance(await filePlugin(), await fileFixture()));
  });

  it('round trip: a restore that changes the data fails it', async () => {
    const got = await statuses(filePlugin({ restoreWrongData: true }));
    assert.match(
      got['round trip']!,
      /^failed: test\.file#doc\.json: restore gave data other than the source's/,
    );
  });

  it('verify finds a corrupted byte: a verify that ignores corruption fails it', async () => {
    const got = await statuses(filePlugin({ verifyIgnoresCorruption: true }));
    assert.match(
      got['verify finds a corrupted byte']!,
      /^failed: test\.file#doc\.json: verify succeeded after byte \d+ of checkpoints\/.*\/data \(\d+ bytes\) was flipped$/,
    );
    assert.equal(got['round trip'], 'passed');
  });

  it('restore refuses a non-empty target: a restore that overwrites unasked fails it', async () => {
    const got = await statuses(filePlugin({ restoreOverwritesAlways: true }));
    assert.equal(
      got['restore refuses a non-empty target'],
      'failed: test.file#doc.json: restore into a non-empty target without overwrite succeeded',
    );
  });

  it('cancel leaves no temporary data: a protect that leaves a file in TMPDIR fails it', async () => {
    const got = await statuses(filePlugin({ leavesTemporaryFile: true }));
    assert.match(
      got['cancel leaves no temporary data']!,
      /^failed: test\.file#doc\.json: left temporary data: test-file-[0-9a-f]{8} \(in TMPDIR after a cancelled protect\)/,
    );
  });

  it('delete leaves no keys: a delete that writes a key fails it', async () => {
    const got = await statuses(filePlugin({ deleteWritesKey: true }));
    assert.match(
      got['delete leaves no keys']!,
      /^failed: test\.file#doc\.json: delete added keys: checkpoints\/.*\/tombstone$/,
    );
  });
});
