/**
 * The source tree a crash campaign protects: a few hundred small text files in nested
 * directories (`small/`), a few 1–3 MB files of random bytes (`big/`), a symbolic link and an
 * empty directory; changed between rounds by seeded edits, and compared by content.
 */
import { createHash } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Prng } from './prng.js';

export type Entry =
  | { kind: 'file'; sha256: string; size: number; mode: number }
  | { kind: 'link'; target: string }
  | { kind: 'dir'; mode: number };

/** Every entry below a root, by path relative to it ('/'-separated). */
export type Snapshot = Map<string, Entry>;

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

export class SourceTree {
  private serial = 0;

  constructor(
    readonly root: string,
    private readonly rng: Prng,
  ) {}

  /** The first tree: `smallFiles` text files of 20 B – 12 KB and `bigFiles` random files of 1–3 MB. */
  async create(smallFiles: number, bigFiles: number): Promise<void> {
    await mkdir(join(this.root, 'small', 'empty'), { recursive: true });
    await mkdir(join(this.root, 'big'), { recursive: true });
    for (let i = 0; i < smallFiles; i++) await this.writeSmall(this.newSmallPath());
    for (let i = 0; i < bigFiles; i++) await this.writeBig(join('big', `blob-${this.serial++}.bin`));
    await symlink('README', join(this.root, 'small', 'link-to-readme'));
    await writeFile(join(this.root, 'small', 'README'), 'the crash campaign source tree\n');
    await chmod(join(this.root, 'small', 'README'), 0o600);
  }

  /** Seeded changes of the kinds a user makes between two protects; one line per change. */
  async change(): Promise<string[]> {
    const done: string[] = [];
    const small = (await this.files('small')).filter((p) => !p.endsWith('README'));
    const big = await this.files('big');
    const edits = this.rng.sample(small, this.rng.int(3, 15));
    for (const path of edits) {
      if (this.rng.chance(0.3)) {
        await writeFile(join(this.root, path), this.text(this.rng.int(1, 400)), { flag: 'a' });
        done.push(`appended to ${path}`);
      } else {
        await this.writeSmall(path);
        done.push(`rewrote ${path}`);
      }
    }
    const gone = this.rng.sample(
      small.filter((p) => !edits.includes(p)),
      this.rng.int(0, 8),
    );
    for (const path of gone) {
      await rm(join(this.root, path));
      done.push(`deleted ${path}`);
    }
    for (let i = this.rng.int(0, 10); i > 0; i--) {
      const path = this.newSmallPath();
      await this.writeSmall(path);
      done.push(`created ${path}`);
    }
    // A file replaced: new content written beside it and renamed over it (a new inode).
    const kept = small.filter((p) => !gone.includes(p));
    if (kept.length > 0) {
      const path = this.rng.pick(kept);
      await this.replace(path, Buffer.from(this.text(this.rng.int(10, 3000))));
      done.push(`replaced ${path}`);
    }
    const roll = this.rng.next();
    if (roll < 0.5 && big.length > 0) {
      // An edit inside a large file: a few bytes to 200 KB overwritten in place.
      const path = this.rng.pick(big);
      const data = await readFile(join(this.root, path));
      const length = this.rng.int(1, 200_000);
      const at = this.rng.int(0, Math.max(0, data.length - length));
      this.rng.bytes(length).copy(data, at);
      await writeFile(join(this.root, path), data);
      done.push(`edited ${length} bytes at ${at} of ${path}`);
    } else if (roll < 0.65 && big.length < 5) {
      const path = join('big', `blob-${this.serial++}.bin`);
      await this.writeBig(path);
      done.push(`created ${path}`);
    } else if (roll < 0.8 && big.length > 2) {
      const path = this.rng.pick(big);
      await rm(join(this.root, path));
      done.push(`deleted ${path}`);
    } else if (big.length > 0) {
      const path = this.rng.pick(big);
      await this.replace(path, this.rng.bytes(this.rng.int(1_000_000, 3_000_000)));
      done.push(`replaced ${path}`);
    }
    return done;
  }

  /** What the tree holds now. */
  snapshot(): Promise<Snapshot> {
    return snapshot(this.root);
  }

  private async files(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const [path, entry] of await snapshot(join(this.root, dir))) {
      if (entry.kind === 'file') out.push(`${dir}/${path}`);
    }
    return out.sort();
  }

  private newSmallPath(): string {
    const depth = this.rng.int(0, 2);
    const parts = ['small'];
    for (let i = 0; i < depth; i++) parts.push(`d${this.rng.int(0, 7)}`);
    parts.push(`f${this.serial++}.${this.rng.pick(['txt', 'md', 'json', 'log'])}`);
    return parts.join('/');
  }

  private async writeSmall(path: string): Promise<void> {
    const file = join(this.root, path);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(
      file,
      this.text(this.rng.chance(0.1) ? this.rng.int(4000, 12000) : this.rng.int(20, 1500)),
    );
    if (this.rng.chance(0.05)) await chmod(file, this.rng.pick([0o600, 0o755, 0o640]));
  }

  private async writeBig(path: string): Promise<void> {
    await writeFile(join(this.root, path), this.rng.bytes(this.rng.int(1_000_000, 3_000_000)));
  }

  private async replace(path: string, data: Buffer): Promise<void> {
    const tmp = join(this.root, `${path}.new`);
    await writeFile(tmp, data);
    await rename(tmp, join(this.root, path));
  }

  private text(bytes: number): string {
    let out = '';
    while (out.length < bytes) out += `${this.rng.pick(WORDS)}${this.rng.chance(0.1) ? '\n' : ' '}`;
    return out.slice(0, bytes);
  }
}

/** Every entry below `root` (lstat: links are not followed). */
export async function snapshot(root: string): Promise<Snapshot> {
  const out: Snapshot = new Map();
  const walk = async (dir: string, rel: string) => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const path = join(dir, name);
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const info = await lstat(path);
      if (info.isSymbolicLink()) out.set(relPath, { kind: 'link', target: await readlink(path) });
      else if (info.isDirectory()) {
        out.set(relPath, { kind: 'dir', mode: info.mode & 0o777 });
        await walk(path, relPath);
      } else if (info.isFile()) {
        const data = await readFile(path);
        out.set(relPath, {
          kind: 'file',
          sha256: createHash('sha256').update(data).digest('hex'),
          size: data.length,
          mode: info.mode & 0o777,
        });
      } else out.set(relPath, { kind: 'dir', mode: -1 });
    }
  };
  await walk(root, '');
  return out;
}

/** The part of `snap` below `prefix` ('' for all of it), with paths relative to `prefix`. */
export function subtree(snap: Snapshot, prefix: string): Snapshot {
  if (prefix === '') return snap;
  const out: Snapshot = new Map();
  for (const [path, entry] of snap)
    if (path.startsWith(`${prefix}/`)) out.set(path.slice(prefix.length + 1), entry);
  return out;
}

/** How `actual` differs from `expected`, one line per path (at most `limit` lines); empty if they are equal. */
export function differences(expected: Snapshot, actual: Snapshot, limit = 10): string[] {
  const out: string[] = [];
  const describe = (e: Entry | undefined) =>
    e === undefined
      ? 'nothing'
      : e.kind === 'file'
        ? `file ${e.size} B sha256 ${e.sha256.slice(0, 12)} mode ${e.mode.toString(8)}`
        : e.kind === 'link'
          ? `link to ${e.target}`
          : `directory mode ${e.mode.toString(8)}`;
  const paths = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  for (const path of paths) {
    const want = expected.get(path);
    const got = actual.get(path);
    if (JSON.stringify(want) === JSON.stringify(got)) continue;
    out.push(`${path}: expected ${describe(want)}, restored ${describe(got)}`);
    if (out.length >= limit) break;
  }
  return out;
}
