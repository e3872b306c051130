/**
 * The application database a crash campaign protects while it is being written: a process
 * commits small transactions to a WAL-mode SQLite file all campaign long, each one adding rows
 * and changing an old one, with a tally row that every transaction updates. A copy is
 * consistent when it is exactly some committed state: rows 1…n, each with the payload its
 * id and version make, and a tally that agrees with them.
 *
 * Run as a script (`node sqlite-app.js --crash-campaign-writer DB`), this module is the
 * writer; imported, it starts one and checks copies. `node --test` also loads every module
 * of a test folder as a test file: without that argument it does nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const WRITER_FLAG = '--crash-campaign-writer';

/** The payload of row `id` at `version`: anything else in a copy is damage. */
export function payload(id: number, version: number): string {
  const digest = createHash('sha256').update(`${id}:${version}`).digest('hex');
  return `${digest}${'.'.repeat(id % 64)}`;
}

/** Starts the writer on `file` (created if missing); it stops when `stop()` is called or this process ends. */
export function startWriter(file: string): { child: ChildProcess; stop(): Promise<void> } {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), WRITER_FLAG, file], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    child,
    async stop() {
      child.stdin?.end();
      await exited;
    },
  };
}

/** Rows committed in `file` now (the writer's tally); 0 before its first commit. */
export function committedRows(file: string): number {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return 0;
  }
  try {
    db.pragma('busy_timeout = 5000');
    const row = db.prepare('SELECT n FROM tally WHERE k = 1').get() as { n: number } | undefined;
    return row?.n ?? 0;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/**
 * What is wrong with a copy of the database (empty if nothing): it must be one committed
 * state holding at least `atLeast` and at most `atMost` rows.
 */
export function checkCopy(file: string, atLeast: number, atMost: number): string[] {
  const problems: string[] = [];
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch (error) {
    return [`cannot open the restored database ${file}: ${(error as Error).message}`];
  }
  try {
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') problems.push(`integrity_check: ${String(check)}`);
    const tally = db.prepare('SELECT n, v FROM tally WHERE k = 1').get() as
      | { n: number; v: number }
      | undefined;
    if (tally === undefined) return [...problems, 'the tally row is missing'];
    const stats = db
      .prepare(
        'SELECT count(*) AS count, coalesce(max(id), 0) AS max, coalesce(sum(version), 0) AS versions FROM rows',
      )
      .get() as { count: number; max: number; versions: number };
    if (stats.count !== tally.n || stats.max !== tally.n) {
      problems.push(`the tally says ${tally.n} rows, the table has ${stats.count} (largest id ${stats.max})`);
    }
    if (stats.versions !== tally.v)
      problems.push(`the tally says ${tally.v} versions, the rows sum to ${stats.versions}`);
    if (tally.n < atLeast)
      problems.push(`${tally.n} rows, but ${atLeast} were committed before the protect began`);
    if (tally.n > atMost)
      problems.push(`${tally.n} rows, more than the ${atMost} committed when it was checked`);
    let bad = 0;
    for (const row of db.prepare('SELECT id, version, payload FROM rows').iterate() as Iterable<{
      id: number;
      version: number;
      payload: string;
    }>) {
      if (row.payload !== payload(row.id, row.version) && bad++ < 3) {
        problems.push(`row ${row.id} (version ${row.version}) has a payload that no transaction wrote`);
      }
    }
  } catch (error) {
    problems.push(`reading the restored database failed: ${(error as Error).message}`);
  } finally {
    db.close();
  }
  return problems;
}

/** The writer: a transaction every 5–25 ms until stdin closes. */
function write(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 10000');
  db.exec(`CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, payload TEXT NOT NULL);
           CREATE TABLE IF NOT EXISTS tally (k INTEGER PRIMARY KEY CHECK (k = 1), n INTEGER NOT NULL, v INTEGER NOT NULL);
           INSERT OR IGNORE INTO tally VALUES (1, 0, 0);`);
  const insert = db.prepare('INSERT INTO rows VALUES (?, 0, ?)');
  const bump = db.prepare('UPDATE rows SET version = version + 1, payload = ? WHERE id = ?');
  const versionOf = db.prepare('SELECT version FROM rows WHERE id = ?');
  const tally = db.prepare('SELECT n, v FROM tally WHERE k = 1');
  const setTally = db.prepare('UPDATE tally SET n = ?, v = ? WHERE k = 1');
  const commit = db.transaction(() => {
    const { n, v } = tally.get() as { n: number; v: number };
    const added = 1 + Math.floor(Math.random() * 5);
    for (let id = n + 1; id <= n + added; id++) insert.run(id, payload(id, 0));
    const old = 1 + Math.floor(Math.random() * (n + added));
    const version = (versionOf.get(old) as { version: number }).version + 1;
    bump.run(payload(old, version), old);
    setTally.run(n + added, v + 1);
  });
  let stopped = false;
  process.stdin.on('end', () => {
    stopped = true;
  });
  process.stdin.on('close', () => {
    stopped = true;
  });
  process.stdin.resume();
  const tick = () => {
    if (stopped) {
      db.close();
      process.exit(0);
    }
    commit();
    setTimeout(tick, 5 + Math.random() * 20);
  };
  tick();
}

if (process.argv[2] === WRITER_FLAG && process.argv[3] !== undefined) write(process.argv[3]);
