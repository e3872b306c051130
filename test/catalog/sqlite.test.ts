import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { LATEST_VERSION, SqliteCatalog } from '../../src/catalog/index.js';
import { catalogConformance } from './conformance.js';

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
 * claims every fire in `fires` for one scheduled operation. Returns each worker's wins.
 */
function claimInWorkers(path: string, count: number, fires: string[]): Promise<string[][]> {
  const module = new URL('../../src/catalog/sqlite.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.module).then(async ({ SqliteCatalog }) => {
      const catalog = new SqliteCatalog(workerData.path);
      await catalog.migrate();
      const wins = [];
      for (const fire of workerData.fires) {
        if (await catalog.claimRun('0190a5c2-0000-7000-8000-000000000001', fire, 'worker ' + workerData.n)) wins.push(fire);
      }
      await catalog.close();
      parentPort.postMessage(wins);
    }).catch((error) => { throw error; });
  `;
  return Promise.all(
    Array.from(
      { length: count },
      (_, n) =>
        new Promise<string[]>((resolve, reject) => {
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
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [{ version: LATEST_VERSION }]);
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
      const fire = '2026-01-01T00:00:00.000Z';
      assert.equal(await one.claimRun('s', fire, 'one'), true);
      assert.equal(await two.claimRun('s', fire, 'two'), false);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('six threads migrating a fresh file together and claiming the same 50 fires: each fire won once', async () => {
    const path = freshPath();
    const fires = Array.from({ length: 50 }, (_, i) => new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString());
    const wins = await claimInWorkers(path, 6, fires);
    assert.deepEqual(wins.flat().sort(), fires);
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

  it('schemaVersion is 0 before migrate', async () => {
    const catalog = new SqliteCatalog(freshPath());
    try {
      assert.equal(await catalog.schemaVersion(), 0);
    } finally {
      await catalog.close();
    }
  });
});
