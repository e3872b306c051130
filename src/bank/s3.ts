import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { HoardError } from '../errors.js';
import { decorate } from './compose.js';
import type { EncryptionSettings } from './encrypted.js';
import { keyProblem } from './keys.js';
import { type RetryOptions, RetryPolicy } from './retry.js';
import {
  isInvalidRange,
  isNoSuchKey,
  isPreconditionFailed,
  S3Connection,
  type S3Credentials,
  s3Failure,
} from './s3-client.js';
import { S3Leases } from './s3-leases.js';
import {
  type AcquireResult,
  type BankStore,
  type CallOptions,
  cancelledCall,
  keyConflict,
  type LeaseRecord,
  type ReadOptions,
  type StoreData,
  type StoreListOptions,
  type SweepReport,
  unlessCancelled,
} from './store.js';
import type { ObjectInfo } from './types.js';
import { BankView } from './view.js';

export interface S3BankOptions {
  bucket: string;
  /** Where the bank's objects start in the bucket ('a/b': keys are `a/b/<key>`). Default: the bucket's root. */
  prefix?: string;
  /** The server's URL (`http://127.0.0.1:7480`); default AWS S3. */
  endpoint?: string;
  /** Default `us-east-1`. */
  region?: string;
  /** Default: the SDK's chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws, instance roles). */
  credentials?: S3Credentials;
  /** Bucket in the path (`endpoint/bucket/key`) rather than the host name. Default: true when `endpoint` is set. */
  forcePathStyle?: boolean;
  /** Refuse every write with BANK_READ_ONLY. Default false. */
  readOnly?: boolean;
  /** Encrypt what is stored (encrypted.ts). Default: no encryption, and no check for it. */
  encryption?: EncryptionSettings;
  /**
   * Where this machine keeps its copy of the content store's index objects (bank/cache.ts), so
   * that a run does not GET every one of them again. Default: no cache.
   */
  cacheDir?: string;
  /**
   * The clock leases expire by, in ms since the epoch. Default: this machine's clock moved by
   * the server clock's offset, read from the `Date` of the server's answers, so that every
   * client judges expiry by one clock.
   */
  now?: () => number;
  /** Retries of transient failures (retry.ts). Default 8 tries over about 15 s. */
  retry?: RetryOptions;
  /**
   * A request that receives nothing from the server for this long fails, and is retried.
   * @default 120000
   */
  idleTimeoutMs?: number;
  /** A stream is uploaded in parts of this many bytes (>= 5 MiB). Default 8 MiB. */
  partSize?: number;
}

const MiB = 1024 * 1024;
/** S3's longest object key, in bytes (keys are ASCII, so characters). */
const MAX_OBJECT_KEY = 1024;
/** Where the objects of the conditional-write check go, under the bank's prefix. */
const PROBES = '.hoard-probe/';

/**
 * A bank in an S3 bucket (AWS, or a compatible server that enforces conditional writes; the
 * tests run against Ceph's radosgw 16.2), safe for several processes and machines to share.
 *
 * Each key is an object `<prefix>/<key>`. Names starting with '.' are never keys, so they are
 * never listed: `<prefix>/.leases/` holds the leases (s3-leases.ts) and `<prefix>/.hoard-probe/`
 * the objects of the check below.
 *
 * - A put of bytes is one PUT; a stream is read in parts of 8 MiB: if it ends within the first
 *   it is one PUT too, else a multipart upload, which S3 shows whole or not at all (a failed
 *   one is aborted; `sweep` aborts those a crash left). Either way the old object stays until
 *   the new one is complete.
 * - An object cannot have keys under it (BANK_KEY_CONFLICT): with each put of bytes, a HEAD of
 *   every ancestor of the key and a one-key LIST under it, beside the PUT — one round trip, one
 *   request more than the key has '/'s; a key found to break the rule is deleted again before
 *   the conflict is reported (a stream's parts are checked before its upload starts). An
 *   ancestor this bank has already seen hold a key (an earlier put below it passed the check,
 *   or it read or listed a key below it) is not asked about again until the bank deletes a key
 *   below it: a protect's puts share most of their ancestors. Another process may store a
 *   conflicting key meanwhile: S3 has no transaction over two keys; Hoard's key layout never
 *   makes such a pair.
 * - Listing is ascending only in S3: a descending listing lists every key below its marker
 *   under the prefix (1000 a request) and reverses them. That costs a request per 1000 keys
 *   for every page (the checkpoint index lists newest first).
 * - Before its first write the bank checks that the server enforces conditional writes: a
 *   second `If-None-Match: *` PUT of one probe object must fail with 412, and so must an
 *   `If-Match` with a wrong ETag. Where it does not, every write fails with BANK_UNSUPPORTED.
 * - Transient failures (5xx, throttling, resets, timeouts) are retried with backoff (retry.ts,
 *   composed in compose.ts); a permanent one is BANK_REFUSED naming endpoint, bucket and key.
 */
export class S3Bank extends BankView {
  readonly bucket: string;
  readonly endpoint: string | undefined;

  constructor(options: S3BankOptions) {
    const store = new S3Store(options);
    // Password mode: the KDF's parameters are kept beside the cache (not in it: cache.ts
    // removes what is not a copy of an index object), so that the next process derives the
    // key while the SDK loads (deferred.ts).
    const hint =
      options.encryption?.mode === 'password' && options.cacheDir !== undefined
        ? { kdfHintFile: `${options.cacheDir}.kdf.json` }
        : {};
    const encryption = options.encryption ? { encryption: { ...options.encryption, ...hint } } : {};
    const cache = options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir };
    super(decorate(store, { retry: store.policy, ...encryption, ...cache }), '', options.readOnly ?? false);
    this.bucket = options.bucket;
    this.endpoint = options.endpoint;
  }
}

/** `bucket "b" at http://…`, for messages. */
function describe(options: S3BankOptions, region: string): string {
  const prefix = options.prefix ? `, prefix "${options.prefix}"` : '';
  return `bucket "${options.bucket}"${prefix} at ${options.endpoint ?? `AWS S3 (${region})`}`;
}

class S3Store implements BankStore {
  readonly now: () => number;
  readonly policy: RetryPolicy;
  private readonly conn: S3Connection;
  private readonly bucket: string;
  /** '' or the prefix with its '/'. */
  private readonly base: string;
  private readonly partSize: number;
  private readonly leases: S3Leases;
  private checked: Promise<void> | undefined;
  /**
   * Prefixes this bank has seen keys under (a put below them passed its check, or a key below
   * them was read or listed): not objects, since no object has keys under it, so a put below
   * them need not HEAD them again. A delete here forgets the deleted key's ancestors (they may
   * have emptied, and an object may be put at one next).
   */
  private readonly holders = new Set<string>();

  constructor(options: S3BankOptions) {
    const region = options.region ?? 'us-east-1';
    if (typeof options.bucket !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(options.bucket)) {
      throw new HoardError('BANK_ARGUMENT_INVALID', `s3 bank: "${options.bucket}" is not a bucket name`);
    }
    const prefix = options.prefix?.replace(/\/+$/, '') ?? '';
    const problem = prefix === '' ? undefined : keyProblem(prefix);
    if (problem !== undefined) {
      throw new HoardError(
        'BANK_ARGUMENT_INVALID',
        `s3 bank: prefix "${options.prefix}" is not valid: ${problem}`,
      );
    }
    if (options.endpoint !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(options.endpoint);
      } catch {}
      if (!url || !['http:', 'https:'].includes(url.protocol)) {
        throw new HoardError(
          'BANK_ARGUMENT_INVALID',
          `s3 bank: endpoint "${options.endpoint}" is not an http:// or https:// URL`,
        );
      }
    }
    this.conn = new S3Connection(
      {
        endpoint: options.endpoint,
        region,
        credentials: options.credentials,
        forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
        idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
      },
      describe(options, region),
    );
    const clock = this.conn.clock;
    this.now = options.now ?? (() => Date.now() + clock.offsetMs);
    this.policy = new RetryPolicy(options.retry);
    this.bucket = options.bucket;
    this.base = prefix === '' ? '' : `${prefix}/`;
    this.partSize = Math.max(5 * MiB, options.partSize ?? 8 * MiB);
    this.leases = new S3Leases({ conn: this.conn, bucket: this.bucket, base: this.base, now: this.now });
  }

  async put(key: string, data: StoreData, call?: CallOptions): Promise<void> {
    const signal = call?.signal;
    const room = MAX_OBJECT_KEY - Buffer.byteLength(this.base);
    if (key.length > room) {
      throw new HoardError(
        'BANK_KEY_INVALID',
        `invalid key "${key.slice(0, 40)}…": with the bank's prefix "${this.base}" it is longer than S3's ${MAX_OBJECT_KEY} bytes (${room} are left for keys)`,
        { details: { key, prefix: this.base } },
      );
    }
    if (Buffer.isBuffer(data)) {
      await unlessCancelled(this.writable(), signal, 'checking that the server enforces conditional writes');
      // The check runs beside the PUT, not before it: one round trip a put, not two. A key
      // that breaks the rule is taken out again (it was not there before: under the rule no
      // object has keys under it) before the conflict is reported.
      const [conflict, stored] = await Promise.allSettled([
        this.findConflict(key, signal),
        this.putObject(key, data, signal),
      ]);
      if (conflict.status === 'fulfilled' && conflict.value !== undefined) {
        // Not under the signal: a key found to break the rule must go even when cancelled.
        if (stored.status === 'fulfilled') await this.delete(key);
        throw keyConflict(key, conflict.value);
      }
      if (stored.status === 'rejected') throw stored.reason;
      // The check failed (a transient error): the put fails and is tried again whole. The
      // object stays: it may have replaced one that was there, which must not be lost.
      if (conflict.status === 'rejected') throw conflict.reason;
      this.holding(key);
      return;
    }
    // A stream is read once, so the retry layer passes it through: retry each request here.
    await this.policy.run(
      () => unlessCancelled(this.writable(), signal, 'checking that the server enforces conditional writes'),
      signal,
    );
    await this.policy.run(() => this.checkConflicts(key, signal), signal);
    await this.putStream(key, data, signal);
    this.holding(key);
  }

  async get(key: string, options?: ReadOptions): Promise<Buffer | undefined> {
    const answer = await this.getObject(key, undefined, 'reading', options?.signal);
    if (answer === undefined) return undefined;
    this.holding(key);
    return this.body(answer, key, options?.signal);
  }

  async getStream(key: string, call?: CallOptions): Promise<Readable | undefined> {
    const answer = await this.getObject(key, undefined, 'reading', call?.signal);
    return answer?.Body as Readable | undefined;
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    call?: CallOptions,
  ): Promise<Buffer | undefined> {
    let answer: GetObjectCommandOutput | undefined;
    try {
      answer = await this.getObject(
        key,
        `bytes=${offset}-${offset + length - 1}`,
        'reading a range of',
        call?.signal,
      );
    } catch (error) {
      // The object exists, but the range starts at or past its end.
      if (isInvalidRange((error as HoardError).cause)) return Buffer.alloc(0);
      throw error;
    }
    if (answer === undefined) return undefined;
    const bytes = await this.body(answer, key, call?.signal);
    // A server that ignores Range sends the whole object.
    return answer.ContentRange === undefined && bytes.length > length
      ? bytes.subarray(offset, offset + length)
      : bytes;
  }

  async head(key: string, call?: CallOptions): Promise<ObjectInfo | undefined> {
    try {
      const answer = await this.conn.raw(
        (sdk, client, options) =>
          client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.base + key }), options),
        call?.signal,
      );
      return { size: answer.ContentLength ?? 0, modifiedAt: answer.LastModified?.getTime() ?? 0 };
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw s3Failure(error, this.conn, 'looking up', key);
    }
  }

  async delete(key: string, call?: CallOptions): Promise<void> {
    await unlessCancelled(
      this.writable(),
      call?.signal,
      'checking that the server enforces conditional writes',
    );
    // Before and after: a put that ends while this delete is in flight may have added them.
    this.forget(key);
    try {
      await this.conn.send(
        'deleting',
        key,
        (sdk, client, options) =>
          client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.base + key }), options),
        call?.signal,
      );
    } finally {
      this.forget(key);
    }
  }

  async list(prefix: string, { marker, desc, limit, signal }: StoreListOptions): Promise<string[]> {
    const keys: string[] = [];
    let continuation: string | undefined;
    do {
      const want = desc ? 1000 : Math.min(1000, Math.max(limit - keys.length, 100));
      const start = continuation
        ? { ContinuationToken: continuation }
        : !desc && marker !== undefined
          ? { StartAfter: this.base + marker }
          : {};
      const page = await this.conn.send(
        'listing',
        prefix,
        (sdk, client, options) =>
          client.send(
            new sdk.ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: this.base + prefix,
              MaxKeys: want,
              ...start,
            }),
            options,
          ),
        signal,
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(this.base.length);
        // Leases, probes and objects no key can name are not keys.
        if (key === undefined || keyProblem(key) !== undefined) continue;
        this.holding(key);
        if (desc) {
          if (marker !== undefined && key >= marker) return newestFirst(keys, limit);
          keys.push(key);
          // Only the last `limit` keys below the marker are wanted.
          if (keys.length > 2 * limit + 1000) keys.splice(0, keys.length - limit);
        } else {
          keys.push(key);
          if (keys.length >= limit) return keys;
        }
      }
      continuation = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuation);
    return desc ? newestFirst(keys, limit) : keys;
  }

  async acquireLease(name: string, owner: string, token: string, ttlMs: number): Promise<AcquireResult> {
    await this.writable();
    return this.leases.acquire(name, owner, token, ttlMs);
  }

  async renewLease(name: string, token: string, ttlMs: number): Promise<number | undefined> {
    await this.writable();
    return this.leases.renew(name, token, ttlMs);
  }

  async releaseLease(name: string, token: string): Promise<void> {
    await this.writable();
    await this.leases.release(name, token);
  }

  readLease(name: string): Promise<LeaseRecord | undefined> {
    return this.leases.read(name);
  }

  /**
   * Aborts multipart uploads under `prefix` started at least `olderThanMs` ago (by the
   * server's clock) and removes probe objects that old (both `temporary`); with the whole
   * bank, also dead lease objects (s3-leases.ts).
   */
  async sweep(prefix: string, olderThanMs: number): Promise<SweepReport> {
    await this.writable();
    const before = this.now() - olderThanMs;
    const report: SweepReport = { temporary: 0, directories: 0, leases: 0 };
    const under = prefix === '' ? this.base : `${this.base}${prefix}/`;
    let markers: { KeyMarker?: string; UploadIdMarker?: string } = {};
    for (;;) {
      const page = await this.conn.send('listing multipart uploads', prefix || undefined, (sdk, client) =>
        client.send(new sdk.ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: under, ...markers })),
      );
      for (const upload of page.Uploads ?? []) {
        const { Key, UploadId } = upload;
        if (!Key || !UploadId || (upload.Initiated?.getTime() ?? 0) >= before) continue;
        try {
          await this.conn.raw((sdk, client) =>
            client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })),
          );
        } catch (error) {
          if ((error as { name?: string }).name !== 'NoSuchUpload') {
            throw s3Failure(error, this.conn, 'aborting an upload', Key);
          }
        }
        report.temporary++;
      }
      if (!page.IsTruncated) break;
      markers = {
        ...(page.NextKeyMarker ? { KeyMarker: page.NextKeyMarker } : {}),
        ...(page.NextUploadIdMarker ? { UploadIdMarker: page.NextUploadIdMarker } : {}),
      };
    }
    if (prefix === '') {
      const probes = await this.conn.send('listing probes', undefined, (sdk, client) =>
        client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.base}${PROBES}` })),
      );
      for (const { Key, LastModified } of probes.Contents ?? []) {
        if (!Key || (LastModified?.getTime() ?? 0) >= before) continue;
        await this.conn.send('deleting a probe', Key, (sdk, client) =>
          client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key })),
        );
        report.temporary++;
      }
      report.leases = await this.leases.sweep(olderThanMs);
    }
    return report;
  }

  /**
   * Resolves once the server was seen to enforce conditional writes, checked once per bank
   * object. Not remembered across processes: that saved 4 requests, and a server at the same
   * address that stopped enforcing them would let two writers win one lease meanwhile.
   */
  private writable(): Promise<void> {
    this.checked ??= this.checkConditionalWrites().catch((error: unknown) => {
      // A transient failure is checked again by the next write; a verdict stands.
      if (!(error instanceof HoardError && error.code === 'BANK_UNSUPPORTED')) this.checked = undefined;
      throw error;
    });
    return this.checked;
  }

  private async checkConditionalWrites(): Promise<void> {
    const Key = `${this.base}${PROBES}${randomBytes(8).toString('hex')}`;
    const Body = Buffer.from('a check that the server enforces conditional writes\n');
    const refused = async (condition: { IfNoneMatch: string } | { IfMatch: string }) => {
      try {
        await this.conn.raw((sdk, client) =>
          client.send(
            new sdk.PutObjectCommand({
              Bucket: this.bucket,
              Key,
              Body,
              ContentLength: Body.length,
              ...condition,
            }),
          ),
        );
        return false;
      } catch (error) {
        if (isPreconditionFailed(error)) return true;
        throw s3Failure(error, this.conn, 'checking conditional writes', Key);
      }
    };
    try {
      if (await refused({ IfNoneMatch: '*' })) return; // a probe of the same name: unlikely, and proof enough
      // Both conditions at once: each must be refused on the object now there.
      const [exists, wrongTag] = await Promise.all([
        refused({ IfNoneMatch: '*' }),
        refused({ IfMatch: 'ffffffffffffffffffffffffffffffff' }),
      ]);
      const ignored = !exists
        ? 'a second PUT with "If-None-Match: *" replaced the object'
        : !wrongTag
          ? 'a PUT with "If-Match" on a wrong ETag replaced the object'
          : undefined;
      if (ignored !== undefined) {
        throw new HoardError(
          'BANK_UNSUPPORTED',
          `s3 bank, ${this.conn.where}: the server does not enforce conditional writes (${ignored}), ` +
            'so leases and status changes could not be compare-and-swap; Hoard writes nothing to it',
          { details: { where: this.conn.where, bucket: this.bucket } },
        );
      }
    } finally {
      await this.conn
        .raw((sdk, client) => client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key })))
        .catch(() => {});
    }
  }

  private async checkConflicts(key: string, signal: AbortSignal | undefined): Promise<void> {
    const conflict = await this.findConflict(key, signal);
    if (conflict !== undefined) throw keyConflict(key, conflict);
  }

  /** `key` passed its check and is stored, or was read or listed: its ancestors hold a key. */
  private holding(key: string): void {
    if (this.holders.size > 10_000) this.holders.clear();
    this.holders.delete(key);
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) this.holders.add(key.slice(0, i));
  }

  /** `key` is deleted: its ancestors may hold no key any more. */
  private forget(key: string): void {
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1))
      this.holders.delete(key.slice(0, i));
  }

  /**
   * The key that `key` would break the rule with (an object above it, or itself with keys
   * below), if any. Ancestors known to hold keys (`holders`) are not asked about again.
   */
  private async findConflict(key: string, signal: AbortSignal | undefined): Promise<string | undefined> {
    const ancestors: string[] = [];
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) {
      const ancestor = key.slice(0, i);
      if (!this.holders.has(ancestor)) ancestors.push(ancestor);
    }
    const [above, below] = await Promise.all([
      Promise.all(ancestors.map(async (a) => ((await this.head(a, { signal })) ? a : undefined))),
      this.conn.send(
        'listing',
        `${key}/`,
        (sdk, client, options) =>
          client.send(
            new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.base}${key}/`, MaxKeys: 1 }),
            options,
          ),
        signal,
      ),
    ]);
    const object = above.find((a) => a !== undefined);
    if (object !== undefined) return object;
    if ((below.KeyCount ?? below.Contents?.length ?? 0) > 0) return key;
    return undefined;
  }

  private async putObject(key: string, Body: Buffer, signal: AbortSignal | undefined): Promise<void> {
    await this.conn.send(
      'writing',
      key,
      (sdk, client, options) =>
        client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key: this.base + key,
            Body,
            ContentLength: Body.length,
          }),
          options,
        ),
      signal,
    );
  }

  private async putStream(
    key: string,
    data: AsyncIterable<Uint8Array | string>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const source = data[Symbol.asyncIterator]();
    const parts = new PartReader(source, this.partSize);
    let part = await parts.next();
    if (parts.done) {
      const whole = part;
      await this.policy.run(() => this.putObject(key, whole, signal), signal);
      return;
    }
    const Key = this.base + key;
    const Bucket = this.bucket;
    const created = await this.policy.run(
      () =>
        this.conn.send(
          'starting an upload',
          key,
          (sdk, client, options) =>
            client.send(new sdk.CreateMultipartUploadCommand({ Bucket, Key }), options),
          signal,
        ),
      signal,
    );
    const UploadId = created.UploadId!;
    try {
      const uploaded: { ETag: string; PartNumber: number }[] = [];
      for (let PartNumber = 1; ; PartNumber++) {
        const Body = part;
        const answer = await this.policy.run(
          () =>
            this.conn.send(
              'uploading a part',
              key,
              (sdk, client, options) =>
                client.send(
                  new sdk.UploadPartCommand({
                    Bucket,
                    Key,
                    UploadId,
                    PartNumber,
                    Body,
                    ContentLength: Body.length,
                  }),
                  options,
                ),
              signal,
            ),
          signal,
        );
        uploaded.push({ ETag: answer.ETag!, PartNumber });
        if (parts.done) break;
        part = await parts.next();
      }
      await this.policy.run(
        () =>
          this.conn.send(
            'completing an upload',
            key,
            (sdk, client, options) =>
              client.send(
                new sdk.CompleteMultipartUploadCommand({
                  Bucket,
                  Key,
                  UploadId,
                  MultipartUpload: { Parts: uploaded },
                }),
                options,
              ),
            signal,
          ),
        signal,
      );
    } catch (error) {
      await source.return?.().catch(() => {});
      await this.conn
        .raw((sdk, client) => client.send(new sdk.AbortMultipartUploadCommand({ Bucket, Key, UploadId })))
        .catch(() => {});
      throw error;
    }
  }

  private async getObject(key: string, range: string | undefined, action: string, signal?: AbortSignal) {
    try {
      return await this.conn.raw(
        (sdk, client, options) =>
          client.send(
            new sdk.GetObjectCommand({
              Bucket: this.bucket,
              Key: this.base + key,
              ...(range ? { Range: range } : {}),
            }),
            options,
          ),
        signal,
      );
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw s3Failure(error, this.conn, action, key);
    }
  }

  /** An answer's body, read whole: a connection lost midway is BANK_UNAVAILABLE (retried). */
  private async body(answer: GetObjectCommandOutput, key: string, signal?: AbortSignal): Promise<Buffer> {
    try {
      return Buffer.from(await answer.Body!.transformToByteArray());
    } catch (error) {
      if (signal?.aborted) throw cancelledCall(signal, `reading "${key}"`);
      throw s3Failure(error, this.conn, 'reading', key);
    }
  }
}

/** The last `limit` of ascending `keys`, newest first. */
function newestFirst(keys: string[], limit: number): string[] {
  return keys.slice(Math.max(0, keys.length - limit)).reverse();
}

/** Cuts a stream of chunks into parts of `size` bytes (the last one shorter, maybe empty). */
class PartReader {
  private ended = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly source: AsyncIterator<Uint8Array | string>,
    private readonly size: number,
  ) {}

  /** True once the source has ended and every byte was handed out. */
  get done(): boolean {
    return this.ended && this.pendingBytes === 0;
  }

  async next(): Promise<Buffer> {
    // One chunk past a part's size, so that a stream ending at a part's end is seen to end.
    while (!this.ended && this.pendingBytes <= this.size) {
      const step = await this.source.next();
      if (step.done) {
        this.ended = true;
        break;
      }
      const chunk = step.value;
      let bytes: Buffer;
      if (typeof chunk === 'string') bytes = Buffer.from(chunk, 'utf8');
      else if (chunk instanceof Uint8Array) bytes = Buffer.from(chunk);
      else {
        throw new HoardError('BANK_ARGUMENT_INVALID', `a stream to store gave a ${typeof chunk}, not bytes`);
      }
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
    }
    const all = Buffer.concat(this.pending, this.pendingBytes);
    const rest = all.subarray(this.size);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return all.subarray(0, this.size);
  }
}
