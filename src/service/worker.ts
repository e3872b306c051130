/**
 * `hoard worker`: runs the operations `hoard serve --no-runner` queued (SPEC §12), with the
 * runner's semantics (service/runner.ts). Each job names an operation log in the shared
 * catalog; the worker rebuilds the log's work (operations.ts `workFromLog`) and runs it after
 * moving the log from `queued` to `running` — a compare-and-swap, so a job delivered twice
 * (BullMQ delivers again the job of a worker that died) never runs twice: the second delivery
 * finds the log running or ended and does nothing. It keeps its logs' heartbeats, stops an
 * operation whose cancellation is asked in the catalog, publishes live events for the API
 * and keeps a record in the registry (kind `worker`).
 *
 * A worker killed mid-operation leaves its log `running`; once its heartbeat is four periods
 * old, any server or worker fails it as OPERATION_ABANDONED, and the next protect of the plan
 * recovers the checkpoint as after any crash. It is not run again: a half-run operation is
 * not known to be safe to repeat.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Catalog } from '../catalog/index.js';
import type { HookTransport } from '../flows/transport.js';
import type { Provider, ProviderProblem } from '../providers/provider.js';
import type { QueueSettings } from '../queue/connection.js';
import { OperationConsumer } from '../queue/operations.js';
import { heartbeat, leave, type Member } from '../queue/registry.js';
import { workFromLog } from './operations.js';
import { cancelQueued } from './queued-runner.js';
import { type LiveEvent, OperationRunner } from './runner.js';

/** Milliseconds between two progress events of one task sent through Redis. */
const PROGRESS_EVERY_MS = 250;

/**
 * Passes every event on, except a task's progress more often than every PROGRESS_EVERY_MS
 * (a hook may report it per file): its last fraction, 1, always passes.
 */
function throttledProgress(send: (event: LiveEvent) => void): (event: LiveEvent) => void {
  const last = new Map<string, number>();
  return (event) => {
    if (event.type === 'progress' && event.fraction < 1) {
      const key = `${event.resource}:${event.hook}`;
      const now = Date.now();
      if (now - (last.get(key) ?? 0) < PROGRESS_EVERY_MS) return;
      last.set(key, now);
    }
    send(event);
  };
}

export interface WorkerOptions {
  catalog: Catalog;
  providers: Provider[];
  problems?: ProviderProblem[];
  queue: QueueSettings;
  /** Operations run at once (default 1). */
  concurrency?: number;
  /** Milliseconds between heartbeats, of the logs and of the registry record (default 10 s). */
  heartbeatMs?: number;
  /**
   * Milliseconds a job stays locked to this worker without renewal (default 30 000): the job
   * of a worker that died is delivered again after it (and then does nothing: see above).
   */
  lockDurationMs?: number;
  /** Where internal faults are written (default stderr). */
  logError?: (message: string, error: unknown) => void;
  /** Carries hooks of resources with a `host` to their agents (SPEC §12). */
  transport?: HookTransport;
}

/** The package's version, for the registry. */
function version(): string {
  try {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export class OperationWorker {
  private constructor(
    readonly member: Member,
    private readonly runner: OperationRunner,
    private readonly consumer: OperationConsumer,
    private readonly timer: NodeJS.Timeout,
    private readonly prefix: string,
  ) {}

  /** Connects, registers and starts taking jobs (QUEUE_UNAVAILABLE when Redis cannot be reached). */
  static async start(options: WorkerOptions): Promise<OperationWorker> {
    const { catalog } = options;
    const heartbeatMs = options.heartbeatMs ?? 10_000;
    const concurrency = options.concurrency ?? 1;
    const logError =
      options.logError ??
      ((message: string, error: unknown) =>
        process.stderr.write(`hoard worker: ${message}: ${(error as Error)?.stack ?? String(error)}\n`));
    let consumer: OperationConsumer | undefined;
    // Logs whose jobs wait for a worker are kept alive here too, not only by the API server,
    // so a backlog is not failed as stale while the API restarts.
    const runner = new OperationRunner(catalog, {
      heartbeatMs,
      logError,
      ...(options.transport ? { transport: options.transport } : {}),
      alsoAlive: async () => (await consumer?.waiting()) ?? [],
    });
    const sources = {
      catalog,
      providers: options.providers,
      ...(options.problems ? { problems: options.problems } : {}),
    };
    const run = async (logId: string): Promise<void> => {
      const log = await catalog.getOperationLog(null, logId);
      // Gone, or taken by another delivery of this job, or ended (cancelled while it waited).
      if (log?.status !== 'queued') return;
      if (log.cancelRequestedAt) {
        await cancelQueued(catalog, log.id);
        return;
      }
      const publish = throttledProgress((event: LiveEvent) => consumer?.publish(log.id, event));
      await runner.start(log, workFromLog(log, sources), publish);
    };
    consumer = await OperationConsumer.start(options.queue, {
      concurrency,
      run,
      ...(options.lockDurationMs ? { lockDurationMs: options.lockDurationMs } : {}),
      // BullMQ's own complaints (a lock not renewed in time on a busy machine, Redis away) are
      // warnings here, not faults: the catalog, not the job, decides what runs. One line each.
      onError: (error) => process.stderr.write(`hoard worker: queue: ${error.message}\n`),
    });
    const now = new Date().toISOString();
    const member: Member = {
      id: `worker.${hostname()}.${process.pid}.${randomBytes(3).toString('hex')}`,
      kind: 'worker',
      host: hostname(),
      version: version(),
      plugins: [...new Set(options.providers.flatMap((p) => p.registry.names))].sort(),
      concurrency,
      running: 0,
      startedAt: now,
      lastHeartbeat: now,
    };
    const redis = consumer.connection;
    const prefix = options.queue.prefix;
    const beat = () =>
      heartbeat(
        redis,
        prefix,
        { ...member, running: runner.running, lastHeartbeat: new Date().toISOString() },
        heartbeatMs * 3,
      ).catch((error) => logError('registry heartbeat', error));
    await beat();
    const timer = setInterval(() => void beat(), heartbeatMs);
    timer.unref();
    return new OperationWorker(member, runner, consumer, timer, prefix);
  }

  /** Operations running now. */
  get running(): number {
    return this.runner.running;
  }

  /**
   * Takes no more jobs; running operations get `graceMs` to finish, then are cancelled (their
   * teardowns run); leaves the registry.
   */
  async close(graceMs = 30_000): Promise<void> {
    clearInterval(this.timer);
    await leave(this.consumer.connection, this.prefix, this.member.id).catch(() => {});
    await this.consumer.pause();
    await this.runner.close(graceMs);
    await this.consumer.close();
  }
}
