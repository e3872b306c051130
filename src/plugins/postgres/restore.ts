/**
 * Restore and verify of a `postgres.database`: the archive streams from the bank into
 * `pg_restore`'s stdin. Restore goes into a staging database that takes the target's name
 * only once pg_restore succeeded, so a failed restore never leaves a half-filled target, and
 * with overwrite the old database stays until the new one is complete. Verify restores into
 * a scratch database, checks it against `info.json`, and always drops it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { HoardError } from '../../errors.js';
import type { HookContext } from '../sdk.js';
import { DUMP_KEY, type DumpInfo, INFO_KEY, type ToolSettings, toolEnv, where } from './dump.js';
import {
  createDatabase,
  databaseExists,
  dropDatabase,
  listTables,
  renameDatabase,
  type TableInfo,
  withClient,
  withServer,
} from './sql.js';
import { startTool } from './tool.js';
import { secretsOf, serverLabel, splitPassword, withDatabase } from './url.js';

/** PostgreSQL cuts longer names silently (NAMEDATALEN - 1), which would restore under another name. */
const MAX_NAME_BYTES = 63;
/** How long dropping a staging or scratch database may take, cancelled hook or not. */
const CLEANUP_MS = 30_000;

export async function restoreDatabase(
  ctx: HookContext,
  url: string,
  target: string,
  overwrite: boolean,
  settings: ToolSettings,
): Promise<void> {
  const at = where(ctx);
  checkName(at, target);
  const info = await readInfo(ctx);
  const server = serverLabel(url);
  const what = `${at}: restore into database "${target}"`;
  const refuse = () =>
    new HoardError(
      'HOOK_FAILED',
      `${what}: database "${target}" already exists on ${server}; restore into a new name or pass --overwrite (API: "overwrite": true)`,
      { details: { target } },
    );
  const staging = `hoard_restore_${randomBytes(6).toString('hex')}`;
  let renamed = false;
  try {
    await withServer(
      url,
      ctx.signal,
      what,
      async (client) => {
        if (!overwrite && (await databaseExists(client, target))) throw refuse();
        await createDatabase(client, staging, info);
      },
      target,
    );
    await restoreArchive(ctx, url, staging, info, settings, what);
    await withServer(
      url,
      ctx.signal,
      what,
      async (client) => {
        if (await databaseExists(client, target)) {
          if (!overwrite) throw refuse();
          await dropTarget(client, target, what);
        }
        await renameDatabase(client, staging, target);
        renamed = true;
      },
      target,
    );
  } finally {
    if (!renamed) await dropQuietly(ctx, url, staging);
  }
  ctx.progress(1);
  ctx.log(
    `restored database "${info.database}" (${info.tableCount} tables) into "${target}" on ${server}${overwrite ? ' (overwrite allowed)' : ''}`,
  );
}

export async function verifyDatabase(ctx: HookContext, url: string, settings: ToolSettings): Promise<void> {
  const at = where(ctx);
  const info = await readInfo(ctx);
  const scratch = `hoard_verify_${randomBytes(6).toString('hex')}`;
  const what = `${at}: verify in scratch database "${scratch}"`;
  const counted = info.tables.some((t) => t.rows !== undefined);
  let found: TableInfo[];
  try {
    await withServer(url, ctx.signal, what, (client) => createDatabase(client, scratch, info));
    await restoreArchive(ctx, url, scratch, info, settings, what);
    found = await withClient(withDatabase(url, scratch), ctx.signal, what, (client) =>
      listTables(client, counted),
    );
  } catch (error) {
    // The scratch database goes whatever happened; the failure that matters is the first.
    await dropQuietly(ctx, url, scratch);
    throw error;
  }
  const dropError = await dropQuietly(ctx, url, scratch);
  if (dropError) throw dropError;
  const problems = compareTables(info.tables, found);
  if (problems.length > 0) {
    const message = `the restored archive does not match info.json: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`;
    // Without the dump's own snapshot, info.json may have seen a moment the dump did not.
    if (info.snapshot) throw new HoardError('HOOK_FAILED', `${what}: ${message}`, { details: { problems } });
    ctx.log(`warning: ${message} (info.json was not read in the dump's snapshot)`);
  }
  ctx.progress(1);
  ctx.log(
    `verified: the archive (sha256 ${info.sha256}) restores with pg_restore, ${found.length} tables${counted ? ' and their row counts' : ''} as recorded`,
  );
}

function checkName(at: string, name: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (name === '' || bytes > MAX_NAME_BYTES || name.includes('\0')) {
    throw new HoardError(
      'HOOK_FAILED',
      `${at}: restore target "${name}" is not a usable database name (1 to ${MAX_NAME_BYTES} bytes, no NUL)`,
      { details: { target: name } },
    );
  }
}

async function readInfo(ctx: HookContext): Promise<DumpInfo> {
  const at = where(ctx);
  let raw: Buffer;
  try {
    raw = await ctx.bank.get(INFO_KEY);
  } catch (error) {
    throw new HoardError('HOOK_FAILED', `${at}: the checkpoint holds no ${INFO_KEY} for this database`, {
      cause: error,
    });
  }
  let info: DumpInfo;
  try {
    info = JSON.parse(raw.toString('utf8')) as DumpInfo;
  } catch (error) {
    throw new HoardError('HOOK_FAILED', `${at}: ${INFO_KEY} of this checkpoint is not valid JSON`, {
      cause: error,
    });
  }
  if (typeof info?.sha256 !== 'string' || !Array.isArray(info.tables)) {
    throw new HoardError('HOOK_FAILED', `${at}: ${INFO_KEY} of this checkpoint lacks sha256 or tables`);
  }
  return info;
}

/**
 * Feeds `dump.pgc` to `pg_restore --no-owner` into the existing, empty database `database`,
 * and checks the bytes fed against the sha256 recorded at protect time.
 */
async function restoreArchive(
  ctx: HookContext,
  url: string,
  database: string,
  info: DumpInfo,
  settings: ToolSettings,
  what: string,
): Promise<void> {
  const { url: bare, password } = splitPassword(withDatabase(url, database));
  const source = await ctx.bank.getStream(DUMP_KEY);
  const hash = createHash('sha256');
  let size = 0;
  let shown = 0;
  let complete = false;
  async function* archive(): AsyncGenerator<Buffer> {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      const fraction = info.size > 0 ? Math.min(0.95, size / info.size) : 0;
      if (fraction - shown >= 0.01) {
        shown = fraction;
        ctx.progress(fraction);
      }
      yield chunk;
    }
    complete = true;
  }
  const tool = startTool(
    'pg_restore',
    ['--no-owner', '--exit-on-error', '--no-password', `--dbname=${bare}`],
    {
      bindir: settings.bindir,
      env: toolEnv(password),
      stdin: archive(),
      signal: ctx.signal,
      secrets: secretsOf(url),
      what,
    },
  );
  try {
    await tool.done;
  } catch (error) {
    // A damaged archive makes pg_restore fail obscurely; say so plainly when that is the cause.
    if (!ctx.signal.aborted && (await storedSha256(ctx)) !== info.sha256) throw corrupt(what, error);
    throw error;
  } finally {
    // pg_restore may stop reading before the end (or never start): close the dump's file now,
    // not when the garbage collector finds it.
    source.destroy();
  }
  // pg_restore may stop reading before the end; then hash what it left.
  const sha256 = complete ? hash.digest('hex') : await storedSha256(ctx);
  if (sha256 !== info.sha256) throw corrupt(what);
}

async function storedSha256(ctx: HookContext): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of (await ctx.bank.getStream(DUMP_KEY)) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

function corrupt(what: string, cause?: unknown): HoardError {
  return new HoardError(
    'HOOK_FAILED',
    `${what}: ${DUMP_KEY} in the bank does not match the sha256 recorded when it was dumped; the archive is damaged`,
    cause === undefined ? {} : { cause },
  );
}

async function dropTarget(client: Parameters<typeof dropDatabase>[0], target: string, what: string) {
  try {
    await dropDatabase(client, target, false);
  } catch (error) {
    if ((error as { code?: string }).code === '55006') {
      throw new HoardError(
        'HOOK_FAILED',
        `${what}: database "${target}" is in use, so it cannot be overwritten; end its sessions and retry`,
        { details: { target }, cause: error },
      );
    }
    throw error;
  }
}

/** Drops a database this hook created, even after cancellation; logs and returns a failure. */
async function dropQuietly(ctx: HookContext, url: string, name: string): Promise<unknown> {
  try {
    await withServer(url, AbortSignal.timeout(CLEANUP_MS), `${where(ctx)}: dropping "${name}"`, (client) =>
      dropDatabase(client, name, true),
    );
    return undefined;
  } catch (error) {
    ctx.log(`could not drop database "${name}"; drop it by hand: ${(error as Error).message}`);
    return error;
  }
}

/** Differences between the tables recorded at protect time and those restored. */
function compareTables(recorded: readonly TableInfo[], found: readonly TableInfo[]): string[] {
  const name = (t: TableInfo) => `${t.schema}.${t.name}`;
  const have = new Map(found.map((t) => [name(t), t]));
  const problems: string[] = [];
  if (recorded.length !== found.length)
    problems.push(`${found.length} tables restored, ${recorded.length} recorded`);
  for (const table of recorded) {
    const restored = have.get(name(table));
    if (!restored) problems.push(`table ${name(table)} is missing`);
    else if (table.rows !== undefined && restored.rows !== table.rows)
      problems.push(`table ${name(table)} has ${restored.rows} rows, ${table.rows} recorded`);
  }
  const wanted = new Set(recorded.map(name));
  for (const table of found)
    if (!wanted.has(name(table))) problems.push(`table ${name(table)} was not recorded`);
  return problems;
}
