import { createHash } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HoardError } from '../errors.js';
import { isCode, syncDir, tempName, writeNewFile } from './fs-util.js';
import { HOLDER } from './holder.js';
import { type AcquireResult, type LeaseRecord, leaseLive } from './store.js';

/** A lock on one lease older than this is left by a dead process and is removed. */
export const STALE_LOCK_MS = 30_000;
/** Longer lease names are stored under a hash, to stay within a file name's length. */
const MAX_PLAIN_NAME = 200;
/** Bounds `acquire` when the lease keeps changing hands under it. */
const MAX_ATTEMPTS = 100;

interface Seen {
  raw: string;
  /** Undefined if the file does not hold a lease record: a damaged lease, treated as expired. */
  record: LeaseRecord | undefined;
}

/**
 * Leases as files in `dir` (`<root>/.leases/`), one per lease, holding JSON
 * `{owner, token, expiresAt, holder}` (`holder`: the process, see holder.ts; a lease whose
 * holder is provably gone is broken like an expired one). The file is named after the lease's full name with '/' as '!'
 * ('checkpoint-x' → `checkpoint-x`, 'a/b' → `a!b`), or '!' and the name's SHA-256 when
 * longer than 200 characters.
 *
 * A lease is created whole or not at all: the record is written and fsynced in a `.tmp-*`
 * file, then hard-linked to the lease's name, which fails if the name exists (like O_EXCL,
 * but a reader never sees a half-written file). Every other change (breaking an expired
 * lease, renewing, releasing) happens under the lease's lock, the directory
 * `.lock-<file>`, after re-reading the file: so a breaker cannot remove a lease that was
 * renewed or taken after it read it. A lock older than 30 s by the wall clock belongs to a
 * dead process and is removed.
 */
export class FsLeases {
  constructor(
    private readonly dir: string,
    private readonly now: () => number,
  ) {}

  async acquire(name: string, owner: string, token: string, ttlMs: number): Promise<AcquireResult> {
    const file = this.file(name);
    await mkdir(this.dir, { recursive: true });
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const expiresAt = this.now() + ttlMs;
      const record: LeaseRecord = { owner, token, expiresAt, ...(HOLDER ? { holder: HOLDER } : {}) };
      if (await this.create(file, record)) return { acquired: true, expiresAt };
      const seen = await this.readFile(file);
      if (seen === undefined) continue;
      if (seen.record && leaseLive(seen.record, this.now())) return { acquired: false, holder: seen.record };
      const taken = await this.locked(file, async () => {
        const again = await this.readFile(file);
        if (again?.raw !== seen.raw) return undefined;
        await rm(file, { force: true });
        const renewed = this.now() + ttlMs;
        return (await this.create(file, { ...record, expiresAt: renewed })) ? renewed : undefined;
      });
      if (taken !== undefined) return { acquired: true, expiresAt: taken };
    }
    throw new HoardError(
      'LEASE_HELD',
      `lease "${name}" kept changing hands; gave up after ${MAX_ATTEMPTS} tries`,
      {
        details: { name },
      },
    );
  }

  async renew(name: string, token: string, ttlMs: number): Promise<number | undefined> {
    const file = this.file(name);
    if (!this.ours(await this.readFile(file), token)) return undefined;
    return this.locked(file, async () => {
      const seen = await this.readFile(file);
      if (!this.ours(seen, token)) return undefined;
      const expiresAt = this.now() + ttlMs;
      const tmp = join(this.dir, tempName());
      try {
        await writeNewFile(tmp, JSON.stringify({ ...seen!.record, expiresAt }));
        await rename(tmp, file);
      } catch (error) {
        await rm(tmp, { force: true });
        throw error;
      }
      await syncDir(this.dir);
      return expiresAt;
    });
  }

  async release(name: string, token: string): Promise<void> {
    const file = this.file(name);
    if ((await this.readFile(file))?.record?.token !== token) return;
    await this.locked(file, async () => {
      if ((await this.readFile(file))?.record?.token !== token) return;
      await rm(file, { force: true });
      await syncDir(this.dir);
    });
  }

  /**
   * Removes lease records that expired at least `olderThanMs` ago or whose holder died, and
   * damaged ones that old, each under its lock after reading it again (so one renewed or
   * taken meanwhile stays); also temporary files and lock directories left by crashes.
   * The number of lease records removed.
   */
  async sweep(olderThanMs: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return 0;
      throw error;
    }
    let removed = 0;
    const now = this.now();
    for (const name of names) {
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info) continue;
      const old = Date.now() - info.mtimeMs > olderThanMs;
      if (name.startsWith('.tmp-')) {
        if (old) await rm(path, { force: true });
        continue;
      }
      if (name.startsWith('.lock-')) {
        if (Date.now() - info.mtimeMs > Math.max(olderThanMs, STALE_LOCK_MS))
          await rmdir(path).catch(() => {});
        continue;
      }
      const seen = await this.readFile(path);
      if (seen === undefined) continue;
      const dead = seen.record
        ? !leaseLive(seen.record, now) &&
          (seen.record.expiresAt < now - olderThanMs || seen.record.expiresAt > now)
        : old;
      if (!dead) continue;
      const gone = await this.locked(path, async () => {
        if ((await this.readFile(path))?.raw !== seen.raw) return false;
        await rm(path, { force: true });
        return true;
      });
      if (gone) removed++;
    }
    if (removed > 0) await syncDir(this.dir);
    return removed;
  }

  async read(name: string): Promise<LeaseRecord | undefined> {
    return (await this.readFile(this.file(name)))?.record;
  }

  private file(name: string): string {
    const plain = name.replaceAll('/', '!');
    const base =
      plain.length <= MAX_PLAIN_NAME ? plain : `!${createHash('sha256').update(name).digest('hex')}`;
    return join(this.dir, base);
  }

  private ours(seen: Seen | undefined, token: string): boolean {
    return seen?.record?.token === token && seen.record.expiresAt > this.now();
  }

  /** Links a new lease file into place; false if one exists. */
  private async create(file: string, record: LeaseRecord): Promise<boolean> {
    const tmp = join(this.dir, tempName());
    await writeNewFile(tmp, JSON.stringify(record));
    try {
      await link(tmp, file);
    } catch (error) {
      if (isCode(error, 'EEXIST')) return false;
      throw error;
    } finally {
      await rm(tmp, { force: true });
    }
    await syncDir(this.dir);
    return true;
  }

  private async readFile(file: string): Promise<Seen | undefined> {
    let raw: string;
    try {
      raw = await readFile(file, 'utf8');
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw error;
    }
    return { raw, record: parseRecord(raw) };
  }

  /** Runs `work` holding the lease's lock, waiting for another holder to finish. */
  private async locked<T>(file: string, work: () => Promise<T>): Promise<T> {
    const lock = join(this.dir, `.lock-${file.slice(this.dir.length + 1)}`);
    for (let delay = 1; ; delay = Math.min(delay * 2, 25)) {
      try {
        await mkdir(lock);
        break;
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
      }
      const age = await stat(lock).then(
        (info) => Date.now() - info.mtimeMs,
        () => undefined,
      );
      if (age === undefined) continue;
      if (age > STALE_LOCK_MS) {
        await rmdir(lock).catch(() => {});
        continue;
      }
      await sleep(delay);
    }
    try {
      return await work();
    } finally {
      await rmdir(lock).catch(() => {});
    }
  }
}

function parseRecord(raw: string): LeaseRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = value as Partial<LeaseRecord> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    typeof r.owner !== 'string' ||
    typeof r.token !== 'string' ||
    typeof r.expiresAt !== 'number' ||
    !Number.isFinite(r.expiresAt)
  ) {
    return undefined;
  }
  return {
    owner: r.owner,
    token: r.token,
    expiresAt: r.expiresAt,
    ...(typeof r.holder === 'string' ? { holder: r.holder } : {}),
  };
}
