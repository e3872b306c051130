/**
 * The scheduler: every tick, each enabled scheduled operation whose trigger fell due is
 * claimed in the catalog and run. A claim takes every fire since the last claim at once, as a
 * compare-and-swap of that last claim, so however many `hoard serve` processes share a
 * PostgreSQL catalog, each fire is run, or recorded skipped, exactly once.
 *
 * A fire that fell due while this scheduler was running runs however late the tick that sees
 * it (a busy machine is not downtime). Missed fires (before this scheduler's first pass: no
 * server was running, or the operation was disabled): the newest one still runs if it is
 * inside the trigger's `window`, else it is recorded as `skipped`; older ones are recorded as
 * one `skipped` log that says how many there were. Nothing is ever run twice to catch up.
 */
import type { Catalog, ScheduledOperationRecord, TriggerRecord } from '../catalog/index.js';
import type { ErrorCode } from '../errors.js';
import { SERVER_OWNER } from './runner.js';
import { dueFires, nextFires, windowMs } from './triggers.js';

export interface SchedulerOptions {
  catalog: Catalog;
  /** Starts the run of `operation` for fire time `fireAt` (an operation log of its own). */
  launch: (operation: ScheduledOperationRecord, fireAt: Date) => Promise<void>;
  /** Milliseconds between ticks (default 1000). */
  tickMs?: number;
  now?: () => Date;
  owner?: string;
  logError?: (message: string, error: unknown) => void;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly triggers = new Map<string, TriggerRecord>();
  /** Per scheduled operation: no need to look before this time. */
  private readonly notBefore = new Map<string, number>();
  /** The clock at the start of the last finished pass; undefined before the first. */
  private lastPass: number | undefined;

  constructor(private readonly options: SchedulerOptions) {}

  start(): void {
    const every = this.options.tickMs ?? 1000;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
  }

  /**
   * Waits for the pass under way, if any: after a scheduled operation is disabled in the
   * catalog and this resolves, this scheduler starts no run of it, and the logs of runs it
   * started are in the catalog.
   */
  async settle(): Promise<void> {
    await this.ticking;
  }

  /** One pass over every enabled scheduled operation (ticks never overlap). */
  tick(): Promise<void> {
    this.ticking ??= this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    const { catalog } = this.options;
    const now = this.options.now?.() ?? new Date();
    try {
      for (let marker: string | undefined; ; ) {
        const page = await catalog.listScheduledOperations(null, {
          enabled: true,
          limit: 500,
          ...(marker ? { marker } : {}),
        });
        for (const operation of page.items) {
          if ((this.notBefore.get(operation.id) ?? 0) > now.getTime()) continue;
          await this.consider(operation, now).catch((error) =>
            this.logError(`scheduled operation ${operation.id} (${operation.name})`, error),
          );
        }
        if (!page.next) break;
        marker = page.next;
      }
    } catch (error) {
      this.logError('scheduler pass failed', error);
    }
    this.lastPass = now.getTime();
  }

  private async consider(operation: ScheduledOperationRecord, now: Date): Promise<void> {
    const { catalog } = this.options;
    const trigger = await this.trigger(operation);
    if (!trigger) return;
    const since = (await catalog.lastClaimedRun(operation.id)) ?? operation.createdAt;
    const due = dueFires(trigger.properties, new Date(since), now);
    // Everything due is claimed at once, from the last claim on: of the schedulers that read
    // the same `since`, one wins, and a fire is never both run and counted skipped. A lost
    // claim is looked at again next tick (the winner may have seen an earlier `now`).
    if (due.latest) {
      const owner = this.options.owner ?? SERVER_OWNER;
      if (!(await catalog.claimFires(operation.id, since, due.latest.toISOString(), owner))) return;
      if (due.earlier > 0 && due.earliest) {
        await this.recordSkipped(
          operation,
          due.earliest,
          `${due.truncated ? 'more than ' : ''}${due.earlier} run(s) from ${due.earliest.toISOString()} were not run (no server was running, or the operation was disabled)`,
        );
      }
      const late = now.getTime() - due.latest.getTime();
      const whileRunning = this.lastPass !== undefined && due.latest.getTime() > this.lastPass;
      if (whileRunning || late <= windowMs(trigger.properties))
        await this.options.launch(operation, due.latest);
      else
        await this.recordSkipped(
          operation,
          due.latest,
          `missed its fire time ${due.latest.toISOString()} by ${Math.round(late / 1000)} s, more than the trigger's window`,
        );
    }
    const next = nextFires(trigger.properties, now, 1)[0];
    this.notBefore.set(operation.id, next ? next.getTime() : Number.POSITIVE_INFINITY);
  }

  private async trigger(operation: ScheduledOperationRecord): Promise<TriggerRecord | undefined> {
    let trigger = this.triggers.get(operation.triggerId);
    if (!trigger) {
      trigger = await this.options.catalog.getTrigger(operation.project, operation.triggerId);
      if (trigger) this.triggers.set(trigger.id, trigger);
    }
    return trigger;
  }

  private async recordSkipped(
    operation: ScheduledOperationRecord,
    fireAt: Date,
    reason: string,
  ): Promise<void> {
    const log = await this.options.catalog.createOperationLog({
      project: operation.project,
      kind: operation.operationType,
      status: 'skipped',
      planId: operation.definition.planId,
      scheduledOperationId: operation.id,
      fireAt: fireAt.toISOString(),
    });
    await this.options.catalog.updateOperationLog(log.id, ['skipped'], {
      endedAt: new Date().toISOString(),
      error: { name: 'Skipped', code: 'RUN_SKIPPED' satisfies ErrorCode, message: reason },
    });
  }

  private logError(message: string, error: unknown): void {
    if (this.options.logError) this.options.logError(message, error);
    else process.stderr.write(`${message}: ${(error as Error)?.stack ?? String(error)}\n`);
  }
}
