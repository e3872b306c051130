/**
 * The catalog in a SQLite file (the default: `<home>/catalog.sqlite`). Several processes may
 * share the file: WAL lets readers run beside the one writer, and a writer waits up to
 * `busyTimeout` for another's transaction instead of failing.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { HoardError } from '../errors.js';
import { LATEST_VERSION, MIGRATIONS, tooNew, VERSION_TABLE } from './migrations.js';
import { type Row, SqlCatalog, type SqlValue, type Violation } from './sql/catalog.js';

export interface SqliteCatalogOptions {
  /** Milliseconds a statement waits for another connection's write lock. Default 5000. */
  busyTimeout?: number;
}

const STATEMENT_CACHE = 256;

export class SqliteCatalog extends SqlCatalog {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  /** Opens (creating it and its directory if need be) the catalog at `path`; call `migrate` next. */
  constructor(path: string, options: SqliteCatalogOptions = {}) {
    super();
    this.path = resolve(path);
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      const busyTimeout = Math.max(0, Math.trunc(options.busyTimeout ?? 5000));
      this.db = new Database(this.path);
      this.db.pragma(`busy_timeout = ${busyTimeout}`);
      // Turning a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at
      // once there (the busy handler is not asked), so several processes opening a new catalog
      // together would fail: wait for the others as busy_timeout would.
      whileBusy(busyTimeout, () => this.db.pragma('journal_mode = WAL'));
      this.db.pragma('foreign_keys = ON');
    } catch (error) {
      throw new HoardError(
        'CATALOG_UNAVAILABLE',
        `cannot open the catalog ${this.path}: ${(error as Error).message} (check the home directory's permissions and free space)`,
        { details: { path: this.path }, cause: error },
      );
    }
  }

  async migrate(): Promise<void> {
    // IMMEDIATE takes the write lock first, so two processes migrate one after the other.
    this.db
      .transaction(() => {
        this.db.exec(VERSION_TABLE.sqlite);
        const current = this.version();
        if (current > LATEST_VERSION) throw tooNew(this.path, current);
        for (const migration of MIGRATIONS) {
          if (migration.version <= current) continue;
          this.db.exec(migration.sql.sqlite);
          this.db
            .prepare('INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)')
            .run(migration.version, migration.description, new Date().toISOString());
        }
      })
      .immediate();
  }

  async schemaVersion(): Promise<number> {
    const table = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
      .get();
    return table ? this.version() : 0;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  protected async all(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.statement(sql).all(...bind(params)) as Row[];
  }

  protected async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.statement(sql).run(...bind(params)).changes;
  }

  protected violation(error: unknown): Violation | undefined {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique';
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign-key';
    return undefined;
  }

  private version(): number {
    const row = this.db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as {
      version: number | null;
    };
    return row.version ?? 0;
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      // Most statements are fixed; a few vary with their arguments (heartbeat's id list).
      if (this.statements.size >= STATEMENT_CACHE) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** Runs `step` again while SQLite answers SQLITE_BUSY, for at most `timeoutMs`. */
function whileBusy<T>(timeoutMs: number, step: () => T): T {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      return step();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw error;
      Atomics.wait(pause, 0, 0, wait); // the constructor is synchronous: a short blocking pause
    }
  }
}

/** SQLite has no booleans. */
function bind(params: readonly SqlValue[]): (string | number | null)[] {
  return params.map((value) => (typeof value === 'boolean' ? (value ? 1 : 0) : value));
}
