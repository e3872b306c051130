import type { Clock } from './clock.js';
import type { Journal } from './journal.js';

/** The seven states of a task. `pending` covers waiting, ready and waiting to retry. */
export type TaskState =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'upstream_failed'
  | 'cancelled';

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  'succeeded',
  'failed',
  'skipped',
  'upstream_failed',
  'cancelled',
]);

/**
 * When an edge A → B lets B run. `success` (the default): only if A succeeded; a failure of A
 * makes B `upstream_failed` and a skip of A skips B. `done`: once A has ended in any state
 * (rsbackup's "even if A fails", Airflow's `all_done`).
 */
export type EdgeCondition = 'success' | 'done';

/** What a task returns to end itself `skipped` (see {@link TaskContext.skip}). */
export class Skip {
  constructor(readonly reason: string) {}
}

export interface RetryPolicy {
  /** Further attempts after the first failure. Default 0. */
  retries: number;
  /** Delay before the first retry, in clock milliseconds. Default 1000. */
  delay?: number;
  /** Each further delay is the previous one times this. Default 2. */
  factor?: number;
  /** Upper bound for a single delay. Default 60000. */
  maxDelay?: number;
}

export interface Semaphore {
  group: string;
  /** How many tasks holding this group may run at once. Every task naming the group must agree. */
  limit: number;
}

export interface TaskSpec<D = unknown> {
  /** Unique within the graph. */
  id: string;
  /**
   * The work. Its promise resolving means success, rejecting means failure, and resolving to
   * `ctx.skip(reason)` means skipped. Omitted: the task completes the moment it is ready,
   * takes no concurrency slot and no resource, but keeps the order its edges imply.
   */
  run?: ((ctx: TaskContext<D>) => unknown) | undefined;
  /** Caller's payload, handed back in the context and the result. */
  data?: D;
  /** Higher runs first among ready tasks; ties go to the longest remaining path. Default 0. */
  priority?: number;
  /** Expected duration in clock milliseconds, used for the critical path. Default 1. */
  estimate?: number;
  /** Exclusive resources: two tasks naming the same one never run at the same time. */
  uses?: readonly string[];
  /** Counted resources: at most `limit` tasks of a group run at once. */
  semaphores?: readonly Semaphore[];
  /** Milliseconds per attempt; past it the task's signal aborts and the attempt fails with TASK_TIMEOUT. */
  timeout?: number;
  retry?: RetryPolicy;
  /**
   * Makes this task the teardown of the named setup task: it runs whenever that setup
   * succeeded, whatever happened to the tasks between them and even after cancellation.
   * Its other incoming edges only order it; a failure that reached it is still passed on
   * to its own successors. An edge setup → teardown is implied. A setup that fails with an
   * error whose `owesTeardown` is `true` (it may have done its work before failing: the
   * process running it died mid-way) owes its teardown too.
   */
  teardownOf?: string;
}

export interface TaskFailure {
  task: string;
  error: unknown;
}

export interface TaskContext<D = unknown> {
  readonly id: string;
  readonly data: D | undefined;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Aborts on cancellation, deadline or this task's timeout; never on cancellation for an owed teardown. */
  readonly signal: AbortSignal;
  /** Tasks upstream of this one that failed, earliest first (what a teardown needs to know). */
  readonly failures: readonly TaskFailure[];
  /** Reports progress, a fraction between 0 and 1, with an optional note. */
  progress(fraction: number, detail?: string): void;
  /** `return ctx.skip('nothing to do')` ends the task `skipped`. */
  skip(reason?: string): Skip;
  now(): number;
  /** Sleeps on the run's clock; rejects when the task's signal aborts. */
  sleep(ms: number): Promise<void>;
}

/** A task's outcome as the run leaves it; also the live view during the run. */
export interface TaskRecord<D = unknown> {
  readonly id: string;
  readonly data: D | undefined;
  readonly state: TaskState;
  readonly attempts: number;
  readonly startedAt: number | undefined;
  readonly endedAt: number | undefined;
  /** The error of a failed task (the last attempt's), or the reason of a cancelled one. */
  readonly error: unknown;
  /** For `upstream_failed`: the id of the first failed task upstream. */
  readonly cause: string | undefined;
  readonly skipReason: string | undefined;
  readonly progress: number;
}

export type RunStatus = 'succeeded' | 'failed' | 'cancelled';

export interface RunResult<D = unknown> {
  /** `failed` if any task failed; else `cancelled` if any was cancelled; else `succeeded`. */
  readonly status: RunStatus;
  /** Why the run was cancelled, if it was. */
  readonly reason: unknown;
  readonly startedAt: number;
  readonly endedAt: number;
  /** Every task, in the order they were added to the graph. */
  readonly tasks: readonly TaskRecord<D>[];
  /** The first task to fail, by end time. */
  readonly firstFailure: string | undefined;
  readonly counts: Readonly<Record<TaskState, number>>;
  task(id: string): TaskRecord<D> | undefined;
}

export type EngineEvent =
  | {
      type: 'state';
      task: string;
      state: TaskState;
      previous: TaskState;
      at: number;
      attempt: number;
      error?: unknown;
      cause?: string;
      /** True when the state comes from the journal, not from running the task now. */
      restored?: boolean;
    }
  | { type: 'progress'; task: string; fraction: number; detail?: string; at: number }
  | { type: 'run'; phase: 'started' | 'cancelling' | 'finished'; at: number; reason?: unknown };

export interface RunOptions {
  /** Most tasks running at once (tasks without `run` do not count). Default: unlimited. */
  concurrency?: number;
  /** Aborting it cancels the run: nothing new starts, running tasks are aborted, owed teardowns still run. */
  signal?: AbortSignal;
  /** Milliseconds after the start at which the run is cancelled as by `signal`. */
  deadline?: number;
  /** Default: the system clock. */
  clock?: Clock;
  /** Every state change is appended to it. Records already in it are applied first (see `recover`). */
  journal?: Journal;
  /**
   * With a journal: store each task's `running` record before calling its `run`, so that a
   * crash never leaves work done that the journal does not show (tasks starting together
   * share one flush). Default true.
   */
  writeAhead?: boolean;
  /**
   * What to do with a journal that already holds records. `resume` (default): tasks that
   * succeeded or were skipped keep that state and do not run again; the rest run.
   * `teardowns`: keep them too, then run only the teardowns still owed and cancel the rest;
   * a setup the journal shows `running` (the process died during it) counts as owing its
   * teardown, since it may have done its work.
   */
  recover?: 'resume' | 'teardowns';
  /**
   * Which ready task starts first. `priority`: higher `priority`, then the longest remaining
   * path by estimates (the critical path). `fifo`: the order tasks became ready. `planned`
   * (default): `priority`, except that a run with a concurrency limit or shared resources,
   * estimates, no explicit priorities and at most 20 000 tasks is first dry-run on virtual
   * time under both policies, each task lasting its estimate, and takes the shorter schedule.
   */
  scheduling?: 'planned' | 'priority' | 'fifo';
  /** Called for every event; same as subscribing with `run.on`. */
  onEvent?: (event: EngineEvent) => void;
}
