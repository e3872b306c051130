/** The worker thread's side of job.ts: the backup and the integrity check, with better-sqlite3. */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { type BackupResult, type CheckResult, JOB_KEY, type Job, type WorkerMessage } from './job.js';
import type { TableRows } from './schemas.js';

/** Pages per backup step: the copy stays in one read transaction, steps only pace progress and cancellation. */
const STEP_PAGES = 1024;

async function backupJob(
  job: Extract<Job, { kind: 'backup' }>,
  progress: (fraction: number) => void,
): Promise<BackupResult> {
  let readWrite = false;
  let journalMode: string;
  let sqliteVersion: string;
  let db = openRead(job.source, true, job.busyTimeoutMs);
  try {
    try {
      beginRead(db);
    } catch (error) {
      // A read-only connection cannot roll back a hot journal or recover a WAL; a writable one
      // does what the application itself would do on its next open.
      const code = String((error as { code?: unknown }).code);
      if (!code.startsWith('SQLITE_READONLY') && code !== 'SQLITE_CANTOPEN') throw error;
      db.close();
      db = openRead(job.source, false, job.busyTimeoutMs);
      readWrite = true;
      beginRead(db);
    }
    journalMode = String(db.pragma('journal_mode', { simple: true }));
    sqliteVersion = String(db.prepare('SELECT sqlite_version()').pluck().get());
    // Inside the read transaction every step sees the same snapshot, so writers elsewhere
    // neither restart the backup nor make the copy inconsistent.
    await db.backup(job.dest, {
      progress: ({ totalPages, remainingPages }) => {
        progress(totalPages > 0 ? (totalPages - remainingPages) / totalPages : 1);
        return STEP_PAGES;
      },
    });
    db.exec('COMMIT');
  } finally {
    db.close();
  }
  return { journalMode, sqliteVersion, readWrite, tables: countRows(job.dest) };
}

/** The tables of the copy and their rows: one count per table, in the copy, not the source. */
function countRows(file: string): TableRows[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const names = db
      .prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
      )
      .pluck()
      .all() as string[];
    return names.map((name) => {
      try {
        return {
          name,
          rows: Number(
            db
              .prepare(`SELECT count(*) FROM "${name.replaceAll('"', '""')}"`)
              .pluck()
              .get(),
          ),
        };
      } catch {
        return { name }; // a virtual table whose module this SQLite lacks: no count, not a failure
      }
    });
  } finally {
    db.close();
  }
}

function openRead(file: string, readonly: boolean, busyTimeoutMs: number): Database.Database {
  return new Database(file, { readonly, fileMustExist: true, timeout: busyTimeoutMs });
}

/** Starts a read transaction and takes its snapshot (a deferred BEGIN takes none until the first read). */
function beginRead(db: Database.Database): void {
  db.exec('BEGIN');
  try {
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

function checkJob(job: Extract<Job, { kind: 'check' }>): CheckResult {
  const db = new Database(job.file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    return { integrity: rows.map((row) => String(row.integrity_check)) };
  } finally {
    db.close();
  }
}

async function workerMain(job: Job, port: NonNullable<typeof parentPort>): Promise<void> {
  const post = (message: WorkerMessage) => port.postMessage(message);
  try {
    const result =
      job.kind === 'backup'
        ? await backupJob(job, (fraction) => post({ type: 'progress', fraction }))
        : checkJob(job);
    post({ type: 'done', result });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    post({
      type: 'error',
      message: error instanceof Error ? error.message : String(error),
      ...(typeof code === 'string' ? { code } : {}),
    });
  }
}

if (!isMainThread && parentPort) {
  const job = (workerData as Record<string, unknown> | null | undefined)?.[JOB_KEY] as Job | undefined;
  if (job) void workerMain(job, parentPort);
}
