/**
 * The one place a bank's cross-cutting concerns are put around its store, so that a new
 * medium gets them by naming them here rather than by writing them again (restic composes
 * its backend's retry, limits and logging the same way).
 */
import { EncryptingStore, type EncryptionSettings } from './encrypted.js';
import { RetryingStore, type RetryPolicy } from './retry.js';
import type { BankStore } from './store.js';

export interface Decorations {
  /** Retry transient failures (BANK_UNAVAILABLE) under this policy. Default: no retries. */
  retry?: RetryPolicy;
  /** Seal every object but the key files (encrypted.ts); with mode none, refuse an encrypted bank. */
  encryption?: EncryptionSettings;
}

/** `store` wrapped in what `decorations` asks for, outermost last. */
export function decorate(store: BankStore, decorations: Decorations): BankStore {
  let decorated = store;
  if (decorations.retry) decorated = new RetryingStore(decorated, decorations.retry);
  // Outermost: a retried put sends the same sealed bytes again.
  if (decorations.encryption) decorated = new EncryptingStore(decorated, decorations.encryption);
  return decorated;
}
