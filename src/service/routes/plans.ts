/** Plans: the catalog's named resource lists, checked like plan files. */
import type { FastifyInstance } from 'fastify';
import { HoardError } from '../../errors.js';
import { hookGraphJson, planHookGraph } from '../../flows/graph-view.js';
import type { OperationKind } from '../../plugins/sdk.js';
import { projectOf, providerOf, type ServiceContext } from '../context.js';
import { notFound } from '../http-errors.js';
import { Ownership } from '../ownership.js';
import { checkPlanInput, type PlanInput, planView, toPlan } from '../plans.js';
import { checkPlanAllowed } from '../policy.js';
import { graphQuery, idParams, pageQuery, planBody, projectParams } from '../schemas.js';

export function registerPlans(app: FastifyInstance, ctx: ServiceContext): void {
  const tags = ['plans'];

  app.get<{ Params: { project: string }; Querystring: { limit?: number; marker?: string } }>(
    '/v1/:project/plans',
    { schema: { tags, summary: 'List plans', params: projectParams, querystring: pageQuery } },
    async (request) => {
      const page = await ctx.catalog.listPlans(projectOf(request), request.query);
      return { plans: page.items.map(planView), next: page.next };
    },
  );

  app.post<{ Params: { project: string }; Body: PlanInput }>(
    '/v1/:project/plans',
    { schema: { tags, summary: 'Create a plan', params: projectParams, body: planBody } },
    async (request, reply) => {
      const body = request.body;
      checkPlanAllowed(request.token, body, ctx.policy);
      const provider = providerOf(ctx, body.providerId ?? 'local');
      await checkPlanInput(body, provider);
      Ownership.forget(ctx);
      const plan = await ctx.catalog.createPlan({
        project: projectOf(request),
        name: body.name,
        description: body.description ?? null,
        provider: provider.id,
        resources: body.resources,
        parameters: body.parameters ?? {},
      });
      Ownership.forget(ctx);
      reply.code(201).header('location', `/v1/${plan.project}/plans/${plan.id}`);
      return { plan: planView(plan) };
    },
  );

  app.get<{ Params: { project: string; id: string } }>(
    '/v1/:project/plans/:id',
    { schema: { tags, summary: 'Show a plan', params: idParams } },
    async (request) => {
      const plan = await ctx.catalog.getPlan(projectOf(request), request.params.id);
      if (!plan) throw notFound(`plan ${request.params.id}`);
      return { plan: planView(plan) };
    },
  );

  app.put<{ Params: { project: string; id: string }; Body: PlanInput }>(
    '/v1/:project/plans/:id',
    { schema: { tags, summary: 'Replace a plan', params: idParams, body: planBody } },
    async (request) => {
      const body = request.body;
      checkPlanAllowed(request.token, body, ctx.policy);
      const provider = providerOf(ctx, body.providerId ?? 'local');
      await checkPlanInput(body, provider);
      Ownership.forget(ctx);
      const plan = await ctx.catalog.updatePlan(projectOf(request), request.params.id, {
        name: body.name,
        description: body.description ?? null,
        provider: provider.id,
        resources: body.resources,
        parameters: body.parameters ?? {},
      });
      Ownership.forget(ctx);
      if (!plan) throw notFound(`plan ${request.params.id}`);
      return { plan: planView(plan) };
    },
  );

  app.delete<{ Params: { project: string; id: string } }>(
    '/v1/:project/plans/:id',
    { schema: { tags, summary: 'Delete a plan (its checkpoints stay)', params: idParams } },
    async (request, reply) => {
      const project = projectOf(request);
      const users = await schedulesOf(ctx, project, request.params.id);
      if (users.length)
        throw new HoardError(
          'CATALOG_IN_USE',
          `plan ${request.params.id} is used by scheduled operation ${users.map((u) => `"${u}"`).join(', ')}: delete those first`,
          { details: { scheduledOperations: users } },
        );
      Ownership.forget(ctx);
      const deleted = await ctx.catalog.deletePlan(project, request.params.id);
      Ownership.forget(ctx);
      if (!deleted) throw notFound(`plan ${request.params.id}`);
      reply.code(204);
    },
  );

  app.get<{ Params: { project: string; id: string }; Querystring: { operation?: OperationKind } }>(
    '/v1/:project/plans/:id/graph',
    { schema: { tags, summary: "The plan's hook graph", params: idParams, querystring: graphQuery } },
    async (request) => {
      const plan = await ctx.catalog.getPlan(projectOf(request), request.params.id);
      if (!plan) throw notFound(`plan ${request.params.id}`);
      const provider = providerOf(ctx, plan.provider);
      return hookGraphJson(await planHookGraph(toPlan(plan), provider, request.query.operation ?? 'protect'));
    },
  );
}

/** Names of the project's scheduled operations that run this plan. */
async function schedulesOf(ctx: ServiceContext, project: string, planId: string): Promise<string[]> {
  const names: string[] = [];
  for (let marker: string | undefined; ; ) {
    const page = await ctx.catalog.listScheduledOperations(project, {
      limit: 1000,
      ...(marker ? { marker } : {}),
    });
    for (const op of page.items) if (op.definition.planId === planId) names.push(op.name);
    if (!page.next) return names;
    marker = page.next;
  }
}
