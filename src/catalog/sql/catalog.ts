/**
 * The catalog in SQL, shared by the SQLite and PostgreSQL catalogs: they supply a way to run
 * a statement and to recognise a constraint violation, and the record modules beside this
 * file (tokens, plans, triggers, scheduled operations, operation logs) do the rest with
 * statements both dialects accept. Placeholders are `?`, bound in order.
 *
 * Every write that must be atomic is one statement (the claim is an UPDATE … WHERE last_fire =
 * ?, the compare-and-swap an UPDATE … WHERE status IN (…) RETURNING *), so neither catalog
 * needs a transaction outside migrations.
 */
import type { ErrorInfo } from '../../errors.js';
import type {
  Catalog,
  ListOptions,
  NewOperationLog,
  NewPlan,
  NewScheduledOperation,
  NewTrigger,
  OperationKind,
  OperationLogFilter,
  OperationLogPatch,
  OperationLogRecord,
  OperationLogStatus,
  Page,
  PlanPatch,
  PlanRecord,
  ProjectScope,
  ScheduledOperationRecord,
  TokenRecord,
  TriggerRecord,
} from '../types.js';
import { byCodeUnits, type Row, type SqlDb, type SqlValue, type Violation } from './base.js';
import * as logs from './operation-logs.js';
import * as plans from './plans.js';
import * as scheduled from './scheduled-operations.js';
import * as tokens from './tokens.js';
import * as triggers from './triggers.js';

export type { Row, SqlValue, Violation } from './base.js';

export abstract class SqlCatalog implements Catalog {
  abstract readonly kind: string;
  abstract migrate(): Promise<void>;
  abstract schemaVersion(): Promise<number>;
  abstract close(): Promise<void>;

  /** Rows of a SELECT or of a statement with RETURNING. */
  protected abstract all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Runs a statement; the number of rows it inserted, updated or deleted. */
  protected abstract run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Which constraint `error` reports broken, if it is a constraint violation. */
  protected abstract violation(error: unknown): Violation | undefined;

  /** The three statements above, as the record modules take them. */
  readonly #sql: SqlDb = {
    all: (sql, params) => this.all(sql, params),
    run: (sql, params) => this.run(sql, params),
    violation: (error) => this.violation(error),
  };

  async listProjects(): Promise<string[]> {
    const rows = await this.all(
      'SELECT project FROM tokens WHERE revoked_at IS NULL UNION SELECT project FROM plans',
    );
    return rows.map((row) => row.project as string).sort(byCodeUnits);
  }

  createToken(input: {
    project: string;
    admin?: boolean;
    name?: string | null;
  }): Promise<{ token: TokenRecord; secret: string }> {
    return tokens.createToken(this.#sql, input);
  }
  authenticate(secret: string): Promise<TokenRecord | undefined> {
    return tokens.authenticate(this.#sql, secret);
  }
  listTokens(project: ProjectScope, options?: ListOptions): Promise<Page<TokenRecord>> {
    return tokens.listTokens(this.#sql, project, options);
  }
  revokeToken(project: ProjectScope, id: string): Promise<boolean> {
    return tokens.revokeToken(this.#sql, project, id);
  }

  createPlan(input: NewPlan): Promise<PlanRecord> {
    return plans.createPlan(this.#sql, input);
  }
  getPlan(
    project: ProjectScope,
    id: string,
    options?: { includeDeleted?: boolean },
  ): Promise<PlanRecord | undefined> {
    return plans.getPlan(this.#sql, project, id, options);
  }
  listPlans(
    project: ProjectScope,
    options?: ListOptions & { includeDeleted?: boolean },
  ): Promise<Page<PlanRecord>> {
    return plans.listPlans(this.#sql, project, options);
  }
  updatePlan(project: ProjectScope, id: string, patch: PlanPatch): Promise<PlanRecord | undefined> {
    return plans.updatePlan(this.#sql, project, id, patch);
  }
  deletePlan(project: ProjectScope, id: string): Promise<boolean> {
    return plans.deletePlan(this.#sql, project, id);
  }

  createTrigger(input: NewTrigger): Promise<TriggerRecord> {
    return triggers.createTrigger(this.#sql, input);
  }
  getTrigger(project: ProjectScope, id: string): Promise<TriggerRecord | undefined> {
    return triggers.getTrigger(this.#sql, project, id);
  }
  listTriggers(project: ProjectScope, options?: ListOptions): Promise<Page<TriggerRecord>> {
    return triggers.listTriggers(this.#sql, project, options);
  }
  deleteTrigger(project: ProjectScope, id: string): Promise<boolean> {
    return triggers.deleteTrigger(this.#sql, project, id);
  }

  createScheduledOperation(input: NewScheduledOperation): Promise<ScheduledOperationRecord> {
    return scheduled.createScheduledOperation(this.#sql, input);
  }
  getScheduledOperation(project: ProjectScope, id: string): Promise<ScheduledOperationRecord | undefined> {
    return scheduled.getScheduledOperation(this.#sql, project, id);
  }
  listScheduledOperations(
    project: ProjectScope,
    options?: ListOptions & { enabled?: boolean },
  ): Promise<Page<ScheduledOperationRecord>> {
    return scheduled.listScheduledOperations(this.#sql, project, options);
  }
  setScheduledOperationEnabled(project: ProjectScope, id: string, enabled: boolean): Promise<boolean> {
    return scheduled.setScheduledOperationEnabled(this.#sql, project, id, enabled);
  }
  deleteScheduledOperation(project: ProjectScope, id: string): Promise<boolean> {
    return scheduled.deleteScheduledOperation(this.#sql, project, id);
  }
  claimFires(scheduledOperationId: string, after: string, through: string, owner: string): Promise<boolean> {
    return scheduled.claimFires(this.#sql, scheduledOperationId, after, through, owner);
  }
  lastClaimedRun(scheduledOperationId: string): Promise<string | undefined> {
    return scheduled.lastClaimedRun(this.#sql, scheduledOperationId);
  }

  createOperationLog(input: NewOperationLog): Promise<OperationLogRecord> {
    return logs.createOperationLog(this.#sql, input);
  }
  getOperationLog(project: ProjectScope, id: string): Promise<OperationLogRecord | undefined> {
    return logs.getOperationLog(this.#sql, project, id);
  }
  listOperationLogs(project: ProjectScope, filter?: OperationLogFilter): Promise<Page<OperationLogRecord>> {
    return logs.listOperationLogs(this.#sql, project, filter);
  }
  updateOperationLog(
    id: string,
    from: readonly OperationLogStatus[],
    patch: OperationLogPatch,
  ): Promise<OperationLogRecord | undefined> {
    return logs.updateOperationLog(this.#sql, id, from, patch);
  }
  heartbeat(ids: readonly string[]): Promise<void> {
    return logs.heartbeat(this.#sql, ids);
  }
  failStale(olderThan: string, error: ErrorInfo): Promise<OperationLogRecord[]> {
    return logs.failStale(this.#sql, olderThan, error);
  }
  requestCancel(project: ProjectScope, id: string): Promise<OperationLogRecord | undefined> {
    return logs.requestCancel(this.#sql, project, id);
  }
  cancelRequested(ids: readonly string[]): Promise<string[]> {
    return logs.cancelRequested(this.#sql, ids);
  }
  operationCounts(): Promise<{ kind: OperationKind; status: OperationLogStatus; count: number }[]> {
    return logs.operationCounts(this.#sql);
  }
}
