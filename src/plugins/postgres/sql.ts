/**
 * The plugin's own SQL, through node-postgres: discovery, archive facts, and creating,
 * renaming and dropping databases. Names are always quoted with `escapeIdentifier` (values
 * with `escapeLiteral` where SQL takes no parameters), and errors name the server with its
 * password masked.
 */
import type pg from 'pg';
import { HoardError } from '../../errors.js';
import { abortReason } from './tool.js';
import { databaseOf, maskUrl, scrub, secretsOf, withDatabase } from './url.js';

let nodePostgres: typeof import('pg').default | undefined;

/** node-postgres, loaded on first use: most hoard commands never talk to PostgreSQL. */
async function loadPg(): Promise<typeof import('pg').default> {
  nodePostgres ??= (await import('pg')).default;
  return nodePostgres;
}

/** How long connecting may take before it is a failure rather than a wait. */
const CONNECT_TIMEOUT_MS = 15_000;

/**
 * Connects to `url`, runs `fn`, and always disconnects. Aborting `signal` closes the
 * connection, which fails the query in flight.
 */
export async function withClient<T>(
  url: string,
  signal: AbortSignal,
  what: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  if (signal.aborted) throw abortReason(signal, what);
  const secrets = secretsOf(url);
  const { Client } = await loadPg();
  // Checked again after that wait, with no other before the listener is added below: an
  // abort in between would otherwise be missed, and the query run to its end.
  if (signal.aborted) throw abortReason(signal, what);
  const client = new Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'hoard',
  });
  // node-postgres decodes the path with decodeURI, which leaves %2F and the like encoded; libpq
  // (pg_dump) decodes them, so both must be told the same name.
  const database = databaseOf(url);
  if (database !== undefined) {
    (client as unknown as { connectionParameters: { database: string } }).connectionParameters.database =
      database;
  }
  // A dropped connection also fails the query in flight, which is where it is reported.
  client.on('error', () => {});
  // Closing the connection fails the query in flight; a connect in progress is raced, since
  // node-postgres may not settle it once the client is ended.
  let stopped: (reason: unknown) => void = () => {};
  const whenAborted = new Promise<never>((_, reject) => {
    stopped = reject;
  });
  whenAborted.catch(() => {});
  const onAbort = () => {
    stopped(abortReason(signal, what));
    void client.end().catch(() => {});
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      await Promise.race([client.connect(), whenAborted]);
    } catch (error) {
      if (signal.aborted) throw abortReason(signal, what);
      throw pgError(`${what}: could not connect to ${maskUrl(url)}`, error, secrets, { connecting: true });
    }
    try {
      return await fn(client);
    } catch (error) {
      if (signal.aborted) throw abortReason(signal, what);
      if (error instanceof HoardError) throw error;
      throw pgError(`${what} (on ${maskUrl(url)})`, error, secrets);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}

/** An error from node-postgres as a HoardError, with the SQLSTATE kept and secrets masked. */
export function pgError(
  prefix: string,
  error: unknown,
  secrets: readonly string[],
  extra: Record<string, unknown> = {},
): HoardError {
  const e = error as { message?: string; code?: string; detail?: string; hint?: string };
  const message = scrub(String(e?.message ?? error), secrets);
  const hint = e?.hint ? ` (hint: ${scrub(e.hint, secrets)})` : '';
  const details: Record<string, unknown> = { ...extra };
  // Any error here comes after a client was made, so node-postgres is loaded.
  if (nodePostgres && error instanceof nodePostgres.DatabaseError && error.code)
    details.sqlstate = error.code;
  else if (typeof e?.code === 'string') details.code = e.code;
  return new HoardError('HOOK_FAILED', `${prefix}: ${message}${hint}`, {
    details,
    cause: safeCause(error, secrets),
  });
}

/** The cause itself, unless a secret slipped into its text; then a copy without it. */
function safeCause(error: unknown, secrets: readonly string[]): unknown {
  if (!(error instanceof Error) || secrets.length === 0) return error;
  const text = `${error.message}\n${error.stack ?? ''}`;
  if (secrets.every((s) => !text.includes(s))) return error;
  const copy = new Error(scrub(error.message, secrets));
  copy.stack = scrub(error.stack ?? '', secrets);
  return copy;
}

/**
 * Runs `fn` connected to a maintenance database of `url`'s server (`postgres`, or
 * `template1` where there is none), for statements that must not run inside the database
 * they are about. `avoid` names a database it must not be (one about to be dropped).
 */
export async function withServer<T>(
  url: string,
  signal: AbortSignal,
  what: string,
  fn: (client: pg.Client) => Promise<T>,
  avoid?: string,
): Promise<T> {
  const first = avoid === 'postgres' ? 'template1' : 'postgres';
  try {
    return await withClient(withDatabase(url, first), signal, what, fn);
  } catch (error) {
    const details = (error as HoardError).details;
    // 3D000 on connecting: no "postgres" database on this server.
    if (first !== 'postgres' || details?.connecting !== true || details.sqlstate !== '3D000') throw error;
    return withClient(withDatabase(url, 'template1'), signal, what, fn);
  }
}

/** Databases worth protecting: not templates, and accepting connections. */
export async function listDatabases(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname',
  );
  return rows.map((r) => r.datname);
}

export async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

export interface DatabaseSettings {
  encoding?: string | undefined;
  collate?: string | undefined;
  ctype?: string | undefined;
}

/**
 * Creates an empty database from `template0` (so nothing local to `template1` clashes with
 * the archive), with the original's encoding and locale where known.
 */
export async function createDatabase(
  client: pg.Client,
  name: string,
  settings: DatabaseSettings,
): Promise<void> {
  let sql = `CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE template0`;
  if (settings.encoding) sql += ` ENCODING ${client.escapeLiteral(settings.encoding)}`;
  if (settings.collate) sql += ` LC_COLLATE ${client.escapeLiteral(settings.collate)}`;
  if (settings.ctype) sql += ` LC_CTYPE ${client.escapeLiteral(settings.ctype)}`;
  await client.query(sql);
}

/**
 * Drops `name` if it exists. `force` (PostgreSQL 13+) also ends sessions still connected,
 * e.g. of a pg_restore that was just killed; older servers get the plain statement.
 */
export async function dropDatabase(client: pg.Client, name: string, force: boolean): Promise<void> {
  const { rows } = await client.query<{ v: number }>(
    "SELECT current_setting('server_version_num')::int AS v",
  );
  const withForce = force && (rows[0]?.v ?? 0) >= 130000;
  await client.query(
    `DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)}${withForce ? ' WITH (FORCE)' : ''}`,
  );
}

export async function renameDatabase(client: pg.Client, from: string, to: string): Promise<void> {
  await client.query(
    `ALTER DATABASE ${client.escapeIdentifier(from)} RENAME TO ${client.escapeIdentifier(to)}`,
  );
}

export interface TableInfo {
  schema: string;
  name: string;
  /** Exact row count, when counted. */
  rows?: number;
  /** The planner's estimate (`pg_class.reltuples`), when the table was ever analysed: free to read. */
  estimatedRows?: number;
}

/**
 * The user tables (plain and partitioned) of the connected database, by schema and name.
 * Extension members are left out: pg_dump does not dump them, `CREATE EXTENSION` makes them.
 */
export async function listTables(client: pg.Client, countRows: boolean): Promise<TableInfo[]> {
  const { rows } = await client.query<{ schema: string; name: string; estimate: string | null }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.reltuples::bigint AS estimate
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  const tables: TableInfo[] = rows.map((r) => {
    const table: TableInfo = { schema: r.schema, name: r.name };
    // The planner's estimate costs nothing; -1 means never vacuumed or analysed (PostgreSQL 14+).
    const estimate = r.estimate === null ? -1 : Number(r.estimate);
    if (estimate >= 0) table.estimatedRows = estimate;
    return table;
  });
  if (!countRows) return tables;
  // As pg_dump does: fail rather than count only the rows a policy lets us see.
  await client.query('SET row_security = off');
  for (const table of tables) {
    const { rows: counted } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ONLY ${client.escapeIdentifier(table.schema)}.${client.escapeIdentifier(table.name)}`,
    );
    table.rows = Number(counted[0]?.n ?? 0);
  }
  return tables;
}

export interface DatabaseFacts {
  database: string;
  serverVersion: string;
  serverVersionNum: number;
  /** `pg_database_size`, in bytes. */
  databaseSize: number;
  encoding: string;
  collate: string;
  ctype: string;
}

export async function databaseFacts(client: pg.Client): Promise<DatabaseFacts> {
  const { rows } = await client.query<{
    database: string;
    version: string;
    version_num: number;
    size: string;
    encoding: string;
    collate: string;
    ctype: string;
  }>(
    `SELECT current_database() AS database, current_setting('server_version') AS version,
            current_setting('server_version_num')::int AS version_num,
            pg_database_size(current_database())::text AS size,
            pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  const r = rows[0]!;
  return {
    database: r.database,
    serverVersion: r.version,
    serverVersionNum: r.version_num,
    databaseSize: Number(r.size),
    encoding: r.encoding,
    collate: r.collate,
    ctype: r.ctype,
  };
}
