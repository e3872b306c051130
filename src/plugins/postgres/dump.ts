/**
 * Protect: `pg_dump -Fc` of one database streamed into the bank as `dump.pgc`, and
 * `info.json` describing exactly that archive; for a server, its globals (roles,
 * tablespaces) from `pg_dumpall --globals-only`.
 */
import { createHash } from 'node:crypto';
import type { HookContext } from '../sdk.js';
import {
  type DatabaseFacts,
  databaseFacts,
  listDatabases,
  listTables,
  type TableInfo,
  withClient,
} from './sql.js';
import { startTool, type Tool } from './tool.js';
import { databaseOf, maskUrl, secretsOf, splitPassword } from './url.js';

export const DUMP_KEY = 'dump.pgc';
export const INFO_KEY = 'info.json';
export const GLOBALS_KEY = 'globals.sql';

/** What `info.json` of a `postgres.database` holds: the database's facts, and the archive's. */
export interface DumpInfo extends DatabaseFacts {
  format: 'custom';
  /** Bytes of `dump.pgc`. */
  size: number;
  /** sha256 of `dump.pgc`, hex. */
  sha256: string;
  /** True when `tables` was read in the very snapshot pg_dump dumped. */
  snapshot: boolean;
  tableCount: number;
  tables: TableInfo[];
  dumpedAt: string;
}

export interface ToolSettings {
  bindir?: string | undefined;
}

/** The environment for a client tool: the password out of sight of `ps`, and no endless connect. */
export function toolEnv(password: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (password !== undefined) env.PGPASSWORD = password;
  if (!process.env.PGCONNECT_TIMEOUT) env.PGCONNECT_TIMEOUT = '15';
  return env;
}

export function where(ctx: HookContext): string {
  return `${ctx.resource.type}#${ctx.resource.id}`;
}

export async function protectDatabase(
  ctx: HookContext,
  url: string,
  options: { countRows: boolean; compression: number | undefined },
  settings: ToolSettings,
): Promise<DumpInfo> {
  const name = databaseOf(url) ?? ctx.resource.id;
  const what = `${where(ctx)}: database "${name}"`;
  // One failure (or the hook's cancellation) stops both the dump and the queries beside it.
  const inner = new AbortController();
  const onAbort = () => inner.abort(ctx.signal.reason);
  if (ctx.signal.aborted) onAbort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const info = await withClient(url, inner.signal, what, async (client) => {
      // pg_dump dumps the snapshot exported here, so info.json describes exactly the archive.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      let snapshot: string | undefined;
      try {
        snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]?.id;
      } catch {
        // E.g. a standby that cannot export one: dump anyway, and say the facts may differ.
        await client.query('ROLLBACK');
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      }
      const facts = await databaseFacts(client);
      ctx.progress(0.05, `dumping ${facts.databaseSize} bytes`);
      let first: { error: unknown } | undefined;
      const failFast = <T>(promise: Promise<T>) =>
        promise.catch((error: unknown) => {
          first ??= { error };
          inner.abort(error);
          throw error;
        });
      const [dumped, tables] = await Promise.allSettled([
        failFast(dumpToBank(ctx, url, snapshot, options.compression, settings, inner.signal, what)),
        failFast(listTables(client, options.countRows)),
      ]);
      if (first) throw first.error;
      if (dumped.status !== 'fulfilled' || tables.status !== 'fulfilled') throw new Error('unreachable');
      await client.query('COMMIT');
      const result: DumpInfo = {
        format: 'custom',
        database: facts.database,
        serverVersion: facts.serverVersion,
        serverVersionNum: facts.serverVersionNum,
        databaseSize: facts.databaseSize,
        encoding: facts.encoding,
        collate: facts.collate,
        ctype: facts.ctype,
        size: dumped.value.size,
        sha256: dumped.value.sha256,
        snapshot: snapshot !== undefined,
        tableCount: tables.value.length,
        tables: tables.value,
        dumpedAt: new Date().toISOString(),
      };
      return result;
    });
    await ctx.bank.put(INFO_KEY, `${JSON.stringify(info, null, 2)}\n`);
    // The archive is the content (pg_dump compresses it itself); never deduplicated.
    ctx.reportStats({ files: 1, bytes: info.size, newBytes: info.size });
    ctx.progress(1);
    ctx.log(
      `dumped database "${info.database}" from ${maskUrl(url)}: ${info.tableCount} tables, ${info.size} bytes (sha256 ${info.sha256})`,
    );
    return info;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/** Runs pg_dump into `dump.pgc`, hashing as it goes; the put fails, storing nothing, if pg_dump fails. */
async function dumpToBank(
  ctx: HookContext,
  url: string,
  snapshot: string | undefined,
  compression: number | undefined,
  settings: ToolSettings,
  signal: AbortSignal,
  what: string,
): Promise<{ size: number; sha256: string }> {
  const { url: bare, password } = splitPassword(url);
  const args = ['--format=custom', '--no-password', `--dbname=${bare}`];
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  if (compression !== undefined) args.push(`--compress=${compression}`);
  const tool = startTool('pg_dump', args, {
    bindir: settings.bindir,
    env: toolEnv(password),
    stdout: true,
    signal,
    secrets: secretsOf(url),
    what,
  });
  let reported = 0;
  return toolToBank(ctx, DUMP_KEY, tool, (size) => {
    if (size - reported < 16 * 1024 * 1024) return;
    reported = size;
    ctx.progress(0.5, `${Math.round(size / (1024 * 1024))} MiB dumped`);
  });
}

/**
 * Streams a tool's stdout into the bank under `key`, hashing it. The put fails, storing
 * nothing, if the tool fails; if the bank fails instead, the tool is killed.
 */
async function toolToBank(
  ctx: HookContext,
  key: string,
  tool: Tool,
  onChunk: (size: number) => void = () => {},
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  let toolFailed: { error: unknown } | undefined;
  async function* output(): AsyncGenerator<Buffer> {
    for await (const chunk of tool.stdout! as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      onChunk(size);
      yield chunk;
    }
    try {
      await tool.done;
    } catch (error) {
      toolFailed = { error };
      throw error;
    }
  }
  try {
    await ctx.bank.put(key, output());
  } catch (error) {
    if (toolFailed) throw toolFailed.error;
    tool.kill();
    await tool.done.catch(() => {});
    throw error;
  }
  return { size, sha256: hash.digest('hex') };
}

/** What `info.json` of a `postgres.server` holds. */
export interface ServerInfo {
  serverVersion: string;
  databases: string[];
  /** Whether `globals.sql` was stored, and whether it holds role passwords. */
  globals: boolean;
  rolePasswords: boolean;
  globalsSha256?: string;
}

export async function protectServer(
  ctx: HookContext,
  url: string,
  options: { globals: boolean },
  settings: ToolSettings,
): Promise<ServerInfo> {
  const what = `${where(ctx)}: server ${maskUrl(url)}`;
  const facts = await withClient(url, ctx.signal, what, async (client) => {
    const { rows } = await client.query<{ version: string; superuser: boolean }>(
      `SELECT current_setting('server_version') AS version,
              coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser`,
    );
    return {
      version: rows[0]!.version,
      superuser: rows[0]!.superuser,
      databases: await listDatabases(client),
    };
  });
  const info: ServerInfo = {
    serverVersion: facts.version,
    databases: facts.databases,
    globals: options.globals,
    rolePasswords: options.globals && facts.superuser,
  };
  if (options.globals) {
    const { url: bare, password } = splitPassword(url);
    // Only superusers may read pg_authid; others still get roles and tablespaces.
    const args = ['--globals-only', '--no-password', `--dbname=${bare}`];
    if (!facts.superuser) args.push('--no-role-passwords');
    const tool = startTool('pg_dumpall', args, {
      bindir: settings.bindir,
      env: toolEnv(password),
      stdout: true,
      signal: ctx.signal,
      secrets: secretsOf(url),
      what: `${what}: globals`,
    });
    info.globalsSha256 = (await toolToBank(ctx, GLOBALS_KEY, tool)).sha256;
  }
  await ctx.bank.put(INFO_KEY, `${JSON.stringify(info, null, 2)}\n`);
  ctx.log(
    `server ${maskUrl(url)} (PostgreSQL ${info.serverVersion}): ${info.databases.length} databases${info.globals ? ', globals saved' : ''}`,
  );
  return info;
}
