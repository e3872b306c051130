/** Triggers: deleting one a scheduled operation still uses is CATALOG_IN_USE. */
import { HoardError } from '../../errors.js';
import { idTime, isId, newId } from '../ids.js';
import type { ListOptions, NewTrigger, Page, ProjectScope, TriggerRecord } from '../types.js';
import {
  byId,
  json,
  page,
  parse,
  type Row,
  requireObject,
  requireText,
  type SqlDb,
  scope,
  time,
} from './base.js';

export async function createTrigger(db: SqlDb, input: NewTrigger): Promise<TriggerRecord> {
  requireText(input.project, 'project');
  requireText(input.name, 'name');
  if (input.type !== 'time') {
    throw new HoardError('CATALOG_INVALID', `unknown trigger type "${String(input.type)}": expected "time"`, {
      details: { type: input.type },
    });
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
  await db.run(
    'INSERT INTO triggers (id, project, name, type, properties, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [trigger.id, trigger.project, trigger.name, trigger.type, json(trigger.properties), trigger.createdAt],
  );
  return trigger;
}

export async function getTrigger(
  db: SqlDb,
  project: ProjectScope,
  id: string,
): Promise<TriggerRecord | undefined> {
  return byId(db, 'triggers', project, id, triggerOf);
}

export function listTriggers(
  db: SqlDb,
  project: ProjectScope,
  options?: ListOptions,
): Promise<Page<TriggerRecord>> {
  return page(db, 'triggers', scope(project), options, triggerOf);
}

export async function deleteTrigger(db: SqlDb, project: ProjectScope, id: string): Promise<boolean> {
  if (!isId(id)) return false;
  const where = scope(project).and('id = ?', id.toLowerCase());
  // The foreign key decides, so a scheduled operation created meanwhile still counts.
  for (let attempt = 0; ; attempt++) {
    try {
      return (await db.run(`DELETE FROM triggers${where}`, where.params)) > 0;
    } catch (error) {
      if (db.violation(error) !== 'foreign-key') throw error;
      const [user] = await db.all(
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
