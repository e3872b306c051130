/**
 * Hooks on BullMQ (SPEC §12): the coordinator's side. Each hook of a resource with a `host`
 * is one job in that host's queue (`hooks.<host>`), with the deterministic id
 * `<checkpoint>.<task>.<attempt>` (and the run's name after the checkpoint for operations
 * other than protect), and its end is awaited through `QueueEvents`. The engine keeps the
 * graph: BullMQ's flows are not used (a job has one parent, and failed children leave parents
 * stuck).
 *
 * What the coordinator watches, besides the events (which it may miss while its reader starts,
 * or while Redis restarts): while a job is unsettled, every half lock it reads the job's state
 * and, once active, whether its lock still exists. So it learns of an end it did not hear, and
 * of an agent that died mid-hook even when no other agent of the host is up to see the stall.
 *
 * Redis keys besides BullMQ's (all under the prefix): `hooks:started:<job>` (the agent that
 * first started the job: a second start of a hook that is not idempotent is refused, AGENT_LOST),
 * `hooks:abandoned:<job>` (the coordinator gave the hook up: no agent starts it any more), and the
 * pub/sub channel `hooks:cancel` (a job id: the agent running it aborts its signal).
 */
import { type ErrorInfo, HoardError } from '../errors.js';
import {
  errorFromInfo,
  type HookIo,
  type HookOutcome,
  type HookRequest,
  type HookTransport,
} from '../flows/transport.js';
import { connectionOptions, connectQueue, type QueueSettings } from './connection.js';

type IORedis = import('ioredis').Redis;
type BullQueue = import('bullmq').Queue;
type BullEvents = import('bullmq').QueueEvents;

/** Default seconds a hook waits for an agent of its host to take it (SPEC §12 `agent_wait`). */
export const AGENT_WAIT_S = 60;
/** Default lock of a job an agent runs, in ms: an agent killed mid-hook is noticed after about this. */
export const AGENT_LOCK_MS = 3_000;

/** What an agent's job returns: the hook's outcome, or the error it ended with. */
export type HookJobResult = { ok: true; outcome: HookOutcome } | { ok: false; error: ErrorInfo };

/** What an agent reports as a job's progress. */
export interface HookProgress {
  fraction: number;
  detail?: string;
  agent: string;
}

/** The queue of a host's hooks. */
export function hookQueueName(host: string): string {
  return `hooks.${host}`;
}

/** BullMQ forbids `:` in job ids; a task id is `type#id:hook`, and ids may hold anything. */
export function hookJobId(request: Pick<HookRequest, 'checkpoint' | 'run' | 'task' | 'attempt'>): string {
  const run = request.run === 'protect' ? '' : `${request.run}.`;
  return `${request.checkpoint.id}.${run}${encodeURIComponent(request.task)}.${request.attempt}`;
}

/**
 * An agent died mid-hook: the hook may have done its work (a freeze), so a prepareBegin lost
 * so still owes its teardown (the engine's `owesTeardown`), which goes to the host's queue.
 */
function owing(error: Error): Error {
  return Object.assign(error, { owesTeardown: true });
}

export const startedKey = (prefix: string, jobId: string) => `${prefix}:hooks:started:${jobId}`;
export const abandonedKey = (prefix: string, jobId: string) => `${prefix}:hooks:abandoned:${jobId}`;
export const cancelChannel = (prefix: string) => `${prefix}:hooks:cancel`;
/** How often an idempotent hook whose job Redis lost is queued again before it is given up. */
const MAX_REQUEUES = 3;
/** How long the markers and finished jobs are kept: a day, for a coordinator that restarts to find. */
export const KEEP_S = 86_400;

export interface QueueTransportOptions {
  /** Milliseconds a hook waits for an agent to take it; default {@link AGENT_WAIT_S} s. */
  agentWaitMs?: number;
  /** The agents' job lock (HOARD_AGENT_LOCK_MS); default {@link AGENT_LOCK_MS}. */
  lockMs?: number;
  /** After a cancel, how long to wait for the agent to say its hook stopped; default 30 s. */
  cancelGraceMs?: number;
}

interface Host {
  queue: BullQueue;
  events: BullEvents;
  /** Unsettled jobs of this host, by job id. */
  waiters: Map<string, Waiter>;
}

interface Waiter {
  onActive(): void;
  onProgress(data: unknown): void;
  onCompleted(value: unknown): void;
  onFailed(reason: string): void;
  onStalled(): void;
  onDuplicated(): void;
}

/** The BullMQ transport: one queue (and one QueueEvents reader) per host, opened on first use. */
export class QueueHookTransport implements HookTransport {
  private readonly hosts = new Map<string, Promise<Host>>();
  /** How to end each unsettled run when the transport closes (its timers with it). */
  private readonly unsettled = new Set<() => void>();
  private closed = false;

  private constructor(
    private readonly settings: QueueSettings,
    private readonly redis: IORedis,
    private readonly options: Required<QueueTransportOptions>,
  ) {}

  /** Connects (QUEUE_UNAVAILABLE at once when Redis cannot be reached). */
  static async open(
    settings: QueueSettings,
    options: QueueTransportOptions = {},
  ): Promise<QueueHookTransport> {
    const redis = await connectQueue(settings);
    return new QueueHookTransport(settings, redis, {
      agentWaitMs: options.agentWaitMs ?? AGENT_WAIT_S * 1000,
      lockMs: options.lockMs ?? AGENT_LOCK_MS,
      cancelGraceMs: options.cancelGraceMs ?? 30_000,
    });
  }

  private host(name: string): Promise<Host> {
    let host = this.hosts.get(name);
    if (!host) {
      host = this.openHost(name);
      host.catch(() => this.hosts.delete(name));
      this.hosts.set(name, host);
    }
    return host;
  }

  private async openHost(name: string): Promise<Host> {
    const { Queue, QueueEvents } = await import('bullmq');
    const prefix = this.settings.prefix;
    const queueName = hookQueueName(name);
    // Read events from the stream's present end, so none between now and the reader's first
    // XREAD is lost.
    const last = await this.redis.xrevrange(`${prefix}:${queueName}:events`, '+', '-', 'COUNT', 1);
    const lastEventId = last[0]?.[0] ?? '0-0';
    const connection = connectionOptions(this.settings);
    const queue = new Queue(queueName, { connection, prefix });
    const events = new QueueEvents(queueName, {
      connection,
      prefix,
      lastEventId,
    });
    queue.on('error', () => {});
    events.on('error', () => {});
    const waiters = new Map<string, Waiter>();
    events.on('active', ({ jobId }) => waiters.get(jobId)?.onActive());
    events.on('progress', ({ jobId, data }) => waiters.get(jobId)?.onProgress(data));
    events.on('completed', ({ jobId, returnvalue }) => waiters.get(jobId)?.onCompleted(returnvalue));
    events.on('failed', ({ jobId, failedReason }) => waiters.get(jobId)?.onFailed(failedReason));
    events.on('stalled', ({ jobId }) => waiters.get(jobId)?.onStalled());
    // A job of that id was there already (a restarted coordinator's dispatch): read its state.
    events.on('duplicated', ({ jobId }) => waiters.get(jobId)?.onDuplicated());
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    return { queue, events, waiters };
  }

  async run(request: HookRequest, io: HookIo): Promise<HookOutcome> {
    if (this.closed) throw new HoardError('QUEUE_UNAVAILABLE', 'the hook transport is closed');
    const host = await this.host(request.host);
    const jobId = hookJobId(request);
    const { prefix } = this.settings;
    const { agentWaitMs, lockMs, cancelGraceMs } = this.options;
    const where = `${request.key} ${request.hook}`;
    const details = { resource: request.key, hook: request.hook, host: request.host, job: jobId };

    return new Promise<HookOutcome>((resolve, reject) => {
      let settled = false;
      let active = false;
      let waitTimer: NodeJS.Timeout | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      let lockMissingSince: number | undefined;
      let checking = false;
      let added = false;
      let duplicated = false;
      let requeued = 0;
      const watchdog = setInterval(() => void check(), Math.max(100, Math.floor(lockMs / 2)));

      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.unsettled.delete(closing);
        clearInterval(watchdog);
        clearTimeout(waitTimer);
        clearTimeout(graceTimer);
        host.waiters.delete(jobId);
        io.signal.removeEventListener('abort', onAbort);
        fn();
      };
      const fail = (error: unknown) => finish(() => reject(error));
      // Closed under it: the job is left as it is (not abandoned), for a successor to adopt.
      const closing = () =>
        fail(
          new HoardError(
            'QUEUE_UNAVAILABLE',
            `${where}: the hook transport was closed before the hook ended`,
            {
              details,
            },
          ),
        );
      this.unsettled.add(closing);
      const abandon = () => this.redis.set(abandonedKey(prefix, jobId), '1', 'EX', KEEP_S).catch(() => {});

      const waitForAgent = () => {
        active = false;
        if (waitTimer !== undefined || settled) return;
        waitTimer = setTimeout(() => void noAgent(), agentWaitMs);
      };
      const taken = () => {
        active = true;
        lockMissingSince = undefined;
        clearTimeout(waitTimer);
        waitTimer = undefined;
      };
      const noAgent = async () => {
        waitTimer = undefined;
        if (settled || active) return;
        const seconds = Math.round(agentWaitMs / 100) / 10;
        if (request.teardown) {
          // Owed: it stays queued and runs when an agent of the host is next up.
          fail(
            new HoardError(
              'AGENT_UNAVAILABLE',
              `${where}: no agent of host "${request.host}" took it within ${seconds} s; it stays in the host's queue and runs when an agent of it is up`,
              { details: { ...details, queued: true } },
            ),
          );
          return;
        }
        await abandon();
        const removed = await host.queue.remove(jobId).catch(() => 0);
        if (removed === 0) {
          // An agent took it just now (it may even have finished): the state says how it went.
          taken();
          void check();
          return;
        }
        fail(
          new HoardError(
            'AGENT_UNAVAILABLE',
            `${where}: no agent of host "${request.host}" took it within ${seconds} s (is \`hoard agent --host ${request.host}\` running, with HOARD_QUEUE_URL and HOARD_QUEUE_PREFIX as here?)`,
            { details },
          ),
        );
      };

      const completed = (value: unknown) => {
        // The answer is in hand: the job goes, and with it the hook's parameters (an
        // exec.task's env among them), which Redis would otherwise keep for a day. A second
        // start of it is still refused: its first start is recorded apart.
        void host.queue.remove(jobId).catch(() => {});
        let result: HookJobResult;
        try {
          result = (typeof value === 'string' ? JSON.parse(value) : value) as HookJobResult;
        } catch {
          fail(
            new HoardError('AGENT_LOST', `${where}: the agent answered something unreadable`, { details }),
          );
          return;
        }
        if (result?.ok === true) finish(() => resolve(result.outcome));
        else if (result?.ok === false)
          fail(
            result.error.code === 'AGENT_LOST'
              ? owing(errorFromInfo(result.error))
              : errorFromInfo(result.error),
          );
        else
          fail(
            new HoardError('AGENT_LOST', `${where}: the agent answered something unreadable`, { details }),
          );
      };
      const lost = (why: string) => {
        void abandon();
        fail(owing(new HoardError('AGENT_LOST', `${where}: ${why}`, { details })));
      };

      /** Queues the job; the watchdog reads its state only once it is added. */
      const add = () => {
        waitForAgent();
        added = false;
        host.queue
          .add('hook', request, {
            jobId,
            attempts: 1,
            removeOnComplete: { age: KEEP_S },
            removeOnFail: { age: KEEP_S },
          })
          // A job of that id may exist (a restarted coordinator's): it is adopted, and its
          // state read on the 'duplicated' event its add emits (else by the watchdog), rather
          // than one more read of every new job.
          .then(() => {
            added = true;
            if (duplicated) void check(); // its event came before the add's answer
          })
          .catch((cause) =>
            fail(
              new HoardError(
                'QUEUE_UNAVAILABLE',
                `${where}: could not queue the hook for host "${request.host}": ${(cause as Error).message}`,
                { details, cause },
              ),
            ),
          );
      };

      const check = async () => {
        if (settled || checking || !added) return;
        checking = true;
        try {
          const state = await host.queue.getJobState(jobId);
          if (settled) return;
          if (state === 'completed') {
            const job = await host.queue.getJob(jobId);
            completed(job?.returnvalue);
          } else if (state === 'failed') {
            const job = await host.queue.getJob(jobId);
            lost(`the agent running it stopped (${job?.failedReason ?? 'failed'})`);
          } else if (state === 'active') {
            const locked = await this.redis.exists(`${prefix}:${hookQueueName(request.host)}:${jobId}:lock`);
            if (locked) taken();
            else {
              lockMissingSince ??= Date.now();
              if (Date.now() - lockMissingSince > lockMs) {
                if (!request.idempotent) {
                  lost(
                    `the agent running it stopped mid-hook (its lock expired: the agent died, or lost Redis for longer than the lock); the hook is not idempotent, so it is not run again`,
                  );
                } else if (waitTimer === undefined) {
                  // Idempotent: delivered again when an agent of the host sees the stall.
                  active = false;
                  waitForAgent();
                }
              }
            }
          } else if (state === 'unknown') {
            // Redis lost it (restarted without its data, or emptied): nobody will run or
            // answer it. An idempotent hook is queued again (the agent still running the old
            // one, if any, cannot report it: its job is gone); another is lost.
            if (io.signal.aborted) fail(io.signal.reason);
            else if (request.idempotent && requeued < MAX_REQUEUES) {
              requeued++;
              active = false;
              add();
            } else
              lost(
                request.idempotent
                  ? `its job disappeared from the queue ${requeued + 1} times (is Redis losing its data?)`
                  : 'its job disappeared from the queue (Redis restarted without its data, or emptied); the hook is not idempotent, so it is not run again',
              );
          } else if (active) {
            waitForAgent(); // back in the queue after a stall: delivered again
          }
        } catch {
          // Redis unreachable for now: the connection reconnects, the next check tries again.
        } finally {
          checking = false;
        }
      };

      const onAbort = () => {
        const reason = io.signal.reason;
        void (async () => {
          await abandon();
          await this.redis.publish(cancelChannel(prefix), jobId).catch(() => {});
          const removed = await host.queue.remove(jobId).catch(() => 0);
          if (removed === 1 || !active) fail(reason);
          else graceTimer = setTimeout(() => fail(reason), cancelGraceMs);
        })();
      };

      host.waiters.set(jobId, {
        onActive: taken,
        onProgress: (data) => {
          const p = data as Partial<HookProgress> | undefined;
          if (!p || typeof p !== 'object') return;
          taken();
          if (typeof p.agent === 'string') io.taken?.(p.agent);
          if (typeof p.fraction === 'number') io.progress(p.fraction, p.detail);
        },
        onCompleted: completed,
        onFailed: (reason) => lost(`the agent running it stopped (${reason})`),
        onStalled: () => {
          if (request.idempotent) waitForAgent();
        },
        onDuplicated: () => {
          duplicated = true;
          void check();
        },
      });
      if (io.signal.aborted) {
        fail(io.signal.reason);
        return;
      }
      io.signal.addEventListener('abort', onAbort, { once: true });
      add();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const end of [...this.unsettled]) end();
    const hosts = await Promise.all([...this.hosts.values()].map((h) => h.catch(() => undefined)));
    await Promise.all(
      hosts.flatMap((h) => (h ? [h.events.close().catch(() => {}), h.queue.close().catch(() => {})] : [])),
    );
    this.redis.disconnect();
  }
}

/** A host name as plans give it (resources/resource.ts). */
export { HOST_NAME } from '../resources/resource.js';
