/**
 * Checkpoints per provider (Karbor: POST = protect). A project sees a checkpoint only if
 * its plan is one of the project's plans (deleted ones included); anything else is 404.
 */
import type { FastifyInstance } from 'fastify';
import type { PlanRecord } from '../../catalog/index.js';
import { HoardError } from '../../errors.js';
import { browseResource, diffCheckpoints, listResources } from '../../flows/browse.js';
import { checkpointView } from '../../flows/checkpoint-view.js';
import {
  type CheckpointMeta,
  type CheckpointStatus,
  type CheckpointSummary,
  getCheckpoint,
  indexedCheckpoint,
  listCheckpoints,
  protectLog,
  withStats,
} from '../../flows/checkpoints.js';
import type { Provider } from '../../providers/provider.js';
import { projectOf, providerOf, type ServiceContext } from '../context.js';
import { notFound, withoutStacks } from '../http-errors.js';
import { operationAccepted } from '../operation-log-view.js';
import { deleteWork, protectWork } from '../operations.js';
import {
  browseQuery,
  checkpointListResponse,
  checkpointParams,
  checkpointQuery,
  checkpointResourceParams,
  checkpointShowResponse,
  diffQuery,
  protectBody,
  providerParams,
} from '../schemas.js';

/** The checkpoint and its plan, if the project owns it; else 404. */
export async function ownedCheckpoint(
  ctx: ServiceContext,
  project: string,
  provider: Provider,
  id: string,
): Promise<{ meta: CheckpointMeta; plan: PlanRecord }> {
  let meta: CheckpointMeta;
  try {
    meta = await getCheckpoint(provider, id);
  } catch (error) {
    if (error instanceof HoardError && error.code === 'CHECKPOINT_NOT_FOUND')
      throw notFound(`checkpoint ${id} in provider ${provider.name}`);
    // A damaged record names no plan; its index entries do. Only its own project learns of it.
    if (error instanceof HoardError && error.code === 'CHECKPOINT_CORRUPT') {
      const plans = (await indexedCheckpoint(provider, id)).map((c) => c.plan);
      for (const plan of plans)
        if (await ctx.catalog.getPlan(project, plan, { includeDeleted: true })) throw error;
      throw notFound(`checkpoint ${id} in provider ${provider.name}`);
    }
    throw error;
  }
  const plan = await ctx.catalog.getPlan(project, meta.plan, { includeDeleted: true });
  if (!plan) throw notFound(`checkpoint ${id} in provider ${provider.name}`);
  return { meta, plan };
}

async function projectPlans(ctx: ServiceContext, project: string): Promise<PlanRecord[]> {
  const plans: PlanRecord[] = [];
  for (let marker: string | undefined; ; ) {
    const page = await ctx.catalog.listPlans(project, {
      limit: 1000,
      includeDeleted: true,
      ...(marker ? { marker } : {}),
    });
    plans.push(...page.items);
    if (!page.next) return plans;
    marker = page.next;
  }
}

export function registerCheckpoints(app: FastifyInstance, ctx: ServiceContext): void {
  const tags = ['checkpoints'];

  app.get<{
    Params: { project: string; providerId: string };
    Querystring: { planId?: string; status?: CheckpointStatus; limit?: number; marker?: string };
  }>(
    '/v1/:project/providers/:providerId/checkpoints',
    {
      schema: {
        tags,
        summary: "The project's checkpoints in a provider, newest first, each with its stats",
        params: providerParams,
        querystring: checkpointQuery,
        response: checkpointListResponse,
      },
    },
    async (request) => {
      const project = projectOf(request);
      const provider = providerOf(ctx, request.params.providerId);
      const { planId, status, marker } = request.query;
      const limit = request.query.limit ?? 100;
      let plans: PlanRecord[];
      if (planId) {
        const plan = await ctx.catalog.getPlan(project, planId, { includeDeleted: true });
        if (!plan) throw notFound(`plan ${planId}`);
        plans = [plan];
      } else plans = await projectPlans(ctx, project);
      // One index scan per plan (no read per checkpoint), merged newest first.
      const pages = await Promise.all(
        plans.map((p) =>
          listCheckpoints(provider, {
            plan: p.id,
            limit,
            ...(status ? { status } : {}),
            ...(marker ? { marker } : {}),
          }),
        ),
      );
      const merged = pages
        .flatMap((p) => p.checkpoints)
        .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      // The page's records give their stats: a read per checkpoint shown, not per one listed.
      const items = await withStats(provider, merged.slice(0, limit));
      const more = merged.length > limit || pages.some((p) => p.next !== null && p.next !== undefined);
      const names = new Map(plans.map((p) => [p.id, p.name]));
      return {
        checkpoints: items.map((c: CheckpointSummary) => ({
          ...c,
          providerId: provider.id,
          planName: names.get(c.plan) ?? null,
        })),
        next: more && items.length ? items[items.length - 1]!.id : null,
      };
    },
  );

  app.post<{ Params: { project: string; providerId: string }; Body: { planId: string } }>(
    '/v1/:project/providers/:providerId/checkpoints',
    {
      schema: {
        tags,
        summary: 'Protect a plan into a new checkpoint (202)',
        params: providerParams,
        body: protectBody,
      },
    },
    async (request, reply) => {
      const project = projectOf(request);
      const provider = providerOf(ctx, request.params.providerId);
      const plan = await ctx.catalog.getPlan(project, request.body.planId);
      if (!plan) throw notFound(`plan ${request.body.planId}`);
      const log = await ctx.runner.submit(
        { project, kind: 'protect', planId: plan.id, providerId: provider.id },
        protectWork(plan, provider),
      );
      return operationAccepted(reply, log);
    },
  );

  app.get<{ Params: { project: string; providerId: string; checkpointId: string } }>(
    '/v1/:project/providers/:providerId/checkpoints/:checkpointId',
    {
      schema: {
        tags,
        summary:
          "Show a checkpoint: its resources with their stats, and its protect's log with the hooks' output",
        params: checkpointParams,
        response: checkpointShowResponse,
      },
    },
    async (request) => {
      const provider = providerOf(ctx, request.params.providerId);
      const { meta, plan } = await ownedCheckpoint(
        ctx,
        projectOf(request),
        provider,
        request.params.checkpointId,
      );
      const operation = await protectLog(provider, meta);
      return {
        checkpoint: withoutStacks({
          ...checkpointView(meta),
          planName: plan.name,
          graph: meta.graph,
          operations: meta.operations,
        }),
        ...(operation ? { operation: withoutStacks(operation) } : {}),
      };
    },
  );

  app.delete<{ Params: { project: string; providerId: string; checkpointId: string } }>(
    '/v1/:project/providers/:providerId/checkpoints/:checkpointId',
    { schema: { tags, summary: 'Delete a checkpoint (202)', params: checkpointParams } },
    async (request, reply) => {
      const project = projectOf(request);
      const provider = providerOf(ctx, request.params.providerId);
      const { meta, plan } = await ownedCheckpoint(ctx, project, provider, request.params.checkpointId);
      const log = await ctx.runner.submit(
        { project, kind: 'delete', planId: plan.id, providerId: provider.id, checkpointId: meta.id },
        deleteWork(meta.id, provider),
      );
      return operationAccepted(reply, log);
    },
  );

  app.get<{ Params: { project: string; providerId: string; checkpointId: string } }>(
    '/v1/:project/providers/:providerId/checkpoints/:checkpointId/resources',
    {
      schema: {
        tags,
        summary:
          "A checkpoint's resources: status, statistics when recorded, and what `resources/{resource}` shows",
        params: checkpointParams,
      },
    },
    async (request) => {
      const provider = providerOf(ctx, request.params.providerId);
      const { meta } = await ownedCheckpoint(ctx, projectOf(request), provider, request.params.checkpointId);
      return withoutStacks(await listResources(provider, meta.id));
    },
  );

  app.get<{
    Params: { project: string; providerId: string; checkpointId: string; resource: string };
    Querystring: { path?: string; recursive?: boolean };
  }>(
    '/v1/:project/providers/:providerId/checkpoints/:checkpointId/resources/:resource',
    {
      schema: {
        tags,
        summary:
          "What a checkpoint holds of one resource: a file resource's entries at `path` (`recursive`: all below it), or another's saved info (as `hoard ls`)",
        params: checkpointResourceParams,
        querystring: browseQuery,
      },
    },
    async (request) => {
      const provider = providerOf(ctx, request.params.providerId);
      const { meta } = await ownedCheckpoint(ctx, projectOf(request), provider, request.params.checkpointId);
      const { path, recursive } = request.query;
      return browseResource(provider, meta.id, request.params.resource, {
        ...(path !== undefined ? { path } : {}),
        ...(recursive ? { recursive: true } : {}),
      });
    },
  );

  app.get<{
    Params: { project: string; providerId: string; checkpointId: string };
    Querystring: { from: string };
  }>(
    '/v1/:project/providers/:providerId/checkpoints/:checkpointId/diff',
    {
      schema: {
        tags,
        summary: 'What changed from checkpoint `from` to this one, per resource (as `hoard diff`)',
        params: checkpointParams,
        querystring: diffQuery,
      },
    },
    async (request) => {
      const project = projectOf(request);
      const provider = providerOf(ctx, request.params.providerId);
      const { meta: to } = await ownedCheckpoint(ctx, project, provider, request.params.checkpointId);
      const { meta: from } = await ownedCheckpoint(ctx, project, provider, request.query.from);
      return diffCheckpoints({ provider, id: from.id }, { provider, id: to.id });
    },
  );
}
