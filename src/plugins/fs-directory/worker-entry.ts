/**
 * What the pool's threads load (pool.ts): worker.ts's tasks, each task's module imported when a
 * thread first runs one, so that a thread that only walks (an unchanged incremental) does not
 * load the content store's code (blob encoding, zstd, hashing) on its start.
 */
import { setFlagsFromString } from 'node:v8';
import type * as tasks from './worker.js';

// Node resets V8's flags as it starts a worker thread: a CLI command that asked for small
// young generations (cli/util.ts, smallYoungGeneration) has its flag set again here.
if (process.env.HOARD_SMALL_YOUNG_GENERATION === '1') setFlagsFromString('--semi-space-growth-factor=1');

type Tasks = typeof tasks;

function lazy<K extends keyof Tasks, M>(load: () => Promise<M>, pick: (module: M) => Tasks[K]): Tasks[K] {
  let fn: Tasks[K] | undefined;
  return (async (task: unknown) => {
    fn ??= pick(await load());
    return (fn as (task: unknown) => unknown)(task);
  }) as unknown as Tasks[K];
}

export const walk = lazy<'walk', typeof import('./tasks/walk.js')>(
  () => import('./tasks/walk.js'),
  (m) => m.walk,
);
export const read = lazy<'read', typeof import('./tasks/read.js')>(
  () => import('./tasks/read.js'),
  (m) => m.read,
);
export const readReady = lazy<'readReady', typeof import('./tasks/read.js')>(
  () => import('./tasks/read.js'),
  (m) => m.readReady,
);
export const check = lazy<'check', typeof import('./tasks/check.js')>(
  () => import('./tasks/check.js'),
  (m) => m.check,
);
export const times = lazy<'times', typeof import('./tasks/times.js')>(
  () => import('./tasks/times.js'),
  (m) => m.times,
);
export const restore = lazy<'restore', typeof import('./tasks/write.js')>(
  () => import('./tasks/write.js'),
  (m) => m.restore,
);
export const restoreEmpty = lazy<'restoreEmpty', typeof import('./tasks/write.js')>(
  () => import('./tasks/write.js'),
  (m) => m.restoreEmpty,
);
export const restoreLinks = lazy<'restoreLinks', typeof import('./tasks/write.js')>(
  () => import('./tasks/write.js'),
  (m) => m.restoreLinks,
);
