/**
 * The catalog's schema, as an ordered list of migrations. `migrate` runs the pending ones in
 * one transaction with the `schema_version` rows that record them, holding the database's
 * write lock (SQLite) or an advisory lock (PostgreSQL), so a catalog is always at one version
 * and two processes starting together migrate once. New versions are appended; an applied
 * migration is never edited.
 *
 * Both dialects come from one text with a few column types substituted: ids are `uuid` in
 * PostgreSQL and TEXT in SQLite (same order: lowercase hex sorts as the bytes do), times
 * `timestamptz` and ISO-8601 TEXT, JSON `jsonb` and TEXT, flags `boolean` and 0/1.
 */
import { HoardError } from '../errors.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  version: number;
  /** What it does, for people. */
  description: string;
  sql: Record<Dialect, string>;
}

const TYPES: Record<Dialect, Record<'ID' | 'TIME' | 'JSON' | 'BOOL' | 'STRICT', string>> = {
  sqlite: { ID: 'TEXT', TIME: 'TEXT', JSON: 'TEXT', BOOL: 'INTEGER', STRICT: ' STRICT' },
  postgres: { ID: 'uuid', TIME: 'timestamptz', JSON: 'jsonb', BOOL: 'boolean', STRICT: '' },
};

/** `template` with `{ID}`, `{TIME}`, `{JSON}`, `{BOOL}` and `{STRICT}` replaced for each dialect. */
function portable(template: string): Record<Dialect, string> {
  const render = (dialect: Dialect) =>
    template.replace(/\{(ID|TIME|JSON|BOOL|STRICT)\}/g, (_, name: keyof (typeof TYPES)['sqlite']) => {
      return TYPES[dialect][name];
    });
  return { sqlite: render('sqlite'), postgres: render('postgres') };
}

/** Run before the migrations, every time: where the applied version is kept. */
export const VERSION_TABLE: Record<Dialect, string> = portable(`
  CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at {TIME} NOT NULL
  ){STRICT};
`);

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'tokens, plans, triggers, scheduled operations and runs, operation logs',
    sql: portable(`
      CREATE TABLE IF NOT EXISTS tokens (
        id {ID} PRIMARY KEY,
        project TEXT NOT NULL,
        admin {BOOL} NOT NULL,
        name TEXT,
        secret_hash TEXT NOT NULL UNIQUE,
        created_at {TIME} NOT NULL,
        revoked_at {TIME}
      ){STRICT};
      CREATE INDEX IF NOT EXISTS tokens_project ON tokens (project, id);

      CREATE TABLE IF NOT EXISTS plans (
        id {ID} PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        provider TEXT NOT NULL,
        resources {JSON} NOT NULL,
        parameters {JSON} NOT NULL,
        created_at {TIME} NOT NULL,
        updated_at {TIME} NOT NULL,
        deleted_at {TIME}
      ){STRICT};
      CREATE UNIQUE INDEX IF NOT EXISTS plans_name ON plans (project, name) WHERE deleted_at IS NULL;
      CREATE INDEX IF NOT EXISTS plans_project ON plans (project, id);

      CREATE TABLE IF NOT EXISTS triggers (
        id {ID} PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        properties {JSON} NOT NULL,
        created_at {TIME} NOT NULL
      ){STRICT};
      CREATE INDEX IF NOT EXISTS triggers_project ON triggers (project, id);

      CREATE TABLE IF NOT EXISTS scheduled_operations (
        id {ID} PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        operation_type TEXT NOT NULL,
        trigger_id {ID} NOT NULL REFERENCES triggers (id),
        definition {JSON} NOT NULL,
        enabled {BOOL} NOT NULL,
        created_at {TIME} NOT NULL
      ){STRICT};
      CREATE INDEX IF NOT EXISTS scheduled_operations_project ON scheduled_operations (project, id);
      CREATE INDEX IF NOT EXISTS scheduled_operations_trigger ON scheduled_operations (trigger_id);

      CREATE TABLE IF NOT EXISTS scheduled_runs (
        scheduled_operation_id TEXT NOT NULL,
        fire_at {TIME} NOT NULL,
        owner TEXT NOT NULL,
        claimed_at {TIME} NOT NULL,
        PRIMARY KEY (scheduled_operation_id, fire_at)
      ){STRICT};

      CREATE TABLE IF NOT EXISTS operation_logs (
        id {ID} PRIMARY KEY,
        project TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        plan_id TEXT,
        provider_id TEXT,
        checkpoint_id TEXT,
        scheduled_operation_id TEXT,
        fire_at {TIME},
        parameters {JSON} NOT NULL,
        result {JSON},
        error {JSON},
        created_at {TIME} NOT NULL,
        started_at {TIME},
        ended_at {TIME},
        owner TEXT,
        heartbeat_at {TIME}
      ){STRICT};
      CREATE INDEX IF NOT EXISTS operation_logs_project ON operation_logs (project, id);
      CREATE INDEX IF NOT EXISTS operation_logs_kind ON operation_logs (project, kind, id);
      CREATE INDEX IF NOT EXISTS operation_logs_active ON operation_logs (status)
        WHERE status IN ('queued', 'running');
    `),
  },
  {
    version: 2,
    description: 'scheduled operations keep their last claimed fire; a claim is a compare-and-swap of it',
    sql: portable(`
      ALTER TABLE scheduled_operations ADD COLUMN last_fire {TIME};
      UPDATE scheduled_operations SET last_fire = (
        SELECT MAX(fire_at) FROM scheduled_runs
        WHERE scheduled_runs.scheduled_operation_id = CAST(scheduled_operations.id AS TEXT)
      );
    `),
  },
  {
    version: 3,
    description: 'an operation log records when its cancellation was asked (the owner aborts it)',
    sql: portable(`
      ALTER TABLE operation_logs ADD COLUMN cancel_requested_at {TIME};
    `),
  },
];

/** The version a fully migrated catalog is at. */
export const LATEST_VERSION = MIGRATIONS.at(-1)!.version;

/** The error for a catalog a newer Hoard has migrated past what this one knows. */
export function tooNew(where: string, version: number): HoardError {
  return new HoardError(
    'CATALOG_INVALID',
    `the catalog ${where} is at schema version ${version}, newer than this Hoard knows (${LATEST_VERSION}): upgrade Hoard`,
    { details: { version, latest: LATEST_VERSION } },
  );
}
