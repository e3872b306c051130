/**
 * What the S3 bank needs of the AWS SDK: a client set up for S3-compatible servers, the
 * server's clock read from every response's `Date`, and SDK errors turned into one HoardError
 * that names the endpoint, bucket and key.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { HoardError } from '../errors.js';
import { cancelledCall, checkSignal } from './store.js';

/** The SDK, loaded on first use: it takes ~200 ms to load, which a CLI run without S3 need not pay. */
export type Sdk = typeof import('@aws-sdk/client-s3');

/** A request: `options` go to `client.send` (they carry the call's abort signal). */
export type S3Request<T> = (sdk: Sdk, client: S3Client, options: { abortSignal?: AbortSignal }) => Promise<T>;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3ClientOptions {
  /** The server's URL; undefined for AWS. */
  endpoint: string | undefined;
  region: string;
  /** Undefined: the SDK's chain (AWS_ACCESS_KEY_ID …, ~/.aws/credentials, instance roles). */
  credentials: S3Credentials | undefined;
  forcePathStyle: boolean;
  /** A request that receives nothing for this long fails (TimeoutError: retried). */
  idleTimeoutMs: number;
}

/**
 * The server's clock, estimated from the `Date` headers of its answers (whole seconds): each
 * answer bounds the offset between the server's clock and this machine's to an interval; the
 * estimate is the middle of the intersection of those intervals, started afresh when a new
 * one does not meet it (a clock was set).
 */
export class ServerClock {
  private low = Number.NEGATIVE_INFINITY;
  private high = Number.POSITIVE_INFINITY;

  /** Server time minus local time, in ms; 0 until an answer was seen. */
  get offsetMs(): number {
    return Number.isFinite(this.low) ? Math.round((this.low + this.high) / 2) : 0;
  }

  /** An answer sent at local `sentAt`, received at `receivedAt`, dated `date` by the server. */
  observe(date: string | undefined, sentAt: number, receivedAt: number): void {
    const server = date === undefined ? Number.NaN : Date.parse(date);
    if (Number.isNaN(server)) return;
    // The server stamped a time in [server, server + 1 s) at a moment in [sentAt, receivedAt].
    const low = server - receivedAt;
    const high = server + 1000 - sentAt;
    if (low > this.high || high < this.low) {
      this.low = low;
      this.high = high;
    } else {
      this.low = Math.max(this.low, low);
      this.high = Math.min(this.high, high);
    }
  }
}

/**
 * A client that tries once (the bank retries, see retry.ts) and observes the server's clock,
 * made when the first request is sent. `where` names endpoint and bucket in messages.
 */
export class S3Connection {
  readonly clock = new ServerClock();
  /** True once the server has answered anything: from then on, a refused connection is taken for a restart. */
  answered = false;
  private ready: Promise<{ sdk: Sdk; client: S3Client }> | undefined;

  constructor(
    private readonly options: S3ClientOptions,
    readonly where: string,
  ) {}

  /**
   * Runs a request with the SDK and the client; an SDK error is thrown as it is. The request
   * passes `options` to `client.send`, so that `signal` aborts it in flight; a request failed
   * by the signal throws `cancelledCall`'s error.
   */
  async raw<T>(request: S3Request<T>, signal?: AbortSignal): Promise<T> {
    checkSignal(signal, 'sending a request');
    this.ready ??= this.connect();
    const { sdk, client } = await this.ready;
    try {
      return await request(sdk, client, signal ? { abortSignal: signal } : {});
    } catch (error) {
      if (signal?.aborted) throw cancelledCall(signal, `waiting for ${this.where}`);
      throw error;
    }
  }

  /** Runs a request; a failure is thrown as `s3Failure` says, naming `action` and `key`. */
  async send<T>(
    action: string,
    key: string | undefined,
    request: S3Request<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    try {
      return await this.raw(request, signal);
    } catch (error) {
      throw s3Failure(error, this, action, key);
    }
  }

  private async connect(): Promise<{ sdk: Sdk; client: S3Client }> {
    const sdk = await import('@aws-sdk/client-s3');
    const { options, clock } = this;
    const answered = () => {
      this.answered = true;
    };
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      maxAttempts: 1,
      // Checksums only where S3 requires them: trailing checksums (aws-chunked bodies) are not
      // understood by older S3-compatible servers, radosgw 16 among them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: 10_000,
        // An idle socket fails the request. (The SDK's `requestTimeout` bounds a request's whole
        // time, which a large upload on a slow link may need, and on its own only logs a
        // warning: a server that stopped answering left a protect waiting forever.)
        socketTimeout: options.idleTimeoutMs,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50, noDelay: true }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50, noDelay: true }),
      },
    };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    const client = new sdk.S3Client(config);
    client.middlewareStack.add(
      (next) => async (args) => {
        const sentAt = Date.now();
        try {
          const result = await next(args);
          answered();
          clock.observe(dateHeader((result.response as { headers?: unknown }).headers), sentAt, Date.now());
          trace(args.request, result.response, sentAt);
          return result;
        } catch (error) {
          const response = (error as { $response?: { headers?: unknown } }).$response;
          if (response) answered();
          clock.observe(dateHeader(response?.headers), sentAt, Date.now());
          trace(args.request, response, sentAt);
          throw error;
        }
      },
      { step: 'deserialize', priority: 'low', name: 'hoardServerClock' },
    );
    return { sdk, client };
  }
}

/**
 * HOARD_S3_TRACE=1: one line per request on stderr (when it ended, in ms since the process
 * started; method, key, status, bytes sent, milliseconds it took), to see what an operation asks of the server. Never headers: they carry the
 * signature.
 */
const TRACING = process.env.HOARD_S3_TRACE === '1';

function trace(request: unknown, response: unknown, sentAt: number): void {
  if (!TRACING) return;
  const req = request as { method?: string; path?: string; query?: Record<string, unknown>; body?: unknown };
  const status = (response as { statusCode?: number } | undefined)?.statusCode ?? '-';
  const body = req.body as { length?: number; byteLength?: number } | undefined;
  const bytes =
    typeof body?.byteLength === 'number'
      ? body.byteLength
      : typeof body?.length === 'number'
        ? body.length
        : 0;
  // A listing's prefix says what it is for; other query values say nothing worth a line.
  const query = Object.entries(req.query ?? {})
    .map(([k, v]) => (k === 'prefix' && typeof v === 'string' ? `prefix=${v}` : k))
    .join('&');
  process.stderr.write(
    `s3: +${Math.round(performance.now())} ms ${req.method} ${req.path}${query ? `?${query}` : ''} ${status} ${bytes} B ${Date.now() - sentAt} ms\n`,
  );
}

function dateHeader(headers: unknown): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const value = (headers as Record<string, unknown>).date ?? (headers as Record<string, unknown>).Date;
  return typeof value === 'string' ? value : undefined;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

function status(error: unknown): number | undefined {
  const e = error as SdkError | undefined;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

/** A conditional write that lost: the object exists (If-None-Match) or changed (If-Match). */
export function isPreconditionFailed(error: unknown): boolean {
  const e = error as SdkError | undefined;
  // AWS answers 409 ConditionalRequestConflict to a conditional write racing another one.
  return (
    status(error) === 412 ||
    e?.name === 'PreconditionFailed' ||
    (status(error) === 409 && e?.name === 'ConditionalRequestConflict')
  );
}

export function isNoSuchKey(error: unknown): boolean {
  const e = error as SdkError | undefined;
  return e?.name === 'NoSuchKey' || (status(error) === 404 && e?.name === 'NotFound');
}

export function isInvalidRange(error: unknown): boolean {
  return status(error) === 416 || (error as SdkError | undefined)?.name === 'InvalidRange';
}

const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeoutException',
]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);

/**
 * The HoardError for a failed request to `conn.where` (`bucket "b" at http://…`) about `key`:
 * BANK_UNAVAILABLE when a later try may succeed (5xx, 429, throttling, timeouts, resets, a
 * refused connection to a server that answered before), BANK_REFUSED otherwise (credentials,
 * a missing bucket, no access, an endpoint where nothing ever answered or that is not an S3
 * server). The SDK's error is kept as the cause.
 */
export function s3Failure(
  error: unknown,
  conn: { where: string; answered: boolean },
  action: string,
  key?: string,
): HoardError {
  if (error instanceof HoardError) return error;
  const { where } = conn;
  const e = (error ?? {}) as SdkError;
  const code = status(error);
  const name = e.name ?? 'Error';
  const about =
    key === undefined || key === '' ? '' : ` (${action.startsWith('listing') ? 'prefix' : 'key'} "${key}")`;
  const details = { where, action, ...(key === undefined ? {} : { key }), sdkError: name, status: code };
  // Nothing listening where nothing ever answered: the endpoint is wrong (or the server is down).
  const unheard = !conn.answered && (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND');
  const transient =
    !unheard &&
    ((code !== undefined && (code >= 500 || code === 429)) ||
      TRANSIENT_NAMES.has(name) ||
      (e.code !== undefined && TRANSIENT_CODES.has(e.code)) ||
      /socket hang up|ECONNRESET|EPIPE|timed? ?out/i.test(e.message ?? ''));
  if (transient) {
    const why = code === undefined ? (e.code ?? e.message ?? name) : `${code} ${name}`;
    return new HoardError('BANK_UNAVAILABLE', `s3 bank, ${where}: ${action} failed: ${why}${about}`, {
      details,
      cause: error,
    });
  }
  let why: string;
  if (name === 'NoSuchBucket') why = 'the bucket does not exist';
  else if (name === 'InvalidAccessKeyId') why = 'the server knows no such access key (access_key_id)';
  else if (name === 'SignatureDoesNotMatch')
    why = 'the request signature does not match: check secret_access_key';
  else if (code === 403 || name === 'AccessDenied' || name === 'Forbidden')
    why = `access denied (${name}): check the credentials and the bucket's policy`;
  else if (name === 'CredentialsProviderError')
    why = `no credentials: set access_key_id and secret_access_key, or the AWS environment (${e.message})`;
  else if (e.code === 'ENOTFOUND') why = `the endpoint's host is not known (${e.message}): check endpoint`;
  else if (e.code === 'ECONNREFUSED')
    why = 'nothing answers at the endpoint (connection refused): check endpoint, or start the server';
  else if (code === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed')
    why = `the bucket is in another region (${name}): set region`;
  else if (code === undefined || /Deserializ|XML|char/i.test(`${name} ${e.message}`))
    why = `it did not answer as an S3 server (${e.message ?? name})`;
  else why = `${code} ${name}: ${e.message ?? ''}`.trim();
  return new HoardError('BANK_REFUSED', `s3 bank, ${where}: ${action} refused: ${why}${about}`, {
    details,
    cause: error,
  });
}
