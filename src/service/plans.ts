/**
 * Plans kept in the catalog. They have the plan file's shape (SPEC §7) and are checked the
 * same way; in a bank their checkpoints are filed under the plan's id, which is unique
 * across projects, so two projects' plans of one name never share a history.
 */
import type { PlanRecord } from '../catalog/index.js';
import { operationParameters } from '../flows/checkpoint-view.js';
import { checkPlan, type Plan, parsePlan } from '../plans/plan.js';
import type { Provider } from '../providers/provider.js';
import { discoverGraph } from '../resources/graph.js';

export interface PlanInput {
  name: string;
  providerId?: string;
  description?: string;
  resources: unknown[];
  parameters?: Record<string, unknown>;
}

/** The plan as the flows take it; `name` is the plan's id (the bank's plan key), `displayName` its name. */
export function toPlan(
  record: Pick<PlanRecord, 'id' | 'name' | 'provider' | 'resources' | 'parameters'>,
): Plan {
  const document = {
    name: record.id,
    provider: record.provider,
    resources: record.resources,
    parameters: record.parameters,
  };
  return { ...parsePlan(JSON.stringify(document), `plan "${record.name}"`), displayName: record.name };
}

/**
 * Throws PLAN_INVALID / PARAMS_INVALID naming the entry, as for a plan file. Parameters are
 * checked against each plugin's protect schema over the plan's own resources (without
 * discovery, which may reach out to the resources themselves).
 */
export async function checkPlanInput(input: PlanInput, provider: Provider): Promise<void> {
  const plan = toPlan({
    id: 'plan-being-checked',
    name: input.name,
    provider: provider.id,
    resources: input.resources,
    parameters: input.parameters ?? {},
  });
  checkPlan(plan, provider.registry);
  const graph = await discoverGraph(plan.resources, new Map(), { source: plan.source });
  operationParameters('protect', graph, provider.registry, plan.parameters, {}, plan.source);
}

/** The plan as the API shows it. */
export function planView(record: PlanRecord) {
  return {
    id: record.id,
    name: record.name,
    description: record.description,
    providerId: record.provider,
    resources: record.resources,
    parameters: record.parameters,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}
