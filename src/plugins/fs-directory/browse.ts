/**
 * Looking inside an `fs.directory` checkpoint without restoring it: its entries as `hoard ls`
 * shows them, the selection a partial restore (`include`) makes, and what `hoard diff`
 * compares — all from the manifest alone, never from file contents.
 */
import { createHash } from 'node:crypto';
import { HoardError } from '../../errors.js';
import { storedInfo } from '../saved-info.js';
import type { BrowseContext, BrowseEntry, ResourceBrowser } from '../sdk.js';
import { type Entry, INFO, manifestName, readManifest, unsafePath } from './manifest.js';

export const fsDirectoryBrowser: ResourceBrowser = {
  async entries(ctx, { path, recursive }) {
    const entries = await readManifest(ctx.bank, manifestName(ctx));
    return listAt(entries, path, recursive, where(ctx)).map(browseEntry);
  },
  info: (ctx) => storedInfo(ctx.bank, INFO),
};

function where(ctx: Pick<BrowseContext, 'checkpoint' | 'resource'>): string {
  return `${ctx.resource.type}#${ctx.resource.id} in checkpoint ${ctx.checkpoint.id}`;
}

/**
 * A path as a user writes it (`docs/`, `/docs`, `./docs/a.md`) as the manifest has it
 * (`docs`, `docs/a.md`; '' for the root). USAGE for one that climbs (`..`) or holds a NUL.
 */
export function normalisePath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  const normal = parts.join('/');
  if (normal === '') return '';
  const problem = unsafePath(normal);
  if (problem) {
    throw new HoardError('USAGE', `path ${JSON.stringify(path)} ${problem}`, { details: { path } });
  }
  return normal;
}

function notFound(path: string, where: string): HoardError {
  return new HoardError('PATH_NOT_FOUND', `no "${path}" in ${where}`, { details: { path } });
}

/**
 * The entries at `path` of a manifest (sorted by path): a directory's children (every entry
 * below it with `recursive`), or the one entry a file or link path names.
 */
export function listAt(entries: readonly Entry[], path: string, recursive: boolean, where: string): Entry[] {
  const at = normalisePath(path);
  if (at !== '') {
    const self = entries.find((e) => e.path === at);
    if (!self) throw notFound(at, where);
    if (self.type !== 'dir') return [self];
  }
  const prefix = at === '' ? '' : `${at}/`;
  return entries.filter(
    (e) => e.path.startsWith(prefix) && (recursive || !e.path.slice(prefix.length).includes('/')),
  );
}

/**
 * A partial restore's entries: each included path with everything below it, and the
 * directories above it (so they get their recorded modes and times). PATH_NOT_FOUND naming
 * the first path the manifest does not hold. When a hard-linked file's first path is left out,
 * its first included link is written from the blobs (its entry repeats them) and the other
 * included links are linked to that one.
 */
export function selectIncluded(
  entries: readonly Entry[],
  include: readonly string[],
  where: string,
): Entry[] {
  const paths = new Set(entries.map((e) => e.path));
  const wanted = new Set<string>();
  const roots: string[] = [];
  for (const given of include) {
    const at = normalisePath(given);
    if (at === '') return [...entries]; // the root: everything
    if (!paths.has(at)) throw notFound(at, where);
    roots.push(at);
    const parts = at.split('/');
    for (let i = 1; i < parts.length; i++) wanted.add(parts.slice(0, i).join('/'));
  }
  const selected = entries.filter(
    (e) => wanted.has(e.path) || roots.some((r) => e.path === r || e.path.startsWith(`${r}/`)),
  );
  const kept = new Set(selected.map((e) => e.path));
  /** A left-out first path → the first of its links that is restored, which takes its place. */
  const promoted = new Map<string, string>();
  return selected.map((e) => {
    if (e.hardLink === undefined || kept.has(e.hardLink)) return e;
    const first = promoted.get(e.hardLink);
    if (first !== undefined) return { ...e, hardLink: first };
    promoted.set(e.hardLink, e.path);
    const { hardLink: _, ...copy } = e;
    return copy;
  });
}

/** A manifest entry as `ls` shows it; the digest of a file is a hash of its chunk ids. */
export function browseEntry(e: Entry): BrowseEntry {
  const out: BrowseEntry = {
    path: e.path,
    type: e.type,
    size: e.type === 'file' ? (e.size ?? 0) : e.type === 'symlink' ? Buffer.byteLength(e.target ?? '') : 0,
    mode: e.mode,
    mtime: isoTime(e.mtimeNs),
  };
  if (e.type === 'symlink') out.target = e.target ?? '';
  if (e.type === 'file')
    out.digest = createHash('sha256')
      .update((e.blobs ?? []).join('\n'))
      .digest('hex');
  return out;
}

/** Nanoseconds since the epoch (a decimal string) as ISO 8601, to the millisecond. */
function isoTime(mtimeNs: string): string {
  try {
    return new Date(Number(BigInt(mtimeNs) / 1_000_000n)).toISOString();
  } catch {
    return new Date(0).toISOString();
  }
}
