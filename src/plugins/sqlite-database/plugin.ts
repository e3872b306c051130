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
import { noParametersSchema, pathResourceSchema, targetRestoreSchema } from '../schemas.js';
import { definePlugin, defineType } from '../sdk.js';
import { optionsSchema, savedInfoSchema } from './schemas.js';

export type { SqliteSavedInfo, TableRows } from './schemas.js';

const DEFAULT_BUSY_TIMEOUT_S = 10;

export const sqliteDatabasePlugin = definePlugin(() => ({
  name: 'sqlite.database',
  description: 'A SQLite database file: a consistent online copy (backup API), even while it is written',
  types: [
    defineType({
      type: 'sqlite.database',
      restoreTarget: true,
      schemas: {
        resource: pathResourceSchema,
        options: optionsSchema,
        restore: targetRestoreSchema,
        verify: noParametersSchema,
        savedInfo: savedInfoSchema,
      },
      // The copy is the same bytes exactly when the database is: its sha256 answers diff.
      browse: infoBrowser({ exact: true }),
      operations: {
        protect: (resource, { parameters }) => {
          const busyTimeout = parameters.busyTimeout ?? DEFAULT_BUSY_TIMEOUT_S;
          const source = resolve(resource.extra?.path ?? resource.id);
          // A second copy replaces the first in the resource's section: idempotent.
          return {
            idempotent: ['main'],
            // Each hook imports its work when it runs: loading the plugin stays cheap.
            onMain: async (ctx) =>
              (await import('./protect.js')).protect(ctx, source, Math.round(busyTimeout * 1000)),
          };
        },
        restore: (_resource, { parameters }) => ({
          onMain: async (ctx) =>
            (await import('./restore.js')).restore(
              ctx,
              resolve(parameters.target),
              parameters.overwrite === true,
            ),
        }),
        verify: () => ({
          idempotent: ['main'],
          onMain: async (ctx) => (await import('./verify.js')).verify(ctx),
        }),
        // delete: the checkpoint's keys are all there is, and Hoard removes them
      },
    }),
  ],
}));
