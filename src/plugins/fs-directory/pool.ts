/**
 * The worker threads that do `fs.directory`'s file work (worker.ts), one pool per process,
 * made on first use. Piscina keeps the queue, the threads and their failures; idle threads
 * do not keep the process alive and leave after a while.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { HoardError } from '../../errors.js';
import type * as tasks from './worker.js';

/**
 * Threads: HOARD_IO_THREADS, else one per core plus one, since a thread waiting on the disk
 * uses no core; but two on two cores, where the main thread (packing, sealing, uploads) takes
 * part of a core too and a third thread cost ~20 MiB of peak RSS (its heap and a read task
 * in flight) for no speed measured.
 */
export function poolThreads(): number {
  const env = process.env.HOARD_IO_THREADS;
  if (env !== undefined && /^[1-9]\d*$/.test(env)) return Math.min(64, Number(env));
  const cores = availableParallelism();
  return cores === 2 ? 2 : cores + 1;
}

let pool: Piscina | undefined;

function shared(): Piscina {
  pool ??= new Piscina({
    filename: new URL('./worker-entry.js', import.meta.url).href,
    minThreads: 0,
    maxThreads: poolThreads(),
    idleTimeout: 10_000,
    // The tasks allocate little on the heap (their bytes are shared memory): a small young
    // generation saves ~10 MiB a thread (V8 otherwise grows it to tens of MiB).
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  return pool;
}

type Task = 'walk' | 'read' | 'readReady' | 'restore' | 'restoreEmpty' | 'check' | 'times' | 'restoreLinks';
type Fn<K extends Task> = (typeof tasks)[K];

/** Runs one task of worker.ts in the pool. A thread that dies fails the task with INTERNAL. */
export async function run<K extends Task>(name: K, task: Parameters<Fn<K>>[0]): Promise<ReturnType<Fn<K>>> {
  try {
    return (await shared().run(task, { name })) as ReturnType<Fn<K>>;
  } catch (error) {
    throw new HoardError(
      'INTERNAL',
      `fs.directory worker thread failed in ${name}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Starts up to `tasks` of the pool's threads ahead of that many read tasks (a large file's
 * pieces): a thread takes 50–100 ms to start and load the read's code, which the file's second
 * piece would otherwise wait for once the first is cut. Each is sent a task that only loads it.
 */
export function warmForReading(tasks: number): void {
  for (let i = Math.min(tasks, poolThreads()); i > 0; i--) run('readReady', undefined).catch(() => {});
}

/** Raises a problem a task reported, its message after `where` (the resource). */
export function raise(problem: tasks.Problem | undefined, where: string): void {
  if (problem !== undefined) {
    const message = `${where}: ${problem.message}`;
    throw new HoardError(problem.code, message, problem.details ? { details: problem.details } : undefined);
  }
}
