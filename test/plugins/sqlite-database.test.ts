import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MemoryBank } from '../../src/bank/index.js';
import type { OperationLog } from '../../src/flows/operation.js';
import { PluginHarness } from '../../src/flows/testkit.js';
import { sqliteDatabasePlugin } from '../../src/plugins/sqlite-database/plugin.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-sqlite-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const RESOURCE = 'sqlite.database#db';

async function harnessFor(path: string, options: { bank?: MemoryBank; checkpointId?: string } = {}) {
  return new PluginHarness({
    plugins: [await sqliteDatabasePlugin({})],
    resources: [{ resource: { type: 'sqlite.database', id: 'db', extra: { path } }, children: [] }],
    ...options,
  });
}

/** The failed task's error message, or a failure that shows the whole log. */
function failure(log: OperationLog): { code: string | undefined; message: string } {
  assert.equal(log.status, 'failed', JSON.stringify(log, null, 2));
  const task = log.tasks.find((t) => t.status === 'failed');
  assert.ok(task?.error, JSON.stringify(log, null, 2));
  return { code: task.error.code, message: task.error.message };
}

function succeeded(log: OperationLog): void {
  assert.equal(
    log.status,
    'succeeded',
    JSON.stringify(
      log.tasks.filter((t) => t.error),
      null,
      2,
    ),
  );
}

async function storedKey(bank: MemoryBank, name: string): Promise<string> {
  const keys = await bank.list('checkpoints/');
  const key = keys.find((k) => k.endsWith(`/${name}`));
  assert.ok(key, `no ${name} among ${keys.join(', ')}`);
  return key;
}

function dump(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return {
      items: db.prepare('SELECT rowid, * FROM items ORDER BY rowid').all(),
      tags: db.prepare('SELECT * FROM tags ORDER BY item, tag').all(),
      schema: db.prepare('SELECT type, name, sql FROM sqlite_schema ORDER BY name').all(),
    };
  } finally {
    db.close();
  }
}

function makeDb(file: string, rows: number): void {
  const db = new Database(file);
  db.exec(`
    CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, data BLOB, note TEXT);
    CREATE TABLE tags (item INTEGER REFERENCES items(id), tag TEXT, PRIMARY KEY (item, tag)) WITHOUT ROWID;
    CREATE INDEX items_name ON items(name);
  `);
  const item = db.prepare('INSERT INTO items (name, price, data, note) VALUES (?, ?, ?, ?)');
  const tag = db.prepare('INSERT INTO tags (item, tag) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const id = item.run(
        `item ${i} ✓`,
        i * 1.25,
        Buffer.from([i % 256, 0, 255, i % 7]),
        i % 3 ? null : 'x'.repeat(i % 500),
      ).lastInsertRowid;
      tag.run(id, `t${i % 5}`);
    }
  })();
  db.close();
}

/** Runs `fn` with os.tmpdir() pointing at a fresh directory, and returns what is left in it. */
async function leftInTmp(fn: () => Promise<void>): Promise<string[]> {
  const scratch = await mkdtemp(join(dir, 'tmp-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  try {
    await fn();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  return readdir(scratch);
}

describe('sqlite.database plugin', () => {
  it('protects and restores every row, and records the copy in info.json', async () => {
    const source = join(dir, 'round.db');
    makeDb(source, 2000);
    const harness = await harnessFor(source);
    const left = await leftInTmp(async () => {
      succeeded(await harness.run('protect'));
      succeeded(await harness.run('verify'));
    });
    assert.deepEqual(left, [], 'the temporary copy and the scratch file are removed');

    const stored = await harness.bank.get(await storedKey(harness.bank, 'database.sqlite'));
    const info = JSON.parse((await harness.bank.get(await storedKey(harness.bank, 'info.json'))).toString());
    assert.equal(info.path, source);
    assert.equal(info.size, stored.length);
    assert.equal(info.sha256, createHash('sha256').update(stored).digest('hex'));
    assert.equal(info.pageSize * info.pageCount, info.size);
    assert.equal(info.journalMode, 'delete');
    assert.match(info.sqliteVersion, /^3\.\d+\.\d+$/);

    const target = join(dir, 'restored', 'deeper', 'round.db');
    succeeded(await harness.run('restore', { [RESOURCE]: { target } }));
    assert.deepEqual(dump(target), dump(source));
    assert.equal((dump(target).items ?? []).length, 2000);
  });

  it('takes the path from the id when the resource has none', async () => {
    const source = join(dir, 'by-id.db');
    makeDb(source, 10);
    const harness = new PluginHarness({
      plugins: [await sqliteDatabasePlugin({})],
      resources: [{ resource: { type: 'sqlite.database', id: source }, children: [] }],
    });
    succeeded(await harness.run('protect'));
    const target = join(dir, 'by-id-restored.db');
    succeeded(await harness.run('restore', { 'sqlite.database': { target } }));
    assert.deepEqual(dump(target), dump(source));
  });

  it('refuses to restore over an existing target unless overwrite is given', async () => {
    const source = join(dir, 'over.db');
    makeDb(source, 50);
    const harness = await harnessFor(source);
    succeeded(await harness.run('protect'));

    const target = join(dir, 'over-target.db');
    await writeFile(target, 'precious');
    const refused = failure(await harness.run('restore', { [RESOURCE]: { target } }));
    assert.equal(refused.code, 'HOOK_FAILED');
    assert.match(
      refused.message,
      /sqlite\.database#db main: restore target .*over-target\.db already exists/,
    );
    assert.match(refused.message, /--overwrite/);
    assert.equal(await readFile(target, 'utf8'), 'precious');
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('.hoard-')),
      [],
      'no temporary file is left next to the target',
    );

    // A stale -wal of the database being replaced would be replayed into the restored one.
    await writeFile(`${target}-wal`, Buffer.alloc(4096, 7));
    succeeded(await harness.run('restore', { [RESOURCE]: { target, overwrite: true } }));
    assert.deepEqual(dump(target), dump(source));
    assert.equal((await readdir(dir)).includes('over-target.db-wal'), false);

    // Leftover sidecars alone also count as existing data.
    const lonely = join(dir, 'lonely.db');
    await writeFile(`${lonely}-journal`, 'hot');
    const sidecar = failure(await harness.run('restore', { [RESOURCE]: { target: lonely } }));
    assert.match(sidecar.message, /lonely\.db-journal .*already exists/);

    const directory = failure(await harness.run('restore', { [RESOURCE]: { target: dir, overwrite: true } }));
    assert.match(directory.message, /is a directory/);
  });

  it('verifies a good checkpoint and names the damage in a corrupted one', async () => {
    const source = join(dir, 'verify.db');
    makeDb(source, 3000);
    const harness = await harnessFor(source);
    succeeded(await harness.run('protect'));
    const verified = await harness.run('verify');
    succeeded(verified);
    assert.ok(verified.log.some((l) => /integrity_check ok/.test(l)));

    const key = await storedKey(harness.bank, 'database.sqlite');
    const bytes = await harness.bank.get(key);
    const info = JSON.parse((await harness.bank.get(await storedKey(harness.bank, 'info.json'))).toString());
    // A byte in the cell pointer array of page 2 (the items table's root): structure, not just data.
    const at = info.pageSize + 8 + 2;
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await harness.bank.put(key, bytes);

    const damaged = failure(await harness.run('verify'));
    assert.equal(damaged.code, 'HOOK_FAILED');
    assert.match(damaged.message, /sqlite\.database#db main: database\.sqlite .* is damaged/);
    assert.match(damaged.message, /sha256 [0-9a-f]{64} where [0-9a-f]{64} was recorded/);
    assert.match(damaged.message, /PRAGMA integrity_check: /);
    assert.doesNotMatch(damaged.message, /integrity_check: ok/);

    const target = join(dir, 'verify-restored.db');
    const restore = failure(await harness.run('restore', { [RESOURCE]: { target } }));
    assert.match(restore.message, /damaged: .*nothing was restored/);
    assert.equal((await readdir(dir)).includes('verify-restored.db'), false);
  });

  it('names the path when the source is missing or not a SQLite database', async () => {
    const missing = join(dir, 'nowhere', 'missing.db');
    const gone = failure(await (await harnessFor(missing)).run('protect'));
    assert.equal(gone.code, 'HOOK_FAILED');
    assert.equal(gone.message, `sqlite.database#db main: source database ${missing} does not exist`);

    const text = join(dir, 'not-a-db.txt');
    await writeFile(text, 'hello, I am not a database\n'.repeat(500));
    const junk = failure(await (await harnessFor(text)).run('protect'));
    assert.equal(junk.code, 'HOOK_FAILED');
    assert.match(junk.message, /not-a-db\.txt is not a SQLite database/);

    // SQLite itself would open this as an empty database.
    const tiny = join(dir, 'tiny.db');
    await writeFile(tiny, 'x');
    const short = failure(await (await harnessFor(tiny)).run('protect'));
    assert.match(short.message, /tiny\.db is not a SQLite database/);

    const folder = failure(await (await harnessFor(dir)).run('protect'));
    assert.match(folder.message, /is not a regular file/);
  });

  it("waits busyTimeout seconds for a writer's lock, then names the lock", async () => {
    const source = join(dir, 'locked.db');
    makeDb(source, 10);
    const writer = new Database(source);
    try {
      writer.exec("BEGIN EXCLUSIVE; INSERT INTO items (name) VALUES ('in flight')");
      const harness = new PluginHarness({
        plugins: [await sqliteDatabasePlugin({})],
        resources: [
          { resource: { type: 'sqlite.database', id: 'db', extra: { path: source } }, children: [] },
        ],
        parameters: { 'sqlite.database': { busyTimeout: 0.2 } },
      });
      const locked = failure(await harness.run('protect'));
      assert.match(
        locked.message,
        /locked\.db stayed locked by a writer for over 200 ms \(database is locked\)/,
      );
      writer.exec('COMMIT');
      succeeded(await harness.run('protect'));
    } finally {
      writer.close();
    }
  });

  it('copies a database that a crashed writer left with a hot journal, without its torn transaction', async () => {
    const source = join(dir, 'crashed.db');
    makeDb(source, 20);
    const crash = spawnSync(process.execPath, ['-e', CRASHING_WRITER], {
      env: { ...process.env, SQLITE_MODULE: sqliteModule(), DB: source },
    });
    assert.equal(crash.signal, 'SIGKILL', crash.stderr.toString());
    assert.ok((await readdir(dir)).includes('crashed.db-journal'), 'the crash left a hot journal');

    const harness = await harnessFor(source);
    const protect = await harness.run('protect');
    succeeded(protect);
    assert.ok(protect.log.some((l) => /opened .*crashed\.db read-write/.test(l)));
    const target = join(dir, 'crashed-restored.db');
    succeeded(await harness.run('restore', { [RESOURCE]: { target } }));
    assert.equal((dump(target).items ?? []).length, 20);
  });

  for (const mode of ['wal', 'delete'] as const) {
    it(`copies a database consistently while another process writes to it (${mode} journal)`, async () => {
      const source = join(dir, `busy-${mode}.db`);
      prefill(source, mode);
      const writer = startWriter(source, mode);
      try {
        await writer.ready;
        const bank = new MemoryBank();
        const counts: number[] = [];
        for (let i = 0; i < 4; i++) {
          const checkpointId = `20260101T00000000${i}Z-0000000${i}`;
          const harness = await harnessFor(source, { bank, checkpointId });
          succeeded(await harness.run('protect'));
          const target = join(dir, `busy-${mode}-${i}.db`);
          succeeded(await harness.run('restore', { [RESOURCE]: { target } }));
          const db = new Database(target, { readonly: true, fileMustExist: true });
          try {
            assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
            const { n, total } = db
              .prepare('SELECT count(*) AS n, coalesce(sum(x), 0) AS total FROM t')
              .get() as {
              n: number;
              total: number;
            };
            assert.equal(total, 0, `copy ${i}: sum(x) = ${total}, a transaction was torn`);
            assert.equal(n % 2, 0, `copy ${i}: ${n} rows, a transaction was torn`);
            counts.push(n);
          } finally {
            db.close();
          }
          if (i === 0) succeeded(await harness.run('verify'));
        }
        assert.equal(writer.error(), undefined);
        assert.ok(
          new Set(counts).size > 1,
          `the writer committed between copies (rows per copy: ${counts.join(', ')})`,
        );
      } finally {
        await writer.stop();
      }
    });
  }
});

/** Enough rows that a copy takes several backup steps (the plugin steps 1024 pages at a time). */
function prefill(file: string, mode: 'wal' | 'delete'): void {
  const db = new Database(file);
  db.pragma(`journal_mode = ${mode}`);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER NOT NULL, pad BLOB)');
  const insert = db.prepare('INSERT INTO t (x, pad) VALUES (?, randomblob(200))');
  db.transaction(() => {
    for (let i = 1; i <= 15_000; i++) {
      insert.run(i);
      insert.run(-i);
    }
  })();
  db.close();
}

/**
 * A child process that commits, as fast as it can, transactions that each insert x and -x
 * (and now and then delete such a pair), so that every committed state has sum(x) = 0 and
 * an even row count.
 */
const WRITER = `
const Database = require(process.env.SQLITE_MODULE);
const db = new Database(process.env.DB, { timeout: 20000 });
db.pragma('journal_mode = ' + process.env.MODE);
db.pragma('synchronous = OFF');
const insert = db.prepare('INSERT INTO t (x, pad) VALUES (?, randomblob(300))');
const remove = db.prepare('DELETE FROM t WHERE x = ? OR x = ?');
const step = db.transaction((n) => {
  insert.run(n);
  insert.run(-n);
  if (n % 10 === 0) remove.run(n - 5, 5 - n);
});
let n = 1000000;
let announced = false;
const loop = () => {
  const until = Date.now() + 20;
  while (Date.now() < until) step(++n);
  if (!announced) { announced = true; process.stdout.write('ready\\n'); }
  setImmediate(loop);
};
loop();
`;

/** Starts a transaction big enough to spill into the database file, then dies without committing. */
const CRASHING_WRITER = `
const Database = require(process.env.SQLITE_MODULE);
const db = new Database(process.env.DB);
db.pragma('cache_size = 10');
db.exec('BEGIN');
const insert = db.prepare("INSERT INTO items (name, data) VALUES ('torn', randomblob(1000))");
for (let i = 0; i < 2000; i++) insert.run();
process.kill(process.pid, 'SIGKILL');
`;

function sqliteModule(): string {
  return createRequire(import.meta.url).resolve('better-sqlite3');
}

function startWriter(file: string, mode: string) {
  const child: ChildProcess = spawn(process.execPath, ['-e', WRITER], {
    env: {
      ...process.env,
      SQLITE_MODULE: sqliteModule(),
      DB: file,
      MODE: mode,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let exit: string | undefined;
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = `writer exited (code ${code}, signal ${signal}): ${stderr}`;
      resolve();
    });
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', () => resolve());
    void exited.then(() => reject(new Error(exit)));
  });
  return {
    ready,
    /** Why the writer stopped, if it stopped on its own. */
    error: () => exit,
    async stop() {
      if (exit === undefined) child.kill('SIGKILL');
      await exited;
    },
  };
}
