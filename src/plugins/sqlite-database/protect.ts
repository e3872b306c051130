/** `sqlite.database` protect: the backup API's copy, streamed into the bank with its saved info. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HookContext } from '../sdk.js';
import { DATA_KEY, fail, INFO_KEY, reporter, SQLITE_MAGIC } from './common.js';
import { type BackupResult, runJob } from './job.js';
import type { SqliteSavedInfo } from './schemas.js';

export async function protect(ctx: HookContext, source: string, busyTimeoutMs: number): Promise<void> {
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
