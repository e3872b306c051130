/**
 * Retries with backoff, as a decorator around any `BankStore` (restic's
 * internal/backend/retry): a store reports a failure worth retrying as BANK_UNAVAILABLE (a 5xx,
 * throttling, a reset connection, a timeout), and this layer tries the call again after a
 * growing, jittered delay. Every other error — a missing bucket, refused credentials, a key
 * conflict — passes through at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HoardError } from '../errors.js';
import {
  type BankStore,
  type CallOptions,
  cancelledCall,
  checkSignal,
  type ReadOptions,
  type StoreData,
  type StoreListOptions,
  type SweepReport,
} from './store.js';
import type { Pieces } from './types.js';

export interface RetryOptions {
  /** Tries in all, the first included. Default 8. */
  attempts?: number;
  /** The delay before the second try, in ms; each next one doubles. Default 200. */
  initialDelayMs?: number;
  /** The longest delay between two tries, in ms. Default 5000 (so 8 tries wait ~15 s in all). */
  maxDelayMs?: number;
  /** Called before each retry: what failed, the try that comes next, the delay. For logs and tests. */
  onRetry?: (error: HoardError, attempt: number, delayMs: number) => void;
}

/** True for an error a later try may not meet. */
export function isTransient(error: unknown): error is HoardError {
  return error instanceof HoardError && error.code === 'BANK_UNAVAILABLE';
}

/** Runs calls again while they fail transiently, up to the options' limits. */
export class RetryPolicy {
  private readonly attempts: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly options: RetryOptions = {}) {
    this.attempts = Math.max(1, options.attempts ?? 8);
    this.initialDelayMs = options.initialDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
  }

  /** `signal`: once aborted, no further try is made and a wait between tries ends at once. */
  async run<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      checkSignal(signal, 'retrying');
      try {
        return await call();
      } catch (error) {
        if (!isTransient(error) || attempt >= this.attempts) throw error;
        if (signal?.aborted) throw cancelledCall(signal, `retrying after: ${error.message}`);
        const ceiling = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (attempt - 1));
        // Half fixed, half random, so that clients failing together do not retry together.
        const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        this.options.onRetry?.(error, attempt + 1, delay);
        try {
          await sleep(delay, undefined, signal ? { signal } : undefined);
        } catch {
          throw cancelledCall(signal!, `waiting to retry after: ${error.message}`);
        }
      }
    }
  }
}

/**
 * `store` with every call retried under `policy`. A put of a stream is passed through as it
 * is: a stream cannot be read twice, so the store retries each request of it itself (the S3
 * store's parts are buffers). Lease calls are retried whole; the stores make them safe to
 * repeat (a lease created by a try whose answer was lost is recognised by its token).
 */
export class RetryingStore implements BankStore {
  constructor(
    private readonly store: BankStore,
    private readonly policy: RetryPolicy,
  ) {}

  get now(): () => number {
    return this.store.now;
  }

  put(key: string, data: StoreData, call?: CallOptions): Promise<void> {
    if (!Buffer.isBuffer(data)) return this.store.put(key, data, call);
    return this.policy.run(() => this.store.put(key, data, call), call?.signal);
  }

  get(key: string, options?: ReadOptions) {
    return this.policy.run(() => this.store.get(key, options), options?.signal);
  }

  getStream(key: string, call?: CallOptions) {
    return this.policy.run(() => this.store.getStream(key, call), call?.signal);
  }

  getPieces(key: string, call?: CallOptions): Promise<Pieces | undefined> {
    const store = this.store;
    if (!store.getPieces) return this.getStream(key, call);
    return this.policy.run(() => store.getPieces!(key, call), call?.signal);
  }

  getRange(key: string, offset: number, length: number, call?: CallOptions) {
    return this.policy.run(() => this.store.getRange(key, offset, length, call), call?.signal);
  }

  head(key: string, call?: CallOptions) {
    return this.policy.run(() => this.store.head(key, call), call?.signal);
  }

  delete(key: string, call?: CallOptions) {
    return this.policy.run(() => this.store.delete(key, call), call?.signal);
  }

  list(prefix: string, options: StoreListOptions) {
    return this.policy.run(() => this.store.list(prefix, options), options.signal);
  }

  acquireLease(name: string, owner: string, token: string, ttlMs: number) {
    return this.policy.run(() => this.store.acquireLease(name, owner, token, ttlMs));
  }

  renewLease(name: string, token: string, ttlMs: number) {
    return this.policy.run(() => this.store.renewLease(name, token, ttlMs));
  }

  releaseLease(name: string, token: string) {
    return this.policy.run(() => this.store.releaseLease(name, token));
  }

  readLease(name: string) {
    return this.policy.run(() => this.store.readLease(name));
  }

  async sweep(prefix: string, olderThanMs: number): Promise<SweepReport> {
    const sweep = this.store.sweep?.bind(this.store);
    if (!sweep) return { temporary: 0, directories: 0, leases: 0 };
    return this.policy.run(() => sweep(prefix, olderThanMs));
  }
}
