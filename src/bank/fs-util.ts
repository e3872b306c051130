import { randomBytes } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';

/** Platforms and filesystems that cannot fsync a directory report one of these. */
const NO_DIRECTORY_SYNC = ['EISDIR', 'EINVAL', 'EPERM', 'ENOTSUP', 'EBADF'];

export function isCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && codes.includes(code);
}

/** A name for a file being written: it starts with '.', so it is never a key. */
export function tempName(): string {
  return `.tmp-${randomBytes(8).toString('hex')}`;
}

/** Makes a rename or removal in `dir` durable. A directory removed meanwhile is fine. */
export async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!isCode(error, 'ENOENT', ...NO_DIRECTORY_SYNC)) throw error;
  } finally {
    await handle?.close();
  }
}

/** Creates `path`, which must not exist, holding `text`, and fsyncs it. */
export async function writeNewFile(path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
