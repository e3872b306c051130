/**
 * Checkpoints per provider (Karbor: POST = protect). A project sees the checkpoints of its
 * plans (deleted ones included) and those `hoard protect` made of a plan file named like one
 * of its plans on this provider (ownership.ts); anything else is 404. An admin token sees
 * every checkpoint of the bank, and `?all=true` lists them all.
 */
import type { FastifyInstance } from 'fastify';
import { browseResource, diffCheckpoints, listResources } from '../../flows/browse.js';
import { checkpointView } from '../../flows/checkpoint-view.js';
import {
  type CheckpointStatus,
  type CheckpointSummary,
  listCheckpoints,
  protectLog,
  withStats,
} from '../../flows/checkpoints.js';
import { requireAdmin } from '../auth.js';
import { projectOf, providerOf, type ServiceContext } from '../context.js';
import { notFound, withoutStacks } from '../http-errors.js';
import { operationAccepted } from '../operation-log-view.js';
import { deleteWork, protectWork } from '../operations.js';
import { Ownership, ownedCheckpoint, ownerFields } from '../ownership.js';
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

export function registerCheckpoints(app: FastifyInstance, ctx: ServiceContext): void {
  const tags = ['checkpoints'];
  /** The last list answered per provider, project and query (see `samePage`). */
  const answered = new Map<string, Answered>();

  app.get<{
    Params: { project: string; providerId: string };
    Querystring: {
      planId?: string;
      status?: CheckpointStatus;
      limit?: number;
      marker?: string;
      all?: boolean;
    };
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
    async (request, reply) => {
      const project = projectOf(request);
      const provider = providerOf(ctx, request.params.providerId);
      const { planId, status, marker, all } = request.query;
      const limit = request.query.limit ?? 100;
      if (all) requireAdmin(request);
      let ownership = await Ownership.load(ctx, provider);
      // A plan another server has just made is not among the plans kept: read them again.
      if (planId && !ownership.hasPlan(project, planId))
        ownership = await Ownership.load(ctx, provider, { fresh: true });
      if (planId && !ownership.hasPlan(project, planId)) throw notFound(`plan ${planId}`);
      const filter = {
        limit,
        ...(status ? { status } : {}),
        ...(marker ? { marker } : {}),
      };
      // One index scan per plan key the project owns (its plans' ids, the plan names of the
      // CLI's checkpoints it owns), or one of the whole bank for `all`; no read per checkpoint.
      const pages = all
        ? [await listCheckpoints(provider, filter)]
        : await Promise.all(
            ownership
              .keysOf(project, planId?.toLowerCase())
              .map(({ key }) => listCheckpoints(provider, { ...filter, plan: key })),
          );
      const merged = pages
        .flatMap((p) => p.checkpoints)
        .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      const page = merged.slice(0, limit);
      const more = merged.length > limit || pages.some((p) => p.next !== null && p.next !== undefined);
      const next = more && page.length ? page[page.length - 1]!.id : null;
      // The same page as last time, from the same plans: the same bytes. Only pages whose
      // entries all carry stats (nothing read from records) and not `all` (plan names from records).
      const key = all
        ? undefined
        : `${provider.id}\n${project}\n${planId ?? ''}\n${status ?? ''}\n${marker ?? ''}\n${limit}`;
      const last = key === undefined ? undefined : answered.get(key);
      if (last && last.ownership === ownership && last.next === next && samePage(last.page, page)) {
        reply.type(JSON_TYPE);
        return last.body;
      }
      // Stats from the stats index; plan names from the catalog (from records only for `all`,
      // which may show checkpoints of plans no project here has).
      const items = await withStats(provider, page, { planNames: all === true });
      const value = {
        // One shape for every item, built field by field: spreading summaries of several
        // shapes (with and without stats) took as long as reading the index.
        checkpoints: items.map((c) => {
          const owner = ownerFields(c.plan, ownership.ownerOf(c.plan), c.planName);
          return {
            id: c.id,
            plan: c.plan,
            status: c.status,
            createdAt: c.createdAt,
            stats: c.stats,
            providerId: provider.id,
            planId: owner.planId,
            planName: owner.planName,
            project: owner.project,
            origin: owner.origin,
          };
        }),
        next,
      };
      if (key === undefined || !page.every((c) => c.stats)) return value;
      const body = Buffer.from(reply.serialize(value) as string);
      answered.delete(key);
      answered.set(key, { page, ownership, next, body });
      if (answered.size > ANSWERS_KEPT) answered.delete(answered.keys().next().value!);
      reply.type(JSON_TYPE);
      return body;
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
      const { meta, owner } = await ownedCheckpoint(ctx, request, provider, request.params.checkpointId);
      const operation = await protectLog(provider, meta);
      return {
        checkpoint: withoutStacks({
          ...checkpointView(meta),
          ...ownerFields(meta.plan, owner, meta.planName),
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
      const { meta, owner } = await ownedCheckpoint(ctx, request, provider, request.params.checkpointId);
      const log = await ctx.runner.submit(
        {
          project,
          kind: 'delete',
          planId: owner?.plan.id ?? null,
          providerId: provider.id,
          checkpointId: meta.id,
        },
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
      const { meta } = await ownedCheckpoint(ctx, request, provider, request.params.checkpointId);
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
      const { meta } = await ownedCheckpoint(ctx, request, provider, request.params.checkpointId);
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
      const provider = providerOf(ctx, request.params.providerId);
      const { meta: to } = await ownedCheckpoint(ctx, request, provider, request.params.checkpointId);
      const { meta: from } = await ownedCheckpoint(ctx, request, provider, request.query.from);
      return diffCheckpoints({ provider, id: from.id }, { provider, id: to.id });
    },
  );
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** Lists kept answered (a dashboard's and scripts' few queries per project). */
const ANSWERS_KEPT = 256;

interface Answered {
  page: readonly CheckpointSummary[];
  /** The plans it was answered from (a new object whenever they are read again). */
  ownership: Ownership;
  next: string | null;
  body: Buffer;
}

/**
 * Whether two listings are the same checkpoints with the same statuses and statistics. Index
 * entries are parsed once per key (checkpoints/store.ts), so an unchanged entry gives the very
 * same stats object; a status or stats change writes a new key.
 */
function samePage(a: readonly CheckpointSummary[], b: readonly CheckpointSummary[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.id !== y.id ||
      x.status !== y.status ||
      x.plan !== y.plan ||
      x.stats === undefined ||
      x.stats !== y.stats
    )
      return false;
  }
  return true;
}
