import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { LATEST_VERSION, SqliteCatalog } from '../../src/catalog/index.js';
import { MIGRATIONS, VERSION_TABLE } from '../../src/catalog/migrations.js';
import { assertMigratedClaims, catalogConformance, V1_INSERTS, V1_OPERATIONS } from './conformance.js';

let root: string;
let files = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-catalog-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh catalog file in a directory that does not exist yet. */
function freshPath(): string {
  return join(root, `home-${++files}`, 'nested', 'catalog.sqlite');
}

catalogConformance('SQLite', async () => {
  const catalog = new SqliteCatalog(freshPath());
  await catalog.migrate();
  return { catalog, cleanup: () => catalog.close() };
});

/**
 * Runs `count` worker threads, each with its own connection to `path`: each migrates, then
 * claims every fire in `fires` for one scheduled operation (made at 2026-01-01T00:00:00Z).
 * Returns each worker's won claims as [after, through].
 */
function claimInWorkers(path: string, count: number, fires: string[]): Promise<[string, string][][]> {
  const module = new URL('../../src/catalog/sqlite.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const TRIGGER = '0190a5c2-0000-7000-8000-000000000002';
    const OPERATION = '0190a5c2-0000-7000-8000-000000000001';
    import(workerData.module).then(async ({ SqliteCatalog }) => {
      const catalog = new SqliteCatalog(workerData.path);
      await catalog.migrate();
      // Only an existing, enabled operation's fires can be claimed: every worker makes the same one.
      const at = '2026-01-01T00:00:00.000Z';
      await catalog.run('INSERT OR IGNORE INTO triggers VALUES (?, ?, ?, ?, ?, ?)',
        [TRIGGER, 'a', 't', 'time', '{"pattern":"* * * * *"}', at]);
      await catalog.run('INSERT OR IGNORE INTO scheduled_operations (id, project, name, description, operation_type, trigger_id, definition, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [OPERATION, 'a', 'op', null, 'protect', TRIGGER, '{"planId":"p"}', 1, at]);
      // Each worker claims every fire in turn from the last claim it reads: [after, through] won.
      const wins = [];
      for (const fire of workerData.fires) {
        const last = (await catalog.lastClaimedRun(OPERATION)) ?? at;
        if (last < fire && (await catalog.claimFires(OPERATION, last, fire, 'worker ' + workerData.n)))
          wins.push([last, fire]);
      }
      await catalog.close();
      parentPort.postMessage(wins);
    }).catch((error) => { throw error; });
  `;
  return Promise.all(
    Array.from(
      { length: count },
      (_, n) =>
        new Promise<[string, string][]>((resolve, reject) => {
          const worker = new Worker(code, { eval: true, workerData: { module, path, fires, n } });
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.once('exit', (exit) => {
            if (exit !== 0) reject(new Error(`worker ${n} exited with ${exit}`));
          });
        }),
    ),
  );
}

describe('SQLite catalog on disk', () => {
  it('creates its directory and uses WAL with foreign keys enforced', async () => {
    const path = freshPath();
    const catalog = new SqliteCatalog(path);
    await catalog.migrate();
    await catalog.close();
    assert.ok(existsSync(path));
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((row) => (row as { name: string }).name);
      assert.deepEqual(tables, [
        'operation_logs',
        'plans',
        'scheduled_operations',
        'scheduled_runs',
        'schema_version',
        'tokens',
        'triggers',
      ]);
      assert.deepEqual(
        db.prepare('SELECT version FROM schema_version ORDER BY version').all(),
        MIGRATIONS.map((m) => ({ version: m.version })),
      );
      assert.equal(MIGRATIONS.at(-1)!.version, LATEST_VERSION);
    } finally {
      db.close();
    }
  });

  it('stores a token’s SHA-256, never its secret', async () => {
    const path = freshPath();
    const catalog = new SqliteCatalog(path);
    await catalog.migrate();
    const { secret } = await catalog.createToken({ project: 'a' });
    await catalog.close();
    const dir = join(path, '..');
    for (const name of await readdir(dir)) {
      const bytes = await readFile(join(dir, name));
      assert.equal(bytes.includes(secret), false, `${name} holds the secret`);
      assert.equal(bytes.includes(secret.slice(4)), false, `${name} holds the secret`);
    }
  });

  it('a second connection to the same file sees the first one’s writes and claims', async () => {
    const path = freshPath();
    const one = new SqliteCatalog(path);
    const two = new SqliteCatalog(path);
    try {
      await Promise.all([one.migrate(), two.migrate()]);
      const plan = await one.createPlan({
        project: 'a',
        name: 'p',
        provider: 'x',
        resources: [],
        parameters: {},
      });
      assert.deepEqual(await two.getPlan('a', plan.id), plan);
      const trigger = await one.createTrigger({
        project: 'a',
        name: 't',
        type: 'time',
        properties: { pattern: '* * * * *' },
      });
      const op = await one.createScheduledOperation({
        project: 'a',
        name: 'op',
        operationType: 'protect',
        triggerId: trigger.id,
        definition: { planId: plan.id },
      });
      const fire = new Date(Date.parse(op.createdAt) + 60_000).toISOString();
      assert.equal(await one.claimFires(op.id, op.createdAt, fire, 'one'), true);
      assert.equal(await two.claimFires(op.id, op.createdAt, fire, 'two'), false);
      assert.equal(await two.lastClaimedRun(op.id), fire);
      assert.equal(await two.setScheduledOperationEnabled('a', op.id, false), true);
      const next = new Date(Date.parse(fire) + 60_000).toISOString();
      assert.equal(await one.claimFires(op.id, fire, next, 'one'), false, 'disabled in the other');
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('six threads migrating a fresh file together and claiming the same 50 fires: each fire claimed once', async () => {
    const path = freshPath();
    const fires = Array.from({ length: 50 }, (_, i) =>
      new Date(Date.UTC(2026, 0, 1, 0, i + 1)).toISOString(),
    );
    const wins = (await claimInWorkers(path, 6, fires)).flat().sort((a, b) => (a[0] < b[0] ? -1 : 1));
    // The won claims chain from the operation's creation to the last fire: no fire twice, none lost.
    assert.equal(wins[0]![0], '2026-01-01T00:00:00.000Z');
    for (let i = 1; i < wins.length; i++) assert.equal(wins[i]![0], wins[i - 1]![1], JSON.stringify(wins));
    assert.equal(wins.at(-1)![1], fires.at(-1));
    const catalog = new SqliteCatalog(path);
    try {
      assert.equal(await catalog.schemaVersion(), LATEST_VERSION);
    } finally {
      await catalog.close();
    }
  });

  it('an unopenable path is CATALOG_UNAVAILABLE naming it', async () => {
    const blocker = join(root, `file-${++files}`);
    const catalog = new SqliteCatalog(join(blocker, 'catalog.sqlite'));
    await catalog.migrate();
    await catalog.close();
    // blocker/catalog.sqlite exists as a directory's file; now ask for a file under that file.
    const path = join(blocker, 'catalog.sqlite', 'catalog.sqlite');
    assert.throws(
      () => new SqliteCatalog(path),
      (error: Error & { code?: string }) =>
        error.code === 'CATALOG_UNAVAILABLE' && error.message.includes(path),
    );
  });

  it('migrating a version-1 catalog keeps each scheduled operation’s last claimed fire', async () => {
    const path = freshPath();
    await mkdir(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.exec(VERSION_TABLE.sqlite);
      db.exec(MIGRATIONS[0]!.sql.sqlite);
      db.prepare('INSERT INTO schema_version VALUES (1, ?, ?)').run('v1', V1_OPERATIONS.created);
      for (const [sql, params] of V1_INSERTS)
        db.prepare(sql.replace(/\$\d+/g, '?')).run(...params.map((v) => (v === true ? 1 : v)));
    } finally {
      db.close();
    }
    const catalog = new SqliteCatalog(path);
    try {
      await catalog.migrate();
      await assertMigratedClaims(catalog);
    } finally {
      await catalog.close();
    }
  });

  it('schemaVersion is 0 before migrate', async () => {
    const catalog = new SqliteCatalog(freshPath());
    try {
      assert.equal(await catalog.schemaVersion(), 0);
    } finally {
      await catalog.close();
    }
  });
});
