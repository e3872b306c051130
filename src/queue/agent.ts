/**
 * `hoard agent --host NAME` (SPEC §12): runs the hooks of resources whose `host` is NAME,
 * taken from that host's BullMQ queue, with the same providers as the coordinator, writing into
 * the shared bank. It writes only the resource's section of the checkpoint and the content store
 * (under its own shared lease, from the hook's first use of the store until the hook ended and
 * the lease is given up); the journal, the checkpoint's record and its lease are the
 * coordinator's. The hook's result (statistics, kept output, log lines, or its error) goes back
 * in the job's return value.
 *
 * A job is run with a signal that a cancel from the coordinator (pub/sub) or BullMQ aborts,
 * and its progress goes out through `job.updateProgress`. A hook that is not idempotent is run
 * at most once: the first start of a job is recorded (`hooks:started:<job>`), and a second
 * start — BullMQ delivering again the job of an agent that died — answers AGENT_LOST instead.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorInfo, HoardError } from '../errors.js';
import { checkSameBank } from '../flows/bank-identity.js';
import { callHook, operationStore, resourceHook } from '../flows/operation.js';
import { checkpointSection } from '../flows/protect.js';
import type { HookOutcome, HookRequest } from '../flows/transport.js';
import type { ResourceStats } from '../plugins/sdk.js';
import type { Provider } from '../providers/provider.js';
import { connectionOptions, connectQueue, type QueueSettings } from './connection.js';
import {
  AGENT_LOCK_MS,
  abandonedKey,
  cancelChannel,
  type HookJobResult,
  type HookProgress,
  hookQueueName,
  KEEP_S,
  startedKey,
} from './hooks.js';
import { heartbeat, leave, type Member } from './registry.js';

type IORedis = import('ioredis').Redis;
type BullWorker = import('bullmq').Worker;
type BullJob = import('bullmq').Job;

export interface AgentOptions {
  /** The plan host it serves. */
  host: string;
  /** Hooks at once. Default 1. */
  concurrency?: number;
  providers: readonly Provider[];
  settings: QueueSettings;
  /** Hoard's version, shown by `hoard agents list`. */
  version: string;
  /** The job lock in ms: a killed agent's job is delivered again after about this. Default 3000. */
  lockMs?: number;
  /** Milliseconds between heartbeats; the record lives three. Default 2000. */
  heartbeatMs?: number;
  /** One line per hook started and ended, for the agent's stderr. */
  log?: (line: string) => void;
}

export class Agent {
  readonly id: string;
  private readonly controllers = new Map<string, AbortController>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  /** `<provider id>\n<checkpoint id>` whose bank was found to be the coordinator's. */
  private readonly sameBank = new Set<string>();
  private readonly startedAt = new Date().toISOString();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly options: AgentOptions,
    private readonly redis: IORedis,
    private readonly subscriber: IORedis,
    private worker: BullWorker | undefined,
  ) {
    this.id = `agent.${hostname()}.${process.pid}.${randomBytes(3).toString('hex')}`;
  }

  /** Connects, registers and starts taking the host's hooks. QUEUE_UNAVAILABLE if Redis cannot be reached. */
  static async start(options: AgentOptions): Promise<Agent> {
    const redis = await connectQueue(options.settings);
    const subscriber = await connectQueue(options.settings).catch((error) => {
      redis.disconnect();
      throw error;
    });
    const agent = new Agent(options, redis, subscriber, undefined);
    await agent.begin();
    return agent;
  }

  /** Hooks running now. */
  get running(): number {
    return this.controllers.size;
  }

  private member(): Member {
    const plugins = new Set<string>();
    for (const provider of this.options.providers)
      for (const plugin of provider.registry.list()) plugins.add(plugin.name);
    return {
      id: this.id,
      kind: 'agent',
      host: this.options.host,
      version: this.options.version,
      plugins: [...plugins].sort(),
      concurrency: this.options.concurrency ?? 1,
      running: this.running,
      startedAt: this.startedAt,
      lastHeartbeat: new Date().toISOString(),
    };
  }

  private async beat(): Promise<void> {
    const every = this.options.heartbeatMs ?? 2_000;
    await heartbeat(this.redis, this.options.settings.prefix, this.member(), every * 3).catch(() => {});
  }

  /**
   * A heartbeat soon, so that `running` is shown within a tenth of a second of a hook's start
   * or end, but one for many short hooks rather than two for each.
   */
  private beatSoon(): void {
    this.beatTimer ??= setTimeout(() => {
      this.beatTimer = undefined;
      void this.beat();
    }, 100);
  }

  private async begin(): Promise<void> {
    const { prefix } = this.options.settings;
    await this.subscriber.subscribe(cancelChannel(prefix));
    this.subscriber.on('message', (_channel: string, jobId: string) => {
      this.controllers
        .get(jobId)
        ?.abort(new HoardError('TASK_CANCELLED', 'the operation that dispatched this hook was cancelled'));
    });
    await this.beat();
    this.heartbeatTimer = setInterval(() => void this.beat(), this.options.heartbeatMs ?? 2_000);
    const { Worker } = await import('bullmq');
    const lockMs = this.options.lockMs ?? AGENT_LOCK_MS;
    this.worker = new Worker(
      hookQueueName(this.options.host),
      (job: BullJob, _token?: string, signal?: AbortSignal) => this.process(job, signal),
      {
        connection: connectionOptions(this.options.settings),
        prefix,
        concurrency: this.options.concurrency ?? 1,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        // Idempotent hooks may be delivered again a few times; the others refuse a second start.
        maxStalledCount: 5,
      },
    );
    this.worker.on('error', () => {});
    // Redis answered that a running job's lock is gone (Redis lost the job, or this agent
    // stalled past the lock and the job went back to the queue): its result can no longer be
    // reported, and the hook may be delivered again, so it stops rather than run twice at once.
    this.worker.on('lockRenewalFailed', (jobIds: string[]) => {
      for (const jobId of jobIds)
        this.controllers
          .get(jobId)
          ?.abort(
            new HoardError(
              'AGENT_LOST',
              `agent ${this.id} lost the lock of job ${jobId} in Redis (Redis lost it, or this agent stalled longer than the lock): the hook is stopped, its result could not be reported`,
            ),
          );
    });
    await this.worker.waitUntilReady();
  }

  private async process(job: BullJob, bullSignal: AbortSignal | undefined): Promise<string> {
    const result = await this.runJob(job, bullSignal).catch(
      (error): HookJobResult => ({ ok: false, error: errorInfo(error) }),
    );
    return JSON.stringify(result);
  }

  private async runJob(job: BullJob, bullSignal: AbortSignal | undefined): Promise<HookJobResult> {
    const request = job.data as HookRequest;
    const jobId = job.id!;
    const { prefix } = this.options.settings;
    const where = `${request.key} ${request.hook}`;
    // One round trip: was the hook given up, and is this its first start (recorded if so)?
    const [abandoned, first, before] = (
      (await this.redis
        .multi()
        .exists(abandonedKey(prefix, jobId))
        .set(startedKey(prefix, jobId), this.id, 'EX', KEEP_S, 'NX')
        .get(startedKey(prefix, jobId))
        .exec()) ?? []
    ).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [number, 'OK' | null, string | null];
    if (abandoned) {
      return {
        ok: false,
        error: errorInfo(
          new HoardError(
            'AGENT_UNAVAILABLE',
            `${where}: the operation had given this hook up (cancelled, or no agent took it in time) before agent ${this.id} started it; not run`,
            { details: { job: jobId, host: request.host } },
          ),
        ),
      };
    }
    if (first === null && !request.idempotent) {
      return {
        ok: false,
        error: errorInfo(
          new HoardError(
            'AGENT_LOST',
            `${where}: the agent that started it (${before ?? 'unknown'}) stopped mid-hook; the hook is not idempotent, so it is not run again`,
            {
              details: {
                resource: request.key,
                hook: request.hook,
                host: request.host,
                agent: before,
                job: jobId,
              },
            },
          ),
        ),
      };
    }

    const provider =
      this.options.providers.find((p) => p.id === request.providerId) ??
      this.options.providers.find((p) => p.name === request.checkpoint.provider);
    if (!provider) {
      throw new HoardError(
        'PROVIDER_UNKNOWN',
        `${where}: agent ${this.id} has no provider "${request.checkpoint.provider}" (id ${request.providerId}); give it the same provider file as the coordinator`,
        { details: { provider: request.checkpoint.provider, agent: this.id } },
      );
    }
    // Its bank must be the coordinator's: else the hook's data would land where the
    // checkpoint never looks. Checked once per checkpoint and provider.
    const same = `${provider.id}\n${request.checkpoint.id}`;
    if (!this.sameBank.has(same)) {
      try {
        await checkSameBank(provider, request.bank, request.checkpoint.id, {
          host: this.options.host,
          agent: this.id,
        });
      } catch (error) {
        this.options.log?.(`${where}: refused: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      }
      if (this.sameBank.size >= 1000) this.sameBank.clear();
      this.sameBank.add(same);
    }
    const controller = new AbortController();
    const onBull = () => controller.abort(bullSignal?.reason);
    bullSignal?.addEventListener('abort', onBull, { once: true });
    this.controllers.set(jobId, controller);
    this.beatSoon();

    // The first report waits like any other: a hook that ends within it publishes no progress
    // at all (its end says who ran it), which saves Redis and the coordinator an event a hook.
    let lastSent = Date.now();
    let pending: HookProgress | undefined;
    let flushTimer: NodeJS.Timeout | undefined;
    const send = (progress: HookProgress) => {
      lastSent = Date.now();
      job.updateProgress(progress as unknown as object).catch(() => {});
    };
    // At most five progress reports a second reach Redis; the latest is never dropped.
    const progress = (fraction: number, detail?: string) => {
      const report: HookProgress = { fraction, agent: this.id, ...(detail !== undefined ? { detail } : {}) };
      const wait = 200 - (Date.now() - lastSent);
      if (wait <= 0) return send(report);
      pending = report;
      flushTimer ??= setTimeout(() => {
        flushTimer = undefined;
        if (pending) send(pending);
        pending = undefined;
      }, wait);
    };
    progress(0, `taken by ${this.id}`);

    const log: string[] = [];
    const stats: Partial<Omit<ResourceStats, 'durationMs'>> = {};
    let output: { stdout?: string; stderr?: string } | undefined;
    const store = operationStore(
      provider.bank,
      `agent ${this.id}: ${request.kind} ${request.checkpoint.id} ${request.key} ${request.hook}`,
      provider.bankType,
    );
    this.options.log?.(`${where}: started (${request.kind} ${request.checkpoint.id})`);
    try {
      const impl = resourceHook(
        provider.registry,
        request.kind,
        request.resource,
        request.key,
        request.parameters,
        request.hook,
      );
      if (impl) {
        const writable =
          request.kind === 'protect' || request.kind === 'delete' || request.blobIds !== undefined;
        await callHook(
          {
            kind: request.kind,
            checkpoint: request.checkpoint,
            registry: provider.registry,
            resource: request.resource,
            key: request.key,
            hook: request.hook,
            impl,
            parameters: request.parameters,
            checkpointBank: checkpointSection(provider.bank, request.checkpoint.id),
            rootBank: provider.bank,
            writable,
            ...(request.previousCheckpoint ? { previousCheckpoint: request.previousCheckpoint } : {}),
            ...(request.blobIds ? { blobIds: new Map(request.blobIds) } : {}),
            store: () => store,
            signal: controller.signal,
            failures: () => request.failures,
            now: () => Date.now(),
            sleep: (ms) => sleep(ms, undefined, { signal: controller.signal }),
          },
          {
            progress,
            log: (line) => log.push(line),
            addStats: (field, value) => {
              stats[field] = (stats[field] ?? 0) + value;
            },
            keepOutput: (kept) => {
              output = kept;
            },
          },
        );
      }
      this.options.log?.(`${where}: succeeded`);
    } catch (error) {
      this.options.log?.(`${where}: failed: ${error instanceof Error ? error.message : String(error)}`);
      return { ok: false, error: errorInfo(error) };
    } finally {
      // The data the hook wrote is in the bank (every put is durable before it returns, and a
      // writer's close() returns after its packs and index are); the operation that dispatched
      // the hook holds the store until it ends, so giving this lease up now is safe.
      await store.release().catch(() => {});
      clearTimeout(flushTimer);
      bullSignal?.removeEventListener('abort', onBull);
      this.controllers.delete(jobId);
      this.beatSoon();
    }
    const outcome: HookOutcome = { log, agent: this.id, ...(output ? { output } : {}) };
    if (request.kind === 'protect') outcome.stats = stats;
    return { ok: true, outcome };
  }

  /**
   * Stops taking hooks and leaves the registry. `force`: hooks running are cancelled (their
   * jobs end with their cancellation); otherwise they are waited for.
   */
  close(force = false): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeatTimer);
      clearTimeout(this.beatTimer);
      if (force)
        for (const c of this.controllers.values())
          c.abort(new HoardError('TASK_CANCELLED', 'the agent is stopping'));
      await this.worker?.close().catch(() => {});
      await leave(this.redis, this.options.settings.prefix, this.id).catch(() => {});
      this.subscriber.disconnect();
      this.redis.disconnect();
    })();
    return this.closing;
  }
}
