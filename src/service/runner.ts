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
import type { EngineEvent } from '../engine/index.js';
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
  /** Called when an operation ends (metrics). */
  onFinished?: (log: OperationLogRecord) => void;
  /** Where internal faults are written (default stderr). */
  logError?: (message: string, error: unknown) => void;
  /** Given to every piece of work (RunContext.transport). */
  transport?: HookTransport;
}

export class OperationRunner {
  private readonly active = new Map<string, Active>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly cancelPoll: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly options: RunnerOptions = {},
  ) {
    const every = options.heartbeatMs ?? 10_000;
    this.heartbeat = setInterval(() => void this.beat(every), every);
    this.heartbeat.unref();
    this.cancelPoll = setInterval(() => void this.pollCancels(), options.cancelPollMs ?? 1000);
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
    const active: Active = {
      controller: new AbortController(),
      listeners: new Set(),
      tasks: new Map(),
      done: Promise.resolve(),
      cancelled: false,
    };
    this.active.set(log.id, active);
    active.done = this.run(log, active, work).finally(() => this.active.delete(log.id));
    return log;
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
    await all();
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    clearInterval(this.cancelPoll);
  }

  private async run(log: OperationLogRecord, active: Active, work: Work): Promise<void> {
    const emit = (event: LiveEvent) => {
      for (const listener of active.listeners) listener(event);
    };
    let current = await this.move(log.id, ['queued'], { status: 'running', startedAt: now() });
    if (!current) return;
    emit({ type: 'status', log: current });
    let outcome: WorkOutcome;
    try {
      outcome = await work({
        ...(this.options.transport ? { transport: this.options.transport } : {}),
        signal: active.controller.signal,
        onEvent: (event, task) => {
          if (!task) return;
          if (event.type === 'state') {
            active.tasks.set(event.task, { resource: task.resource, hook: task.hook, status: event.state });
            emit({
              type: 'task',
              resource: task.resource,
              hook: task.hook,
              status: event.state,
              at: now(),
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
      if (this.active.size) await this.catalog.heartbeat([...this.active.keys()]);
      const stale = await this.catalog.failStale(new Date(Date.now() - every * 4).toISOString(), {
        name: 'HoardError',
        code: 'OPERATION_ABANDONED' satisfies ErrorCode,
        message: 'the server running this operation stopped before it finished',
      });
      for (const log of stale) this.options.onFinished?.(log);
    } catch (error) {
      this.logError('heartbeat failed', error);
    }
  }

  private logError(message: string, error: unknown): void {
    if (this.options.logError) this.options.logError(message, error);
    else process.stderr.write(`${message}: ${(error as Error)?.stack ?? String(error)}\n`);
  }
}

const now = () => new Date().toISOString();
