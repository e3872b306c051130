/**
 * The entry of `fs.directory`'s worker threads (pool.ts): each export is a task. Everything in
 * tasks/ is synchronous on purpose: a worker thread blocks on one system call at a time, which
 * costs a few microseconds, where the same call made asynchronously from the main thread is a
 * round trip through libuv's thread pool and a promise — for 20 000 small files, most of the
 * time. Tasks answer with plain data; problems come back as `{code, message}` for the main
 * thread to raise (`raise` in pool.ts).
 */
export { type CheckTask, check } from './tasks/check.js';
export type { DamagedBlob, Problem } from './tasks/common.js';
export {
  CONTINUATION_SLOTS,
  Continuation,
  type ReadResult,
  type ReadTask,
  read,
  readCapacity,
  readReady,
} from './tasks/read.js';
export { nanosecondTimes, type TimesTask, times } from './tasks/times.js';
export { type WalkedEntry, type WalkResult, type WalkTask, walk } from './tasks/walk.js';
export {
  type LinkFile,
  type LinkResult,
  type RestoreFile,
  type RestoreResult,
  type RestoreTask,
  restore,
  restoreEmpty,
  restoreLinks,
  type SharedFiles,
} from './tasks/write.js';
