/**
 * The catalog in SQL, shared by the SQLite and PostgreSQL catalogs: they supply a way to run
 * a statement and to recognise a constraint violation, and this class does the rest with
 * statements both dialects accept. Placeholders are `?`, bound in order.
 *
 * Every write that must be atomic is one statement (the claim is an INSERT … ON CONFLICT DO
 * NOTHING, the compare-and-swap an UPDATE … WHERE status IN (…) RETURNING *), so neither
 * catalog needs a transaction outside migrations.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type ErrorInfo, HoardError } from '../errors.js';
import { idTime, isId, newId } from './ids.js';
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
  ScheduledOperationType,
  TokenRecord,
  TriggerRecord,
} from './types.js';

export type SqlValue = string | number | boolean | null;
export type Row = Record<string, unknown>;

/** A constraint a statement broke. */
export type Violation = 'unique' | 'foreign-key';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

const KINDS: readonly OperationKind[] = [
  'protect',
  'restore',
  'verify',
  'copy',
  'delete',
  'retention_protect',
];
const STATUSES: readonly OperationLogStatus[] = ['queued', 'running', 'succeeded', 'failed', 'skipped'];
const OPERATION_TYPES: readonly ScheduledOperationType[] = ['protect', 'retention_protect'];
const TOKEN_PREFIX = 'hrd_';
/** Ids per statement in `heartbeat`, well under either database's parameter limit. */
const BATCH = 500;

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

  async listProjects(): Promise<string[]> {
    const rows = await this.all(
      'SELECT project FROM tokens WHERE revoked_at IS NULL UNION SELECT project FROM plans',
    );
    return rows.map((row) => row.project as string).sort(byCodeUnits);
  }

  // Tokens

  async createToken(input: { project: string; admin?: boolean; name?: string | null }): Promise<{
    token: TokenRecord;
    secret: string;
  }> {
    requireText(input.project, 'project');
    const id = newId();
    const at = idTime(id);
    const token: TokenRecord = {
      id,
      project: input.project,
      admin: input.admin ?? false,
      name: input.name ?? null,
      createdAt: at.toISOString(),
    };
    const secret = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    await this.run(
      'INSERT INTO tokens (id, project, admin, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [token.id, token.project, token.admin, token.name, sha256(secret), token.createdAt],
    );
    return { token, secret };
  }

  async authenticate(secret: string): Promise<TokenRecord | undefined> {
    if (typeof secret !== 'string' || !secret.startsWith(TOKEN_PREFIX)) return undefined;
    const hash = sha256(secret);
    const [row] = await this.all('SELECT * FROM tokens WHERE secret_hash = ? AND revoked_at IS NULL', [hash]);
    if (!row) return undefined;
    const stored = Buffer.from(row.secret_hash as string, 'hex');
    const given = Buffer.from(hash, 'hex');
    return stored.length === given.length && timingSafeEqual(stored, given) ? tokenOf(row) : undefined;
  }

  listTokens(project: ProjectScope, options?: ListOptions): Promise<Page<TokenRecord>> {
    return this.page('tokens', scope(project).and('revoked_at IS NULL'), options, tokenOf);
  }

  async revokeToken(project: ProjectScope, id: string): Promise<boolean> {
    if (!isId(id)) return false;
    const where = scope(project).and('id = ?', id.toLowerCase()).and('revoked_at IS NULL');
    return (await this.run(`UPDATE tokens SET revoked_at = ?${where}`, [now(), ...where.params])) > 0;
  }

  // Plans

  async createPlan(input: NewPlan): Promise<PlanRecord> {
    requireText(input.project, 'project');
    requireText(input.name, 'name');
    requireText(input.provider, 'provider');
    const id = newId();
    const at = idTime(id);
    const plan: PlanRecord = {
      id,
      project: input.project,
      name: input.name,
      description: input.description ?? null,
      provider: input.provider,
      resources: requireArray(input.resources, 'resources'),
      parameters: requireObject(input.parameters, 'parameters'),
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
    };
    try {
      await this.run(
        `INSERT INTO plans (id, project, name, description, provider, resources, parameters, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          plan.id,
          plan.project,
          plan.name,
          plan.description,
          plan.provider,
          json(plan.resources),
          json(plan.parameters),
          plan.createdAt,
          plan.updatedAt,
        ],
      );
    } catch (error) {
      if (this.violation(error) === 'unique') throw planConflict(plan.project, plan.name, error);
      throw error;
    }
    return plan;
  }

  async getPlan(
    project: ProjectScope,
    id: string,
    options?: { includeDeleted?: boolean },
  ): Promise<PlanRecord | undefined> {
    if (!isId(id)) return undefined;
    const where = scope(project).and('id = ?', id.toLowerCase());
    if (!options?.includeDeleted) where.and('deleted_at IS NULL');
    const [row] = await this.all(`SELECT * FROM plans${where}`, where.params);
    return row && planOf(row);
  }

  listPlans(
    project: ProjectScope,
    options?: ListOptions & { includeDeleted?: boolean },
  ): Promise<Page<PlanRecord>> {
    const where = scope(project);
    if (!options?.includeDeleted) where.and('deleted_at IS NULL');
    return this.page('plans', where, options, planOf);
  }

  async updatePlan(project: ProjectScope, id: string, patch: PlanPatch): Promise<PlanRecord | undefined> {
    if (!isId(id)) return undefined;
    const set = new Assignments();
    if (patch.name !== undefined) set.add('name', requireText(patch.name, 'name'));
    if (patch.description !== undefined) set.add('description', patch.description);
    if (patch.provider !== undefined) set.add('provider', requireText(patch.provider, 'provider'));
    if (patch.resources !== undefined) set.add('resources', json(requireArray(patch.resources, 'resources')));
    if (patch.parameters !== undefined) {
      set.add('parameters', json(requireObject(patch.parameters, 'parameters')));
    }
    set.add('updated_at', now());
    const where = scope(project).and('id = ?', id.toLowerCase()).and('deleted_at IS NULL');
    try {
      const [row] = await this.all(`UPDATE plans SET ${set}${where} RETURNING *`, [
        ...set.params,
        ...where.params,
      ]);
      return row && planOf(row);
    } catch (error) {
      if (this.violation(error) !== 'unique' || patch.name === undefined) throw error;
      const [row] = await this.all('SELECT project FROM plans WHERE id = ?', [id.toLowerCase()]);
      throw planConflict((row?.project as string | undefined) ?? String(project), patch.name, error);
    }
  }

  async deletePlan(project: ProjectScope, id: string): Promise<boolean> {
    if (!isId(id)) return false;
    const where = scope(project).and('id = ?', id.toLowerCase()).and('deleted_at IS NULL');
    return (await this.run(`UPDATE plans SET deleted_at = ?${where}`, [now(), ...where.params])) > 0;
  }

  // Triggers

  async createTrigger(input: NewTrigger): Promise<TriggerRecord> {
    requireText(input.project, 'project');
    requireText(input.name, 'name');
    if (input.type !== 'time') {
      throw new HoardError(
        'CATALOG_INVALID',
        `unknown trigger type "${String(input.type)}": expected "time"`,
        {
          details: { type: input.type },
        },
      );
    }
    const id = newId();
    const at = idTime(id);
    const trigger: TriggerRecord = {
      id,
      project: input.project,
      name: input.name,
      type: input.type,
      properties: requireObject(input.properties, 'properties') as unknown as TriggerRecord['properties'],
      createdAt: at.toISOString(),
    };
    await this.run(
      'INSERT INTO triggers (id, project, name, type, properties, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [trigger.id, trigger.project, trigger.name, trigger.type, json(trigger.properties), trigger.createdAt],
    );
    return trigger;
  }

  async getTrigger(project: ProjectScope, id: string): Promise<TriggerRecord | undefined> {
    if (!isId(id)) return undefined;
    const where = scope(project).and('id = ?', id.toLowerCase());
    const [row] = await this.all(`SELECT * FROM triggers${where}`, where.params);
    return row && triggerOf(row);
  }

  listTriggers(project: ProjectScope, options?: ListOptions): Promise<Page<TriggerRecord>> {
    return this.page('triggers', scope(project), options, triggerOf);
  }

  async deleteTrigger(project: ProjectScope, id: string): Promise<boolean> {
    if (!isId(id)) return false;
    const where = scope(project).and('id = ?', id.toLowerCase());
    // The foreign key decides, so a scheduled operation created meanwhile still counts.
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.run(`DELETE FROM triggers${where}`, where.params)) > 0;
      } catch (error) {
        if (this.violation(error) !== 'foreign-key') throw error;
        const [user] = await this.all(
          `SELECT t.name AS trigger_name, s.id, s.name FROM scheduled_operations s
             JOIN triggers t ON t.id = s.trigger_id WHERE s.trigger_id = ? ORDER BY s.id LIMIT 1`,
          [id.toLowerCase()],
        );
        // Its last user went away meanwhile: try again.
        if (!user && attempt < 3) continue;
        throw new HoardError(
          'CATALOG_IN_USE',
          user
            ? `trigger "${user.trigger_name}" (${id}) is used by scheduled operation "${user.name}" (${user.id}): delete that first`
            : `trigger ${id} is used by a scheduled operation: delete that first`,
          { details: { triggerId: id, ...(user ? { scheduledOperationId: user.id } : {}) }, cause: error },
        );
      }
    }
  }

  // Scheduled operations

  async createScheduledOperation(input: NewScheduledOperation): Promise<ScheduledOperationRecord> {
    requireText(input.project, 'project');
    requireText(input.name, 'name');
    if (!OPERATION_TYPES.includes(input.operationType)) {
      throw invalid('operationType', input.operationType, `one of ${OPERATION_TYPES.join(', ')}`);
    }
    const definition = requireObject(
      input.definition,
      'definition',
    ) as unknown as ScheduledOperationRecord['definition'];
    requireText(definition.planId, 'definition.planId');
    const triggerId = isId(input.triggerId) ? input.triggerId.toLowerCase() : undefined;
    const missing = () =>
      new HoardError(
        'CATALOG_INVALID',
        `project "${input.project}" has no trigger ${String(input.triggerId)} for scheduled operation "${input.name}"`,
        { details: { project: input.project, triggerId: input.triggerId } },
      );
    if (!triggerId) throw missing();
    const [trigger] = await this.all('SELECT id FROM triggers WHERE id = ? AND project = ?', [
      triggerId,
      input.project,
    ]);
    if (!trigger) throw missing();
    const id = newId();
    const at = idTime(id);
    const operation: ScheduledOperationRecord = {
      id,
      project: input.project,
      name: input.name,
      description: input.description ?? null,
      operationType: input.operationType,
      triggerId,
      definition,
      enabled: input.enabled ?? true,
      createdAt: at.toISOString(),
    };
    try {
      await this.run(
        `INSERT INTO scheduled_operations
           (id, project, name, description, operation_type, trigger_id, definition, enabled, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          operation.id,
          operation.project,
          operation.name,
          operation.description,
          operation.operationType,
          operation.triggerId,
          json(operation.definition),
          operation.enabled,
          operation.createdAt,
        ],
      );
    } catch (error) {
      // The trigger was deleted since we looked.
      if (this.violation(error) === 'foreign-key') throw missing();
      throw error;
    }
    return operation;
  }

  async getScheduledOperation(
    project: ProjectScope,
    id: string,
  ): Promise<ScheduledOperationRecord | undefined> {
    if (!isId(id)) return undefined;
    const where = scope(project).and('id = ?', id.toLowerCase());
    const [row] = await this.all(`SELECT * FROM scheduled_operations${where}`, where.params);
    return row && scheduledOperationOf(row);
  }

  listScheduledOperations(
    project: ProjectScope,
    options?: ListOptions & { enabled?: boolean },
  ): Promise<Page<ScheduledOperationRecord>> {
    const where = scope(project);
    if (options?.enabled !== undefined) where.and('enabled = ?', options.enabled);
    return this.page('scheduled_operations', where, options, scheduledOperationOf);
  }

  async setScheduledOperationEnabled(project: ProjectScope, id: string, enabled: boolean): Promise<boolean> {
    if (!isId(id)) return false;
    const where = scope(project).and('id = ?', id.toLowerCase());
    return (
      (await this.run(`UPDATE scheduled_operations SET enabled = ?${where}`, [enabled, ...where.params])) > 0
    );
  }

  async deleteScheduledOperation(project: ProjectScope, id: string): Promise<boolean> {
    if (!isId(id)) return false;
    const where = scope(project).and('id = ?', id.toLowerCase());
    if ((await this.run(`DELETE FROM scheduled_operations${where}`, where.params)) === 0) return false;
    // Its claims are no use any more; a crash before this leaves rows nothing reads.
    await this.run('DELETE FROM scheduled_runs WHERE scheduled_operation_id = ?', [id.toLowerCase()]);
    return true;
  }

  async claimFires(
    scheduledOperationId: string,
    after: string,
    through: string,
    owner: string,
  ): Promise<boolean> {
    requireText(scheduledOperationId, 'scheduledOperationId');
    requireText(owner, 'owner');
    const from = requireTime(after, 'after');
    const to = requireTime(through, 'through');
    if (Date.parse(to) <= Date.parse(from)) throw invalid('through', through, `a time after ${from}`);
    if (!isId(scheduledOperationId)) return false;
    const id = scheduledOperationId.toLowerCase();
    // One statement: a claim and a disable (or delete) never interleave, and two claims
    // from the same `after` cannot both match.
    const claimed = await this.run(
      `UPDATE scheduled_operations SET last_fire = ?
       WHERE id = ? AND enabled = ? AND COALESCE(last_fire, created_at) = ?`,
      [to, id, true, from],
    );
    if (claimed !== 1) return false;
    // Who claimed what, for people reading the catalog.
    await this.run(
      `INSERT INTO scheduled_runs (scheduled_operation_id, fire_at, owner, claimed_at)
       VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [id, to, owner, now()],
    );
    return true;
  }

  async lastClaimedRun(scheduledOperationId: string): Promise<string | undefined> {
    if (!isId(scheduledOperationId)) return undefined;
    const [row] = await this.all('SELECT last_fire FROM scheduled_operations WHERE id = ?', [
      scheduledOperationId.toLowerCase(),
    ]);
    return row?.last_fire == null ? undefined : time(row.last_fire);
  }

  // Operation logs

  async createOperationLog(input: NewOperationLog): Promise<OperationLogRecord> {
    requireText(input.project, 'project');
    if (!KINDS.includes(input.kind)) throw invalid('kind', input.kind, `one of ${KINDS.join(', ')}`);
    const status = input.status ?? 'queued';
    if (!STATUSES.includes(status)) throw invalid('status', status, `one of ${STATUSES.join(', ')}`);
    const id = newId();
    const at = idTime(id);
    const log: OperationLogRecord = {
      id,
      project: input.project,
      kind: input.kind,
      status,
      planId: input.planId ?? null,
      providerId: input.providerId ?? null,
      checkpointId: input.checkpointId ?? null,
      scheduledOperationId: input.scheduledOperationId ?? null,
      fireAt: optionalTime(input.fireAt, 'fireAt'),
      parameters: requireObject(input.parameters ?? {}, 'parameters'),
      result: null,
      error: null,
      createdAt: at.toISOString(),
      startedAt: optionalTime(input.startedAt, 'startedAt'),
      endedAt: null,
      owner: input.owner ?? null,
      heartbeatAt: null,
    };
    await this.run(
      `INSERT INTO operation_logs (id, project, kind, status, plan_id, provider_id, checkpoint_id,
         scheduled_operation_id, fire_at, parameters, created_at, started_at, owner)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        log.id,
        log.project,
        log.kind,
        log.status,
        log.planId,
        log.providerId,
        log.checkpointId,
        log.scheduledOperationId,
        log.fireAt,
        json(log.parameters),
        log.createdAt,
        log.startedAt,
        log.owner,
      ],
    );
    return log;
  }

  async getOperationLog(project: ProjectScope, id: string): Promise<OperationLogRecord | undefined> {
    if (!isId(id)) return undefined;
    const where = scope(project).and('id = ?', id.toLowerCase());
    const [row] = await this.all(`SELECT * FROM operation_logs${where}`, where.params);
    return row && operationLogOf(row);
  }

  listOperationLogs(project: ProjectScope, filter?: OperationLogFilter): Promise<Page<OperationLogRecord>> {
    const where = scope(project);
    if (filter?.kind !== undefined) where.and('kind = ?', filter.kind);
    if (filter?.status !== undefined) where.and('status = ?', filter.status);
    if (filter?.planId !== undefined) where.and('plan_id = ?', filter.planId);
    if (filter?.checkpointId !== undefined) where.and('checkpoint_id = ?', filter.checkpointId);
    if (filter?.scheduledOperationId !== undefined) {
      where.and('scheduled_operation_id = ?', filter.scheduledOperationId);
    }
    return this.page('operation_logs', where, filter, operationLogOf);
  }

  async updateOperationLog(
    id: string,
    from: readonly OperationLogStatus[],
    patch: OperationLogPatch,
  ): Promise<OperationLogRecord | undefined> {
    if (!isId(id) || from.length === 0) return undefined;
    const set = new Assignments();
    if (patch.status !== undefined) {
      if (!STATUSES.includes(patch.status))
        throw invalid('status', patch.status, `one of ${STATUSES.join(', ')}`);
      set.add('status', patch.status);
    }
    if (patch.checkpointId !== undefined) set.add('checkpoint_id', patch.checkpointId);
    if (patch.result !== undefined) set.add('result', patch.result === null ? null : json(patch.result));
    if (patch.error !== undefined) set.add('error', patch.error === null ? null : json(patch.error));
    if (patch.startedAt !== undefined) set.add('started_at', optionalTime(patch.startedAt, 'startedAt'));
    if (patch.endedAt !== undefined) set.add('ended_at', optionalTime(patch.endedAt, 'endedAt'));
    // Nothing to change still answers whether the status is one of `from`.
    const assignments = set.params.length > 0 ? set.toString() : 'status = status';
    const [row] = await this.all(
      `UPDATE operation_logs SET ${assignments} WHERE id = ? AND status IN (${marks(from.length)}) RETURNING *`,
      [...set.params, id.toLowerCase(), ...from],
    );
    return row && operationLogOf(row);
  }

  async heartbeat(ids: readonly string[]): Promise<void> {
    const valid = [...new Set(ids.filter(isId).map((id) => id.toLowerCase()))];
    const at = now();
    for (let i = 0; i < valid.length; i += BATCH) {
      const batch = valid.slice(i, i + BATCH);
      await this.run(
        `UPDATE operation_logs SET heartbeat_at = ?
          WHERE id IN (${marks(batch.length)}) AND status IN ('queued', 'running')`,
        [at, ...batch],
      );
    }
  }

  async failStale(olderThan: string, error: ErrorInfo): Promise<OperationLogRecord[]> {
    const rows = await this.all(
      `UPDATE operation_logs SET status = 'failed', ended_at = ?, error = ?
        WHERE status IN ('queued', 'running') AND COALESCE(heartbeat_at, created_at) < ?
        RETURNING *`,
      [now(), json(error), requireTime(olderThan, 'olderThan')],
    );
    return rows.map(operationLogOf).sort((a, b) => byCodeUnits(b.id, a.id));
  }

  async operationCounts(): Promise<{ kind: OperationKind; status: OperationLogStatus; count: number }[]> {
    const rows = await this.all(
      'SELECT kind, status, COUNT(*) AS count FROM operation_logs GROUP BY kind, status',
    );
    return rows
      .map((row) => ({
        kind: row.kind as OperationKind,
        status: row.status as OperationLogStatus,
        count: Number(row.count),
      }))
      .sort((a, b) => byCodeUnits(a.kind, b.kind) || byCodeUnits(a.status, b.status));
  }

  /** One page of `table`, newest first, fetching one row more than asked to know if there is a next. */
  private async page<T extends { id: string }>(
    table: string,
    where: Where,
    options: ListOptions | undefined,
    decode: (row: Row) => T,
  ): Promise<Page<T>> {
    const { limit, marker } = pageOptions(options);
    if (marker !== undefined) where.and('id < ?', marker);
    const rows = await this.all(`SELECT * FROM ${table}${where} ORDER BY id DESC LIMIT ?`, [
      ...where.params,
      limit + 1,
    ]);
    const items = rows.slice(0, limit).map(decode);
    return { items, next: rows.length > limit ? items.at(-1)!.id : null };
  }
}

/** Validates `limit` (integers are clamped to 1..1000) and `marker` (an id). */
export function pageOptions(options: ListOptions | undefined): { limit: number; marker: string | undefined } {
  let limit = DEFAULT_LIMIT;
  const given = options?.limit;
  if (given !== undefined) {
    if (typeof given !== 'number' || !Number.isInteger(given)) {
      throw invalid('limit', given, `an integer from 1 to ${MAX_LIMIT}`);
    }
    limit = Math.min(MAX_LIMIT, Math.max(1, given));
  }
  const marker = options?.marker;
  if (marker !== undefined && !isId(marker)) {
    throw invalid('marker', marker, 'the id of the last item of the previous page');
  }
  return { limit, marker: marker?.toLowerCase() };
}

/** A WHERE clause built one condition at a time; renders as `''` or `' WHERE …'`. */
class Where {
  readonly params: SqlValue[] = [];
  private readonly conditions: string[] = [];

  and(condition: string, ...params: SqlValue[]): this {
    this.conditions.push(condition);
    this.params.push(...params);
    return this;
  }

  toString(): string {
    return this.conditions.length === 0 ? '' : ` WHERE ${this.conditions.join(' AND ')}`;
  }
}

/** `project: null` is every project. */
function scope(project: ProjectScope): Where {
  const where = new Where();
  if (project !== null) where.and('project = ?', requireText(project, 'project'));
  return where;
}

/** The SET list of an UPDATE. */
class Assignments {
  readonly params: SqlValue[] = [];
  private readonly columns: string[] = [];

  add(column: string, value: SqlValue): void {
    this.columns.push(`${column} = ?`);
    this.params.push(value);
  }

  toString(): string {
    return this.columns.join(', ');
  }
}

function marks(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

// Rows to records. SQLite gives 0/1 and ISO text; PostgreSQL booleans and Dates. Both give
// JSON as text (the PostgreSQL catalog turns off pg's JSON parsing), so values that are JSON
// strings come back as strings.

function tokenOf(row: Row): TokenRecord {
  return {
    id: row.id as string,
    project: row.project as string,
    admin: bool(row.admin),
    name: (row.name as string | null) ?? null,
    createdAt: time(row.created_at),
  };
}

function planOf(row: Row): PlanRecord {
  const plan: PlanRecord = {
    id: row.id as string,
    project: row.project as string,
    name: row.name as string,
    description: (row.description as string | null) ?? null,
    provider: row.provider as string,
    resources: parse(row.resources) as unknown[],
    parameters: parse(row.parameters) as Record<string, unknown>,
    createdAt: time(row.created_at),
    updatedAt: time(row.updated_at),
  };
  if (row.deleted_at != null) plan.deletedAt = time(row.deleted_at);
  return plan;
}

function triggerOf(row: Row): TriggerRecord {
  return {
    id: row.id as string,
    project: row.project as string,
    name: row.name as string,
    type: row.type as TriggerRecord['type'],
    properties: parse(row.properties) as TriggerRecord['properties'],
    createdAt: time(row.created_at),
  };
}

function scheduledOperationOf(row: Row): ScheduledOperationRecord {
  return {
    id: row.id as string,
    project: row.project as string,
    name: row.name as string,
    description: (row.description as string | null) ?? null,
    operationType: row.operation_type as ScheduledOperationType,
    triggerId: row.trigger_id as string,
    definition: parse(row.definition) as ScheduledOperationRecord['definition'],
    enabled: bool(row.enabled),
    createdAt: time(row.created_at),
  };
}

function operationLogOf(row: Row): OperationLogRecord {
  return {
    id: row.id as string,
    project: row.project as string,
    kind: row.kind as OperationKind,
    status: row.status as OperationLogStatus,
    planId: (row.plan_id as string | null) ?? null,
    providerId: (row.provider_id as string | null) ?? null,
    checkpointId: (row.checkpoint_id as string | null) ?? null,
    scheduledOperationId: (row.scheduled_operation_id as string | null) ?? null,
    fireAt: maybeTime(row.fire_at),
    parameters: parse(row.parameters) as Record<string, unknown>,
    result: parse(row.result),
    error: parse(row.error) as ErrorInfo | null,
    createdAt: time(row.created_at),
    startedAt: maybeTime(row.started_at),
    endedAt: maybeTime(row.ended_at),
    owner: (row.owner as string | null) ?? null,
    heartbeatAt: maybeTime(row.heartbeat_at),
  };
}

function bool(value: unknown): boolean {
  return value === true || value === 1 || value === 1n;
}

function time(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

function maybeTime(value: unknown): string | null {
  return value == null ? null : time(value);
}

function parse(value: unknown): unknown {
  return value == null ? null : JSON.parse(value as string);
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

// Arguments.

function now(): string {
  return new Date().toISOString();
}

function invalid(field: string, value: unknown, expected: string): HoardError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new HoardError('CATALOG_INVALID', `invalid ${field} ${shown}: expected ${expected}`, {
    details: { field },
  });
}

function requireText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, value, 'a non-empty string');
  return value;
}

function requireArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(field, typeof value, 'an array');
  return value;
}

function requireObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      field,
      Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value,
      'an object',
    );
  }
  return value as Record<string, unknown>;
}

/** A time as `toISOString` writes it, so stored times compare as text in SQLite. */
function requireTime(value: unknown, field: string): string {
  const date = typeof value === 'string' ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw invalid(field, value, 'an ISO 8601 time');
  return date.toISOString();
}

function optionalTime(value: unknown, field: string): string | null {
  return value == null ? null : requireTime(value, field);
}

function planConflict(project: string, name: string, cause: unknown): HoardError {
  return new HoardError('CATALOG_CONFLICT', `project "${project}" already has a plan named "${name}"`, {
    details: { project, name },
    cause,
  });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
