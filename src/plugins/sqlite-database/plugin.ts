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
 * One module per concern: schemas.ts (and the saved info's type), protect.ts, restore.ts,
 * verify.ts, stored.ts (reading the copy back), common.ts, and the SQLite work in a worker
 * thread (job.ts on the main thread's side, worker.ts in the worker).
 */
import { resolve } from 'node:path';
import { infoBrowser } from '../saved-info.js';
import { pathResourceSchema, targetRestoreSchema } from '../schemas.js';
import type { Operation, PluginFactory } from '../sdk.js';
import { protect } from './protect.js';
import { restore } from './restore.js';
import { optionsSchema, savedInfoSchema } from './schemas.js';
import { verify } from './verify.js';

export type { SqliteSavedInfo, TableRows } from './schemas.js';

const DEFAULT_BUSY_TIMEOUT_S = 10;

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
