/**
 * The postgres plugin against the real server at 127.0.0.1:5432 (or HOARD_TEST_PG_URL, a
 * superuser's URI). Nothing here skips: an unreachable server fails the suite, saying so.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { type Bank, FsBank, MemoryBank } from '../../src/bank/index.js';
import { resourcePrefix } from '../../src/checkpoints/keys.js';
import type { OperationLog } from '../../src/flows/operation.js';
import { PluginHarness } from '../../src/flows/testkit.js';
import { postgresPlugin } from '../../src/plugins/postgres/plugin.js';
import { withClient } from '../../src/plugins/postgres/sql.js';
import {
  databaseOf,
  defaultUrl,
  maskUrl,
  splitPassword,
  withDatabase,
} from '../../src/plugins/postgres/url.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { HookContext, ProtectionPlugin } from '../../src/plugins/sdk.js';
import { discoverGraph } from '../../src/resources/graph.js';
import type { Resource } from '../../src/resources/resource.js';

const ADMIN_URL = process.env.HOARD_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const RUN = randomBytes(4).toString('hex');
// Names that need quoting in SQL and encoding in URIs.
const SOURCE = `hoard test/src "${RUN}"`;
const RESTORED = `hoard test restored '${RUN}'`;
const MISSING = `hoard_test_missing_${RUN}`;
const ROLE = `hoard_test_role_${RUN}`;
const PASSWORD = `pw-${RUN}-s3cret`;
const CHECKPOINT = '20260101T000000000Z-00000000';

/** A client for `database` on the test server (connection fields, so any name works). */
function clientFor(database: string): pg.Client {
  const u = new URL(ADMIN_URL);
  return new pg.Client({
    host: decodeURIComponent(u.hostname.replace(/^\[(.*)\]$/, '$1')) || 'localhost',
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username) || 'postgres',
    password: decodeURIComponent(u.password),
    database,
    connectionTimeoutMillis: 5000,
  });
}

async function withDb<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = clientFor(database);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `ADMIN_URL` as another user, with a password (ignored by trust auth, but it must never show). */
function urlAs(user: string, database: string): string {
  const u = new URL(ADMIN_URL);
  u.username = user;
  u.password = PASSWORD;
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.href;
}

const q = pg.escapeIdentifier;

async function createSource(): Promise<void> {
  await withDb('postgres', (c) => c.query(`CREATE DATABASE ${q(SOURCE)}`));
  await withDb(SOURCE, async (c) => {
    await c.query(`
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
      CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
      CREATE TABLE customers (
        id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, mood mood, score numeric(10, 2),
        born date, created timestamptz, tags text[], profile jsonb, active boolean, avatar bytea);
      INSERT INTO customers (name, email, mood, score, born, created, tags, profile, active, avatar)
      SELECT 'name ' || i || CASE WHEN i % 11 = 0 THEN ' é ✓ ''quoted''' ELSE '' END,
             'c' || i || '@example.com', (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::mood, i * 1.25,
             date '1970-01-01' + i, timestamptz '2020-01-01 00:00:00+00' + i * interval '1 minute',
             ARRAY['t' || (i % 7), 'u'], jsonb_build_object('i', i, 'even', i % 2 = 0), i % 5 <> 0,
             CASE WHEN i % 10 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END
        FROM generate_series(1, 5000) AS i;
      CREATE TABLE orders (
        id bigserial PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers,
        quantity positive NOT NULL, note text, placed_at timestamp);
      INSERT INTO orders (customer_id, quantity, note, placed_at)
      SELECT 1 + i % 5000, 1 + i % 9, CASE WHEN i % 3 = 0 THEN NULL ELSE repeat('x', i % 50) END,
             timestamp '2024-02-29 12:00' + i * interval '1 second'
        FROM generate_series(1, 20000) AS i;
      CREATE SCHEMA "Odd Schema";
      CREATE TABLE "Odd Schema"."Mixed Case" (k text PRIMARY KEY, v double precision);
      INSERT INTO "Odd Schema"."Mixed Case" SELECT 'key ' || i, i / 7.0 FROM generate_series(1, 1000) AS i;
      CREATE TABLE events (id integer, at date NOT NULL) PARTITION BY RANGE (at);
      CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
      CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
      INSERT INTO events SELECT i, date '2023-06-01' + i FROM generate_series(1, 400) AS i;
      CREATE TABLE empty_table (x integer);
      CREATE VIEW big_orders AS SELECT * FROM orders WHERE quantity > 5;
    `);
  });
}

const EXPECTED_TABLES = 7; // customers, orders, Mixed Case, events and its two partitions, empty_table

/** `schema.table` of every user table, quoted, sorted. */
async function tablesOf(c: pg.Client): Promise<string[]> {
  const { rows } = await c.query<{ t: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
  );
  return rows.map((r) => r.t);
}

/** Every row of every table, as text, ordered; plus the sequences' positions. */
async function contentsOf(database: string): Promise<Map<string, string[]>> {
  return withDb(database, async (c) => {
    const out = new Map<string, string[]>();
    for (const table of await tablesOf(c)) {
      const { rows } = await c.query<{ r: string }>(`SELECT t::text AS r FROM ONLY ${table} t ORDER BY 1`);
      out.set(
        table,
        rows.map((r) => r.r),
      );
    }
    const { rows } = await c.query<{ s: string; v: string }>(
      `SELECT sequencename AS s, coalesce(last_value, 0)::text AS v FROM pg_sequences ORDER BY 1`,
    );
    out.set(
      '(sequences)',
      rows.map((r) => `${r.s}=${r.v}`),
    );
    return out;
  });
}

/** Compares two databases table by table and row by row. */
async function assertSameContents(expected: string, actual: string): Promise<number> {
  const want = await contentsOf(expected);
  const got = await contentsOf(actual);
  assert.deepEqual([...got.keys()], [...want.keys()], 'the same tables');
  let rows = 0;
  for (const [table, wantRows] of want) {
    const gotRows = got.get(table)!;
    assert.equal(gotRows.length, wantRows.length, `${table}: row count`);
    for (let i = 0; i < wantRows.length; i++) assert.equal(gotRows[i], wantRows[i], `${table}: row ${i + 1}`);
    rows += wantRows.length;
  }
  return rows;
}

async function databasesLike(pattern: string): Promise<string[]> {
  return withDb('postgres', async (c) => {
    const { rows } = await c.query<{ d: string }>(
      'SELECT datname AS d FROM pg_database WHERE datname LIKE $1 ORDER BY 1',
      [pattern],
    );
    return rows.map((r) => r.d);
  });
}

function failure(log: OperationLog): string {
  return JSON.stringify(
    log.tasks
      .filter((t) => t.error)
      .map((t) => ({ task: `${t.resource}:${t.hook}`, error: t.error?.message })),
  );
}

function failedTask(log: OperationLog) {
  const task = log.tasks.find((t) => t.status === 'failed');
  assert.ok(task, `expected a failed task in ${JSON.stringify(log.tasks)}`);
  return task;
}

/** A hook context for calling an operation's hook directly (for cancellation). */
function hookContext(resource: Resource, bank: Bank, signal: AbortSignal, lines: string[]): HookContext {
  return {
    operation: 'protect',
    hook: 'main',
    checkpoint: { id: CHECKPOINT, plan: 'test', provider: 'test' },
    resource,
    parameters: {},
    protectParameters: {},
    bank,
    previous: undefined,
    get store(): never {
      throw new Error('no content store in this test');
    },
    signal,
    failures: [],
    progress: () => {},
    poll: () => Promise.reject(new Error('no poll in this test')),
    log: (line) => lines.push(line),
    reportStats: () => {},
    keepOutput: () => {},
  };
}

/** Pids of running pg_dump processes whose command line names `database`. */
async function pgDumpsOf(database: string): Promise<string[]> {
  const needle = encodeURIComponent(database);
  const pids: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (cmdline.includes('pg_dump') && cmdline.includes(needle) && state !== 'Z') pids.push(pid);
  }
  return pids;
}

describe('postgres plugin (against a real server)', () => {
  let plugin: ProtectionPlugin;
  const server: Resource = { type: 'postgres.server', id: 'local', extra: { url: ADMIN_URL } };
  let database: Resource;
  let harness: PluginHarness;
  let scratchBefore: string[] = [];

  before(async () => {
    const probe = clientFor('postgres');
    try {
      await probe.connect();
    } catch (error) {
      throw new Error(
        `the PostgreSQL test server at ${maskUrl(ADMIN_URL)} is unreachable (start it, or set HOARD_TEST_PG_URL to a superuser's URI): ${(error as Error).message}`,
      );
    } finally {
      await probe.end().catch(() => {});
    }
    scratchBefore = await databasesLike('hoard\\_%');
    plugin = await postgresPlugin({});
    await createSource();
    await withDb('postgres', (c) => c.query(`CREATE ROLE ${q(ROLE)} LOGIN`));
  });

  after(async () => {
    if (!plugin) return; // the server was unreachable: nothing was created
    // Ours by name, and scratch databases the plugin should have dropped (only if a test failed).
    const created = (await databasesLike('hoard%')).filter(
      (d) => d.includes(RUN) || (/^hoard_(verify|restore)_/.test(d) && !scratchBefore.includes(d)),
    );
    await withDb('postgres', async (c) => {
      for (const d of created) await c.query(`DROP DATABASE IF EXISTS ${q(d)} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${q(ROLE)}`);
    });
  });

  it('discovers the databases of a server as children, and not the templates', async () => {
    const registry = new PluginRegistry('test').add(plugin);
    const graph = await discoverGraph([{ resource: server, children: [] }], registry.protectables());
    const key = `postgres.database#local/${SOURCE}`;
    const node = graph.get(key);
    assert.ok(node, `${key} in ${graph.nodes.map((n) => n.key).join(', ')}`);
    assert.deepEqual(node.parents, ['postgres.server#local']);
    assert.equal(node.resource.name, SOURCE);
    assert.equal(databaseOf(node.resource.extra!.url as string), SOURCE);
    assert.ok(graph.get('postgres.database#local/postgres'));
    for (const template of ['template0', 'template1'])
      assert.equal(graph.get(`postgres.database#local/${template}`), undefined, template);
    database = node.resource;
  });

  it('protects the server and the database: pg_dump -Fc into the bank with info.json', async () => {
    assert.ok(database, 'discovery ran');
    const dbKey = `postgres.database#${database.id}`;
    harness = new PluginHarness({
      plugins: [plugin],
      resources: [
        { resource: server, children: [dbKey] },
        { resource: database, children: [] },
      ],
      parameters: { 'postgres.database': { countRows: true } },
      checkpointId: CHECKPOINT,
    });
    const log = await harness.run('protect');
    assert.equal(log.status, 'succeeded', failure(log));

    const section = harness.bank.section(resourcePrefix(CHECKPOINT, dbKey));
    const dump = await section.get('dump.pgc');
    assert.equal(dump.subarray(0, 5).toString(), 'PGDMP', 'a custom-format archive');
    const info = JSON.parse((await section.get('info.json')).toString());
    assert.equal(info.database, SOURCE);
    assert.match(info.serverVersion, /^\d+/);
    assert.equal(info.size, dump.length);
    assert.equal(info.sha256, createHash('sha256').update(dump).digest('hex'));
    assert.equal(info.snapshot, true);
    assert.equal(info.tableCount, EXPECTED_TABLES);
    const { estimatedRows, ...customers } = info.tables.find((t: { name: string }) => t.name === 'customers');
    assert.deepEqual(customers, { schema: 'public', name: 'customers', rows: 5000 });
    // The planner's estimate, free to read, is there once the table was analysed.
    assert.ok(estimatedRows === undefined || Number.isInteger(estimatedRows));
    // hoard ls shows that info; diff cannot tell from a dump (it carries its own time).
    const browse = plugin.types.find((t) => t.type === 'postgres.database')!.browse!;
    assert.deepEqual(await browse.info!({ bank: section } as never), info);
    assert.equal(await browse.fingerprint!({ bank: section } as never), undefined);

    const serverSection = harness.bank.section(resourcePrefix(CHECKPOINT, 'postgres.server#local'));
    assert.match((await serverSection.get('globals.sql')).toString(), /CREATE ROLE/);
    const serverInfo = JSON.parse((await serverSection.get('info.json')).toString());
    assert.ok(serverInfo.databases.includes(SOURCE));
    assert.ok(log.log.some((line) => line.includes(`dumped database "${SOURCE}"`)));
  });

  it('restores into a new database with every row of every table', async () => {
    assert.ok(harness, 'protect ran');
    const log = await harness.run('restore', { [`postgres.database#${database.id}`]: { target: RESTORED } });
    assert.equal(log.status, 'succeeded', failure(log));
    const rows = await assertSameContents(SOURCE, RESTORED);
    assert.ok(rows > 26_000, `${rows} rows compared`);
    assert.deepEqual(
      await databasesLike('hoard\\_restore\\_%'),
      scratchBefore.filter((d) => d.startsWith('hoard_restore_')),
    );
  });

  it('refuses to restore over an existing database unless told to overwrite', async () => {
    assert.ok(harness, 'protect ran');
    const dbKey = `postgres.database#${database.id}`;
    await withDb(RESTORED, (c) => c.query('INSERT INTO empty_table VALUES (42)'));

    const refused = await harness.run('restore', { [dbKey]: { target: RESTORED } });
    assert.equal(refused.status, 'failed');
    const error = failedTask(refused).error!;
    assert.match(error.message, /already exists/);
    assert.match(error.message, /--overwrite/);
    assert.ok(error.message.includes(RESTORED), error.message);
    const kept = await withDb(RESTORED, (c) => c.query('SELECT x FROM empty_table'));
    assert.deepEqual(kept.rows, [{ x: 42 }], 'the existing database is untouched');

    const tooLong = await harness.run('restore', { [dbKey]: { target: 'é'.repeat(40) } });
    assert.equal(tooLong.status, 'failed');
    assert.match(failedTask(tooLong).error!.message, /not a usable database name/);

    const replaced = await harness.run('restore', { [dbKey]: { target: RESTORED, overwrite: true } });
    assert.equal(replaced.status, 'succeeded', failure(replaced));
    await assertSameContents(SOURCE, RESTORED);
  });

  it('verifies by restoring into a scratch database it always drops', async () => {
    assert.ok(harness, 'protect ran');
    const log = await harness.run('verify');
    assert.equal(log.status, 'succeeded', failure(log));
    assert.ok(
      log.log.some((line) => line.includes('verified')),
      log.log.join('\n'),
    );
    assert.deepEqual(
      await databasesLike('hoard\\_verify\\_%'),
      scratchBefore.filter((d) => d.startsWith('hoard_verify_')),
    );

    // A damaged archive fails verify, plainly, and still leaves nothing behind.
    const section = harness.bank.section(resourcePrefix(CHECKPOINT, `postgres.database#${database.id}`));
    const original = await section.get('dump.pgc');
    const damaged = Buffer.from(original);
    for (let i = Math.floor(damaged.length / 2); i < damaged.length; i += 97) damaged[i] = damaged[i]! ^ 0xff;
    await section.put('dump.pgc', damaged);
    try {
      const bad = await harness.run('verify');
      assert.equal(bad.status, 'failed');
      assert.match(failedTask(bad).error!.message, /damaged/);
    } finally {
      await section.put('dump.pgc', original);
    }
    assert.deepEqual(
      await databasesLike('hoard\\_verify\\_%'),
      scratchBefore.filter((d) => d.startsWith('hoard_verify_')),
    );
  });

  it('a connection aborted at any moment, even while node-postgres is still loading, settles at once', async () => {
    for (const ms of [0, 1, 2, 5, 10, 20, 50]) {
      const abort = new AbortController();
      const began = Date.now();
      const work = withClient(ADMIN_URL, abort.signal, 'the abort test', async (client) => {
        await client.query('SELECT pg_sleep(10)');
      });
      setTimeout(() => abort.abort(new Error('stop')), ms);
      const outcome = await Promise.race([
        work.then(
          () => 'finished',
          () => 'rejected',
        ),
        delay(5_000).then(() => 'still running'),
      ]);
      assert.equal(outcome, 'rejected', `aborted after ${ms} ms`);
      assert.ok(Date.now() - began < 5_000);
    }
  });

  it('reports a database that does not exist by name, never with the password', async () => {
    const url = urlAs(decodeURIComponent(new URL(ADMIN_URL).username) || 'postgres', MISSING);
    const missing: Resource = { type: 'postgres.database', id: 'missing', extra: { url } };
    const log = await new PluginHarness({
      plugins: [plugin],
      resources: [{ resource: missing, children: [] }],
    }).run('protect');
    assert.equal(log.status, 'failed');
    const error = failedTask(log).error!;
    assert.ok(error.message.includes(`database "${MISSING}"`), error.message);
    assert.match(error.message, /does not exist/);
    assert.ok(error.message.includes('****'), error.message);
    assert.ok(!JSON.stringify(log).includes(PASSWORD), 'no password anywhere in the log');
  });

  it('fails with pg_dump exit code and stderr when pg_dump fails, storing nothing', async () => {
    const url = urlAs(ROLE, SOURCE);
    const limited: Resource = { type: 'postgres.database', id: 'limited', extra: { url } };
    const h = new PluginHarness({ plugins: [plugin], resources: [{ resource: limited, children: [] }] });
    const log = await h.run('protect');
    assert.equal(log.status, 'failed');
    const error = failedTask(log).error!;
    assert.ok(error.message.includes(`database "${SOURCE}"`), error.message);
    assert.match(error.message, /pg_dump exited with code 1: .*permission denied/);
    assert.ok(!JSON.stringify(log).includes(PASSWORD), 'no password anywhere in the log');
    assert.deepEqual(await h.bank.list(''), [], 'nothing stored');
  });

  it('streams the dump into an fs bank', async () => {
    assert.ok(database, 'discovery ran');
    const dir = await mkdtemp(join(tmpdir(), 'hoard-pg-'));
    try {
      const bank = new FsBank(dir).section('db');
      const op = plugin.operation('protect', database, { parameters: {}, protectParameters: {} })!;
      const lines: string[] = [];
      await op.onMain!(hookContext(database, bank, new AbortController().signal, lines));
      const info = JSON.parse((await bank.get('info.json')).toString());
      const onDisk = await readFile(join(dir, 'db', 'dump.pgc'));
      assert.equal(info.sha256, createHash('sha256').update(onDisk).digest('hex'));
      assert.equal(info.tableCount, EXPECTED_TABLES);
      assert.equal(info.tables[0].rows, undefined, 'rows are counted only when asked');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kills pg_dump when the hook is cancelled', async () => {
    const locker = clientFor(SOURCE);
    await locker.connect();
    try {
      // pg_dump waits for this lock, so it is surely running when the hook is cancelled.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      const op = plugin.operation('protect', database, { parameters: {}, protectParameters: {} })!;
      const controller = new AbortController();
      const lines: string[] = [];
      const bank = new MemoryBank();
      const running = Promise.resolve(op.onMain!(hookContext(database, bank, controller.signal, lines)));
      running.catch(() => {});
      const deadline = Date.now() + 10_000;
      while ((await pgDumpsOf(SOURCE)).length === 0) {
        assert.ok(Date.now() < deadline, 'pg_dump started');
        await delay(20);
      }
      await delay(200);
      const started = Date.now();
      controller.abort();
      await assert.rejects(running, (error: Error & { code?: string }) => {
        assert.equal(error.code, 'TASK_CANCELLED', error.message);
        return true;
      });
      assert.ok(Date.now() - started < 5000, 'cancelled promptly');
      assert.deepEqual(await pgDumpsOf(SOURCE), [], 'pg_dump is gone');
      assert.deepEqual(await bank.list(''), [], 'nothing stored');
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
  });

  it('rejects a resource url that is not a PostgreSQL URI', async () => {
    const registry = new PluginRegistry('test').add(plugin);
    await assert.rejects(
      discoverGraph(
        [{ resource: { type: 'postgres.server', id: 'bad', extra: { url: 'mysql://x' } }, children: [] }],
        registry.protectables(),
      ),
      /postgres\.server#bad: url must match pattern/,
    );
  });
});

describe('postgres connection URIs', () => {
  it('masks passwords in the user part and in parameters', () => {
    assert.equal(
      maskUrl('postgresql://u:p%40ss@h:5432/db?sslmode=require'),
      'postgresql://u:****@h:5432/db?sslmode=require',
    );
    assert.equal(maskUrl('postgres://h/db?password=x&user=u'), 'postgres://h/db?password=****&user=u');
    assert.equal(maskUrl('postgresql://u@h/db'), 'postgresql://u@h/db');
  });

  it('splits the password off for PGPASSWORD', () => {
    assert.deepEqual(splitPassword('postgresql://u:p%40ss@h/db'), {
      url: 'postgresql://u@h/db',
      password: 'p@ss',
    });
    assert.deepEqual(splitPassword('postgresql://h/db?password=a%26b&x=1'), {
      url: 'postgresql://h/db?x=1',
      password: 'a&b',
    });
    assert.deepEqual(splitPassword('postgresql://u@h/db'), {
      url: 'postgresql://u@h/db',
      password: undefined,
    });
  });

  it('points a URI at another database, whatever its name', () => {
    for (const name of ['plain', 'with space', 'sl/ash', 'q?m#h', 'pct%41', 'é ✓', '"quoted"']) {
      const url = withDatabase('postgresql://u:pw@h1:5432,h2:5433/old?dbname=other&sslmode=disable', name);
      assert.equal(databaseOf(url), name);
      assert.ok(url.startsWith('postgresql://u:pw@h1:5432,h2:5433/'), url);
      assert.ok(url.endsWith('?sslmode=disable'), url);
    }
    assert.equal(databaseOf('postgresql://h/a?dbname=b'), 'b');
    assert.equal(databaseOf('postgresql://h'), undefined);
  });

  it('spells out the PG* environment as a URI', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, {
        PGHOST: '/run/postgresql',
        PGPORT: '6543',
        PGUSER: 'alice',
        PGDATABASE: 'shop',
      });
      assert.equal(defaultUrl(), 'postgresql://alice@%2Frun%2Fpostgresql:6543/shop');
      assert.equal(defaultUrl('other db'), 'postgresql://alice@%2Frun%2Fpostgresql:6543/other%20db');
    } finally {
      for (const key of ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });
});
