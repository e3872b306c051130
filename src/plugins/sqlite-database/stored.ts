/** Reading back what protect stored: the copy (streamed to a file) and its saved info (validated). */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { validate } from '../schema.js';
import type { HookContext } from '../sdk.js';
import { DATA_KEY, fail, INFO_KEY, where } from './common.js';
import { type SqliteSavedInfo, savedInfoSchema } from './schemas.js';

/** Streams the stored copy into a new `file` (0600, fsynced). */
export async function download(
  ctx: HookContext,
  info: SqliteSavedInfo,
  file: string,
  progress: (fraction: number) => void,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const source = await ctx.bank.getStream(DATA_KEY).catch((error: unknown) => {
    throw fail(ctx, `the checkpoint holds no ${DATA_KEY} for this resource`, {}, error);
  });
  await pipeline(
    source,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.length;
        progress(size / Math.max(info.size, 1));
        yield chunk;
      }
    },
    createWriteStream(file, { flags: 'wx', mode: 0o600 }),
    { signal: ctx.signal },
  );
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { size, sha256: hash.digest('hex') };
}

export async function readInfo(ctx: HookContext): Promise<SqliteSavedInfo> {
  let info: unknown;
  try {
    info = JSON.parse((await ctx.bank.get(INFO_KEY)).toString('utf8'));
  } catch (error) {
    throw fail(ctx, `the checkpoint holds no readable ${INFO_KEY} for this resource`, {}, error);
  }
  validate(savedInfoSchema, info, `${where(ctx)}: ${INFO_KEY}`, 'HOOK_FAILED');
  return info as SqliteSavedInfo;
}
