/**
 * `hoard serve --no-runner`: the API records each operation as a `queued` log and adds its
 * job to the queue (queue/operations.ts); `hoard worker` processes run it (service/worker.ts).
 * Nothing runs here. While a job waits for a worker, this server keeps its log's heartbeat,
 * so a long queue is not mistaken for a dead server; a log whose job was lost (Redis emptied)
 * goes stale and is failed as OPERATION_ABANDONED, as any other.
 *
 * Live events come from the workers through Redis; the task states of a running operation
 * are those this server has seen since it started (a client connecting later sees the rest
 * in the catalog once the operation ends).
 */
import type { Catalog, NewOperationLog, OperationLogRecord } from '../catalog/index.js';
import { type ErrorCode, HoardError } from '../errors.js';
import type { LiveMessage, OperationQueue } from '../queue/operations.js';
import {
  Chores,
  keepAlive,
  type LiveEvent,
  type LiveTask,
  liveTask,
  type Runner,
  SERVER_OWNER,
} from './runner.js';

/**
 * Ends a log still waiting for a worker as `cancelled` (a compare-and-swap from `queued`: a
 * worker that took it meanwhile has it `running`, and sees the request itself). Undefined when
 * it was not queued any more.
 */
export function cancelQueued(catalog: Catalog, id: string): Promise<OperationLogRecord | undefined> {
  return catalog.updateOperationLog(id, ['queued'], {
    status: 'cancelled',
    endedAt: new Date().toISOString(),
    error: {
      name: 'HoardError',
      code: 'OPERATION_CANCELLED' satisfies ErrorCode,
      message: 'cancelled on request before a worker started it',
    },
  });
}

export interface QueuedRunnerOptions {
  /** Milliseconds between heartbeats (default 10 s); stale after four missed. */
  heartbeatMs?: number;
  /** The `owner` of the logs while they wait (default SERVER_OWNER, `host:pid`). */
  owner?: string;
  onFinished?: (log: OperationLogRecord) => void;
  logError?: (message: string, error: unknown) => void;
}

interface Followed {
  listeners: Set<(event: LiveEvent) => void>;
  tasks: Map<string, LiveTask>;
}

export class QueuedRunner implements Runner {
  readonly remote = true;
  readonly running = 0;
  private readonly followed = new Map<string, Followed>();
  private readonly heartbeat: NodeJS.Timeout;
  private unfollow: (() => void) | undefined;
  private readonly chores = new Chores();
  private closing = false;

  private constructor(
    private readonly catalog: Catalog,
    private readonly queue: OperationQueue,
    private readonly options: QueuedRunnerOptions,
  ) {
    const every = options.heartbeatMs ?? 10_000;
    this.heartbeat = setInterval(() => this.chores.run(() => this.beat(every)), every);
    this.heartbeat.unref();
  }

  static async open(
    catalog: Catalog,
    queue: OperationQueue,
    options: QueuedRunnerOptions = {},
  ): Promise<QueuedRunner> {
    const runner = new QueuedRunner(catalog, queue, options);
    runner.unfollow = await queue.follow((message) => runner.received(message));
    return runner;
  }

  /** Records the log (`queued`) and queues its job; `work` is not used: a worker rebuilds it from the log. */
  async submit(input: NewOperationLog): Promise<OperationLogRecord> {
    if (this.closing)
      throw new HoardError('CATALOG_UNAVAILABLE', 'the server is shutting down; try again later');
    const log = await this.catalog.createOperationLog({
      ...input,
      status: 'queued',
      owner: this.options.owner ?? SERVER_OWNER,
    });
    try {
      await this.queue.add(log.id);
    } catch (error) {
      const info = error instanceof HoardError ? error : undefined;
      const failed = await this.catalog.updateOperationLog(log.id, ['queued'], {
        status: 'failed',
        endedAt: new Date().toISOString(),
        error: {
          name: 'HoardError',
          code: 'QUEUE_UNAVAILABLE' satisfies ErrorCode,
          message: info?.message ?? String(error),
        },
      });
      if (failed) this.options.onFinished?.(failed);
      throw error;
    }
    return log;
  }

  subscribe(id: string, listener: (event: LiveEvent) => void): () => void {
    const followed = this.follow(id);
    followed.listeners.add(listener);
    return () => {
      followed.listeners.delete(listener);
      if (followed.listeners.size === 0 && followed.tasks.size === 0) this.followed.delete(id);
    };
  }

  liveTasks(id: string): LiveTask[] | undefined {
    const followed = this.followed.get(id);
    return followed?.tasks.size ? [...followed.tasks.values()] : undefined;
  }

  /**
   * A log still waiting for a worker ends `cancelled` here at once and its job is removed;
   * a running one is stopped by its worker, which sees the request in the catalog.
   */
  cancel(id: string): boolean {
    void cancelQueued(this.catalog, id)
      .then(async (cancelled) => {
        if (!cancelled) return;
        this.options.onFinished?.(cancelled);
        this.deliver(id, { type: 'end', log: cancelled });
        await this.queue.remove(id);
      })
      .catch((error) => this.logError(`cancelling queued operation ${id}`, error));
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    this.unfollow?.();
    this.followed.clear();
    await this.chores.settled();
  }

  private follow(id: string): Followed {
    let followed = this.followed.get(id);
    if (!followed) {
      followed = { listeners: new Set(), tasks: new Map() };
      this.followed.set(id, followed);
    }
    return followed;
  }

  private received({ logId, event }: LiveMessage): void {
    const live = event as LiveEvent;
    if (live.type === 'task') {
      const { tasks } = this.follow(logId);
      const id = `${live.resource}:${live.hook}`;
      tasks.set(id, liveTask(tasks.get(id), live));
    }
    if (live.type === 'end') this.options.onFinished?.(live.log); // the duration metric
    this.deliver(logId, live);
  }

  private deliver(id: string, event: LiveEvent): void {
    const followed = this.followed.get(id);
    if (!followed) return;
    for (const listener of followed.listeners) listener(event);
    if (event.type === 'end') this.followed.delete(id);
  }

  private async beat(every: number): Promise<void> {
    try {
      const waiting = await this.queue.waiting();
      for (const log of await keepAlive(this.catalog, waiting, every)) {
        this.options.onFinished?.(log);
        this.deliver(log.id, { type: 'end', log }); // its worker died: no end will come from it
      }
    } catch (error) {
      this.logError('heartbeat failed', error);
    }
  }

  private logError(message: string, error: unknown): void {
    if (this.options.logError) this.options.logError(message, error);
    else process.stderr.write(`${message}: ${(error as Error)?.stack ?? String(error)}\n`);
  }
}
