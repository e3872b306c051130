import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { HoardError } from '../errors.js';
import { HOLDER } from './holder.js';
import { isNoSuchKey, isPreconditionFailed, type S3Connection, s3Failure } from './s3-client.js';
import { type AcquireResult, type LeaseRecord, leaseLive } from './store.js';

/** Bounds `acquire` when the lease keeps changing hands under it. */
const MAX_ATTEMPTS = 100;
/**
 * How long a retiring record (see `S3Leases`) holds the name: the time between its
 * compare-and-swap and the DELETE that follows, with a large margin.
 */
const RETIRE_MS = 30_000;
/** Longer object keys hold the lease name's hash instead (S3 keys stop at 1024 bytes). */
const MAX_PLAIN_KEY = 960;

/** Where the lease objects of a bank are, and how to reach them. */
export interface LeaseSpace {
  conn: S3Connection;
  bucket: string;
  /** The bank's object prefix ('' or ending in '/'); leases live under `<base>.leases/`. */
  base: string;
  now: () => number;
}

interface Seen {
  /** Without quotes: radosgw 16 compares If-Match against the bare ETag. */
  etag: string;
  raw: string;
  /** Undefined for a damaged object, which counts as expired. */
  record: LeaseRecord | undefined;
  /** A record being removed: it holds the name until the DELETE that follows, or its expiry. */
  retiring: boolean;
  modifiedAt: number;
}

type Write = { ok: true; etag: string } | { ok: false };

/**
 * Leases as objects under `<prefix>/.leases/` (a name no key can have, so no listing shows
 * them), one per lease, holding JSON `{owner, token, expiresAt, holder}` like the fs bank's.
 * Every change is a compare-and-swap on the object: created with `If-None-Match: *`, renewed,
 * broken (when expired, or its holder is provably gone) and retired with `If-Match` on the
 * ETag it was read with; the loser of a race gets 412 and reads again.
 *
 * S3 has no conditional DELETE (radosgw ignores If-Match on it), and an unconditional one
 * could remove a lease someone took a moment before. So a lease is removed in two steps: a
 * compare-and-swap turns it into a *retiring* record, which holds the name for 30 s and which
 * nobody else may change until then, and a DELETE follows at once. An acquirer that meets a
 * retiring record waits for the DELETE. Expiry is judged by the bank's clock (`now`), which
 * follows the server's clock.
 */
export class S3Leases {
  /**
   * The record this process last wrote to each lease object it holds, and its ETag: a renewal
   * or release is then one compare-and-swap on that ETag, with no GET before it. A swap that
   * fails (the object changed: broken, taken) falls back to reading it, as without this.
   */
  private readonly mine = new Map<string, { etag: string; record: LeaseRecord }>();

  constructor(private readonly space: LeaseSpace) {}

  async acquire(name: string, owner: string, token: string, ttlMs: number): Promise<AcquireResult> {
    const key = this.key(name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const expiresAt = this.space.now() + ttlMs;
      const record: LeaseRecord = { owner, token, expiresAt, ...(HOLDER ? { holder: HOLDER } : {}) };
      const created = await this.write(key, record, { create: true });
      if (created.ok) {
        this.mine.set(key, { etag: created.etag, record });
        return { acquired: true, expiresAt };
      }
      const seen = await this.load(key);
      if (seen === undefined) continue;
      // Ours already: an earlier try of this call was written but its answer was lost.
      if (seen.record?.token === token) {
        if (!seen.retiring) this.mine.set(key, { etag: seen.etag, record: seen.record });
        return { acquired: true, expiresAt: seen.record.expiresAt };
      }
      const now = this.space.now();
      if (seen.record && leaseLive(seen.record, now)) {
        if (!seen.retiring) return { acquired: false, holder: seen.record };
        await sleep(Math.min(10 * 2 ** Math.min(attempt, 6), 500));
        continue;
      }
      const taken = { ...record, expiresAt: this.space.now() + ttlMs };
      const swapped = await this.write(key, taken, { ifMatch: seen.etag });
      if (swapped.ok) {
        this.mine.set(key, { etag: swapped.etag, record: taken });
        return { acquired: true, expiresAt: taken.expiresAt };
      }
    }
    throw new HoardError(
      'LEASE_HELD',
      `lease "${name}" kept changing hands; gave up after ${MAX_ATTEMPTS} tries`,
      { details: { name } },
    );
  }

  async renew(name: string, token: string, ttlMs: number): Promise<number | undefined> {
    const key = this.key(name);
    // What this process wrote last, if it is still unexpired: swapped without reading it again
    // (the ETag matching says the object is still exactly that record, so still ours).
    const known = this.known(key, token);
    for (let attempt = 0; attempt < 10; attempt++) {
      const seen = attempt === 0 && known ? known : await this.load(key);
      if (!this.ours(seen, token)) return undefined;
      const expiresAt = this.space.now() + ttlMs;
      const record = { ...seen!.record!, expiresAt };
      const swapped = await this.write(key, record, { ifMatch: seen!.etag });
      if (swapped.ok) {
        this.mine.set(key, { etag: swapped.etag, record });
        return expiresAt;
      }
      this.mine.delete(key);
    }
    return undefined;
  }

  async release(name: string, token: string): Promise<void> {
    const key = this.key(name);
    const known = this.known(key, token);
    this.mine.delete(key);
    for (let attempt = 0; attempt < 10; attempt++) {
      const seen = attempt === 0 && known ? known : await this.load(key);
      if (seen?.record?.token !== token || seen.retiring) return;
      if (await this.retire(key, seen)) return;
    }
  }

  /** What this process last wrote to `key` under `token`, as if read, while unexpired. */
  private known(key: string, token: string): Seen | undefined {
    const mine = this.mine.get(key);
    if (mine === undefined || mine.record.token !== token || mine.record.expiresAt <= this.space.now()) {
      return undefined;
    }
    return { etag: mine.etag, raw: '', record: mine.record, retiring: false, modifiedAt: 0 };
  }

  async read(name: string): Promise<LeaseRecord | undefined> {
    const seen = await this.load(this.key(name));
    return seen && !seen.retiring ? seen.record : undefined;
  }

  /**
   * Removes lease objects that expired at least `olderThanMs` ago, or whose holder died, and
   * damaged ones written that long ago, each by a compare-and-swap on what was read (so one
   * renewed or taken meanwhile stays). The number removed.
   */
  async sweep(olderThanMs: number): Promise<number> {
    let removed = 0;
    const prefix = `${this.space.base}.leases/`;
    let continuation: string | undefined;
    do {
      const page = await this.space.conn.send('listing leases', undefined, (sdk, client) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.space.bucket,
            Prefix: prefix,
            ...(continuation ? { ContinuationToken: continuation } : {}),
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        const seen = await this.load(object.Key);
        if (seen === undefined) continue;
        const now = this.space.now();
        const dead = seen.record
          ? !leaseLive(seen.record, now) &&
            (seen.retiring || seen.record.expiresAt < now - olderThanMs || seen.record.expiresAt > now)
          : seen.modifiedAt < now - olderThanMs;
        if (dead && (await this.retire(object.Key, seen))) removed++;
      }
      continuation = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuation);
    return removed;
  }

  private ours(seen: Seen | undefined, token: string): boolean {
    return seen?.record?.token === token && !seen.retiring && seen.record.expiresAt > this.space.now();
  }

  /** Swaps `seen` for a retiring record, then deletes it; false if `seen` changed meanwhile. */
  private async retire(key: string, seen: Seen): Promise<boolean> {
    const record = {
      owner: seen.record?.owner ?? 'a damaged lease',
      token: randomBytes(16).toString('hex'),
      expiresAt: this.space.now() + RETIRE_MS,
      retiring: true,
      ...(HOLDER ? { holder: HOLDER } : {}),
    };
    const swapped = await this.write(key, record, { ifMatch: seen.etag });
    this.mine.delete(key);
    if (!swapped.ok) return false;
    // One try only: a DELETE retried past RETIRE_MS could remove a lease taken since. A
    // retiring record left behind expires, and the next acquirer or sweep takes it over.
    await this.space.conn
      .raw((sdk, client) => client.send(new sdk.DeleteObjectCommand({ Bucket: this.space.bucket, Key: key })))
      .catch(() => {});
    return true;
  }

  private key(name: string): string {
    const plain = `${this.space.base}.leases/${name}`;
    if (Buffer.byteLength(plain) <= MAX_PLAIN_KEY) return plain;
    return `${this.space.base}.leases/!${createHash('sha256').update(name).digest('hex')}`;
  }

  /** A single PUT (a condition on a multipart upload would be ignored); ok false on 412. */
  private async write(
    key: string,
    record: object,
    condition: { create: true } | { ifMatch: string },
  ): Promise<Write> {
    const body = Buffer.from(JSON.stringify(record));
    try {
      const answer = await this.space.conn.raw((sdk, client) =>
        client.send(
          new sdk.PutObjectCommand({
            Bucket: this.space.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: 'application/json',
            ...('create' in condition ? { IfNoneMatch: '*' } : { IfMatch: condition.ifMatch }),
          }),
        ),
      );
      return { ok: true, etag: bare(answer.ETag) };
    } catch (error) {
      if (isPreconditionFailed(error)) return { ok: false };
      // A conditional write on a key that is gone fails with 404 on some servers.
      if ('ifMatch' in condition && isNoSuchKey(error)) return { ok: false };
      throw s3Failure(error, this.space.conn, 'writing a lease', key);
    }
  }

  private async load(key: string): Promise<Seen | undefined> {
    let answer: GetObjectCommandOutput;
    try {
      answer = await this.space.conn.raw((sdk, client) =>
        client.send(new sdk.GetObjectCommand({ Bucket: this.space.bucket, Key: key })),
      );
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw s3Failure(error, this.space.conn, 'reading a lease', key);
    }
    const raw = (await answer.Body?.transformToString()) ?? '';
    const parsed = parseRecord(raw);
    return {
      etag: bare(answer.ETag),
      raw,
      record: parsed?.record,
      retiring: parsed?.retiring ?? false,
      modifiedAt: answer.LastModified?.getTime() ?? 0,
    };
  }
}

/** An ETag without its quotes, as radosgw 16 wants it in If-Match. */
export function bare(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function parseRecord(raw: string): { record: LeaseRecord; retiring: boolean } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = value as (Partial<LeaseRecord> & { retiring?: unknown }) | null;
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
    record: {
      owner: r.owner,
      token: r.token,
      expiresAt: r.expiresAt,
      ...(typeof r.holder === 'string' ? { holder: r.holder } : {}),
    },
    retiring: r.retiring === true,
  };
}
