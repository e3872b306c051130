import { execTaskPlugin } from './exec-task/plugin.js';
import { fsDirectoryPlugin } from './fs-directory/plugin.js';
import { noopPlugin } from './noop/plugin.js';
import { postgresPlugin } from './postgres/plugin.js';
import type { PluginFactory } from './sdk.js';
import { sqliteDatabasePlugin } from './sqlite-database/plugin.js';

/** Plugins a provider file can name without installing anything. */
export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginFactory> = new Map([
  ['exec.task', execTaskPlugin],
  ['fs.directory', fsDirectoryPlugin],
  ['noop', noopPlugin],
  ['postgres', postgresPlugin],
  ['sqlite.database', sqliteDatabasePlugin],
]);
