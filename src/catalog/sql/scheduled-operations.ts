/** Scheduled operations and the claims of their trigger's fires (one claimer per fire). */
import { HoardError } from '../../errors.js';
import { idTime, isId, newId } from '../ids.js';
import type {
  ListOptions,
  NewScheduledOperation,
  Page,
  ProjectScope,
  ScheduledOperationRecord,
  ScheduledOperationType,
} from '../types.js';
import {
  bool,
  byId,
  invalid,
  json,
  now,
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

const OPERATION_TYPES: readonly ScheduledOperationType[] = ['protect', 'retention_protect'];

export async function createScheduledOperation(
  db: SqlDb,
  input: NewScheduledOperation,
): Promise<ScheduledOperationRecord> {
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
  const [trigger] = await db.all('SELECT id FROM triggers WHERE id = ? AND project = ?', [
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
    await db.run(
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
    if (db.violation(error) === 'foreign-key') throw missing();
    throw error;
  }
  return operation;
}

export async function getScheduledOperation(
  db: SqlDb,
  project: ProjectScope,
  id: string,
): Promise<ScheduledOperationRecord | undefined> {
  return byId(db, 'scheduled_operations', project, id, scheduledOperationOf);
}

export function listScheduledOperations(
  db: SqlDb,
  project: ProjectScope,
  options?: ListOptions & { enabled?: boolean },
): Promise<Page<ScheduledOperationRecord>> {
  const where = scope(project);
  if (options?.enabled !== undefined) where.and('enabled = ?', options.enabled);
  return page(db, 'scheduled_operations', where, options, scheduledOperationOf);
}

export async function setScheduledOperationEnabled(
  db: SqlDb,
  project: ProjectScope,
  id: string,
  enabled: boolean,
): Promise<boolean> {
  if (!isId(id)) return false;
  const where = scope(project).and('id = ?', id.toLowerCase());
  return (
    (await db.run(`UPDATE scheduled_operations SET enabled = ?${where}`, [enabled, ...where.params])) > 0
  );
}

export async function deleteScheduledOperation(
  db: SqlDb,
  project: ProjectScope,
  id: string,
): Promise<boolean> {
  if (!isId(id)) return false;
  const where = scope(project).and('id = ?', id.toLowerCase());
  if ((await db.run(`DELETE FROM scheduled_operations${where}`, where.params)) === 0) return false;
  // Its claims are no use any more; a crash before this leaves rows nothing reads.
  await db.run('DELETE FROM scheduled_runs WHERE scheduled_operation_id = ?', [id.toLowerCase()]);
  return true;
}

export async function claimFires(
  db: SqlDb,
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
  const claimed = await db.run(
    `UPDATE scheduled_operations SET last_fire = ?
     WHERE id = ? AND enabled = ? AND COALESCE(last_fire, created_at) = ?`,
    [to, id, true, from],
  );
  if (claimed !== 1) return false;
  // Who claimed what, for people reading the catalog.
  await db.run(
    `INSERT INTO scheduled_runs (scheduled_operation_id, fire_at, owner, claimed_at)
     VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    [id, to, owner, now()],
  );
  return true;
}

export async function lastClaimedRun(db: SqlDb, scheduledOperationId: string): Promise<string | undefined> {
  if (!isId(scheduledOperationId)) return undefined;
  const [row] = await db.all('SELECT last_fire FROM scheduled_operations WHERE id = ?', [
    scheduledOperationId.toLowerCase(),
  ]);
  return row?.last_fire == null ? undefined : time(row.last_fire);
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
