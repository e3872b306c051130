/** What the `sqlite.database` hooks share: the keys of its section, progress, errors, file helpers. */
import { lstat, open } from 'node:fs/promises';
import { HoardError } from '../../errors.js';
import { resourceKey } from '../../resources/resource.js';
import type { HookContext } from '../sdk.js';

export const DATA_KEY = 'database.sqlite';
export const INFO_KEY = 'info.json';
export const SQLITE_MAGIC = 'SQLite format 3\0';

/** `ctx.progress` in steps of at least 1 %, so that a large database does not flood the events. */
export function reporter(ctx: HookContext): (fraction: number, detail: string) => void {
  let last = -1;
  let lastDetail = '';
  return (fraction, detail) => {
    if (fraction - last < 0.01 && fraction < 1 && detail === lastDetail) return;
    last = fraction;
    lastDetail = detail;
    ctx.progress(Math.min(fraction, 1), detail);
  };
}

export function where(ctx: HookContext): string {
  return `${resourceKey(ctx.resource)} ${ctx.hook}`;
}

/** A HOOK_FAILED shaped like the ones Hoard makes of other errors: `type#id hook: problem`. */
export function fail(
  ctx: HookContext,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): HoardError {
  return new HoardError('HOOK_FAILED', `${where(ctx)}: ${message}`, {
    details: { resource: resourceKey(ctx.resource), hook: ctx.hook, ...details },
    ...(cause === undefined ? {} : { cause }),
  });
}

export async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Makes a rename in `dir` durable; some filesystems cannot fsync a directory, which is fine. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}
