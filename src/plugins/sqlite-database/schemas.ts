/** `sqlite.database`'s schemas and the saved info they describe. */
import { Type } from '../typebox-lite.js';

export const optionsSchema = Type.Object(
  {
    /** Seconds to wait for a writer's lock before giving up on starting the copy. Default 10. */
    busyTimeout: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  { additionalProperties: false },
);

export const savedInfoSchema = Type.Object({
  path: Type.String(),
  size: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  pageCount: Type.Integer({ minimum: 0 }),
  pageSize: Type.Integer({ minimum: 512, maximum: 65536 }),
  sqliteVersion: Type.String(),
  journalMode: Type.String(),
  tableCount: Type.Optional(Type.Integer({ minimum: 0 })),
  tables: Type.Optional(
    Type.Array(Type.Object({ name: Type.String(), rows: Type.Optional(Type.Integer({ minimum: 0 })) })),
  ),
});

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
