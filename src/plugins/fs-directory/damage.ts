/**
 * Damage a restore or verify finds in a checkpoint's blobs (a byte flipped in a pack, a pack
 * cut short or gone, a blob in no index), and the files it costs: each named with the first
 * of its blobs that is damaged, for the error and the operation log.
 */
import { HoardError } from '../../errors.js';
import type { Entry } from './manifest.js';
import type { DamagedBlob } from './tasks/common.js';

/** A file that cannot be restored as recorded, and why. */
export interface DamagedFile {
  path: string;
  /** The first of its blobs that is damaged (absent when the file's record itself is wrong). */
  blob?: string;
  pack?: string;
  problem: string;
}

/** Files a message lists by name; all of them are in the error's details and the operation log. */
const LISTED = 20;

export class Damage {
  private readonly blobs = new Map<string, DamagedBlob>();
  private readonly extra: DamagedFile[] = [];

  get blobCount(): number {
    return this.blobs.size;
  }

  blobIds(): string[] {
    return [...this.blobs.keys()];
  }

  /** Every damaged blob with its pack (if an index names one) and problem. */
  list(): DamagedBlob[] {
    return [...this.blobs.values()];
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  /** Records a damaged blob; the first problem given for it is kept. */
  blob(damaged: DamagedBlob): void {
    if (!this.blobs.has(damaged.id)) this.blobs.set(damaged.id, damaged);
  }

  /** A blob no index of the store holds. */
  missing(id: string): void {
    this.blob({ id, problem: `blob ${id} is not in the content store's index` });
  }

  /** A file damaged for a reason of its own (its record disagrees with its blobs). */
  file(damaged: DamagedFile): void {
    this.extra.push(damaged);
  }

  /** The damaged files among `entries`, by path: those needing a damaged blob and those recorded with file(). */
  files(entries: Iterable<Entry>): DamagedFile[] {
    const byPath = new Map(this.extra.map((f) => [f.path, f]));
    if (this.blobs.size > 0) {
      for (const entry of entries) {
        if (byPath.has(entry.path)) continue;
        const id = entry.blobs?.find((b) => this.blobs.has(b));
        if (id === undefined) continue;
        const { pack, problem } = this.blobs.get(id)!;
        byPath.set(entry.path, {
          path: entry.path,
          blob: id,
          ...(pack === undefined ? {} : { pack }),
          problem,
        });
      }
    }
    return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

/** One line per damaged file for the operation log: its path and the store's whole message. */
export function damageLines(files: DamagedFile[], what: string): string[] {
  return files.map((f) => `${what}: ${f.path}: ${f.problem}`);
}

/**
 * HOOK_FAILED after `summary`, listing the first damaged files with the blob and pack of each;
 * details: `files` (every path) and `damaged` (every file with its blob, pack and problem).
 */
export function damageError(
  where: string,
  summary: string,
  files: DamagedFile[],
  details: Record<string, unknown> = {},
): HoardError {
  const listed = files.slice(0, LISTED).map((f) => `${f.path} (${short(f)})`);
  const more = files.length > LISTED ? `, … and ${files.length - LISTED} more` : '';
  const first = files[0] === undefined ? '' : ` (first: ${files[0].problem})`;
  return new HoardError('HOOK_FAILED', `${where}: ${summary}: ${listed.join(', ')}${more}${first}`, {
    details: { ...details, files: files.map((f) => f.path), damaged: files },
  });
}

function short(f: DamagedFile): string {
  if (f.blob === undefined) return f.problem;
  if (f.pack === undefined) return `blob ${f.blob}, in no index`;
  return `blob ${f.blob} in pack ${f.pack}`;
}
