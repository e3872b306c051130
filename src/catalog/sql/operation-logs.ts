/**
 * Operation logs: every status change a compare-and-swap (UPDATE … WHERE status IN (…)
 * RETURNING *), heartbeats of running ones, and failing those whose owner stopped beating.
 */
import type { ErrorInfo } from '../../errors.js';
import { idTime, isId, newId } from '../ids.js';
import {
  type NewOperationLog,
  OPERATION_KINDS,
  OPERATION_LOG_STATUSES,
  type OperationKind,
  type OperationLogFilter,
  type OperationLogPatch,
  type OperationLogRecord,
  type OperationLogStatus,
  type Page,
  type ProjectScope,
} from '../types.js';
import {
  Assignments,
  byCodeUnits,
  byId,
  invalid,
  json,
  marks,
  maybeTime,
  now,
  optionalTime,
  page,
  parse,
  type Row,
  requireObject,
  requireText,
  requireTime,
  type SqlDb,
  scope,
  time,
} from './base.js';

const KINDS: readonly OperationKind[] = OPERATION_KINDS;
const STATUSES: readonly OperationLogStatus[] = OPERATION_LOG_STATUSES;
/** Ids per statement in `heartbeat`, well under either database's parameter limit. */
const BATCH = 500;

export async function createOperationLog(db: SqlDb, input: NewOperationLog): Promise<OperationLogRecord> {
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
    cancelRequestedAt: null,
  };
  await db.run(
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

export async function getOperationLog(
  db: SqlDb,
  project: ProjectScope,
  id: string,
): Promise<OperationLogRecord | undefined> {
  return byId(db, 'operation_logs', project, id, operationLogOf);
}

export function listOperationLogs(
  db: SqlDb,
  project: ProjectScope,
  filter?: OperationLogFilter,
): Promise<Page<OperationLogRecord>> {
  const where = scope(project);
  if (filter?.kind !== undefined) where.and('kind = ?', filter.kind);
  if (filter?.status !== undefined) where.and('status = ?', filter.status);
  if (filter?.planId !== undefined) where.and('plan_id = ?', filter.planId);
  if (filter?.checkpointId !== undefined) where.and('checkpoint_id = ?', filter.checkpointId);
  if (filter?.scheduledOperationId !== undefined) {
    where.and('scheduled_operation_id = ?', filter.scheduledOperationId);
  }
  return page(db, 'operation_logs', where, filter, operationLogOf);
}

export async function updateOperationLog(
  db: SqlDb,
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
  if (patch.owner !== undefined) set.add('owner', patch.owner);
  // Nothing to change still answers whether the status is one of `from`.
  const assignments = set.params.length > 0 ? set.toString() : 'status = status';
  const [row] = await db.all(
    `UPDATE operation_logs SET ${assignments} WHERE id = ? AND status IN (${marks(from.length)}) RETURNING *`,
    [...set.params, id.toLowerCase(), ...from],
  );
  return row && operationLogOf(row);
}

export async function heartbeat(db: SqlDb, ids: readonly string[]): Promise<void> {
  const valid = [...new Set(ids.filter(isId).map((id) => id.toLowerCase()))];
  const at = now();
  for (let i = 0; i < valid.length; i += BATCH) {
    const batch = valid.slice(i, i + BATCH);
    await db.run(
      `UPDATE operation_logs SET heartbeat_at = ?
        WHERE id IN (${marks(batch.length)}) AND status IN ('queued', 'running')`,
      [at, ...batch],
    );
  }
}

export async function requestCancel(
  db: SqlDb,
  project: ProjectScope,
  id: string,
): Promise<OperationLogRecord | undefined> {
  if (!isId(id)) return undefined;
  const where = scope(project)
    .and('id = ?', id.toLowerCase())
    .and("status IN ('queued', 'running')")
    .and('cancel_requested_at IS NULL');
  const [row] = await db.all(`UPDATE operation_logs SET cancel_requested_at = ?${where} RETURNING *`, [
    now(),
    ...where.params,
  ]);
  return row && operationLogOf(row);
}

export async function cancelRequested(db: SqlDb, ids: readonly string[]): Promise<string[]> {
  const valid = [...new Set(ids.filter(isId).map((id) => id.toLowerCase()))];
  const out: string[] = [];
  for (let i = 0; i < valid.length; i += BATCH) {
    const batch = valid.slice(i, i + BATCH);
    const rows = await db.all(
      `SELECT id FROM operation_logs WHERE id IN (${marks(batch.length)})
         AND status IN ('queued', 'running') AND cancel_requested_at IS NOT NULL`,
      batch,
    );
    out.push(...rows.map((row) => row.id as string));
  }
  return out.sort(byCodeUnits);
}

export async function failStale(
  db: SqlDb,
  olderThan: string,
  error: ErrorInfo,
): Promise<OperationLogRecord[]> {
  const rows = await db.all(
    `UPDATE operation_logs SET status = 'failed', ended_at = ?, error = ?
      WHERE status IN ('queued', 'running') AND COALESCE(heartbeat_at, created_at) < ?
      RETURNING *`,
    [now(), json(error), requireTime(olderThan, 'olderThan')],
  );
  return rows.map(operationLogOf).sort((a, b) => byCodeUnits(b.id, a.id));
}

export async function operationCounts(
  db: SqlDb,
): Promise<{ kind: OperationKind; status: OperationLogStatus; count: number }[]> {
  const rows = await db.all(
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
    cancelRequestedAt: maybeTime(row.cancel_requested_at),
  };
}
