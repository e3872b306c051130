/**
 * The SQLite work (backup, integrity_check) runs in a worker thread (worker.ts): it is
 * synchronous native code that can take minutes on a large database, and on the main thread
 * it would stall every other hook and the checkpoint's lease renewal. This is the main
 * thread's side: the jobs, their results, and `runJob`.
 */
import { Worker } from 'node:worker_threads';
import type { TableRows } from './schemas.js';

export const JOB_KEY = 'hoard.sqlite.database.job';

export type Job =
  | { kind: 'backup'; source: string; dest: string; busyTimeoutMs: number }
  | { kind: 'check'; file: string };

export interface BackupResult {
  journalMode: string;
  sqliteVersion: string;
  /** A read-only connection could not read the database (e.g. a hot journal to roll back). */
  readWrite: boolean;
  tables: TableRows[];
}

export interface CheckResult {
  /** The rows of `PRAGMA integrity_check`: `['ok']` for a sound database. */
  integrity: string[];
}

export type WorkerMessage =
  | { type: 'progress'; fraction: number }
  | { type: 'done'; result: unknown }
  | { type: 'error'; message: string; code?: string };

/**
 * Runs `job` in a worker thread. Settles only once the worker has exited, so its connections
 * are closed and its files no longer written when the caller cleans up; an abort terminates it.
 */
export function runJob<T>(
  job: Job,
  signal: AbortSignal,
  onProgress?: (fraction: number) => void,
): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolvePromise, reject) => {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { [JOB_KEY]: job } });
    let outcome: { value: T } | { error: unknown } | undefined;
    const onAbort = () => {
      outcome ??= { error: signal.reason };
      void worker.terminate();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') onProgress?.(message.fraction);
      else if (message.type === 'done') outcome ??= { value: message.result as T };
      else outcome ??= { error: Object.assign(new Error(message.message), { code: message.code }) };
    });
    worker.on('error', (error) => {
      outcome ??= { error };
    });
    worker.on('exit', (exitCode) => {
      signal.removeEventListener('abort', onAbort);
      const end = outcome ?? {
        error: new Error(`the SQLite worker exited (code ${exitCode}) without a result`),
      };
      if ('value' in end) resolvePromise(end.value);
      else reject(end.error);
    });
  });
}
