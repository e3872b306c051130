/**
 * The per-checkpoint manifest of an `fs.directory` resource (docs/fs-directory-format.md):
 * one JSON object per line, sorted by path, deflated, stored as `manifest.jsonl.gz`.
 */
import { promisify } from 'node:util';
import type { Bank } from '../../bank/index.js';
import { HoardError } from '../../errors.js';
import { encodeReferences } from '../../store/references.js';
import type { HookContext } from '../sdk.js';

export type EntryType = 'file' | 'dir' | 'symlink';

export interface Entry {
  /** Relative to the protected root, '/'-separated, never empty, '.' or '..' segments. */
  path: string;
  type: EntryType;
  /** Permission bits (and setuid/setgid/sticky): `mode & 0o7777`. */
  mode: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string (exact). */
  mtimeNs: string;
  /** Files: size in bytes and blob ids in order; inode, to know an unchanged file next time. */
  size?: number;
  ino?: string;
  blobs?: string[];
  /**
   * Files: the path of an earlier file entry that is the same file (a hard link to it); restore
   * links this path to that one. Its other fields repeat that entry's, so a reader that does not
   * know the field restores a copy.
   */
  hardLink?: string;
  /** Symlinks: the link's target, as read (never followed). */
  target?: string;
}

export const MANIFEST = 'manifest.jsonl.gz';
/** Every blob the checkpoint refers to (store/references.ts): what garbage collection keeps. */
export const BLOB_REFS = 'blobs';
export const INFO = 'info.json';

/** The protected root's own mode and time, kept in info.json (`rootDir`) for the restore target. */
export interface RootDir {
  mode: number;
  mtimeNs: string;
}

export async function writeManifest(bank: Bank, entries: Entry[]): Promise<void> {
  const text = entries.map((e) => JSON.stringify(e)).join('\n');
  // Level 1: a few per cent larger than the default level, at half the time.
  // zlib is imported when a manifest is read or written: loading the plugin stays cheap.
  const { gzip } = await import('node:zlib');
  await bank.put(MANIFEST, await promisify(gzip)(Buffer.from(text, 'utf8'), { level: 1 }));
  const blobs = new Set<string>();
  for (const e of entries) for (const b of e.blobs ?? []) blobs.add(b);
  await bank.put(BLOB_REFS, encodeReferences(blobs));
}

/**
 * What names a resource's manifest in messages: the checkpoint, the resource and the object,
 * e.g. `checkpoint 20261123T094512345Z-3fa9c1d2, fs.directory#notes, manifest.jsonl.gz`.
 */
export function manifestName(ctx: Pick<HookContext, 'checkpoint' | 'resource'>): string {
  return `checkpoint ${ctx.checkpoint.id}, ${ctx.resource.type}#${ctx.resource.id}, ${MANIFEST}`;
}

/**
 * The entries of the manifest in `bank` (a resource's section). Anything that is not a
 * manifest — not gzip, a line that is not a JSON entry, an unsafe path — is STORE_CORRUPT
 * naming `name` (see manifestName) and the line.
 */
export async function readManifest(bank: Bank, name: string = MANIFEST): Promise<Entry[]> {
  const corrupt = (problem: string, line?: number, cause?: unknown) =>
    new HoardError('STORE_CORRUPT', `${name}${line ? ` line ${line}` : ''}: ${problem}`, {
      details: { object: name, ...(line ? { line } : {}) },
      ...(cause === undefined ? {} : { cause }),
    });
  const { gunzip } = await import('node:zlib');
  let text: string;
  try {
    text = (await promisify(gunzip)(await bank.get(MANIFEST))).toString('utf8');
  } catch (error) {
    if (error instanceof HoardError) throw error;
    throw corrupt(
      `not a gzip stream (${(error as Error).message}); the manifest is damaged`,
      undefined,
      error,
    );
  }
  if (text === '') return [];
  return text.split('\n').map((line, i) => {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch (error) {
      throw corrupt(`not a JSON entry (${(error as Error).message}); the manifest is damaged`, i + 1, error);
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw corrupt('not a JSON object; the manifest is damaged', i + 1);
    const problem = unsafePath(entry.path);
    if (problem) {
      throw new HoardError(
        'STORE_CORRUPT',
        `${name} line ${i + 1}: entry ${JSON.stringify(entry.path)} ${problem}; refusing it`,
        { details: { object: name, path: entry.path, line: i + 1 } },
      );
    }
    return entry;
  });
}

/** Why a manifest path may not be used under a restore target, or undefined if it is safe. */
export function unsafePath(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'is not a relative path';
  if (path.includes('\0')) return 'holds a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  if (path.split('/').some((s) => s === '' || s === '.' || s === '..'))
    return 'has an empty, "." or ".." segment';
  return undefined;
}

/**
 * A copy into a store that names blobs differently: the manifest (and `blobs`) rewritten with
 * the target's ids. Returns how many entries it holds.
 */
export async function renameManifest(
  ctx: Pick<HookContext, 'checkpoint' | 'resource' | 'bank'>,
  blobIds: ReadonlyMap<string, string>,
): Promise<number> {
  const entries = await readManifest(ctx.bank, manifestName(ctx));
  for (const entry of entries) {
    if (entry.blobs === undefined) continue;
    entry.blobs = entry.blobs.map((id) => {
      const renamed = blobIds.get(id);
      if (renamed === undefined) {
        throw new HoardError(
          'STORE_CORRUPT',
          `${manifestName(ctx)}: blob ${id} of ${entry.path} was not copied`,
          {
            details: { blob: id },
          },
        );
      }
      return renamed;
    });
  }
  await writeManifest(ctx.bank, entries);
  return entries.length;
}
