/** Plans: names unique per project, soft-deleted so their checkpoints keep an owner. */
import { HoardError } from '../../errors.js';
import { idTime, isId, newId } from '../ids.js';
import type { ListOptions, NewPlan, Page, PlanPatch, PlanRecord, ProjectScope } from '../types.js';
import {
  Assignments,
  byId,
  json,
  now,
  page,
  parse,
  type Row,
  requireArray,
  requireObject,
  requireText,
  type SqlDb,
  scope,
  time,
} from './base.js';

export async function createPlan(db: SqlDb, input: NewPlan): Promise<PlanRecord> {
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
    await db.run(
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
    if (db.violation(error) === 'unique') throw planConflict(plan.project, plan.name, error);
    throw error;
  }
  return plan;
}

export async function getPlan(
  db: SqlDb,
  project: ProjectScope,
  id: string,
  options?: { includeDeleted?: boolean },
): Promise<PlanRecord | undefined> {
  return byId(db, 'plans', project, id, planOf, (where) =>
    options?.includeDeleted ? where : where.and('deleted_at IS NULL'),
  );
}

export function listPlans(
  db: SqlDb,
  project: ProjectScope,
  options?: ListOptions & { includeDeleted?: boolean },
): Promise<Page<PlanRecord>> {
  const where = scope(project);
  if (!options?.includeDeleted) where.and('deleted_at IS NULL');
  return page(db, 'plans', where, options, planOf);
}

export async function updatePlan(
  db: SqlDb,
  project: ProjectScope,
  id: string,
  patch: PlanPatch,
): Promise<PlanRecord | undefined> {
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
    const [row] = await db.all(`UPDATE plans SET ${set}${where} RETURNING *`, [
      ...set.params,
      ...where.params,
    ]);
    return row && planOf(row);
  } catch (error) {
    if (db.violation(error) !== 'unique' || patch.name === undefined) throw error;
    const [row] = await db.all('SELECT project FROM plans WHERE id = ?', [id.toLowerCase()]);
    throw planConflict((row?.project as string | undefined) ?? String(project), patch.name, error);
  }
}

export async function deletePlan(db: SqlDb, project: ProjectScope, id: string): Promise<boolean> {
  if (!isId(id)) return false;
  const where = scope(project).and('id = ?', id.toLowerCase()).and('deleted_at IS NULL');
  return (await db.run(`UPDATE plans SET deleted_at = ?${where}`, [now(), ...where.params])) > 0;
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

function planConflict(project: string, name: string, cause: unknown): HoardError {
  return new HoardError('CATALOG_CONFLICT', `project "${project}" already has a plan named "${name}"`, {
    details: { project, name },
    cause,
  });
}
