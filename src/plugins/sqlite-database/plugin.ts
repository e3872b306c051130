/**
 * `sqlite.database`: a consistent online copy of a SQLite database file (SPEC §6), taken
 * with SQLite's backup API inside one read transaction, so that it is a committed state of
 * the database even while other processes keep writing.
 *
 * Stored in the resource's bank section:
 * - `database.sqlite`: the copy, streamed in (never whole in memory);
 * - `info.json`: `{path, size, sha256, pageCount, pageSize, sqliteVersion, journalMode, tables}`,
 *   `tables` being `[{name, rows}]`, counted in the copy (not the source) at protect time, so
 *   that `hoard ls` shows them without reading the copy back.
 *
 * The SQLite work (backup, integrity_check) runs in a worker thread: it is synchronous
 * native code that can take minutes on a large database, and on the main thread it would
 * stall every other hook and the checkpoint's lease renewal. This module is its own worker
 * entry (see the end of the file).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, mkdtemp, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { HoardError } from '../../errors.js';
import { resourceKey } from '../../resources/resource.js';
import { infoBrowser } from '../saved-info.js';
import { validate } from '../schema.js';
import { pathResourceSchema, targetRestoreSchema } from '../schemas.js';
import type { HookContext, JsonSchema, Operation, PluginFactory } from '../sdk.js';

const DATA_KEY = 'database.sqlite';
const INFO_KEY = 'info.json';
/** Pages per backup step: the copy stays in one read transaction, steps only pace progress and cancellation. */
const STEP_PAGES = 1024;
const DEFAULT_BUSY_TIMEOUT_S = 10;
const SQLITE_MAGIC = 'SQLite format 3\0';
/** Files SQLite keeps next to a database; a stale one next to a restored file would be replayed into it. */
const SIDECARS = ['-wal', '-shm', '-journal'] as const;

const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Seconds to wait for a writer's lock before giving up on starting the copy. Default 10. */
    busyTimeout: { type: 'number', exclusiveMinimum: 0 },
  },
};

const savedInfoSchema: JsonSchema = {
  type: 'object',
  required: ['path', 'size', 'sha256', 'pageCount', 'pageSize', 'sqliteVersion', 'journalMode'],
  properties: {
    path: { type: 'string' },
    size: { type: 'integer', minimum: 0 },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    pageCount: { type: 'integer', minimum: 0 },
    pageSize: { type: 'integer', minimum: 512, maximum: 65536 },
    sqliteVersion: { type: 'string' },
    journalMode: { type: 'string' },
    tableCount: { type: 'integer', minimum: 0 },
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, rows: { type: 'integer', minimum: 0 } },
      },
    },
  },
};

export interface SqliteSavedInfo {
  /** The absolute path of the source database. */
  path: string;
  size: number;
  sha256: string;
  pageCount: number;
  pageSize: number;
  /** The SQLite library that made the copy. */
  sqliteVersion: string;
  /** As the copying connection saw it: `wal` for WAL databases, `delete` for rollback-journal ones. */
  journalMode: string;
  /** The copy's tables (not SQLite's own) and their rows; absent in checkpoints taken before they were kept. */
  tableCount?: number;
  tables?: TableRows[];
}

export interface TableRows {
  name: string;
  /** Absent for a virtual table whose module this SQLite lacks. */
  rows?: number;
}

export const sqliteDatabasePlugin: PluginFactory = () => ({
  name: 'sqlite.database',
  description: 'A SQLite database file: a consistent online copy (backup API), even while it is written',
  types: [
    {
      type: 'sqlite.database',
      restoreTarget: true,
      schemas: {
        resource: pathResourceSchema,
        options: optionsSchema,
        restore: targetRestoreSchema,
        verify: { type: 'object', additionalProperties: false, properties: {} },
        savedInfo: savedInfoSchema,
      },
      // The copy is the same bytes exactly when the database is: its sha256 answers diff.
      browse: infoBrowser({ exact: true }),
    },
  ],
  operation(kind, resource, { parameters, protectParameters }) {
    const path = typeof resource.extra?.path === 'string' ? resource.extra.path : resource.id;
    const op: Operation = {};
    if (kind === 'protect') {
      const busyTimeout = (protectParameters.busyTimeout as number | undefined) ?? DEFAULT_BUSY_TIMEOUT_S;
      op.onMain = (ctx) => protect(ctx, resolve(path), Math.round(busyTimeout * 1000));
    } else if (kind === 'restore') {
      op.onMain = (ctx) => restore(ctx, resolve(parameters.target as string), parameters.overwrite === true);
    } else if (kind === 'verify') {
      op.onMain = (ctx) => verify(ctx);
    } else {
      return undefined; // delete: the checkpoint's keys are all there is, and Hoard removes them
    }
    return op;
  },
});

// --- protect ---------------------------------------------------------------------------

async function protect(ctx: HookContext, source: string, busyTimeoutMs: number): Promise<void> {
  const st = await stat(source).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw fail(ctx, `source database ${source} does not exist`, { path: source }, error);
    }
    throw fail(ctx, `cannot read source database ${source}: ${error.message}`, { path: source }, error);
  });
  if (!st.isFile()) throw fail(ctx, `source database ${source} is not a regular file`, { path: source });
  // SQLite itself takes a file too short for a header for an empty database.
  const headed = await hasSqliteHeader(source).catch((error: NodeJS.ErrnoException) => {
    throw fail(ctx, `cannot read source database ${source}: ${error.message}`, { path: source }, error);
  });
  if (st.size > 0 && !headed) {
    throw fail(ctx, `${source} is not a SQLite database (no "SQLite format 3" header)`, { path: source });
  }

  const report = reporter(ctx);
  const dir = await mkdtemp(join(tmpdir(), 'hoard-sqlite-'));
  try {
    const copy = join(dir, DATA_KEY);
    let copied: BackupResult;
    try {
      copied = await runJob<BackupResult>(
        { kind: 'backup', source, dest: copy, busyTimeoutMs },
        ctx.signal,
        (f) => report(0.5 * f, 'copying'),
      );
    } catch (error) {
      throw sourceError(ctx, source, error, busyTimeoutMs);
    }
    if (copied.readWrite) ctx.log(`opened ${source} read-write: a read-only connection could not read it`);
    const { size, pageSize, pageCount } = await copyHeader(ctx, copy);
    report(0.5, 'storing');
    const hash = createHash('sha256');
    let sent = 0;
    const chunks = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of createReadStream(copy, { highWaterMark: 1 << 20, signal: ctx.signal })) {
        const bytes = chunk as Buffer;
        hash.update(bytes);
        sent += bytes.length;
        report(0.5 + (0.5 * sent) / Math.max(size, 1), 'storing');
        yield bytes;
      }
    };
    await ctx.bank.put(DATA_KEY, chunks());
    if (sent !== size) throw fail(ctx, `stored ${sent} bytes of a ${size}-byte copy of ${source}`);
    const info: SqliteSavedInfo = {
      path: source,
      size,
      sha256: hash.digest('hex'),
      pageCount,
      pageSize,
      sqliteVersion: copied.sqliteVersion,
      journalMode: copied.journalMode,
      tableCount: copied.tables.length,
      tables: copied.tables,
    };
    await ctx.bank.put(INFO_KEY, `${JSON.stringify(info, null, 2)}\n`);
    // A whole new copy every time (not deduplicated); the bytes stored Hoard counts itself.
    ctx.reportStats({ files: 1, bytes: size, newBytes: size });
    report(1, 'done');
    ctx.log(`copied ${source}: ${pageCount} pages of ${pageSize} bytes, ${info.journalMode} mode`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function hasSqliteHeader(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(16);
    const { bytesRead } = await handle.read(header, 0, 16, 0);
    return bytesRead === 16 && header.toString('latin1') === SQLITE_MAGIC;
  } finally {
    await handle.close();
  }
}

/** The page size and count from the copy's header; a copy that is not a SQLite file is a bug worth stopping on. */
async function copyHeader(
  ctx: HookContext,
  file: string,
): Promise<{ size: number; pageSize: number; pageCount: number }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(100);
    const { bytesRead } = await handle.read(header, 0, 100, 0);
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (bytesRead < 100 || header.toString('latin1', 0, 16) !== SQLITE_MAGIC || size % pageSize !== 0) {
      throw fail(ctx, `the backup API produced a copy that is not a SQLite database (${size} bytes)`);
    }
    return { size, pageSize, pageCount: size / pageSize };
  } finally {
    await handle.close();
  }
}

/** A clear message for what can go wrong reading the source; cancellation stays as it is. */
function sourceError(ctx: HookContext, source: string, error: unknown, busyTimeoutMs: number): unknown {
  if (ctx.signal.aborted) return error;
  const code = String((error as { code?: unknown }).code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  const details = { path: source, sqliteCode: code || undefined };
  const problem = (text: string) => fail(ctx, text, details, error);
  // Extended codes (SQLITE_BUSY_RECOVERY, SQLITE_CORRUPT_INDEX …) share their primary's prefix.
  if (code === 'SQLITE_NOTADB') return problem(`${source} is not a SQLite database (${message})`);
  if (code.startsWith('SQLITE_CORRUPT')) return problem(`${source} is damaged (${message})`);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return problem(`${source} stayed locked by a writer for over ${busyTimeoutMs} ms (${message})`);
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM')) {
    return problem(`cannot open ${source} (${message}); can Hoard read it and write in its directory?`);
  }
  return problem(`copying ${source} failed: ${message}`);
}

// --- restore and verify ----------------------------------------------------------------

async function restore(ctx: HookContext, target: string, overwrite: boolean): Promise<void> {
  const info = await readInfo(ctx);
  const dir = dirname(target);
  const existing = await lstatOrUndefined(target);
  if (existing?.isDirectory()) throw fail(ctx, `restore target ${target} is a directory`, { target });
  const sidecars: string[] = [];
  for (const suffix of SIDECARS) if (await lstatOrUndefined(target + suffix)) sidecars.push(target + suffix);
  if ((existing || sidecars.length > 0) && !overwrite) {
    const what = existing ? target : `${sidecars.join(', ')} (left by an earlier database at ${target})`;
    throw fail(
      ctx,
      `restore target ${what} already exists; pass --overwrite (API: "overwrite": true) to replace it`,
      { target },
    );
  }

  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(target)}.hoard-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const report = reporter(ctx);
    const got = await download(ctx, info, temp, (f) => report(f, 'restoring'));
    if (got.size !== info.size || got.sha256 !== info.sha256) {
      throw fail(
        ctx,
        `${DATA_KEY} in the checkpoint is damaged: ${got.size} bytes with sha256 ${got.sha256}, but ${info.size} bytes with sha256 ${info.sha256} were stored; nothing was restored`,
        { size: got.size, sha256: got.sha256, expectedSize: info.size, expectedSha256: info.sha256 },
      );
    }
    // Written 0600 so that nobody reads it half-written; now the old file's mode, or the umask's default.
    await chmod(temp, existing?.isFile() ? existing.mode & 0o777 : 0o666 & ~process.umask());
    if (overwrite) {
      // A -wal or hot -journal of the old database would be replayed into the new one.
      for (const file of sidecars) await rm(file, { force: true });
      if (sidecars.length > 0) ctx.log(`removed ${sidecars.join(', ')} of the database it replaces`);
      await rename(temp, target);
    } else {
      await placeNew(ctx, temp, target);
    }
    await syncDir(dir);
  } finally {
    await rm(temp, { force: true });
  }
  ctx.log(`restored ${info.path} (${info.size} bytes) to ${target}`);
}

/** Puts `temp` at `target` only if nothing is there: a link fails if it exists, a rename would not. */
async function placeNew(ctx: HookContext, temp: string, target: string): Promise<void> {
  try {
    await link(temp, target);
    await unlink(temp);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw fail(
        ctx,
        `restore target ${target} appeared while restoring; pass --overwrite (API: "overwrite": true) to replace it`,
        {
          target,
        },
      );
    }
    // Filesystems without hard links: check once more, then rename.
    if (await lstatOrUndefined(target)) {
      throw fail(
        ctx,
        `restore target ${target} appeared while restoring; pass --overwrite (API: "overwrite": true) to replace it`,
        {
          target,
        },
      );
    }
    await rename(temp, target);
  }
}

async function verify(ctx: HookContext): Promise<void> {
  const info = await readInfo(ctx);
  const dir = await mkdtemp(join(tmpdir(), 'hoard-sqlite-verify-'));
  try {
    const scratch = join(dir, DATA_KEY);
    const problems: string[] = [];
    const report = reporter(ctx);
    const got = await download(ctx, info, scratch, (f) => report(0.5 * f, 'reading'));
    if (got.size !== info.size) problems.push(`${got.size} bytes where ${info.size} were stored`);
    if (got.sha256 !== info.sha256) problems.push(`sha256 ${got.sha256} where ${info.sha256} was recorded`);
    report(0.5, 'checking');
    let integrity: string[];
    try {
      integrity = (await runJob<CheckResult>({ kind: 'check', file: scratch }, ctx.signal)).integrity;
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      integrity = [error instanceof Error ? error.message : String(error)];
    }
    if (integrity.length !== 1 || integrity[0] !== 'ok') {
      const shown =
        integrity.slice(0, 5).join('; ') + (integrity.length > 5 ? `; … ${integrity.length - 5} more` : '');
      problems.push(`PRAGMA integrity_check: ${shown}`);
    }
    if (problems.length > 0) {
      throw fail(ctx, `${DATA_KEY} (a copy of ${info.path}) is damaged: ${problems.join('; ')}`, {
        problems,
        integrity: integrity.slice(0, 100),
      });
    }
    report(1, 'done');
    ctx.log(`${DATA_KEY}: sha256 matches, integrity_check ok (${info.pageCount} pages)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Streams the stored copy into a new `file` (0600, fsynced). */
async function download(
  ctx: HookContext,
  info: SqliteSavedInfo,
  file: string,
  progress: (fraction: number) => void,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const source = await ctx.bank.getStream(DATA_KEY).catch((error: unknown) => {
    throw fail(ctx, `the checkpoint holds no ${DATA_KEY} for this resource`, {}, error);
  });
  await pipeline(
    source,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.length;
        progress(size / Math.max(info.size, 1));
        yield chunk;
      }
    },
    createWriteStream(file, { flags: 'wx', mode: 0o600 }),
    { signal: ctx.signal },
  );
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { size, sha256: hash.digest('hex') };
}

async function readInfo(ctx: HookContext): Promise<SqliteSavedInfo> {
  let info: unknown;
  try {
    info = JSON.parse((await ctx.bank.get(INFO_KEY)).toString('utf8'));
  } catch (error) {
    throw fail(ctx, `the checkpoint holds no readable ${INFO_KEY} for this resource`, {}, error);
  }
  validate(savedInfoSchema, info, `${where(ctx)}: ${INFO_KEY}`, 'HOOK_FAILED');
  return info as SqliteSavedInfo;
}

// --- helpers ---------------------------------------------------------------------------

/** `ctx.progress` in steps of at least 1 %, so that a large database does not flood the events. */
function reporter(ctx: HookContext): (fraction: number, detail: string) => void {
  let last = -1;
  let lastDetail = '';
  return (fraction, detail) => {
    if (fraction - last < 0.01 && fraction < 1 && detail === lastDetail) return;
    last = fraction;
    lastDetail = detail;
    ctx.progress(Math.min(fraction, 1), detail);
  };
}

function where(ctx: HookContext): string {
  return `${resourceKey(ctx.resource)} ${ctx.hook}`;
}

/** A HOOK_FAILED shaped like the ones Hoard makes of other errors: `type#id hook: problem`. */
function fail(
  ctx: HookContext,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): HoardError {
  return new HoardError('HOOK_FAILED', `${where(ctx)}: ${message}`, {
    details: { resource: resourceKey(ctx.resource), hook: ctx.hook, ...details },
    ...(cause === undefined ? {} : { cause }),
  });
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Makes a rename in `dir` durable; some filesystems cannot fsync a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}

// --- the worker ------------------------------------------------------------------------

const JOB_KEY = 'hoard.sqlite.database.job';

type Job =
  | { kind: 'backup'; source: string; dest: string; busyTimeoutMs: number }
  | { kind: 'check'; file: string };

interface BackupResult {
  journalMode: string;
  sqliteVersion: string;
  /** A read-only connection could not read the database (e.g. a hot journal to roll back). */
  readWrite: boolean;
  tables: TableRows[];
}

interface CheckResult {
  /** The rows of `PRAGMA integrity_check`: `['ok']` for a sound database. */
  integrity: string[];
}

type WorkerMessage =
  | { type: 'progress'; fraction: number }
  | { type: 'done'; result: unknown }
  | { type: 'error'; message: string; code?: string };

/**
 * Runs `job` in a worker thread. Settles only once the worker has exited, so its connections
 * are closed and its files no longer written when the caller cleans up; an abort terminates it.
 */
function runJob<T>(job: Job, signal: AbortSignal, onProgress?: (fraction: number) => void): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolvePromise, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { [JOB_KEY]: job } });
    let outcome: { value: T } | { error: unknown } | undefined;
    const onAbort = () => {
      outcome ??= { error: signal.reason };
      void worker.terminate();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') onProgress?.(message.fraction);
      else if (message.type === 'done') outcome ??= { value: message.result as T };
      else outcome ??= { error: Object.assign(new Error(message.message), { code: message.code }) };
    });
    worker.on('error', (error) => {
      outcome ??= { error };
    });
    worker.on('exit', (exitCode) => {
      signal.removeEventListener('abort', onAbort);
      const end = outcome ?? {
        error: new Error(`the SQLite worker exited (code ${exitCode}) without a result`),
      };
      if ('value' in end) resolvePromise(end.value);
      else reject(end.error);
    });
  });
}

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
