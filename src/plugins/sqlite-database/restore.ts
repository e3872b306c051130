/** `sqlite.database` restore: the stored copy, checked, placed at `target` atomically. */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { HookContext } from '../sdk.js';
import { DATA_KEY, fail, lstatOrUndefined, reporter, syncDir } from './common.js';
import { download, readInfo } from './stored.js';

/** Files SQLite keeps next to a database; a stale one next to a restored file would be replayed into it. */
const SIDECARS = ['-wal', '-shm', '-journal'] as const;

export async function restore(ctx: HookContext, target: string, overwrite: boolean): Promise<void> {
  const info = await readInfo(ctx);
  const dir = dirname(target);
  const existing = await lstatOrUndefined(target);
  if (existing?.isDirectory()) throw fail(ctx, `restore target ${target} is a directory`, { target });
  const sidecars: string[] = [];
  for (const suffix of SIDECARS) if (await lstatOrUndefined(target + suffix)) sidecars.push(target + suffix);
  if ((existing || sidecars.length > 0) && !overwrite) {
    const what = existing ? target : `${sidecars.join(', ')} (left by an earlier database at ${target})`;
    throw fail(
      ctx,
      `restore target ${what} already exists; pass --overwrite (API: "overwrite": true) to replace it`,
      { target },
    );
  }

  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(target)}.hoard-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const report = reporter(ctx);
    const got = await download(ctx, info, temp, (f) => report(f, 'restoring'));
    if (got.size !== info.size || got.sha256 !== info.sha256) {
      throw fail(
        ctx,
        `${DATA_KEY} in the checkpoint is damaged: ${got.size} bytes with sha256 ${got.sha256}, but ${info.size} bytes with sha256 ${info.sha256} were stored; nothing was restored`,
        { size: got.size, sha256: got.sha256, expectedSize: info.size, expectedSha256: info.sha256 },
      );
    }
    // Written 0600 so that nobody reads it half-written; now the old file's mode, or the umask's default.
    await chmod(temp, existing?.isFile() ? existing.mode & 0o777 : 0o666 & ~process.umask());
    if (overwrite) {
      // A -wal or hot -journal of the old database would be replayed into the new one.
      for (const file of sidecars) await rm(file, { force: true });
      if (sidecars.length > 0) ctx.log(`removed ${sidecars.join(', ')} of the database it replaces`);
      await rename(temp, target);
    } else {
      await placeNew(ctx, temp, target);
    }
    await syncDir(dir);
  } finally {
    await rm(temp, { force: true });
  }
  ctx.log(`restored ${info.path} (${info.size} bytes) to ${target}`);
}

/** Puts `temp` at `target` only if nothing is there: a link fails if it exists, a rename would not. */
async function placeNew(ctx: HookContext, temp: string, target: string): Promise<void> {
  try {
    await link(temp, target);
    await unlink(temp);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw fail(
        ctx,
        `restore target ${target} appeared while restoring; pass --overwrite (API: "overwrite": true) to replace it`,
        {
          target,
        },
      );
    }
    // Filesystems without hard links: check once more, then rename.
    if (await lstatOrUndefined(target)) {
      throw fail(
        ctx,
        `restore target ${target} appeared while restoring; pass --overwrite (API: "overwrite": true) to replace it`,
        {
          target,
        },
      );
    }
    await rename(temp, target);
  }
}
