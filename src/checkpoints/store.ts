/**
 * Checkpoint records in a bank: create, read, compare-and-swap status changes, listing by
 * index prefix scans, removal, and detection of a checkpoint whose process died.
 */
import { hostname } from 'node:os';
import type { Bank, Lease } from '../bank/index.js';
import { type ErrorInfo, HoardError } from '../errors.js';
import type { Parameters } from '../plugins/params.js';
import type { ResourceStats } from '../plugins/sdk.js';
import type { Resource } from '../resources/resource.js';
import {
  CHECKPOINT_ID,
  checkpointLease,
  checkpointPrefix,
  idTime,
  indexEntryPrefix,
  indexPath,
  LEGACY_STATS_INDEX,
  LEGACY_TIME_INDEX,
  legacyPlanIndexKey,
  legacyPlanIndexPrefix,
  legacyTimeIndexKey,
  metaKey,
  metaLease,
  olderThanMarker,
  parseIndexEntry,
  planIndexKey,
  planIndexPrefix,
  reverseId,
  TIME_INDEX,
  timeIndexKey,
} from './keys.js';
import { assertTransition, CHECKPOINT_STATUSES, type CheckpointStatus } from './status.js';

export interface ResourceStatus {
  type: string;
  id: string;
  status: 'protecting' | 'available' | 'error';
  error?: ErrorInfo;
  /** What its protect did (absent in records written before statistics, and for failed runs' unrun resources). */
  stats?: ResourceStats;
}

export interface CheckpointMeta {
  version: 1;
  id: string;
  /** The plan's key: a plan file's name (CLI), or the catalog id of a service plan. */
  plan: string;
  /** The plan's name when `plan` is a service plan's id (absent in CLI checkpoints and older ones). */
  planName?: string;
  provider: { id: string; name: string };
  status: CheckpointStatus;
  createdAt: string;
  updatedAt: string;
  /** `host:pid` of the process working on it while protecting, copying or deleting. */
  owner?: string;
  resources: ResourceStatus[];
  /** The resource graph as protected (enough to restore with the bank alone). */
  graph: { resources: (Resource & { children: string[] })[] };
  /** The plan's parameters, saved so restore, verify and delete can use them. */
  parameters: Parameters;
  /** Operation log ids, oldest first. */
  operations: string[];
  error?: ErrorInfo;
  /**
   * The protect's statistics: the resources' summed, `durationMs` the protect's wall time.
   * Absent in records written before statistics were kept.
   */
  stats?: ResourceStats;
}

export interface CheckpointSummary {
  id: string;
  plan: string;
  status: CheckpointStatus;
  createdAt: string;
  /** The record's total stats, when its index entry carries them (not in encrypted banks). */
  stats?: ResourceStats;
}

export interface ListFilter {
  plan?: string;
  status?: CheckpointStatus;
  /** ISO times: only checkpoints created in [since, until). */
  since?: string;
  until?: string;
  /** Default 100. */
  limit?: number;
  /** Id of the last checkpoint of the previous page. */
  marker?: string;
}

/** Statuses in which a live process must hold the checkpoint's lease. */
const WORKING: Partial<Record<CheckpointStatus, CheckpointStatus>> = {
  protecting: 'error',
  copying: 'error',
  deleting: 'error_deleting',
};

export const PROCESS_OWNER = `${hostname()}:${process.pid}`;

/** How long a record's lock lasts: a status change takes milliseconds; see holdMeta. */
const META_LOCK_MS = 10_000;

interface MetaLock {
  lease: Lease;
  /** performance.now() just before the lock (or its last renewal) was asked for. */
  asked: number;
}

export class CheckpointStore {
  constructor(
    readonly bank: Bank,
    private readonly options: { leaseTtlMs?: number } = {},
  ) {}

  get leaseTtlMs(): number {
    return this.options.leaseTtlMs ?? (Number(process.env.HOARD_LEASE_TTL_MS) || 30_000);
  }

  /** Takes the work lease of a checkpoint (protect, copy, delete hold it while they run). */
  acquireWork(id: string): Promise<Lease> {
    return this.bank.acquireLease(checkpointLease(id), { owner: PROCESS_OWNER, ttlMs: this.leaseTtlMs });
  }

  async create(meta: CheckpointMeta): Promise<void> {
    await this.bank.put(metaKey(meta.id), JSON.stringify(meta, null, 2));
    await this.writeIndex(meta.id, meta.plan, meta.status, meta.stats);
  }

  /**
   * The record as stored; CHECKPOINT_NOT_FOUND if there is none, CHECKPOINT_CORRUPT if it is
   * not JSON or lacks a field every record has.
   */
  async read(id: string): Promise<CheckpointMeta> {
    if (!CHECKPOINT_ID.test(id)) {
      throw new HoardError(
        'CHECKPOINT_NOT_FOUND',
        `${JSON.stringify(id)} is not a checkpoint id (they look like 20261123T094512345Z-3fa9c1d2)`,
        {
          details: { checkpoint: id },
        },
      );
    }
    let text: Buffer;
    try {
      text = await this.bank.get(metaKey(id));
    } catch (error) {
      if (error instanceof HoardError && error.code === 'BANK_NOT_FOUND') {
        throw new HoardError('CHECKPOINT_NOT_FOUND', `no checkpoint ${id} in this bank`, {
          details: { checkpoint: id },
        });
      }
      throw error;
    }
    return parseMeta(text, id);
  }

  /**
   * The record, with a working status whose process is gone (its lease expired or was
   * released without a final status) turned into the failure status and stored so.
   */
  async get(id: string): Promise<CheckpointMeta> {
    const meta = await this.read(id);
    const failed = WORKING[meta.status];
    if (!failed || (await this.workerAlive(id))) return meta;
    return this.markDead(meta, failed);
  }

  private async workerAlive(id: string): Promise<boolean> {
    const info = await this.bank.leaseInfo(checkpointLease(id));
    return info?.live === true;
  }

  private async markDead(meta: CheckpointMeta, failed: CheckpointStatus): Promise<CheckpointMeta> {
    try {
      return await this.transition(meta.id, [meta.status], failed, {
        error: {
          name: 'HoardError',
          code: 'LEASE_LOST',
          message: `the process that was ${meta.status} this checkpoint (${meta.owner ?? 'unknown'}) stopped before finishing`,
        },
      });
    } catch (error) {
      // Another process changed it first: what it wrote is the truth.
      if (error instanceof HoardError && error.code === 'CHECKPOINT_STATE') return this.read(meta.id);
      throw error;
    }
  }

  /**
   * Compare-and-swap: changes the status only if it is one of `from`, under a short lock on
   * the record, so two processes never both win; also rewrites the index entries.
   */
  async transition(
    id: string,
    from: readonly CheckpointStatus[],
    to: CheckpointStatus,
    patch: Partial<CheckpointMeta> = {},
  ): Promise<CheckpointMeta> {
    const lock = await this.lockMeta(id);
    try {
      const meta = await this.read(id);
      if (!from.includes(meta.status)) {
        throw new HoardError(
          'CHECKPOINT_STATE',
          `checkpoint ${id} is ${meta.status}, not ${from.join(' or ')}; it cannot become ${to}`,
          { details: { checkpoint: id, status: meta.status, wanted: to } },
        );
      }
      assertTransition(id, meta.status, to);
      const next: CheckpointMeta = { ...meta, ...patch, status: to, updatedAt: new Date().toISOString() };
      if (!WORKING[to]) delete next.owner;
      // The new index entry, then the record, then the old entry: a crash at any point leaves
      // either the old entry alone (and the old record), or both entries — which makes a
      // reader read the record and trust it — or the new entry alone with the new record. An
      // index that shows a status the record does not have, with nothing to make a reader look
      // (the order used to be record first), let a killed delete stay listed `available`.
      // Entries carry the record's stats: one with new stats and the same status is a second
      // entry of that status until the old one is removed, which a reader takes as one.
      const stats = to === 'deleted' ? undefined : this.indexableStats(next.stats);
      const rewrite = to !== meta.status || (patch.stats !== undefined && stats !== undefined);
      const written = to !== 'deleted' && rewrite ? await this.writeIndex(id, meta.plan, to, next.stats) : [];
      await this.holdMeta(lock);
      await this.bank.put(metaKey(id), JSON.stringify(next, null, 2));
      if (rewrite) await this.removeIndex(id, meta.plan, meta.status, written);
      return next;
    } finally {
      await this.bank.releaseLease(lock.lease).catch(() => {});
    }
  }

  /** Updates fields other than the status, under the same lock. */
  async update(id: string, patch: Partial<Omit<CheckpointMeta, 'status'>>): Promise<CheckpointMeta> {
    const lock = await this.lockMeta(id);
    try {
      const next = { ...(await this.read(id)), ...patch, updatedAt: new Date().toISOString() };
      await this.holdMeta(lock);
      await this.bank.put(metaKey(id), JSON.stringify(next, null, 2));
      return next;
    } finally {
      await this.bank.releaseLease(lock.lease).catch(() => {});
    }
  }

  private async lockMeta(id: string): Promise<MetaLock> {
    for (let attempt = 0; ; attempt++) {
      try {
        const asked = performance.now();
        const lease = await this.bank.acquireLease(metaLease(id), {
          owner: PROCESS_OWNER,
          ttlMs: META_LOCK_MS,
        });
        return { lease, asked };
      } catch (error) {
        if (!(error instanceof HoardError && error.code === 'LEASE_HELD') || attempt >= 200) throw error;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      }
    }
  }

  /**
   * Before the record is written: the lock surely still holds. A status change that stalled
   * (a slow bank, a paused process) past a third of the lock's life renews it first, so it
   * never writes after another process could have taken the lock and changed the record;
   * LEASE_LOST if it was lost. Timed by the monotonic clock from before the lock was asked for.
   */
  private async holdMeta(lock: MetaLock): Promise<void> {
    if (performance.now() - lock.asked < META_LOCK_MS / 3) return;
    const asked = performance.now();
    lock.lease = await this.bank.renewLease(lock.lease, META_LOCK_MS);
    lock.asked = asked;
  }

  /**
   * Newest first; one prefix scan of the index (plan index when filtering by plan), no read
   * per checkpoint, merged with the flat index of banks written before 2026-12-07 (empty once
   * `gc` has moved it). Checkpoints that claim to be in progress get their lease checked.
   */
  async list(filter: ListFilter = {}): Promise<{ checkpoints: CheckpointSummary[]; next: string | null }> {
    const limit = filter.limit ?? 100;
    const until = filter.until ? idPrefix(filter.until) : undefined;
    const since = filter.since ? idPrefix(filter.since) : undefined;
    const start = filter.marker ?? until;
    const entries = mergeNewestFirst(
      this.indexEntries(filter.plan, start, limit),
      this.legacyEntries(filter.plan, start, limit),
    );
    const out: CheckpointSummary[] = [];
    let current = await entries.next();
    while (!current.done) {
      // Every entry of one id (they come together): usually one.
      const group = [current.value];
      for (;;) {
        current = await entries.next();
        if (current.done || current.value.id !== group[0]!.id) break;
        group.push(current.value);
      }
      const summary = group[0]!;
      if (since && summary.id < since) return { checkpoints: out, next: null };
      // One status more than once (a layout move or a stats rewrite cut short) says one thing;
      // two statuses: a process died between writing the new entry and removing the old.
      let effective: CheckpointSummary = { ...summary };
      const stats = group.find((e) => e.stats)?.stats;
      if (stats) effective.stats = stats;
      if (WORKING[summary.status] || group.some((e) => e.status !== summary.status)) {
        const meta = await this.get(summary.id).catch(() => undefined);
        if (!meta || meta.status === 'deleted') continue;
        const { stats: _, ...rest } = summary;
        effective = { ...rest, status: meta.status, ...(meta.stats ? { stats: meta.stats } : {}) };
      }
      if (filter.status && effective.status !== filter.status) continue;
      out.push(effective);
      if (out.length === limit) return { checkpoints: out, next: effective.id };
    }
    return { checkpoints: out, next: null };
  }

  /**
   * The newest-first index below the id `start` (or from the newest): ascending listings, the
   * first of `limit + 1` keys (what a page needs, and one to see a doubled last entry).
   */
  private async *indexEntries(
    plan: string | undefined,
    start: string | undefined,
    limit: number,
  ): AsyncGenerator<CheckpointSummary> {
    const prefix = plan === undefined ? TIME_INDEX : planIndexPrefix(plan);
    let marker = start === undefined ? undefined : olderThanMarker(prefix, start);
    for (let want = limit + 1; ; want = Math.min(want * 2, 1000)) {
      const keys = await this.bank.list(prefix, { limit: want, ...(marker ? { marker } : {}) });
      for (const key of keys) {
        const summary = summaryOfKey(key, prefix, plan);
        if (summary) yield summary;
      }
      if (keys.length < want) return;
      marker = keys[keys.length - 1]!;
    }
  }

  /** The flat index of banks written before 2026-12-07, newest first, below the id `start`. */
  private async *legacyEntries(
    plan: string | undefined,
    start: string | undefined,
    limit: number,
  ): AsyncGenerator<CheckpointSummary> {
    const prefix = plan === undefined ? LEGACY_TIME_INDEX : legacyPlanIndexPrefix(plan);
    // Bank markers are whole keys; ours are ids (every key of an id sorts after the bare id).
    let marker = start;
    for (;;) {
      const keys = await this.bank.list(prefix, {
        order: 'desc',
        limit: Math.max(limit * 2, 50),
        ...(marker ? { marker: `${prefix}${marker}` } : {}),
      });
      if (keys.length === 0) return;
      for (const key of keys) {
        const summary = parseLegacyKey(key.slice(prefix.length), plan);
        if (summary) yield summary;
      }
      marker = keys[keys.length - 1]!.slice(prefix.length).split('.')[0];
    }
  }

  /** Removes every key of the checkpoint, its index entries and finally its record. */
  async removeAll(id: string, plan: string): Promise<void> {
    const prefix = checkpointPrefix(id);
    for (;;) {
      const keys = await this.bank.list(prefix, { limit: 1000 });
      const rest = keys.filter((k) => k !== metaKey(id));
      if (rest.length === 0) break;
      await Promise.all(rest.map((k) => this.bank.delete(k)));
    }
    await this.removeIndex(id, plan, undefined, []);
    await this.bank.delete(metaKey(id));
  }

  /**
   * The total stats of the checkpoints `ids` that have an entry in the flat stats index of
   * banks written before 2026-12-07 (today's index entries carry them: `list`), from one
   * ascending scan of `index/stats/` over their id range (no record read): ids with none
   * (records written before the entry was kept, protects still running, encrypted banks)
   * are left out. The scan stops after `max(4 × ids, 400)` keys, so a page of a plan whose
   * checkpoints are far apart among many others' costs a bounded listing; ids it did not
   * reach are left out too.
   */
  async indexedStats(ids: readonly string[]): Promise<Map<string, ResourceStats>> {
    const out = new Map<string, ResourceStats>();
    if (ids.length === 0) return out;
    const wanted = new Set(ids);
    const sorted = [...wanted].sort();
    const oldest = sorted[0]!;
    const newest = sorted[sorted.length - 1]!;
    const cap = Math.max(4 * wanted.size, 400);
    let marker = `${LEGACY_STATS_INDEX}${oldest}`;
    for (let scanned = 0; scanned < cap; ) {
      const keys = await this.bank.list(LEGACY_STATS_INDEX, { marker, limit: Math.min(1000, cap - scanned) });
      if (keys.length === 0) break;
      scanned += keys.length;
      for (const key of keys) {
        const [id, ...numbers] = key.slice(LEGACY_STATS_INDEX.length).split('.');
        if (id! > newest) return out;
        const [files, bytes, newBytes, storedBytes, durationMs] = numbers.map(Number);
        if (wanted.has(id!) && numbers.length === 5 && numbers.every((n) => /^\d+$/.test(n)))
          out.set(id!, {
            files: files!,
            bytes: bytes!,
            newBytes: newBytes!,
            storedBytes: storedBytes!,
            durationMs: durationMs!,
          });
      }
      marker = keys[keys.length - 1]!;
    }
    return out;
  }

  /**
   * The checkpoint as its time-index entries describe it (plan, status), without reading its
   * record: usually one entry, two if a process died mid-transition, none if it is unknown.
   */
  async indexed(id: string): Promise<CheckpointSummary[]> {
    const [keys, legacy] = await Promise.all([
      this.bank.list(indexEntryPrefix(TIME_INDEX, id)),
      this.bank.list(`${LEGACY_TIME_INDEX}${id}.`),
    ]);
    return [
      ...keys.flatMap((key) => {
        const entry = parseIndexEntry(key.slice(TIME_INDEX.length), true);
        return (entry && toSummary(entry, undefined)) ?? [];
      }),
      ...legacy.flatMap((key) => parseLegacyKey(key.slice(LEGACY_TIME_INDEX.length), undefined) ?? []),
    ];
  }

  /**
   * Every index key of checkpoint `id` in both layouts: its time entries, and the plan entries
   * of the plans they name.
   */
  async indexKeys(id: string): Promise<string[]> {
    const [keys, legacy] = await Promise.all([
      this.bank.list(indexEntryPrefix(TIME_INDEX, id)),
      this.bank.list(`${LEGACY_TIME_INDEX}${id}.`),
    ]);
    const plans = new Set((await this.indexed(id)).map((s) => s.plan));
    const out = [...keys, ...legacy];
    for (const plan of plans) {
      out.push(...(await this.bank.list(indexEntryPrefix(planIndexPrefix(plan), id))));
      out.push(...(await this.bank.list(`${legacyPlanIndexPrefix(plan)}${id}.`)));
    }
    out.push(...(await this.bank.list(`${LEGACY_STATS_INDEX}${id}.`)));
    return out;
  }

  /**
   * The ids (not deleted) that start with `prefix`, at most `limit`, oldest first: one listing
   * of each index layout, no record read.
   */
  async idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    const ids = new Set<string>();
    const take = (summary: CheckpointSummary | undefined) => {
      if (summary?.id.startsWith(prefix) && summary.status !== 'deleted') ids.add(summary.id);
    };
    const [keys, legacy] = await Promise.all([
      this.bank.list(`${TIME_INDEX}${indexPath(reverseId(prefix))}`, { limit: limit * 4 }),
      this.bank.list(`${LEGACY_TIME_INDEX}${prefix}`, { limit: limit * 4 }),
    ]);
    for (const key of keys) {
      const entry = parseIndexEntry(key.slice(TIME_INDEX.length), true);
      take(entry && toSummary(entry, undefined));
    }
    for (const key of legacy) take(parseLegacyKey(key.slice(LEGACY_TIME_INDEX.length), undefined));
    return [...ids].sort().slice(0, limit);
  }

  /**
   * Removes a checkpoint whose record is damaged (CHECKPOINT_CORRUPT): every key of it, its
   * index entries (their keys name its plan and status) and the record. No plugin hook can
   * run without the record, so nothing outside the bank is cleaned up; the content-store data
   * only it used is collected by the next gc. CHECKPOINT_STATE if the record is sound (delete
   * it the ordinary way), LEASE_HELD while a live process works on it.
   */
  async discard(id: string): Promise<{ keys: number; plans: string[] }> {
    try {
      await this.read(id);
      throw new HoardError(
        'CHECKPOINT_STATE',
        `checkpoint ${id} is not damaged; delete it the ordinary way, which runs its plugins' delete hooks`,
        { details: { checkpoint: id } },
      );
    } catch (error) {
      if (!(error instanceof HoardError && error.code === 'CHECKPOINT_CORRUPT')) throw error;
    }
    const lease = await this.acquireWork(id);
    try {
      const plans = [...new Set((await this.indexed(id)).map((e) => e.plan))];
      // As removeAll does: the record goes last, so a discard cut short can be run again.
      const keys = (await this.bank.list(checkpointPrefix(id))).length;
      for (const plan of plans.length ? plans : ['-']) await this.removeAll(id, plan);
      return { keys, plans };
    } finally {
      await this.bank.releaseLease(lease).catch(() => {});
    }
  }

  /** Writes the index entries of a record that lost them (a crash between the record and its index). */
  async reindex(meta: CheckpointMeta): Promise<void> {
    if (meta.status !== 'deleted') await this.writeIndex(meta.id, meta.plan, meta.status, meta.stats);
  }

  /**
   * Moves a checkpoint's entries of the flat index (banks written before 2026-12-07) to
   * today's, under the record's lock: today's entries are written from the record, then the
   * flat ones removed, so a crash in between leaves both, which a listing takes as one.
   * False if it had none (or its record cannot be read: a damaged one keeps its entries).
   */
  async moveLegacyIndex(id: string): Promise<boolean> {
    const lock = await this.lockMeta(id);
    try {
      const legacy = await this.bank.list(`${LEGACY_TIME_INDEX}${id}.`);
      const stats = await this.bank.list(`${LEGACY_STATS_INDEX}${id}.`);
      if (legacy.length === 0 && stats.length === 0) return false;
      const meta = await this.read(id).catch(() => undefined);
      if (!meta) return false;
      if (meta.status !== 'deleted') await this.writeIndex(id, meta.plan, meta.status, meta.stats);
      const plans = new Set([meta.plan]);
      for (const key of legacy) {
        const entry = parseLegacyKey(key.slice(LEGACY_TIME_INDEX.length), undefined);
        if (entry) plans.add(entry.plan);
      }
      for (const plan of plans)
        for (const status of CHECKPOINT_STATUSES)
          await this.bank.delete(legacyPlanIndexKey(id, status, plan));
      for (const key of [...legacy, ...stats]) await this.bank.delete(key);
      return true;
    } finally {
      await this.bank.releaseLease(lock.lease).catch(() => {});
    }
  }

  /**
   * Stats as an index entry may carry them: whole numbers, and none in an encrypted bank,
   * whose keys must not show sizes (SPEC §11).
   */
  private indexableStats(stats: ResourceStats | undefined): ResourceStats | undefined {
    if (!stats || this.bank.keyring() !== undefined) return undefined;
    const values = [stats.files, stats.bytes, stats.newBytes, stats.storedBytes, stats.durationMs];
    return values.every((n) => Number.isSafeInteger(n) && n >= 0) ? stats : undefined;
  }

  /** Writes the time and plan entries; returns their keys. */
  private async writeIndex(
    id: string,
    plan: string,
    status: CheckpointStatus,
    stats: ResourceStats | undefined,
  ): Promise<string[]> {
    const indexed = this.indexableStats(stats);
    const keys = [timeIndexKey(id, status, plan, indexed), planIndexKey(id, status, plan, indexed)];
    // Two independent keys: written at once (one round trip, not two); the caller goes on only
    // once both are there.
    await settled(keys.map((key) => this.bank.put(key, '')));
    return keys;
  }

  /**
   * Removes the checkpoint's index entries but those in `keep`: every entry of today's index
   * (whatever status and stats it names, so leftovers of a crash go too), and the flat
   * index's entries of `status` (of every status when undefined).
   */
  private async removeIndex(
    id: string,
    plan: string,
    status: CheckpointStatus | undefined,
    keep: readonly string[],
  ): Promise<void> {
    const [byTime, byPlan] = await Promise.all([
      this.bank.list(indexEntryPrefix(TIME_INDEX, id)),
      this.bank.list(indexEntryPrefix(planIndexPrefix(plan), id)),
    ]);
    // The old entries go at once: the new ones (`keep`) and the record are already written, and
    // no order among these deletes matters (a crash between them leaves entries a reader
    // checks against the record, as before).
    const old = [...byTime, ...byPlan].filter((key) => !keep.includes(key));
    for (const was of status === undefined ? CHECKPOINT_STATUSES : [status]) {
      old.push(legacyTimeIndexKey(id, was, plan), legacyPlanIndexKey(id, was, plan));
    }
    if (status === undefined) old.push(...(await this.bank.list(`${LEGACY_STATS_INDEX}${id}.`)));
    await settled(old.map((key) => this.bank.delete(key)));
  }
}

/**
 * Waits for every one of `calls`, then throws the first failure, if any: nothing is left in
 * flight behind a failure (a lock released under a write still running).
 */
async function settled(calls: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(calls)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** The record in `text`, checked field by field: CHECKPOINT_CORRUPT names the key and what is wrong. */
function parseMeta(text: Buffer, id: string): CheckpointMeta {
  const key = metaKey(id);
  const corrupt = (problem: string, cause?: unknown) =>
    new HoardError('CHECKPOINT_CORRUPT', `checkpoint ${id}: ${key} is damaged: ${problem}`, {
      details: { checkpoint: id, key, problem },
      ...(cause === undefined ? {} : { cause }),
    });
  let value: unknown;
  try {
    value = JSON.parse(text.toString('utf8'));
  } catch (error) {
    throw corrupt(`not valid JSON (${(error as Error).message})`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('not a JSON object');
  const meta = value as Record<string, unknown>;
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  const problem = (): string | undefined => {
    if (meta.version !== 1) return `"version" is ${JSON.stringify(meta.version)}, not 1`;
    if (meta.id !== id) return `"id" is ${JSON.stringify(meta.id)}, not ${id}`;
    for (const field of ['plan', 'createdAt', 'updatedAt'] as const)
      if (typeof meta[field] !== 'string' || meta[field] === '')
        return `"${field}" is missing or not a string`;
    if (!CHECKPOINT_STATUSES.includes(meta.status as CheckpointStatus))
      return `"status" is ${JSON.stringify(meta.status)}, not one of ${CHECKPOINT_STATUSES.join(', ')}`;
    const provider = meta.provider as Record<string, unknown> | undefined;
    if (!isObject(provider) || typeof provider?.id !== 'string' || typeof provider.name !== 'string')
      return '"provider" is missing or lacks its id and name';
    if (!Array.isArray(meta.resources)) return '"resources" is missing or not an array';
    if (!isObject(meta.graph) || !Array.isArray((meta.graph as { resources?: unknown }).resources))
      return '"graph.resources" is missing or not an array';
    if (!isObject(meta.parameters)) return '"parameters" is missing or not an object';
    if (!Array.isArray(meta.operations)) return '"operations" is missing or not an array';
    return undefined;
  };
  const wrong = problem();
  if (wrong) throw corrupt(wrong);
  return meta as unknown as CheckpointMeta;
}

/** A parsed entry of today's index as a summary; undefined for an unknown status. */
/**
 * Summaries of index keys already parsed, by key: a key says everything its summary holds
 * (a status change writes a new key), so the newest pages, listed again and again, are
 * parsed once. Frozen: every caller shares them.
 */
const parsedKeys = new Map<string, CheckpointSummary | null>();
/** Keys whose summaries are kept (a few pages of many plans). */
const PARSED_KEPT = 20_000;

/** `toSummary(parseIndexEntry(…))` of a key of the index at `prefix` (whose plan is `plan`). */
function summaryOfKey(key: string, prefix: string, plan: string | undefined): CheckpointSummary | undefined {
  const known = parsedKeys.get(key);
  if (known !== undefined) return known ?? undefined;
  const entry = parseIndexEntry(key.slice(prefix.length), plan === undefined);
  const summary = entry && toSummary(entry, plan);
  if (summary?.stats) Object.freeze(summary.stats);
  if (parsedKeys.size >= PARSED_KEPT) parsedKeys.delete(parsedKeys.keys().next().value!);
  parsedKeys.set(key, summary ? Object.freeze(summary) : null);
  return summary;
}

function toSummary(
  entry: NonNullable<ReturnType<typeof parseIndexEntry>>,
  plan: string | undefined,
): CheckpointSummary | undefined {
  if (!CHECKPOINT_STATUSES.includes(entry.status as CheckpointStatus)) return undefined;
  const planName = plan ?? entry.plan;
  if (!planName) return undefined;
  return {
    id: entry.id,
    plan: planName,
    status: entry.status as CheckpointStatus,
    createdAt: idTime(entry.id).toISOString(),
    ...(entry.stats ? { stats: entry.stats } : {}),
  };
}

/** A flat index key, `<id>.<status>.<plan>` (time index) or `<id>.<status>` (plan index). */
function parseLegacyKey(name: string, plan: string | undefined): CheckpointSummary | undefined {
  const [id, status, ...rest] = name.split('.');
  if (!id || !CHECKPOINT_ID.test(id) || !CHECKPOINT_STATUSES.includes(status as CheckpointStatus))
    return undefined;
  const planName = plan ?? rest.join('.');
  if (!planName) return undefined;
  return { id, plan: planName, status: status as CheckpointStatus, createdAt: idTime(id).toISOString() };
}

/**
 * Two newest-first streams as one, newest first; the entries of one id from both stay
 * next to each other.
 */
async function* mergeNewestFirst(
  a: AsyncGenerator<CheckpointSummary>,
  b: AsyncGenerator<CheckpointSummary>,
): AsyncGenerator<CheckpointSummary> {
  // Both first pages at once: one round trip, not two, before the first entry.
  let [x, y] = await Promise.all([a.next(), b.next()]);
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value.id >= y.value.id)) {
      yield x.value as CheckpointSummary;
      x = await a.next();
    } else {
      yield y.value;
      y = await b.next();
    }
  }
}

/** The id prefix for an ISO time: ids of checkpoints created before it sort below it. */
function idPrefix(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    throw new HoardError('USAGE', `"${iso}" is not a time (use ISO 8601, e.g. 2026-11-23T09:00:00Z)`);
  }
  return date.toISOString().replace(/[-:]/g, '').replace('.', '');
}
