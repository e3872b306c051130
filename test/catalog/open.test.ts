import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LATEST_VERSION, openCatalog, SqliteCatalog } from '../../src/catalog/index.js';
import { serverOf } from '../../src/catalog/postgres.js';
import { errorInfo, HoardError } from '../../src/errors.js';
import { rejectsWith } from './conformance.js';

describe('openCatalog', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hoard-open-catalog-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('without HOARD_CATALOG_URL opens a migrated SQLite catalog at <home>/catalog.sqlite, creating home', async () => {
    for (const env of [{}, { HOARD_CATALOG_URL: '' }]) {
      const home = join(root, `home-${Object.keys(env).length}`);
      const catalog = await openCatalog(home, env);
      try {
        assert.equal(catalog.kind, 'sqlite');
        assert.ok(catalog instanceof SqliteCatalog);
        assert.equal(catalog.path, join(home, 'catalog.sqlite'));
        assert.ok(existsSync(join(home, 'catalog.sqlite')));
        assert.equal(await catalog.schemaVersion(), LATEST_VERSION);
      } finally {
        await catalog.close();
      }
    }
  });

  it('reopening the same home finds the same catalog', async () => {
    const home = join(root, 'reopen');
    const first = await openCatalog(home, {});
    const { secret, token } = await first.createToken({ project: 'a' });
    await first.close();
    const second = await openCatalog(home, {});
    try {
      assert.deepEqual(await second.authenticate(secret), token);
    } finally {
      await second.close();
    }
  });

  it('an unreachable PostgreSQL server is CATALOG_UNAVAILABLE naming host:port, never the password', async () => {
    const password = 'hunter2-s3cr3t';
    for (const url of [
      `postgres://hoard:${password}@127.0.0.1:1/x`,
      `postgresql://hoard:${encodeURIComponent(`${password}@/?`)}@127.0.0.1:1/x?sslmode=disable`,
    ]) {
      const error = await openCatalog(join(root, 'unused'), { HOARD_CATALOG_URL: url }).then(
        () => assert.fail('expected CATALOG_UNAVAILABLE'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof HoardError, String(error));
      assert.equal(error.code, 'CATALOG_UNAVAILABLE');
      assert.ok(error.message.includes('127.0.0.1:1'), error.message);
      assert.ok(error.message.includes('HOARD_CATALOG_URL'), error.message);
      const everything = JSON.stringify({ json: error.toJSON(), info: errorInfo(error) });
      assert.ok(!everything.includes(password), everything);
    }
    assert.equal(existsSync(join(root, 'unused')), false, 'no SQLite catalog instead');
  });

  it('a HOARD_CATALOG_URL that is not PostgreSQL is CATALOG_INVALID, not a quiet local catalog', async () => {
    await rejectsWith(
      openCatalog(join(root, 'typo'), { HOARD_CATALOG_URL: 'postgress://u:secret@db/x' }),
      'CATALOG_INVALID',
      'HOARD_CATALOG_URL',
    );
    assert.equal(existsSync(join(root, 'typo')), false);
  });
});

describe('serverOf', () => {
  it('names hosts and ports, adding the default port, and nothing of the user part', () => {
    assert.equal(serverOf('postgres://u:p@db.example:6543/x'), 'db.example:6543');
    assert.equal(serverOf('postgresql://db/x'), 'db:5432');
    assert.equal(serverOf('postgresql://u@a:1,b/x?sslmode=require'), 'a:1,b:5432');
    assert.equal(serverOf('postgresql://[::1]:5433/x'), '[::1]:5433');
    assert.equal(serverOf('postgresql:///x'), 'localhost:5432');
    assert.equal(serverOf('postgres://u:pa@ss@h:1/x'), 'h:1');
    assert.ok(!serverOf('postgres://u:pa/ss?x@h:1/x').includes('pa'));
  });
});
