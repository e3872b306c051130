/**
 * The catalog in PostgreSQL (`HOARD_CATALOG_URL=postgres://…`), for several servers sharing
 * one catalog. A pool of connections; migrations serialise on an advisory lock, so servers
 * may start together against a fresh database.
 *
 * The URL's password never appears in messages: they name the server by host and port.
 */
import pg from 'pg';
import { HoardError } from '../errors.js';
import { LATEST_VERSION, MIGRATIONS, tooNew, VERSION_TABLE } from './migrations.js';
import { type Row, SqlCatalog, type SqlValue, type Violation } from './sql/catalog.js';

export interface PostgresCatalogOptions {
  /**
   * A schema to keep the catalog in, created by `migrate` if missing and put on every pooled
   * connection's search_path. Default: the connection's own search_path (normally `public`).
   */
  schema?: string;
  /** Connections in the pool. Default 10. */
  max?: number;
  /** Milliseconds to wait for a new connection before giving up. Default 10000. */
  connectTimeout?: number;
}

/** First key of the migration lock ('HOAR'); the second is a hash of the schema name. */
const LOCK_SPACE = 0x484f4152;

const JSON_OIDS = new Set([114, 3802]);

/** SQLSTATE classes that mean the server cannot be used rather than that a statement failed. */
const UNAVAILABLE_STATES = /^(08|28|3D|53|57P)/;
const UNAVAILABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOENT',
]);
const UNAVAILABLE_MESSAGES =
  /connection terminated|timeout exceeded when trying to connect|does not support SSL/i;

export class PostgresCatalog extends SqlCatalog {
  readonly kind = 'postgres';
  /** `host:port` (a list, for several hosts), for messages. */
  readonly server: string;
  readonly schema: string | undefined;
  private readonly pool: pg.Pool;
  private readonly secrets: string[];
  private closed = false;

  /** Nothing connects until the first call; call `migrate` first. */
  constructor(url: string, options: PostgresCatalogOptions = {}) {
    super();
    this.server = serverOf(url);
    this.secrets = secretsOf(url);
    this.schema = options.schema;
    if (this.schema !== undefined && (this.schema === '' || Buffer.byteLength(this.schema) > 63)) {
      throw new HoardError('CATALOG_INVALID', `invalid catalog schema name "${this.schema}": 1 to 63 bytes`);
    }
    const { url: connectionString, options: startup } = withSearchPath(url, this.schema);
    this.pool = new pg.Pool({
      connectionString,
      ...(startup === undefined ? {} : { options: startup }),
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectTimeout ?? 10_000,
      // JSON as text, parsed by SqlCatalog like SQLite's, so a JSON string stays a string.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          JSON_OIDS.has(oid) ? (value: string) => value : pg.types.getTypeParser(oid, format)) as never,
      },
    });
    // An idle connection broke (the server restarted): the pool drops it and the next query
    // opens another. Without a listener the process would exit.
    this.pool.on('error', () => {});
  }

  async migrate(): Promise<void> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      // Released at COMMIT or ROLLBACK; a second process waits here, then finds the work done.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_SPACE, this.schema ?? '']);
      if (this.schema !== undefined) {
        const schema = pg.escapeIdentifier(this.schema);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await client.query(`SET LOCAL search_path TO ${schema}`);
      }
      await client.query(VERSION_TABLE.postgres);
      const { rows } = await client.query<{ version: number | null }>(
        'SELECT MAX(version) AS version FROM schema_version',
      );
      const current = rows[0]?.version ?? 0;
      if (current > LATEST_VERSION) throw tooNew(this.label(), current);
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue;
        await client.query(migration.sql.postgres);
        await client.query(
          'INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)',
          [migration.version, migration.description, new Date().toISOString()],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch((rollback: Error) => {
        broken = rollback;
      });
      throw this.translate(error);
    } finally {
      client.release(broken);
    }
  }

  async schemaVersion(): Promise<number> {
    const [table] = await this.all("SELECT to_regclass('schema_version') IS NOT NULL AS present");
    if (!table?.present) return 0;
    const [row] = await this.all('SELECT MAX(version) AS version FROM schema_version');
    return Number(row?.version ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  protected async all(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return (await this.query(sql, params)).rows;
  }

  protected async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  protected violation(error: unknown): Violation | undefined {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === '23505') return 'unique';
    if (code === '23503') return 'foreign-key';
    return undefined;
  }

  private async query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult<Row>> {
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    try {
      return await this.pool.query<Row>(text, params as SqlValue[]);
    } catch (error) {
      throw this.translate(error);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.translate(error);
    }
  }

  /** Connection failures become CATALOG_UNAVAILABLE, bad values CATALOG_INVALID; the rest as is. */
  private translate(error: unknown): unknown {
    if (error instanceof HoardError || !(error instanceof Error)) return error;
    if ((error as { code?: unknown }).code === 'ERR_INVALID_URL') {
      return new HoardError(
        'CATALOG_INVALID',
        `the PostgreSQL catalog URL for ${this.label()} does not parse`,
        {
          cause: error,
        },
      );
    }
    const raw = (error as Error & { code?: unknown }).code;
    const code = typeof raw === 'string' ? raw : '';
    const fromServer = 'severity' in error;
    if (
      (fromServer && UNAVAILABLE_STATES.test(code)) ||
      (!fromServer && (UNAVAILABLE_ERRNOS.has(code) || UNAVAILABLE_MESSAGES.test(error.message)))
    ) {
      return new HoardError(
        'CATALOG_UNAVAILABLE',
        `cannot use the PostgreSQL catalog at ${this.label()}: ${this.describe(error)}. Check that the server is running and reachable and that HOARD_CATALOG_URL names the right host, port, user, password and database (or unset it to use the SQLite catalog in the home directory)`,
        { details: { server: this.server }, cause: error },
      );
    }
    if (fromServer && code.startsWith('22')) {
      return new HoardError('CATALOG_INVALID', `the catalog refused a value: ${this.describe(error)}`, {
        cause: error,
      });
    }
    return error;
  }

  private label(): string {
    return this.schema === undefined ? this.server : `${this.server} (schema "${this.schema}")`;
  }

  /** The error's message (an AggregateError's has none: one per address tried), without secrets. */
  private describe(error: Error): string {
    let text = error.message;
    if (!text && error instanceof AggregateError) {
      text = [
        ...new Set(error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e)))),
      ].join('; ');
    }
    if (!text) text = String((error as { code?: unknown }).code ?? error.name);
    for (const secret of this.secrets) text = text.split(secret).join('****');
    return text;
  }
}

/**
 * `url` without its `options` parameter, and those startup options plus `-c search_path=…`
 * for `schema`: the server then sets the path as each connection starts, before any query.
 * (node-postgres lets a URL's `options` override the config's, hence the move.)
 */
function withSearchPath(
  url: string,
  schema: string | undefined,
): { url: string; options: string | undefined } {
  if (schema === undefined) return { url, options: undefined };
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  const question = base.indexOf('?');
  const given: string[] = [];
  let rest = base;
  if (question !== -1) {
    const kept: string[] = [];
    for (const pair of base.slice(question + 1).split('&')) {
      const [key = '', value = ''] = pair.split(/=(.*)/s);
      if (key === 'options') given.push(decodeParam(value));
      else if (pair !== '') kept.push(pair);
    }
    rest = base.slice(0, question) + (kept.length === 0 ? '' : `?${kept.join('&')}`);
  }
  // Startup options split on spaces; a backslash keeps the next character.
  const path = pg.escapeIdentifier(schema).replace(/[\\\s]/g, '\\$&');
  return { url: rest, options: [...given, `-c search_path=${path}`].join(' ') };
}

function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/**
 * The `host:port` list of a libpq URL. Only what follows the '@' that ends the user part is
 * looked at, so no part of a password shows; when that '@' is ambiguous (a password with an
 * unencoded '/', '?' or '#'), no host is shown either.
 */
export function serverOf(url: string): string {
  const rest = url.replace(/^[a-z]+:\/\//i, '');
  const authority = rest.split(/[/?#]/)[0] ?? '';
  const at = authority.lastIndexOf('@');
  if (at === -1 && rest.includes('@')) return 'the server in the catalog URL';
  const hosts = authority.slice(at + 1);
  if (hosts === '') return 'localhost:5432';
  return hosts
    .split(',')
    .map((host) => (/:\d+$/.test(host) ? host : `${host}:5432`))
    .join(',');
}

/** The password in `url` (user part or `password` parameter), raw and decoded. */
function secretsOf(url: string): string[] {
  const out = new Set<string>();
  const rest = url.replace(/^[a-z]+:\/\//i, '');
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon !== -1) out.add(userinfo.slice(colon + 1));
  }
  for (const match of url.matchAll(/[?&]password=([^&#]*)/gi)) out.add(match[1]!);
  for (const secret of [...out]) {
    try {
      out.add(decodeURIComponent(secret));
    } catch {
      // Not percent-encoded: the raw form is all there is.
    }
  }
  return [...out].filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length);
}
