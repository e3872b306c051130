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
  metaKey,
  metaLease,
  planIndexKey,
  planIndexPrefix,
  STATS_INDEX,
  statsIndexKey,
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
    await this.writeIndex(meta.id, meta.plan, meta.status);
    if (meta.stats) await this.writeStatsIndex(meta.id, meta.stats);
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
    return info !== undefined && info.expiresAt > Date.now();
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
      if (to !== 'deleted' && to !== meta.status) await this.writeIndex(id, meta.plan, to);
      await this.bank.put(metaKey(id), JSON.stringify(next, null, 2));
      if (to !== meta.status) await this.removeIndex(id, meta.plan, meta.status);
      // After the record: a crash before it leaves no entry, and a listing reads the record.
      if (patch.stats && to !== 'deleted') await this.writeStatsIndex(id, patch.stats);
      return next;
    } finally {
      await this.bank.releaseLease(lock).catch(() => {});
    }
  }

  /** Updates fields other than the status, under the same lock. */
  async update(id: string, patch: Partial<Omit<CheckpointMeta, 'status'>>): Promise<CheckpointMeta> {
    const lock = await this.lockMeta(id);
    try {
      const next = { ...(await this.read(id)), ...patch, updatedAt: new Date().toISOString() };
      await this.bank.put(metaKey(id), JSON.stringify(next, null, 2));
      return next;
    } finally {
      await this.bank.releaseLease(lock).catch(() => {});
    }
  }

  private async lockMeta(id: string): Promise<Lease> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.bank.acquireLease(metaLease(id), { owner: PROCESS_OWNER, ttlMs: 10_000 });
      } catch (error) {
        if (!(error instanceof HoardError && error.code === 'LEASE_HELD') || attempt >= 200) throw error;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      }
    }
  }

  /**
   * Newest first; one prefix scan of the index (plan index when filtering by plan), no read
   * per checkpoint. Checkpoints that claim to be in progress get their lease checked.
   */
  async list(filter: ListFilter = {}): Promise<{ checkpoints: CheckpointSummary[]; next: string | null }> {
    const limit = filter.limit ?? 100;
    const prefix = filter.plan ? planIndexPrefix(filter.plan) : 'index/time/';
    const until = filter.until ? idPrefix(filter.until) : undefined;
    const since = filter.since ? idPrefix(filter.since) : undefined;
    // Bank markers are whole keys; ours are ids (every key of an id sorts after the bare id).
    let marker = filter.marker ?? until;
    const bankMarker = () => (marker ? { marker: `${prefix}${marker}` } : {});
    const out: CheckpointSummary[] = [];
    const seen = new Set<string>();
    for (;;) {
      const keys = await this.bank.list(prefix, {
        order: 'desc',
        limit: Math.max(limit * 2, 50),
        ...bankMarker(),
      });
      const summaries = keys.flatMap((key) => parseIndexKey(key.slice(prefix.length), filter.plan) ?? []);
      for (const [i, summary] of summaries.entries()) {
        if (seen.has(summary.id)) continue;
        if (since && summary.id < since) return { checkpoints: out, next: null };
        seen.add(summary.id);
        // Two entries for one id: a process died between writing the new and removing the old.
        const doubled = summaries[i + 1]?.id === summary.id;
        let effective = summary;
        if (WORKING[summary.status] || doubled) {
          const meta = await this.get(summary.id).catch(() => undefined);
          if (!meta || meta.status === 'deleted') continue;
          effective = { ...summary, status: meta.status };
        }
        if (filter.status && effective.status !== filter.status) continue;
        out.push(effective);
        if (out.length === limit) return { checkpoints: out, next: effective.id };
      }
      if (keys.length === 0) return { checkpoints: out, next: null };
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
    for (const status of CHECKPOINT_STATUSES) await this.removeIndex(id, plan, status);
    for (const key of await this.bank.list(`${STATS_INDEX}${id}.`)) await this.bank.delete(key);
    await this.bank.delete(metaKey(id));
  }

  /**
   * The total stats of the checkpoints `ids` that have a stats index entry, from one
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
    let marker = `${STATS_INDEX}${oldest}`;
    for (let scanned = 0; scanned < cap; ) {
      const keys = await this.bank.list(STATS_INDEX, { marker, limit: Math.min(1000, cap - scanned) });
      if (keys.length === 0) break;
      scanned += keys.length;
      for (const key of keys) {
        const [id, ...numbers] = key.slice(STATS_INDEX.length).split('.');
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
    const prefix = 'index/time/';
    const keys = await this.bank.list(`${prefix}${id}.`);
    return keys.flatMap((key) => parseIndexKey(key.slice(prefix.length), undefined) ?? []);
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
    if (meta.status !== 'deleted') await this.writeIndex(meta.id, meta.plan, meta.status);
    if (meta.status !== 'deleted' && meta.stats) await this.writeStatsIndex(meta.id, meta.stats);
  }

  /**
   * The stats entry of a checkpoint, in a bank without encryption only: its key shows file
   * counts and sizes, which an encrypted bank keeps inside the record (SPEC §11).
   */
  private async writeStatsIndex(id: string, stats: ResourceStats): Promise<void> {
    if (this.bank.keyring() !== undefined) return;
    const values = [stats.files, stats.bytes, stats.newBytes, stats.storedBytes, stats.durationMs];
    if (!values.every((n) => Number.isSafeInteger(n) && n >= 0)) return;
    await this.bank.put(statsIndexKey(id, stats), '');
  }

  private async writeIndex(id: string, plan: string, status: CheckpointStatus): Promise<void> {
    await this.bank.put(timeIndexKey(id, status, plan), '');
    await this.bank.put(planIndexKey(id, status, plan), '');
  }

  private async removeIndex(id: string, plan: string, status: CheckpointStatus): Promise<void> {
    await this.bank.delete(timeIndexKey(id, status, plan));
    await this.bank.delete(planIndexKey(id, status, plan));
  }
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

/** `<id>.<status>.<plan>` (time index) or `<id>.<status>` (plan index). */
function parseIndexKey(name: string, plan: string | undefined): CheckpointSummary[] | undefined {
  const [id, status, ...rest] = name.split('.');
  if (!id || !CHECKPOINT_ID.test(id) || !CHECKPOINT_STATUSES.includes(status as CheckpointStatus))
    return undefined;
  const planName = plan ?? rest.join('.');
  if (!planName) return undefined;
  return [{ id, plan: planName, status: status as CheckpointStatus, createdAt: idTime(id).toISOString() }];
}

/** The id prefix for an ISO time: ids of checkpoints created before it sort below it. */
function idPrefix(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    throw new HoardError('USAGE', `"${iso}" is not a time (use ISO 8601, e.g. 2026-11-23T09:00:00Z)`);
  }
  return date.toISOString().replace(/[-:]/g, '').replace('.', '');
}
