import { join } from 'node:path';
import { HoardError } from '../errors.js';
import { PostgresCatalog } from './postgres.js';
import { SqliteCatalog } from './sqlite.js';
import type { Catalog } from './types.js';

export { idTime, isId, newId } from './ids.js';
export { LATEST_VERSION } from './migrations.js';
export { PostgresCatalog, type PostgresCatalogOptions } from './postgres.js';
export { SqliteCatalog, type SqliteCatalogOptions } from './sqlite.js';
export type * from './types.js';
export { OPERATION_KINDS, OPERATION_LOG_ENDED, OPERATION_LOG_STATUSES } from './types.js';

/** The SQLite catalog's file in the home directory. */
export const CATALOG_FILE = 'catalog.sqlite';

/**
 * The catalog `hoard serve` uses, migrated: PostgreSQL when `HOARD_CATALOG_URL` is a
 * `postgres://` or `postgresql://` URL, else SQLite at `<home>/catalog.sqlite`. An
 * unreachable server is CATALOG_UNAVAILABLE; any other HOARD_CATALOG_URL is CATALOG_INVALID
 * (a mistyped URL must not quietly give this server a catalog of its own).
 */
export async function openCatalog(home: string, env: NodeJS.ProcessEnv = process.env): Promise<Catalog> {
  const url = env.HOARD_CATALOG_URL?.trim();
  let catalog: Catalog;
  if (url && /^postgres(ql)?:\/\//i.test(url)) {
    catalog = new PostgresCatalog(url);
  } else if (url) {
    throw new HoardError(
      'CATALOG_INVALID',
      'HOARD_CATALOG_URL must be a postgres:// or postgresql:// URL; unset it to use the SQLite catalog in the home directory',
    );
  } else {
    catalog = new SqliteCatalog(join(home, CATALOG_FILE));
  }
  try {
    await catalog.migrate();
  } catch (error) {
    await catalog.close().catch(() => {});
    throw error;
  }
  return catalog;
}
