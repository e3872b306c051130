/**
 * The one place a bank's cross-cutting concerns are put around its store, so that a new
 * medium gets them by naming them here rather than by writing them again (restic composes
 * its backend's retry, limits and logging the same way).
 */
import { CachingStore } from './cache.js';
import { deferredEncryption } from './deferred.js';
import type { EncryptionSettings } from './encrypted.js';
import { RetryingStore, type RetryPolicy } from './retry.js';
import type { BankStore } from './store.js';

export interface Decorations {
  /** Retry transient failures (BANK_UNAVAILABLE) under this policy. Default: no retries. */
  retry?: RetryPolicy;
  /** Seal every object but the key files (encrypted.ts); with mode none, refuse an encrypted bank. */
  encryption?: EncryptionSettings;
  /** Keep this machine's copy of the content store's index objects in this folder (cache.ts). */
  cacheDir?: string;
}

/** `store` wrapped in what `decorations` asks for, outermost last. */
export function decorate(store: BankStore, decorations: Decorations): BankStore {
  let decorated = store;
  if (decorations.retry) decorated = new RetryingStore(decorated, decorations.retry);
  // Under encryption: the copies are of the sealed bytes, authenticated when read like the bank's.
  if (decorations.cacheDir) decorated = new CachingStore(decorated, decorations.cacheDir);
  // Outermost: a retried put sends the same sealed bytes again. Its modules load when first
  // used, and not at all for an unencrypted bank (deferred.ts).
  if (decorations.encryption) decorated = deferredEncryption(decorated, decorations.encryption);
  return decorated;
}
