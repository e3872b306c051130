/**
 * The service's catalog (SPEC §9): what `hoard serve` keeps besides the banks — tokens,
 * plans, triggers, scheduled operations, scheduled-run claims and operation logs. Two
 * implementations share this interface and one conformance suite: SQLite in the home
 * directory (default) and PostgreSQL (`HOARD_CATALOG_URL=postgres://…`).
 *
 * Every record is owned by a project. Methods that take `project` return only that
 * project's records; `project: null` (admin) means every project. Ids are UUIDv7, so they
 * sort by creation time and every list is newest first with `marker` = last id seen.
 */
import type { ErrorInfo } from '../errors.js';

export interface Page<T> {
  items: T[];
  /** Pass as `marker` for the next page; null on the last page. */
  next: string | null;
}

export interface ListOptions {
  /** 1..1000, default 100. */
  limit?: number;
  /** Id of the last item of the previous page. */
  marker?: string;
}

/** `null` = every project (admin callers only). */
export type ProjectScope = string | null;

export interface TokenRecord {
  id: string;
  project: string;
  admin: boolean;
  name: string | null;
  createdAt: string;
}

export interface PlanRecord {
  id: string;
  project: string;
  name: string;
  description: string | null;
  /** Provider name or id, as given. */
  provider: string;
  /** The plan document: `{resources, parameters}` as in a plan file (SPEC §7). */
  resources: unknown[];
  parameters: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  /** When it was deleted; only on deleted plans (listed with `includeDeleted`). */
  deletedAt?: string;
}

export interface TimeTriggerProperties {
  /** Five- or six-field cron expression. */
  pattern: string;
  /** IANA zone, default UTC. */
  timezone?: string;
  /** ISO time: no fire before. */
  start?: string;
  /** ISO time: no fire after. */
  end?: string;
  /** Seconds after its fire time a missed run may still start (default 1800). */
  window?: number;
}

export interface TriggerRecord {
  id: string;
  project: string;
  name: string;
  type: 'time';
  properties: TimeTriggerProperties;
  createdAt: string;
}

export type ScheduledOperationType = 'protect' | 'retention_protect';

export interface ScheduledOperationRecord {
  id: string;
  project: string;
  name: string;
  description: string | null;
  operationType: ScheduledOperationType;
  triggerId: string;
  /** `{planId, providerId?, retention?: Policy}` (Karbor's operation_definition). */
  definition: { planId: string; providerId?: string; retention?: Record<string, unknown> };
  enabled: boolean;
  createdAt: string;
}

/** Every operation kind a log may have: the catalog's check, the CLI's and the API's filters. */
export const OPERATION_KINDS = [
  'protect',
  'restore',
  'verify',
  'copy',
  'delete',
  'retention_protect',
] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** `cancelled`: stopped on request (POST …/operation_logs/{id}/cancel, `hoard operations cancel`). */
/** Every status a log may have, in the order a run goes through them. */
export const OPERATION_LOG_STATUSES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
] as const;
export type OperationLogStatus = (typeof OPERATION_LOG_STATUSES)[number];
/** The statuses an operation ends in. */
export const OPERATION_LOG_ENDED: ReadonlySet<OperationLogStatus> = new Set([
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
]);

export interface OperationLogRecord {
  id: string;
  project: string;
  kind: OperationKind;
  status: OperationLogStatus;
  planId: string | null;
  providerId: string | null;
  checkpointId: string | null;
  scheduledOperationId: string | null;
  /** The trigger's fire time this run answers, for scheduled runs. */
  fireAt: string | null;
  /** The request's parameters (restore targets and the like), as given. */
  parameters: Record<string, unknown>;
  /** The flow's result: `{checkpoint, operation}` as the CLI prints it, prune decisions… */
  result: unknown;
  error: ErrorInfo | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** `host:pid` of the server running it, while queued or running. */
  owner: string | null;
  /** Renewed by the owner while it runs; a stale one means the owner died. */
  heartbeatAt: string | null;
  /** When its cancellation was asked; the server running it then aborts it (teardowns still run). */
  cancelRequestedAt: string | null;
}

export interface OperationLogFilter extends ListOptions {
  kind?: OperationKind;
  status?: OperationLogStatus;
  planId?: string;
  checkpointId?: string;
  scheduledOperationId?: string;
}

export type NewPlan = Pick<PlanRecord, 'project' | 'name' | 'provider' | 'resources' | 'parameters'> & {
  description?: string | null;
};
export type PlanPatch = Partial<
  Pick<PlanRecord, 'name' | 'description' | 'provider' | 'resources' | 'parameters'>
>;
export type NewTrigger = Pick<TriggerRecord, 'project' | 'name' | 'type' | 'properties'>;
export type NewScheduledOperation = Pick<
  ScheduledOperationRecord,
  'project' | 'name' | 'operationType' | 'triggerId' | 'definition'
> & { description?: string | null; enabled?: boolean };
export type NewOperationLog = Pick<OperationLogRecord, 'project' | 'kind'> &
  Partial<
    Pick<
      OperationLogRecord,
      | 'status'
      | 'planId'
      | 'providerId'
      | 'checkpointId'
      | 'scheduledOperationId'
      | 'fireAt'
      | 'parameters'
      | 'startedAt'
      | 'owner'
    >
  >;
export type OperationLogPatch = Partial<
  Pick<OperationLogRecord, 'status' | 'checkpointId' | 'result' | 'error' | 'startedAt' | 'endedAt' | 'owner'>
>;

export interface Catalog {
  /** 'sqlite' or 'postgres'. */
  readonly kind: string;
  /** Brings the schema to the latest version (idempotent, safe with several processes). */
  migrate(): Promise<void>;
  /** The applied schema version. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;

  /** Projects that own a token or a plan. */
  listProjects(): Promise<string[]>;

  /** Returns the secret once; only its SHA-256 is stored. */
  createToken(input: { project: string; admin?: boolean; name?: string | null }): Promise<{
    token: TokenRecord;
    secret: string;
  }>;
  /** The token whose secret this is, or undefined (constant-time comparison of hashes). */
  authenticate(secret: string): Promise<TokenRecord | undefined>;
  listTokens(project: ProjectScope, options?: ListOptions): Promise<Page<TokenRecord>>;
  /** False when no such token (in scope). */
  revokeToken(project: ProjectScope, id: string): Promise<boolean>;

  /** Plan names are unique per project (CATALOG_CONFLICT otherwise). */
  createPlan(input: NewPlan): Promise<PlanRecord>;
  /** Deleted plans are still found with `includeDeleted` (their checkpoints stay theirs). */
  getPlan(
    project: ProjectScope,
    id: string,
    options?: { includeDeleted?: boolean },
  ): Promise<PlanRecord | undefined>;
  listPlans(
    project: ProjectScope,
    options?: ListOptions & { includeDeleted?: boolean },
  ): Promise<Page<PlanRecord>>;
  updatePlan(project: ProjectScope, id: string, patch: PlanPatch): Promise<PlanRecord | undefined>;
  /** Soft delete: the row stays so checkpoints keep their owner. */
  deletePlan(project: ProjectScope, id: string): Promise<boolean>;

  createTrigger(input: NewTrigger): Promise<TriggerRecord>;
  getTrigger(project: ProjectScope, id: string): Promise<TriggerRecord | undefined>;
  listTriggers(project: ProjectScope, options?: ListOptions): Promise<Page<TriggerRecord>>;
  /** CATALOG_IN_USE when a scheduled operation still uses it. */
  deleteTrigger(project: ProjectScope, id: string): Promise<boolean>;

  createScheduledOperation(input: NewScheduledOperation): Promise<ScheduledOperationRecord>;
  getScheduledOperation(project: ProjectScope, id: string): Promise<ScheduledOperationRecord | undefined>;
  listScheduledOperations(
    project: ProjectScope,
    options?: ListOptions & { enabled?: boolean },
  ): Promise<Page<ScheduledOperationRecord>>;
  setScheduledOperationEnabled(project: ProjectScope, id: string, enabled: boolean): Promise<boolean>;
  deleteScheduledOperation(project: ProjectScope, id: string): Promise<boolean>;

  /**
   * Claims the fires of a scheduled operation in (after, through]: a compare-and-swap that
   * succeeds only if `after` is still its last claimed fire (its `createdAt` while it has
   * none) and it is enabled. So of all callers, across every process sharing the catalog,
   * that read the same `after`, exactly one gets `true`, and each fire is claimed once:
   * claims are consecutive intervals. Nobody claims while the operation is disabled, or
   * once it is deleted.
   */
  claimFires(scheduledOperationId: string, after: string, through: string, owner: string): Promise<boolean>;
  /** The last claimed fire time (the `through` of the last claim), or undefined when none was. */
  lastClaimedRun(scheduledOperationId: string): Promise<string | undefined>;

  createOperationLog(input: NewOperationLog): Promise<OperationLogRecord>;
  getOperationLog(project: ProjectScope, id: string): Promise<OperationLogRecord | undefined>;
  listOperationLogs(project: ProjectScope, filter?: OperationLogFilter): Promise<Page<OperationLogRecord>>;
  /**
   * Compare-and-swap: applies `patch` only while the status is one of `from`; returns the
   * updated record, or undefined when the status had moved on (or no such log).
   */
  updateOperationLog(
    id: string,
    from: readonly OperationLogStatus[],
    patch: OperationLogPatch,
  ): Promise<OperationLogRecord | undefined>;
  /** Sets heartbeatAt = now on these logs (those still queued or running). */
  heartbeat(ids: readonly string[]): Promise<void>;
  /**
   * Marks `failed` (with `error`) every queued or running log whose heartbeat (or, without
   * one, createdAt) is older than `olderThan`; returns them.
   */
  failStale(olderThan: string, error: ErrorInfo): Promise<OperationLogRecord[]>;
  /**
   * Asks for a queued or running log to be cancelled (compare-and-swap: once). Returns the
   * log, or undefined when there is none in scope, it has ended, or its cancellation was
   * already asked (`getOperationLog` tells which).
   */
  requestCancel(project: ProjectScope, id: string): Promise<OperationLogRecord | undefined>;
  /** Of these logs, the ids of those still queued or running whose cancellation was asked. */
  cancelRequested(ids: readonly string[]): Promise<string[]>;
  /** Counts by kind and status, for /metrics. */
  operationCounts(): Promise<{ kind: OperationKind; status: OperationLogStatus; count: number }[]>;
}
