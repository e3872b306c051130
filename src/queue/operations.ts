/**
 * The queue of the service's operations (SPEC §12): `hoard serve --no-runner` records an
 * operation log and adds one BullMQ job whose id is the log's id, so adding it twice is one
 * job; `hoard worker` processes take the jobs. The job only names the log: the catalog is
 * the truth about the operation (its kind, plan, provider, parameters and status), and the
 * log's compare-and-swap from `queued` to `running` is what makes it run once however often
 * the job is delivered.
 *
 * Live events (task states, progress, status changes) go from the worker that runs an
 * operation to every API server through Redis pub/sub on one channel,
 * `<prefix>:operations:live`: they are shown as they happen and never stored, so a server that
 * subscribes late has missed the earlier ones (the catalog still has the status).
 */
import type { Job, JobType, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { HoardError } from '../errors.js';
import { connectQueue, type QueueSettings, redactedUrl } from './connection.js';

/** The BullMQ queue's name (its keys are `<prefix>:operations:…`). */
export const OPERATIONS_QUEUE = 'operations';

/** The states of a job no worker has taken yet. */
const WAITING: JobType[] = ['wait', 'prioritized', 'delayed'];

const liveChannel = (prefix: string) => `${prefix}:operations:live`;

/** A job's data: the operation log it runs. */
export interface OperationJob {
  logId: string;
}

/** One live event of an operation, as published: `event` is the runner's LiveEvent. */
export interface LiveMessage {
  logId: string;
  event: unknown;
}

/** Ended jobs kept in Redis for inspection (the catalog keeps the history). */
const KEEP_ENDED = { count: 1000 };

/** The producer's side: adds operations, lists the waiting ones, follows live events. */
export class OperationQueue {
  private subscriber: Redis | undefined;
  private readonly listeners = new Set<(message: LiveMessage) => void>();

  private constructor(
    readonly settings: QueueSettings,
    private readonly redis: Redis,
    private readonly queue: Queue<OperationJob>,
  ) {}

  /** Connects (QUEUE_UNAVAILABLE when Redis cannot be reached). */
  static async open(settings: QueueSettings): Promise<OperationQueue> {
    const redis = await connectQueue(settings);
    const { Queue } = await import('bullmq');
    const queue = new Queue<OperationJob>(OPERATIONS_QUEUE, {
      connection: redis,
      prefix: settings.prefix,
      // A job fails only when its worker could not read the catalog before starting it (the
      // log stays queued): try again. Once started, a run always completes its job.
      defaultJobOptions: {
        removeOnComplete: KEEP_ENDED,
        removeOnFail: KEEP_ENDED,
        attempts: 5,
        backoff: { type: 'exponential', delay: 1000 },
      },
    });
    queue.on('error', () => {}); // reconnects are waited for; add() reports what fails
    return new OperationQueue(settings, redis, queue);
  }

  /** Adds the job of operation log `logId` (a second add of the same id is the same job). */
  async add(logId: string): Promise<void> {
    try {
      await this.queue.add('operation', { logId }, { jobId: logId });
    } catch (cause) {
      throw new HoardError(
        'QUEUE_UNAVAILABLE',
        `cannot queue operation ${logId} at ${redactedUrl(this.settings.url)}: ${(cause as Error).message}`,
        { cause, details: { operationLog: logId } },
      );
    }
  }

  /** Removes a job no worker has taken yet (a cancelled operation); false when it cannot. */
  async remove(logId: string): Promise<boolean> {
    try {
      return (await this.queue.remove(logId)) === 1;
    } catch {
      return false; // taken by a worker meanwhile (locked): the worker sees the log's status
    }
  }

  /** The ids of the operation logs whose jobs wait for a worker. */
  async waiting(): Promise<string[]> {
    return this.queue.getRanges(WAITING, 0, -1);
  }

  /** Calls `listener` with every live event any worker publishes (one subscription per queue). */
  async follow(listener: (message: LiveMessage) => void): Promise<() => void> {
    if (!this.subscriber) {
      const subscriber = await connectQueue(this.settings);
      this.subscriber = subscriber;
      subscriber.on('message', (_channel: string, text: string) => {
        let message: LiveMessage;
        try {
          message = JSON.parse(text) as LiveMessage;
        } catch {
          return;
        }
        for (const l of this.listeners) l(message);
      });
      await subscriber.subscribe(liveChannel(this.settings.prefix));
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every API server an event of operation `logId`, as the worker running it would. */
  async publish(logId: string, event: unknown): Promise<void> {
    const message: LiveMessage = { logId, event };
    await this.redis.publish(liveChannel(this.settings.prefix), JSON.stringify(message));
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.queue.close().catch(() => {});
    this.redis.disconnect();
    this.subscriber?.disconnect();
  }
}

export interface OperationConsumerOptions {
  /** Operations run at once (default 1). */
  concurrency?: number;
  /**
   * Runs operation log `logId` to its end; resolves whatever its outcome (the catalog records
   * it). A rejection is a fault of the worker itself, logged by BullMQ as a failed job.
   */
  run: (logId: string) => Promise<void>;
  /**
   * Milliseconds a job stays locked to its worker without renewal (default 30 000): after a
   * worker dies, BullMQ delivers its job again once this has passed.
   */
  lockDurationMs?: number;
  onError?: (error: Error) => void;
}

/** The worker's side: takes operation jobs and publishes live events. */
export class OperationConsumer {
  private constructor(
    private readonly settings: QueueSettings,
    private readonly redis: Redis,
    private readonly worker: Worker<OperationJob>,
    private readonly queue: Queue<OperationJob>,
  ) {}

  static async start(settings: QueueSettings, options: OperationConsumerOptions): Promise<OperationConsumer> {
    const redis = await connectQueue(settings);
    const { Queue, Worker } = await import('bullmq');
    const worker = new Worker<OperationJob>(
      OPERATIONS_QUEUE,
      async (job: Job<OperationJob>) => options.run(job.data.logId),
      {
        connection: redis,
        prefix: settings.prefix,
        concurrency: options.concurrency ?? 1,
        lockDuration: options.lockDurationMs ?? 30_000,
        stalledInterval: Math.min(30_000, options.lockDurationMs ?? 30_000),
        // A redelivered job is harmless (the log's compare-and-swap refuses a second run), so
        // BullMQ need not fail a job that stalled more than once.
        maxStalledCount: 5,
      },
    );
    worker.on('error', (error) => options.onError?.(error));
    const queue = new Queue<OperationJob>(OPERATIONS_QUEUE, { connection: redis, prefix: settings.prefix });
    queue.on('error', () => {});
    return new OperationConsumer(settings, redis, worker, queue);
  }

  /** The ids of the operation logs whose jobs wait for a worker. */
  waiting(): Promise<string[]> {
    return this.queue.getRanges(WAITING, 0, -1);
  }

  /** Publishes a live event of operation `logId` to every API server following the queue. */
  publish(logId: string, event: unknown): void {
    const message: LiveMessage = { logId, event };
    this.redis.publish(liveChannel(this.settings.prefix), JSON.stringify(message)).catch(() => {});
  }

  /** Takes no more jobs; those taken go on. */
  async pause(): Promise<void> {
    await this.worker.pause(true).catch(() => {});
  }

  /** Takes no more jobs and waits for the running ones (`force`: does not wait). */
  async close(force = false): Promise<void> {
    await this.worker.close(force).catch(() => {});
    await this.queue.close().catch(() => {});
    this.redis.disconnect();
  }

  /** The Redis connection, for the registry's heartbeat. */
  get connection(): Redis {
    return this.redis;
  }
}
