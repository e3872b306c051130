/** `sqlite.database`'s schemas and the saved info they describe. */
import type { JsonSchema } from '../sdk.js';

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Seconds to wait for a writer's lock before giving up on starting the copy. Default 10. */
    busyTimeout: { type: 'number', exclusiveMinimum: 0 },
  },
};

export const savedInfoSchema: JsonSchema = {
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
