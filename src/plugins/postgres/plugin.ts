/**
 * `postgres.server` and `postgres.database` (SPEC §6). A server's protectable discovers its
 * databases as `postgres.database` children; each database is dumped with `pg_dump -Fc`
 * streaming into the bank, restored into a new database name, and verified by restoring
 * into a scratch database. The server itself keeps its globals (roles, tablespaces).
 *
 * Connection URIs may hold passwords: they are masked in every message and log line, and
 * reach the client tools through `PGPASSWORD`, not their command lines.
 */

import type { Resource } from '../../resources/resource.js';
import { infoBrowser } from '../saved-info.js';
import { validate } from '../schema.js';
import { noParametersSchema } from '../schemas.js';
import { definePlugin, defineType } from '../sdk.js';
import { Type } from '../typebox-lite.js';
import type { ToolSettings } from './dump.js';
import { defaultUrl, maskUrl, withDatabase } from './url.js';

export const SERVER_TYPE = 'postgres.server';
export const DATABASE_TYPE = 'postgres.database';

const resourceSchema = Type.Object(
  {
    /** A libpq connection URI; default: the PG* environment, as node-postgres reads it. */
    url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  },
  { additionalProperties: false },
);

const serverOptionsSchema = Type.Object(
  {
    /** Keep roles and tablespaces (`pg_dumpall --globals-only`) as `globals.sql`. Default true. */
    globals: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const databaseOptionsSchema = Type.Object(
  {
    /** Count every table's rows in the dump's snapshot, so verify can compare them. Default false (a full scan). */
    countRows: Type.Optional(Type.Boolean()),
    /** pg_dump's compression level, 0 (none) to 9. Default: pg_dump's. */
    compression: Type.Optional(Type.Integer({ minimum: 0, maximum: 9 })),
  },
  { additionalProperties: false },
);

const databaseRestoreSchema = Type.Object(
  {
    /** The database to restore into, on the database's server; refused if it exists unless overwrite. */
    target: Type.String({ minLength: 1, maxLength: 63 }),
    /** Replace an existing target (it is dropped only once the restore succeeded). */
    overwrite: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const databaseInfoSchema = Type.Object({
  format: Type.Optional(Type.Literal('custom')),
  database: Type.String(),
  serverVersion: Type.String(),
  serverVersionNum: Type.Optional(Type.Integer()),
  databaseSize: Type.Optional(Type.Integer()),
  encoding: Type.Optional(Type.String()),
  collate: Type.Optional(Type.String()),
  ctype: Type.Optional(Type.String()),
  size: Type.Integer(),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  snapshot: Type.Optional(Type.Boolean()),
  tableCount: Type.Integer(),
  tables: Type.Array(
    Type.Object({
      schema: Type.String(),
      name: Type.String(),
      rows: Type.Optional(Type.Integer()),
      estimatedRows: Type.Optional(Type.Integer()),
    }),
  ),
  dumpedAt: Type.Optional(Type.String()),
});

const serverInfoSchema = Type.Object({
  serverVersion: Type.String(),
  databases: Type.Array(Type.String()),
  globals: Type.Boolean(),
  rolePasswords: Type.Optional(Type.Boolean()),
  globalsSha256: Type.Optional(Type.String()),
});

/**
 * The resource's connection URI, its fields validated (plans validate them too, but
 * discovered resources and checkpoints' graphs come from elsewhere). A `postgres.database`
 * without one is the database named by its id on the PG* environment's server.
 */
function urlOf(resource: Resource): string {
  validate(resourceSchema, resource.extra ?? {}, `${resource.type}#${resource.id}`, 'PLAN_INVALID');
  const url = resource.extra?.url as string | undefined;
  if (url !== undefined) return url;
  return resource.type === DATABASE_TYPE ? defaultUrl(resource.id) : defaultUrl();
}

export const postgresPlugin = definePlugin((settings) => {
  const tools: ToolSettings = {
    bindir: typeof settings.bindir === 'string' && settings.bindir !== '' ? settings.bindir : undefined,
  };
  return {
    name: 'postgres',
    description:
      'PostgreSQL: a server discovers its databases; each is dumped with pg_dump -Fc into the bank',
    types: [
      defineType({
        type: SERVER_TYPE,
        schemas: {
          resource: resourceSchema,
          options: serverOptionsSchema,
          restore: noParametersSchema,
          verify: noParametersSchema,
          savedInfo: serverInfoSchema,
        },
        browse: infoBrowser({ exact: false }),
        protectable: {
          async getDependentResources(server, { signal }) {
            const url = urlOf(server);
            // The hooks' work (pg, pg_dump) is imported when it runs: loading the plugin stays cheap.
            const { listDatabases, withClient } = await import('./sql.js');
            const databases = await withClient(
              url,
              signal ?? new AbortController().signal,
              `listing the databases of ${maskUrl(url)}`,
              listDatabases,
            );
            return databases.map((database) => ({
              type: DATABASE_TYPE,
              id: `${server.id}/${database}`,
              name: database,
              extra: { url: withDatabase(url, database) },
            }));
          },
        },
        // Globals are kept for an operator to replay by hand: recreating roles over a live
        // server is not something to do unasked. So a server has only a protect.
        operations: {
          protect: (_server, { parameters }) => ({
            idempotent: ['main'],
            onMain: async (ctx) => {
              const { protectServer } = await import('./dump.js');
              await protectServer(ctx, urlOf(ctx.resource), { globals: parameters.globals !== false }, tools);
            },
          }),
        },
      }),
      defineType({
        type: DATABASE_TYPE,
        restoreTarget: true,
        schemas: {
          resource: resourceSchema,
          options: databaseOptionsSchema,
          restore: databaseRestoreSchema,
          verify: noParametersSchema,
          savedInfo: databaseInfoSchema,
        },
        // A pg_dump archive carries the time it was made: two dumps of the same data differ, so
        // diff cannot tell from the archive's sha256 and says "unknown".
        browse: infoBrowser({ exact: false }),
        protectable: { parentTypes: [SERVER_TYPE] },
        operations: {
          // A second dump replaces the first in the resource's section: idempotent.
          protect: (_database, { parameters }) => ({
            idempotent: ['main'],
            onMain: async (ctx) => {
              const { protectDatabase } = await import('./dump.js');
              await protectDatabase(
                ctx,
                urlOf(ctx.resource),
                { countRows: parameters.countRows === true, compression: parameters.compression },
                tools,
              );
            },
          }),
          restore: (_database, { parameters }) => ({
            onMain: async (ctx) => {
              const { restoreDatabase } = await import('./restore.js');
              await restoreDatabase(
                ctx,
                urlOf(ctx.resource),
                parameters.target,
                parameters.overwrite === true,
                tools,
              );
            },
          }),
          verify: () => ({
            idempotent: ['main'],
            onMain: async (ctx) => {
              const { verifyDatabase } = await import('./restore.js');
              await verifyDatabase(ctx, urlOf(ctx.resource), tools);
            },
          }),
          // copy and delete: the checkpoint's keys are all there is
        },
      }),
    ],
  };
});
