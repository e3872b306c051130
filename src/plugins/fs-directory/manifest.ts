/**
 * The per-checkpoint manifest of an `fs.directory` resource (docs/fs-directory-format.md):
 * one JSON object per line, sorted by path, deflated, stored as `manifest.jsonl.gz`.
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Bank } from '../../bank/index.js';
import { HoardError } from '../../errors.js';

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
  /** Symlinks: the link's target, as read (never followed). */
  target?: string;
}

export const MANIFEST = 'manifest.jsonl.gz';
/** Every blob the checkpoint refers to, one id per line, sorted: what garbage collection keeps. */
export const BLOB_REFS = 'blobs';
export const INFO = 'info.json';

export async function writeManifest(bank: Bank, entries: Entry[]): Promise<void> {
  const text = entries.map((e) => JSON.stringify(e)).join('\n');
  // Level 1: a few per cent larger than the default level, at half the time.
  await bank.put(MANIFEST, await promisify(gzip)(Buffer.from(text, 'utf8'), { level: 1 }));
  const blobs = new Set<string>();
  for (const e of entries) for (const b of e.blobs ?? []) blobs.add(b);
  await bank.put(BLOB_REFS, [...blobs].sort().join('\n'));
}

export async function readManifest(bank: Bank): Promise<Entry[]> {
  const text = (await promisify(gunzip)(await bank.get(MANIFEST))).toString('utf8');
  if (text === '') return [];
  return text.split('\n').map((line, i) => {
    const entry = JSON.parse(line) as Entry;
    const problem = unsafePath(entry.path);
    if (problem) {
      throw new HoardError(
        'STORE_CORRUPT',
        `manifest line ${i + 1}: entry "${entry.path}" ${problem}; refusing it`,
        {
          details: { path: entry.path, line: i + 1 },
        },
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
