/**
 * Runs the service's long operations (protect, restore, verify, copy, delete, scheduled
 * retention) in this process, with an operation log in the catalog for each: `queued` when
 * accepted, `running`, then `succeeded` or `failed` — every change a compare-and-swap, so
 * two servers never both finish one log. While a log runs here its heartbeat is renewed;
 * a server that finds a stale one marks it failed. A cancellation asked in the catalog (by
 * any server, or `hoard operations cancel`) is seen within `cancelPollMs` and aborts the
 * work's signal: hooks are aborted, owed teardowns still run, and the log ends `cancelled`.
 * Live task states and progress go to subscribers (the API's server-sent events).
 */
import { hostname } from 'node:os';
import type { Catalog, NewOperationLog, OperationLogRecord, OperationLogStatus } from '../catalog/index.js';
import { type EngineEvent, type TaskState, TERMINAL_STATES } from '../engine/index.js';
import { type ErrorCode, type ErrorInfo, errorInfo, HoardError } from '../errors.js';
import type { HookTask } from '../flows/hook-graph.js';
import type { HookTransport } from '../flows/transport.js';
import { publicError, withoutStacks } from './http-errors.js';

export const SERVER_OWNER = `${hostname()}:${process.pid}`;

export interface RunContext {
  signal: AbortSignal;
  onEvent: (event: EngineEvent, task: HookTask | undefined) => void;
  /** Records the checkpoint the operation works on as soon as it is known. */
  onCheckpoint: (id: string) => void;
  /** Carries hooks of resources with a `host` to their agents (SPEC §12), when the server has a queue. */
  transport?: HookTransport;
}

/** What a piece of work reports: whether it succeeded, and the result to keep. */
export interface WorkOutcome {
  ok: boolean;
  result: unknown;
  checkpointId?: string;
  error?: ErrorInfo;
}

export type Work = (context: RunContext) => Promise<WorkOutcome>;

export type LiveEvent =
  | { type: 'status'; log: OperationLogRecord }
  | { type: 'task'; resource: string; hook: string; status: string; at: string; error?: string }
  | { type: 'progress'; resource: string; hook: string; fraction: number; detail?: string }
  | { type: 'end'; log: OperationLogRecord };

export interface LiveTask {
  resource: string;
  hook: string;
  status: string;
  /** When it last began to run; so a client that connects mid-run can show it. */
  startedAt?: string;
  /** When it ended, once it has. */
  endedAt?: string;
}

/** A task's live record after it moved to `status` at `at`. */
export function liveTask(
  before: LiveTask | undefined,
  { resource, hook, status, at }: { resource: string; hook: string; status: string; at: string },
): LiveTask {
  const startedAt = status === 'running' ? at : before?.startedAt;
  const ended = TERMINAL_STATES.has(status as TaskState);
  return { resource, hook, status, ...(startedAt ? { startedAt } : {}), ...(ended ? { endedAt: at } : {}) };
}

interface Active {
  controller: AbortController;
  listeners: Set<(event: LiveEvent) => void>;
  tasks: Map<string, LiveTask>;
  done: Promise<void>;
  /** Set when a cancellation was asked: the log then ends `cancelled` unless the work succeeded. */
  cancelled: boolean;
}

export interface RunnerOptions {
  /** Milliseconds between heartbeats (default 10 s); stale after four missed. */
  heartbeatMs?: number;
  /** Milliseconds between looks in the catalog for cancellations asked of running logs (default 1 s). */
  cancelPollMs?: number;
  /** The `owner` of the logs this runner creates (default SERVER_OWNER, `host:pid`). */
  owner?: string;
  /**
   * More logs to keep alive at each heartbeat: those still `queued` whose jobs wait in the
   * queue for a worker (`hoard serve --no-runner`, `hoard worker`), which nobody runs yet.
   */
  alsoAlive?: () => Promise<readonly string[]>;
  /** Called when an operation ends (metrics). */
  onFinished?: (log: OperationLogRecord) => void;
  /** Where internal faults are written (default stderr). */
  logError?: (message: string, error: unknown) => void;
  /** Given to every piece of work (RunContext.transport). */
  transport?: HookTransport;
}

/**
 * What the API asks of whatever runs its operations: this process (OperationRunner), or
 * workers elsewhere through the queue (service/queued-runner.ts).
 */
export interface Runner {
  /** Creates the log (`queued`) and has `work` run; returns at once with the log. */
  submit(input: NewOperationLog, work: Work): Promise<OperationLogRecord>;
  /** Live events of a log; undefined when they cannot be had here (then follow the catalog). */
  subscribe(id: string, listener: (event: LiveEvent) => void): (() => void) | undefined;
  /** Task states so far of a running log, when known here. */
  liveTasks(id: string): LiveTask[] | undefined;
  /** Asks for a log to be stopped here at once (its cancellation is already in the catalog). */
  cancel(id: string): boolean;
  /** Operations running in this process. */
  readonly running: number;
  /**
   * True when the work runs in other processes: live events may then stop without an end
   * (a worker that died), so a follower also watches the catalog.
   */
  readonly remote: boolean;
  close(graceMs?: number): Promise<void>;
}

export class OperationRunner implements Runner {
  readonly remote = false;
  private readonly active = new Map<string, Active>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly cancelPoll: NodeJS.Timeout;
  /** Heartbeats and cancel polls under way: close() waits for them, the catalog closes next. */
  private readonly chores = new Chores();
  private closing = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly options: RunnerOptions = {},
  ) {
    const every = options.heartbeatMs ?? 10_000;
    this.heartbeat = setInterval(() => this.chores.run(() => this.beat(every)), every);
    this.heartbeat.unref();
    this.cancelPoll = setInterval(
      () => this.chores.run(() => this.pollCancels()),
      options.cancelPollMs ?? 1000,
    );
    this.cancelPoll.unref();
  }

  /** Creates the log (`queued`) and starts `work`; returns at once with the log. */
  async submit(input: NewOperationLog, work: Work): Promise<OperationLogRecord> {
    if (this.closing)
      throw new HoardError('CATALOG_UNAVAILABLE', 'the server is shutting down; try again later');
    const log = await this.catalog.createOperationLog({
      ...input,
      status: 'queued',
      owner: this.options.owner ?? SERVER_OWNER,
    });
    this.launch(log, work, false);
    return log;
  }

  /**
   * Runs a log another process queued (`hoard worker`): moves it from `queued` to `running`
   * as this runner's owner — a compare-and-swap, so of all the processes handed the same
   * log, one runs it — and resolves when it has ended, or at once when it was not `queued`.
   * `listener` gets its live events from the start.
   */
  async start(log: OperationLogRecord, work: Work, listener?: (event: LiveEvent) => void): Promise<void> {
    // Not refused while closing: its job is already taken, and close() waits for it too.
    // Already running here (its job delivered again while it runs): nothing to do.
    if (this.active.has(log.id)) return;
    const active = this.launch(log, work, true);
    if (listener) active.listeners.add(listener);
    await active.done;
  }

  private launch(log: OperationLogRecord, work: Work, claim: boolean): Active {
    const active: Active = {
      controller: new AbortController(),
      listeners: new Set(),
      tasks: new Map(),
      done: Promise.resolve(),
      cancelled: false,
    };
    this.active.set(log.id, active);
    active.done = this.run(log, active, work, claim).finally(() => {
      if (this.active.get(log.id) === active) this.active.delete(log.id);
    });
    return active;
  }

  /** Live events of a log running in this process; undefined when it is not running here. */
  subscribe(id: string, listener: (event: LiveEvent) => void): (() => void) | undefined {
    const active = this.active.get(id);
    if (!active) return undefined;
    active.listeners.add(listener);
    return () => active.listeners.delete(listener);
  }

  /** Task states so far of a log running here (for a client that connects mid-run). */
  liveTasks(id: string): LiveTask[] | undefined {
    const active = this.active.get(id);
    return active ? [...active.tasks.values()] : undefined;
  }

  /**
   * Aborts a log running in this process (its owed teardowns still run); false when it does
   * not run here. Callers record the request in the catalog first (`requestCancel`), so a
   * log running in another server is stopped by that server's poll.
   */
  cancel(id: string): boolean {
    const active = this.active.get(id);
    if (!active) return false;
    if (!active.cancelled) {
      active.cancelled = true;
      active.controller.abort(
        new HoardError('OPERATION_CANCELLED', `operation ${id} was cancelled on request`, {
          details: { operationLog: id },
        }),
      );
    }
    return true;
  }

  get running(): number {
    return this.active.size;
  }

  /** Waits for running work; after `graceMs` cancels it (owed teardowns still run). */
  async close(graceMs = 30_000): Promise<void> {
    this.closing = true;
    const all = () => Promise.allSettled([...this.active.values()].map((a) => a.done));
    const timer = setTimeout(() => {
      for (const a of this.active.values()) a.controller.abort(new Error('the server is shutting down'));
    }, graceMs);
    // Work started meanwhile (`start`, a job taken just before a worker stopped taking) too.
    while (this.active.size > 0) await all();
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    clearInterval(this.cancelPoll);
    await this.chores.settled();
  }

  private async run(log: OperationLogRecord, active: Active, work: Work, claim: boolean): Promise<void> {
    const emit = (event: LiveEvent) => {
      for (const listener of active.listeners) listener(event);
    };
    let current = await this.move(log.id, ['queued'], {
      status: 'running',
      startedAt: now(),
      // A queued log's heartbeat was kept by whoever queued it; from now on it is this one's.
      ...(claim ? { owner: this.options.owner ?? SERVER_OWNER } : {}),
    });
    if (!current) return;
    if (claim) await this.catalog.heartbeat([log.id]).catch(() => {});
    emit({ type: 'status', log: current });
    let outcome: WorkOutcome;
    try {
      outcome = await work({
        ...(this.options.transport ? { transport: this.options.transport } : {}),
        signal: active.controller.signal,
        onEvent: (event, task) => {
          if (!task) return;
          if (event.type === 'state') {
            const at = now();
            const { resource, hook } = task;
            active.tasks.set(
              event.task,
              liveTask(active.tasks.get(event.task), { resource, hook, status: event.state, at }),
            );
            emit({
              type: 'task',
              resource: task.resource,
              hook: task.hook,
              status: event.state,
              at,
              ...(event.error ? { error: (event.error as Error).message ?? String(event.error) } : {}),
            });
          } else if (event.type === 'progress') {
            emit({
              type: 'progress',
              resource: task.resource,
              hook: task.hook,
              fraction: event.fraction,
              ...(event.detail ? { detail: event.detail } : {}),
            });
          }
        },
        onCheckpoint: (checkpointId) => {
          void this.move(log.id, ['running'], { checkpointId }).then((updated) => {
            if (updated) emit({ type: 'status', log: updated });
          });
        },
      });
    } catch (error) {
      const info = errorInfo(error);
      if (!(error instanceof HoardError)) this.logError(`operation ${log.id} (${log.kind}) failed`, error);
      outcome = { ok: false, result: null, error: publicError(info) };
    }
    // Cancelled, unless the work had succeeded before the abort reached it.
    const cancelled = active.cancelled && !outcome.ok;
    if (cancelled) {
      outcome = {
        ...outcome,
        error: {
          name: 'HoardError',
          code: 'OPERATION_CANCELLED' satisfies ErrorCode,
          message: `cancelled on request; ${outcome.error ? `it stopped with: ${outcome.error.message}` : 'owed teardowns ran'}`,
        },
      };
    }
    const final = await this.move(log.id, ['running'], {
      status: cancelled ? 'cancelled' : outcome.ok ? 'succeeded' : 'failed',
      result: outcome.result === undefined ? null : withoutStacks(outcome.result),
      endedAt: now(),
      ...(outcome.checkpointId ? { checkpointId: outcome.checkpointId } : {}),
      ...(outcome.error ? { error: publicError(outcome.error) } : {}),
    });
    current = final ?? current;
    if (final) this.options.onFinished?.(final);
    emit({ type: 'end', log: current });
  }

  private async move(
    id: string,
    from: readonly OperationLogStatus[],
    patch: Parameters<Catalog['updateOperationLog']>[2],
  ): Promise<OperationLogRecord | undefined> {
    try {
      return await this.catalog.updateOperationLog(id, from, patch);
    } catch (error) {
      this.logError(`could not update operation log ${id}`, error);
      return undefined;
    }
  }

  private async pollCancels(): Promise<void> {
    if (this.active.size === 0) return;
    try {
      for (const id of await this.catalog.cancelRequested([...this.active.keys()])) this.cancel(id);
    } catch (error) {
      this.logError('looking for cancellations failed', error);
    }
  }

  private async beat(every: number): Promise<void> {
    try {
      const alive = [...this.active.keys(), ...((await this.options.alsoAlive?.()) ?? [])];
      for (const log of await keepAlive(this.catalog, alive, every)) this.options.onFinished?.(log);
    } catch (error) {
      this.logError('heartbeat failed', error);
    }
  }

  private logError(message: string, error: unknown): void {
    if (this.options.logError) this.options.logError(message, error);
    else process.stderr.write(`${message}: ${(error as Error)?.stack ?? String(error)}\n`);
  }
}

/**
 * One heartbeat: renews the logs `alive` names, then fails every queued or running log whose
 * heartbeat is older than four periods (its runner died) as OPERATION_ABANDONED; returns those.
 */
export async function keepAlive(
  catalog: Catalog,
  alive: readonly string[],
  every: number,
): Promise<OperationLogRecord[]> {
  if (alive.length) await catalog.heartbeat(alive);
  return catalog.failStale(new Date(Date.now() - every * 4).toISOString(), {
    name: 'HoardError',
    code: 'OPERATION_ABANDONED' satisfies ErrorCode,
    message: 'the server running this operation stopped before it finished',
  });
}

const now = () => new Date().toISOString();

/**
 * Work a timer started and nobody awaits. A heartbeat that began just before close() cleared
 * its timer still reaches the catalog afterwards; the server closes the catalog once close()
 * resolves ("The database connection is not open" on Ctrl-C under load), so close() waits.
 */
export class Chores {
  private readonly running = new Set<Promise<void>>();

  run(chore: () => Promise<void>): void {
    const done: Promise<void> = chore()
      .catch(() => {})
      .finally(() => this.running.delete(done));
    this.running.add(done);
  }

  async settled(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }
}
