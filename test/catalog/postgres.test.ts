/**
 * The PostgreSQL catalog against the real server at 127.0.0.1:5432 (or HOARD_TEST_PG_URL, a
 * superuser's URI). Every catalog lives in a schema of its own, named after this run and
 * dropped at the end. Nothing here skips: an unreachable server fails the suite, saying so.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { LATEST_VERSION, openCatalog, PostgresCatalog } from '../../src/catalog/index.js';
import { MIGRATIONS, VERSION_TABLE } from '../../src/catalog/migrations.js';
import {
  assertMigratedClaims,
  catalogConformance,
  rejectsWith,
  V1_INSERTS,
  V1_OPERATIONS,
} from './conformance.js';

const ADMIN_URL = process.env.HOARD_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const RUN = randomBytes(4).toString('hex');
const PREFIX = `hoard_catalog_test_${RUN}_`;
let schemas = 0;
let reachable = false;

/** A schema name no one has used, dropped by the `after` hook at the latest. */
function freshSchema(): string {
  return `${PREFIX}${++schemas}`;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function dropSchema(schema: string): Promise<void> {
  await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`));
}

/** ADMIN_URL with `password` and, if given, another database or a default search_path. */
function urlWith(change: { password?: string; database?: string; searchPath?: string }): string {
  const url = new URL(ADMIN_URL);
  if (change.password !== undefined) {
    if (!url.username) url.username = 'postgres';
    url.password = change.password;
  }
  if (change.database !== undefined) url.pathname = `/${encodeURIComponent(change.database)}`;
  if (change.searchPath !== undefined) url.searchParams.set('options', `-c search_path=${change.searchPath}`);
  return url.href;
}

before(async () => {
  try {
    await admin((c) => c.query('SELECT 1'));
    reachable = true;
  } catch (error) {
    throw new Error(
      `the PostgreSQL test server at ${new URL(ADMIN_URL).host} is unreachable (start it, or set HOARD_TEST_PG_URL to a superuser's URI): ${(error as Error).message}`,
    );
  }
});

after(async () => {
  if (!reachable) return;
  await admin(async (c) => {
    const { rows } = await c.query<{ name: string }>(
      "SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE $1 || '%'",
      [PREFIX],
    );
    for (const { name } of rows) await c.query(`DROP SCHEMA ${pg.escapeIdentifier(name)} CASCADE`);
  });
});

catalogConformance('PostgreSQL', async () => {
  const schema = freshSchema();
  const catalog = new PostgresCatalog(ADMIN_URL, { schema });
  await catalog.migrate();
  return {
    catalog,
    cleanup: async () => {
      await catalog.close();
      await dropSchema(schema);
    },
  };
});

describe('PostgreSQL catalog shared by servers', () => {
  /** `count` catalogs (a pool each, as separate servers would have) on one fresh schema. */
  async function servers(
    count: number,
  ): Promise<{ catalogs: PostgresCatalog[]; schema: string; close: () => Promise<void> }> {
    const schema = freshSchema();
    const catalogs = Array.from({ length: count }, () => new PostgresCatalog(ADMIN_URL, { schema, max: 5 }));
    return {
      catalogs,
      schema,
      close: async () => {
        await Promise.all(catalogs.map((c) => c.close()));
        await dropSchema(schema);
      },
    };
  }

  it('four catalogs migrating a fresh schema at once all succeed, and each migration runs once', async () => {
    const { catalogs, schema, close } = await servers(4);
    try {
      await Promise.all(catalogs.map((c) => c.migrate()));
      for (const c of catalogs) assert.equal(await c.schemaVersion(), LATEST_VERSION);
      const { rows } = await admin((c) =>
        c.query<{ version: number }>(
          `SELECT version FROM ${pg.escapeIdentifier(schema)}.schema_version ORDER BY 1`,
        ),
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        MIGRATIONS.map((m) => m.version),
      );
      await Promise.all(catalogs.map((c) => c.migrate()));
      assert.equal(await catalogs[0]!.schemaVersion(), LATEST_VERSION);
    } finally {
      await close();
    }
  });

  it('of claims raced from two catalogs, exactly one per fire wins', async () => {
    const { catalogs, close } = await servers(2);
    try {
      await catalogs[0]!.migrate();
      const [one, two] = catalogs as [PostgresCatalog, PostgresCatalog];
      const trigger = await one.createTrigger({
        project: 'a',
        name: 't',
        type: 'time',
        properties: { pattern: '* * * * *' },
      });
      const op = await two.createScheduledOperation({
        project: 'a',
        name: 'op',
        operationType: 'protect',
        triggerId: trigger.id,
        definition: { planId: 'p' },
      });
      // Ten claimers per fire, on both pools, each from the last claim it reads.
      const start = Date.parse(op.createdAt);
      const fires = Array.from({ length: 20 }, (_, i) => new Date(start + (i + 1) * 3_600_000).toISOString());
      const won: [string, string][] = [];
      for (const fire of fires) {
        await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const catalog = i % 2 ? one : two;
            const last = (await catalog.lastClaimedRun(op.id)) ?? op.createdAt;
            if (
              Date.parse(last) < Date.parse(fire) &&
              (await catalog.claimFires(op.id, last, fire, `server ${i % 2}`))
            )
              won.push([last, fire]);
          }),
        );
      }
      assert.deepEqual(
        won,
        fires.map((fire, i) => [i === 0 ? op.createdAt : fires[i - 1], fire]),
        'one claim per fire, each from the one before',
      );
      assert.equal(await one.lastClaimedRun(op.id), fires.at(-1));
    } finally {
      await close();
    }
  });

  it('of status updates raced from two catalogs, exactly one wins', async () => {
    const { catalogs, close } = await servers(2);
    try {
      await catalogs[0]!.migrate();
      const [one, two] = catalogs as [PostgresCatalog, PostgresCatalog];
      for (let round = 0; round < 20; round++) {
        const log = await one.createOperationLog({ project: 'a', kind: 'protect', status: 'running' });
        const results = await Promise.all([
          one.updateOperationLog(log.id, ['running'], { status: 'succeeded' }),
          two.updateOperationLog(log.id, ['running'], { status: 'failed' }),
          one.updateOperationLog(log.id, ['running'], { status: 'skipped' }),
        ]);
        assert.equal(results.filter(Boolean).length, 1, `round ${round}`);
      }
    } finally {
      await close();
    }
  });

  it('a catalog in one schema sees nothing of a catalog in another', async () => {
    const a = await servers(1);
    const b = await servers(1);
    try {
      await a.catalogs[0]!.migrate();
      await b.catalogs[0]!.migrate();
      await a.catalogs[0]!.createPlan({
        project: 'p',
        name: 'n',
        provider: 'x',
        resources: [],
        parameters: {},
      });
      assert.deepEqual(await b.catalogs[0]!.listProjects(), []);
      assert.deepEqual(await a.catalogs[0]!.listProjects(), ['p']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('migrating a version-1 catalog keeps each scheduled operation’s last claimed fire', async () => {
    const schema = freshSchema();
    await admin(async (c) => {
      await c.query('BEGIN');
      await c.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
      await c.query(`SET LOCAL search_path TO ${pg.escapeIdentifier(schema)}`);
      await c.query(VERSION_TABLE.postgres);
      await c.query(MIGRATIONS[0]!.sql.postgres);
      await c.query('INSERT INTO schema_version VALUES (1, $1, $2)', ['v1', V1_OPERATIONS.created]);
      for (const [sql, params] of V1_INSERTS) await c.query(sql, params);
      await c.query('COMMIT');
    });
    const catalog = new PostgresCatalog(ADMIN_URL, { schema });
    try {
      await catalog.migrate();
      await assertMigratedClaims(catalog);
    } finally {
      await catalog.close();
      await dropSchema(schema);
    }
  });

  it('schemaVersion is 0 before migrate', async () => {
    const { catalogs, close } = await servers(1);
    try {
      assert.equal(await catalogs[0]!.schemaVersion(), 0);
    } finally {
      await close();
    }
  });
});

describe('openCatalog with HOARD_CATALOG_URL', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'hoard-catalog-pg-'));
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('a postgresql:// URL opens a migrated PostgreSQL catalog, and no SQLite file', async () => {
    const schema = freshSchema();
    await admin((c) => c.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`));
    const catalog = await openCatalog(home, { HOARD_CATALOG_URL: urlWith({ searchPath: schema }) });
    try {
      assert.equal(catalog.kind, 'postgres');
      assert.equal(await catalog.schemaVersion(), LATEST_VERSION);
      const { rows } = await admin((c) =>
        c.query<{ n: string }>(
          'SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1',
          [schema],
        ),
      );
      assert.equal(Number(rows[0]!.n), 7);
    } finally {
      await catalog.close();
      await dropSchema(schema);
    }
  });

  it('a database that does not exist is CATALOG_UNAVAILABLE, naming the server and not the password', async () => {
    const password = `pw-${RUN}-s3cret`;
    const url = urlWith({ password, database: `hoard_missing_${RUN}` });
    const server = new URL(ADMIN_URL).host;
    await rejectsWith(
      openCatalog(home, { HOARD_CATALOG_URL: url }),
      'CATALOG_UNAVAILABLE',
      server,
      'HOARD_CATALOG_URL',
    );
    await openCatalog(home, { HOARD_CATALOG_URL: url }).catch((error: Error) => {
      assert.ok(!error.message.includes(password), error.message);
      assert.ok(!JSON.stringify(error).includes(password), JSON.stringify(error));
    });
  });
});
