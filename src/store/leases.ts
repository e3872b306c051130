/**
 * The store's lease protocol (docs/store-format.md, "Leases"). Writers and the operations
 * that use the store share it; a prune has it alone. Each side first makes itself visible (takes its lease, and a writer also
 * stores its marker), then looks for the other side, and backs off with STORE_BUSY if it finds
 * it: of two that start at once, the later to look always sees the earlier.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bank, Lease } from '../bank/index.js';
import { HoardError } from '../errors.js';
import { PRUNE_LEASE, WRITERS } from './keys.js';

export interface LeaseSettings {
  ttlMs: number;
  /** Times waits only: expiry is judged by the bank's clock (`LeaseInfo.live`). */
  now: () => number;
}

/** A lease renewed in the background every third of its time to live, until released. */
export class KeptLease {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private lostWith: unknown;
  private released = false;
  /** Renewals started so far. */
  private started = 0;
  /**
   * By this process's monotonic clock, a time the lease surely holds until: when the write
   * that last set its expiry was asked for, plus its time to live (the write landed later).
   * Immune to how far this machine's wall clock is from the bank's.
   */
  private heldUntil: number;

  /** `askedAt`: `performance.now()` when the lease was asked for (default: now). */
  constructor(
    private readonly bank: Bank,
    private lease: Lease,
    askedAt = performance.now(),
  ) {
    this.heldUntil = askedAt + lease.ttlMs;
    this.schedule();
  }

  /**
   * Throws LEASE_LOST, without a request, unless the lease surely holds for a sixth of its
   * time to live more: for a loop of deletes that must stop as soon as others may act as if
   * the lease were gone (a renewal failing, or not answered, leaves it to expire).
   */
  assertHeld(): void {
    if (this.lostWith !== undefined) throw this.lostWith;
    if (performance.now() < this.heldUntil - this.lease.ttlMs / 6) return;
    throw new HoardError(
      'LEASE_LOST',
      `lease "${this.lease.name}" held by "${this.lease.owner}" may have expired: no renewal was answered in time`,
      {
        details: { name: this.lease.name, owner: this.lease.owner },
      },
    );
  }

  /** The error the lease was lost with (LEASE_LOST), if a renewal failed. */
  get lost(): unknown {
    return this.lostWith;
  }

  /**
   * Renews now, so the caller may act on what the lease protects; throws LEASE_LOST if it is
   * gone. Callers at once (the writers of one operation share its lease) share a renewal that
   * started after each of them called, rather than racing each other's compare-and-swap.
   */
  async confirm(): Promise<void> {
    const asked = this.started;
    await this.renewing;
    if (this.lostWith !== undefined) throw this.lostWith;
    if (this.started === asked) {
      clearTimeout(this.timer);
      this.renewing = this.renew();
    }
    await this.renewing;
    if (this.lostWith !== undefined) throw this.lostWith;
  }

  async release(): Promise<void> {
    this.released = true;
    clearTimeout(this.timer);
    await this.renewing;
    await this.bank.releaseLease(this.lease);
  }

  private schedule(): void {
    if (this.released || this.lostWith !== undefined) return;
    this.timer = setTimeout(() => {
      this.renewing = this.renew();
    }, this.lease.ttlMs / 3);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    this.started++;
    const askedAt = performance.now();
    try {
      this.lease = await this.bank.renewLease(this.lease);
    } catch (error) {
      this.lostWith ??= error;
      return;
    }
    this.heldUntil = askedAt + this.lease.ttlMs;
    this.schedule();
  }
}

export interface WaitSettings extends LeaseSettings {
  /** How long to wait for a prune to finish before STORE_BUSY, in ms; 0 = do not wait. */
  waitMs: number;
  /** Told, once per wait, why the lease is not taken yet (for progress and logs). */
  onWait?: (message: string) => void;
}

/**
 * A shared lease on the store and its marker object `locks/writers/<id>`, which share one
 * name: held by each open writer and by each operation that uses the store (restic's
 * non-exclusive lock). Any number may be held at once; none while a prune runs.
 */
export class SharedLease {
  private constructor(
    private readonly bank: Bank,
    readonly name: string,
    readonly kept: KeptLease,
    /** False for a borrowed one (`borrow`): its `end` leaves the lease to its holder. */
    private readonly owned = true,
  ) {}

  /**
   * The same lease and marker for a writer opened inside the operation that holds them: the
   * writer confirms and relies on them as on its own, and its `end` gives up nothing (the
   * holder does, after its writers). A holder that ends first makes the writer's next
   * confirmation fail with LEASE_LOST, as a lost lease of its own would.
   */
  borrow(): SharedLease {
    return new SharedLease(this.bank, this.name, this.kept, false);
  }

  /**
   * Takes a shared lease. While a prune holds the store, waits for it (polling, with backoff
   * up to 2 s) for at most `waitMs`, then STORE_BUSY naming the pruner.
   */
  static async acquire(bank: Bank, owner: string, settings: WaitSettings): Promise<SharedLease> {
    const started = settings.now();
    let told = false;
    for (let delay = 50; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await SharedLease.tryAcquire(bank, owner, settings);
      } catch (error) {
        if (!(error instanceof HoardError && error.code === 'STORE_BUSY')) throw error;
        const waited = settings.now() - started;
        if (waited >= settings.waitMs) {
          if (waited === 0 || settings.waitMs === 0) throw error;
          throw new HoardError('STORE_BUSY', `${error.message} (waited ${Math.round(waited / 1000)} s)`, {
            details: error.details ?? {},
            cause: error,
          });
        }
        if (!told) {
          told = true;
          settings.onWait?.(
            `waiting for the content store: ${error.message.replace(/^cannot write to the content store: /, '')}`,
          );
        }
        await sleep(Math.min(delay, settings.waitMs - waited));
      }
    }
  }

  private static async tryAcquire(bank: Bank, owner: string, settings: LeaseSettings): Promise<SharedLease> {
    const name = `${WRITERS}${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`;
    const lease = await bank.acquireLease(name, { owner, ttlMs: settings.ttlMs });
    try {
      await bank.put(name, JSON.stringify({ owner, startedAt: new Date().toISOString(), pid: process.pid }));
      const prune = await bank.leaseInfo(PRUNE_LEASE);
      if (prune?.live) {
        throw new HoardError(
          'STORE_BUSY',
          `cannot write to the content store: "${prune.owner}" is pruning it (lease until ${iso(prune.expiresAt)}); try again when it is done`,
          { details: { owner: prune.owner, expiresAt: prune.expiresAt } },
        );
      }
    } catch (error) {
      await bank.delete(name).catch(() => {});
      await bank.releaseLease(lease).catch(() => {});
      throw error;
    }
    return new SharedLease(bank, name, new KeptLease(bank, lease));
  }

  /** Removes the marker, then gives the lease up (a borrowed one: nothing). */
  async end(): Promise<void> {
    if (!this.owned) return;
    await this.bank.delete(this.name).catch(() => {});
    await this.kept.release();
  }
}

export interface WriterSeen {
  key: string;
  owner: string;
  expiresAt: number;
}

/**
 * The writers' markers, split into live (lease held) and stale (lease released or expired),
 * judged by the bank's clock (`LeaseInfo.live`): this machine's may run ahead of it.
 */
export async function findWriters(bank: Bank): Promise<{ live: WriterSeen[]; stale: string[] }> {
  const live: WriterSeen[] = [];
  const stale: string[] = [];
  for (const key of await bank.list(WRITERS)) {
    const info = await bank.leaseInfo(key);
    if (info?.live) live.push({ key, owner: info.owner, expiresAt: info.expiresAt });
    else stale.push(key);
  }
  return { live, stale };
}

export function writersBusy(live: readonly WriterSeen[]): HoardError {
  const owners = live.map((w) => `"${w.owner}"`).join(', ');
  return new HoardError(
    'STORE_BUSY',
    `cannot prune the content store: ${live.length} writer(s) are writing to it (${owners}); try again when they are done`,
    { details: { writers: live.map((w) => ({ owner: w.owner, expiresAt: w.expiresAt })) } },
  );
}

/** Takes the prune lease, then checks that no writer is live. STORE_BUSY otherwise. */
export async function acquirePruneLease(
  bank: Bank,
  owner: string,
  settings: LeaseSettings,
): Promise<KeptLease> {
  let lease: Lease;
  const askedAt = performance.now();
  try {
    lease = await bank.acquireLease(PRUNE_LEASE, { owner, ttlMs: settings.ttlMs });
  } catch (error) {
    if (!(error instanceof HoardError && error.code === 'LEASE_HELD')) throw error;
    throw pruneBusy(String(error.details?.owner), Number(error.details?.expiresAt), error);
  }
  const kept = new KeptLease(bank, lease, askedAt);
  try {
    const { live } = await findWriters(bank);
    if (live.length > 0) throw writersBusy(live);
  } catch (error) {
    await kept.release().catch(() => {});
    throw error;
  }
  return kept;
}

/** For a dry run, which takes no lease: STORE_BUSY if a prune or a writer holds the store. */
export async function checkIdle(bank: Bank): Promise<void> {
  const prune = await bank.leaseInfo(PRUNE_LEASE);
  if (prune?.live) throw pruneBusy(prune.owner, prune.expiresAt);
  const { live } = await findWriters(bank);
  if (live.length > 0) throw writersBusy(live);
}

function pruneBusy(owner: string, expiresAt: number, cause?: unknown): HoardError {
  return new HoardError(
    'STORE_BUSY',
    `cannot prune the content store: "${owner}" is already pruning it (lease until ${iso(expiresAt)})`,
    { details: { owner, expiresAt }, ...(cause === undefined ? {} : { cause }) },
  );
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
