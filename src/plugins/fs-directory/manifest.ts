/**
 * The per-checkpoint manifest of an `fs.directory` resource (docs/fs-directory-format.md):
 * one JSON object per line, sorted by path, deflated, stored as `manifest.jsonl.gz`.
 */
import { once } from 'node:events';
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

/**
 * Writes the manifest of `entries` (and `blobs`). `lines` may give an entry's line as it is
 * in the previous manifest (PreviousManifest.line): it goes in as it is, not serialized again.
 */
export async function writeManifest(
  bank: Bank,
  entries: Entry[],
  lines?: ReadonlyMap<Entry, string>,
): Promise<void> {
  // Level 1: a few per cent larger than the default level, at half the time.
  // zlib is imported when a manifest is read or written: loading the plugin stays cheap.
  const { createGzip } = await import('node:zlib');
  // Deflated a batch of lines at a time: the whole text is never held, as a string or bytes.
  const gzip = createGzip({ level: 1 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = once(gzip, 'end');
  for (let i = 0; i < entries.length; i += WRITE_BATCH) {
    const batch = entries.slice(i, i + WRITE_BATCH).map((e) => lines?.get(e) ?? JSON.stringify(e));
    if (!gzip.write(Buffer.from((i > 0 ? '\n' : '') + batch.join('\n'), 'utf8'))) await once(gzip, 'drain');
  }
  gzip.end();
  await ended;
  await bank.put(MANIFEST, Buffer.concat(out));
  const blobs = new Set<string>();
  for (const e of entries) for (const b of e.blobs ?? []) blobs.add(b);
  await bank.put(BLOB_REFS, encodeReferences(blobs));
}

/** Manifest lines serialized and deflated at a time. */
const WRITE_BATCH = 1024;

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
  const entries: Entry[] = [];
  await eachLine(bank, name, (line, n) => {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch (error) {
      throw corrupt(
        name,
        `not a JSON entry (${(error as Error).message}); the manifest is damaged`,
        n,
        error,
      );
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw corrupt(name, 'not a JSON object; the manifest is damaged', n);
    const problem = unsafePath(entry.path);
    if (problem) {
      throw new HoardError(
        'STORE_CORRUPT',
        `${name} line ${n}: entry ${JSON.stringify(entry.path)} ${problem}; refusing it`,
        { details: { object: name, path: entry.path, line: n } },
      );
    }
    entries.push(entry);
  });
  return entries;
}

function corrupt(name: string, problem: string, line?: number, cause?: unknown): HoardError {
  return new HoardError('STORE_CORRUPT', `${name}${line ? ` line ${line}` : ''}: ${problem}`, {
    details: { object: name, ...(line ? { line } : {}) },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Calls `take` with each of the manifest's lines (numbered from 1) as it is inflated, so the
 * whole text is never held. STORE_CORRUPT naming `name` if it is not gzip: that is reported
 * before any error `take` threw, which is thrown once the stream has read to its end.
 */
async function eachLine(bank: Bank, name: string, take: (line: string, n: number) => void): Promise<void> {
  const { createGunzip } = await import('node:zlib');
  const { StringDecoder } = await import('node:string_decoder');
  const compressed = await bank.get(MANIFEST);
  const gunzip = createGunzip();
  const text = new StringDecoder('utf8');
  let rest: string | undefined;
  let n = 0;
  let failed: { error: unknown } | undefined;
  const lines = (chunk: string, last: boolean): void => {
    if (failed) return;
    const pieces = ((rest ?? '') + chunk).split('\n');
    rest = last ? undefined : pieces.pop();
    try {
      for (const line of pieces) take(line, ++n);
    } catch (error) {
      failed = { error };
    }
  };
  gunzip.on('data', (chunk: Buffer) => lines(text.write(chunk), false));
  try {
    await new Promise<void>((resolve, reject) => {
      gunzip.once('end', resolve).once('error', reject);
      gunzip.end(compressed);
    });
  } catch (error) {
    throw corrupt(
      name,
      `not a gzip stream (${(error as Error).message}); the manifest is damaged`,
      undefined,
      error,
    );
  }
  const tail = text.end();
  if (rest !== undefined || tail !== '') lines(tail, true);
  if (failed) throw failed.error;
}

/**
 * A file entry's line as this version writes it (the walk's field order), with nothing else in
 * it: path (no escapes), mode, mtimeNs, type file, size, ino, blobs (hex ids).
 */
const PLAIN_FILE =
  /^\{"path":"([^"\\]*)","mode":(\d+),"mtimeNs":"(\d+)","type":"file","size":(\d+),"ino":"(\d+)","blobs":\[((?:"[0-9a-f]+"(?:,"[0-9a-f]+")*)?)\]\}$/;

/**
 * The previous checkpoint's manifest, for a protect that compares the tree with it: each line
 * is parsed when its path is looked up (or by `all`), a plain file's line (PLAIN_FILE) by a
 * pattern rather than JSON.parse. Such a line can go into the next manifest as it is (`line`)
 * when the file has not changed: an incremental protect of a large tree neither JSON-parses nor
 * serializes the entries of its unchanged files. A line that does not parse is as if absent (the file
 * is read again), as a previous manifest that does not read is.
 */
export class PreviousManifest {
  private readonly byPath = new Map<string, string>();
  private readonly parsed = new Map<string, Entry | null>();
  private readonly plain = new Map<Entry, string>();

  constructor(lines: readonly string[] = []) {
    for (const line of lines) {
      const path = pathOf(line);
      if (path !== undefined) this.byPath.set(path, line);
    }
  }

  /** The manifest in `bank`; an empty one if there is none or it does not read. */
  static async read(bank: Bank): Promise<PreviousManifest> {
    const lines: string[] = [];
    try {
      await eachLine(bank, MANIFEST, (line) => lines.push(line));
    } catch {
      return new PreviousManifest();
    }
    return new PreviousManifest(lines);
  }

  get(path: string): Entry | undefined {
    let entry = this.parsed.get(path);
    if (entry === undefined) {
      entry = this.parse(this.byPath.get(path));
      this.parsed.set(path, entry);
    }
    return entry ?? undefined;
  }

  /**
   * Every entry, each line parsed now (`get` then only looks it up). It runs while the walk does
   * and yields now and then, so that the end of a walk's share is not kept waiting for the next.
   */
  async all(): Promise<Entry[]> {
    const entries: Entry[] = [];
    let n = 0;
    for (const path of this.byPath.keys()) {
      if (++n % 1024 === 0) await new Promise(setImmediate);
      const entry = this.get(path);
      if (entry !== undefined) entries.push(entry);
    }
    return entries;
  }

  /**
   * The line of `entry` (from `get`) if it is a plain file's: a file that has the same path,
   * mode, mtimeNs, size, ino and blobs has exactly this line.
   */
  line(entry: Entry): string | undefined {
    return this.plain.get(entry);
  }

  private parse(line: string | undefined): Entry | null {
    if (line === undefined) return null;
    const m = PLAIN_FILE.exec(line);
    if (m) {
      const entry: Entry = {
        path: m[1]!,
        mode: Number(m[2]),
        mtimeNs: m[3]!,
        type: 'file',
        size: Number(m[4]),
        ino: m[5]!,
        blobs: m[6] === '' ? [] : m[6]!.slice(1, -1).split('","'),
      };
      this.plain.set(entry, line);
      return entry;
    }
    try {
      const entry = JSON.parse(line) as Entry;
      return typeof entry === 'object' && entry !== null && typeof entry.path === 'string' ? entry : null;
    } catch {
      return null;
    }
  }
}

/** The path of a manifest line: read off its start where it has no escapes, else parsed. */
function pathOf(line: string): string | undefined {
  const START = '{"path":"';
  if (line.startsWith(START)) {
    const end = line.indexOf('"', START.length);
    const path = line.slice(START.length, end);
    if (end > 0 && !path.includes('\\')) return path;
  }
  try {
    const path = (JSON.parse(line) as Entry).path;
    return typeof path === 'string' ? path : undefined;
  } catch {
    return undefined;
  }
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
