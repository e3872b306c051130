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
import type { JsonSchema, Operation, PluginFactory } from '../sdk.js';
import { protectDatabase, protectServer, type ToolSettings } from './dump.js';
import { restoreDatabase, verifyDatabase } from './restore.js';
import { listDatabases, withClient } from './sql.js';
import { defaultUrl, maskUrl, withDatabase } from './url.js';

export const SERVER_TYPE = 'postgres.server';
export const DATABASE_TYPE = 'postgres.database';

const resourceSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** A libpq connection URI; default: the PG* environment, as node-postgres reads it. */
    url: { type: 'string', pattern: '^postgres(ql)?://' },
  },
};

const serverOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Keep roles and tablespaces (`pg_dumpall --globals-only`) as `globals.sql`. Default true. */
    globals: { type: 'boolean' },
  },
};

const databaseOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Count every table's rows in the dump's snapshot, so verify can compare them. Default false (a full scan). */
    countRows: { type: 'boolean' },
    /** pg_dump's compression level, 0 (none) to 9. Default: pg_dump's. */
    compression: { type: 'integer', minimum: 0, maximum: 9 },
  },
};

const databaseRestoreSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['target'],
  properties: {
    /** The database to restore into, on the database's server; refused if it exists unless overwrite. */
    target: { type: 'string', minLength: 1, maxLength: 63 },
    /** Replace an existing target (it is dropped only once the restore succeeded). */
    overwrite: { type: 'boolean' },
  },
};

const emptySchema: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };

const databaseInfoSchema: JsonSchema = {
  type: 'object',
  required: ['database', 'serverVersion', 'size', 'sha256', 'tableCount', 'tables'],
  properties: {
    format: { const: 'custom' },
    database: { type: 'string' },
    serverVersion: { type: 'string' },
    serverVersionNum: { type: 'integer' },
    databaseSize: { type: 'integer' },
    encoding: { type: 'string' },
    collate: { type: 'string' },
    ctype: { type: 'string' },
    size: { type: 'integer' },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    snapshot: { type: 'boolean' },
    tableCount: { type: 'integer' },
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['schema', 'name'],
        properties: {
          schema: { type: 'string' },
          name: { type: 'string' },
          rows: { type: 'integer' },
          estimatedRows: { type: 'integer' },
        },
      },
    },
    dumpedAt: { type: 'string' },
  },
};

const serverInfoSchema: JsonSchema = {
  type: 'object',
  required: ['serverVersion', 'databases', 'globals'],
  properties: {
    serverVersion: { type: 'string' },
    databases: { type: 'array', items: { type: 'string' } },
    globals: { type: 'boolean' },
    rolePasswords: { type: 'boolean' },
    globalsSha256: { type: 'string' },
  },
};

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

export const postgresPlugin: PluginFactory = (settings) => {
  const tools: ToolSettings = {
    bindir: typeof settings.bindir === 'string' && settings.bindir !== '' ? settings.bindir : undefined,
  };
  return {
    name: 'postgres',
    description:
      'PostgreSQL: a server discovers its databases; each is dumped with pg_dump -Fc into the bank',
    types: [
      {
        type: SERVER_TYPE,
        schemas: {
          resource: resourceSchema,
          options: serverOptionsSchema,
          restore: emptySchema,
          verify: emptySchema,
          savedInfo: serverInfoSchema,
        },
        browse: infoBrowser({ exact: false }),
        protectable: {
          async getDependentResources(server, { signal }) {
            const url = urlOf(server);
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
      },
      {
        type: DATABASE_TYPE,
        restoreTarget: true,
        schemas: {
          resource: resourceSchema,
          options: databaseOptionsSchema,
          restore: databaseRestoreSchema,
          verify: emptySchema,
          savedInfo: databaseInfoSchema,
        },
        // A pg_dump archive carries the time it was made: two dumps of the same data differ, so
        // diff cannot tell from the archive's sha256 and says "unknown".
        browse: infoBrowser({ exact: false }),
        protectable: { parentTypes: [SERVER_TYPE] },
      },
    ],
    operation(kind, resource, { parameters, protectParameters }) {
      const op: Operation = {};
      if (resource.type === SERVER_TYPE) {
        // Globals are kept for an operator to replay by hand: recreating roles over a live
        // server is not something to do unasked.
        if (kind !== 'protect') return undefined;
        op.onMain = async (ctx) => {
          await protectServer(
            ctx,
            urlOf(ctx.resource),
            { globals: protectParameters.globals !== false },
            tools,
          );
        };
        return op;
      }
      if (kind === 'protect') {
        op.onMain = async (ctx) => {
          await protectDatabase(
            ctx,
            urlOf(ctx.resource),
            {
              countRows: protectParameters.countRows === true,
              compression: protectParameters.compression as number | undefined,
            },
            tools,
          );
        };
      } else if (kind === 'restore') {
        op.onMain = async (ctx) => {
          await restoreDatabase(
            ctx,
            urlOf(ctx.resource),
            parameters.target as string,
            parameters.overwrite === true,
            tools,
          );
        };
      } else if (kind === 'verify') {
        op.onMain = async (ctx) => {
          await verifyDatabase(ctx, urlOf(ctx.resource), tools);
        };
      } else {
        return undefined; // copy and delete: the checkpoint's keys are all there is
      }
      return op;
    },
  };
};
