/**
 * Restores, verifications and copies (each an operation log of its kind), the operation
 * logs themselves, their hook graph, and their live events as server-sent events.
 */
import type { FastifyInstance } from 'fastify';
import {
  OPERATION_LOG_ENDED,
  type OperationKind,
  type OperationLogFilter,
  type OperationLogRecord,
  type TokenRecord,
} from '../../catalog/index.js';
import { HoardError } from '../../errors.js';
import { prepareCopy, prepareRestore, prepareVerify } from '../../flows/checkpoint-ops.js';
import { readCheckpoint } from '../../flows/checkpoints.js';
import { checkpointHookGraph, hookGraphJson, planHookGraph } from '../../flows/graph-view.js';
import type { Provider } from '../../providers/provider.js';
import { projectOf, providerOf, type ServiceContext } from '../context.js';
import { ApiError, notFound } from '../http-errors.js';
import { operationAccepted, operationLogView } from '../operation-log-view.js';
import {
  copyWork,
  type OperationRequest,
  restoreOptions,
  restoreWork,
  verifyOptions,
  verifyWork,
} from '../operations.js';
import { ownedCheckpoint } from '../ownership.js';
import { toPlan } from '../plans.js';
import { checkOperationAllowed, checkRestoreTargets } from '../policy.js';
import type { LiveEvent } from '../runner.js';
import {
  copyBody,
  eventsQuery,
  idParams,
  operationLogQuery,
  pageQuery,
  projectParams,
  restoreBody,
  verifyBody,
} from '../schemas.js';

const TERMINAL: ReadonlySet<string> = OPERATION_LOG_ENDED;

interface OperationBody extends OperationRequest {
  providerId: string;
  checkpointId: string;
}

/**
 * Karbor's restores / verifications / copies: POST starts one, GET lists and shows. Each
 * POST is checked as its operation would check it (parameters, target, checkpoint status)
 * before the 202, so a caller's mistake is a 4xx, not a failed operation log.
 */
const COLLECTIONS: {
  path: string;
  kind: OperationKind;
  one: string;
  body: object;
  check: (
    body: OperationBody,
    provider: Provider,
    ctx: ServiceContext,
    token: TokenRecord | null,
  ) => Promise<void>;
  work: (body: OperationBody, provider: Provider, ctx: ServiceContext) => ReturnType<typeof restoreWork>;
}[] = [
  {
    path: 'restores',
    kind: 'restore',
    one: 'restore',
    body: restoreBody,
    check: async (b, p, ctx, token) =>
      checkRestoreTargets(token, await prepareRestore(b.checkpointId, p, restoreOptions(b)), p, ctx.policy),
    work: (b, p) => restoreWork(b.checkpointId, p, restoreOptions(b)),
  },
  {
    path: 'verifications',
    kind: 'verify',
    one: 'verification',
    body: verifyBody,
    check: async (b, p) => {
      await prepareVerify(b.checkpointId, p, verifyOptions(b));
    },
    work: (b, p) => verifyWork(b.checkpointId, p, verifyOptions(b)),
  },
  {
    path: 'copies',
    kind: 'copy',
    one: 'copy',
    body: copyBody,
    check: async (b, p, ctx) => {
      const to = providerOf(ctx, b.toProviderId!);
      if (to.id === p.id)
        throw new ApiError(
          400,
          'REQUEST_INVALID',
          `body/toProviderId names the checkpoint's own provider (${p.name}): copy to another one`,
          {
            field: 'toProviderId',
          },
        );
      await prepareCopy(b.checkpointId, p, to);
    },
    work: (b, p, ctx) => copyWork(b.checkpointId, p, providerOf(ctx, b.toProviderId!)),
  },
];

export function registerOperationLogs(app: FastifyInstance, ctx: ServiceContext): void {
  for (const c of COLLECTIONS) {
    const tags = [c.path];
    app.post<{ Params: { project: string }; Body: OperationBody }>(
      `/v1/:project/${c.path}`,
      { schema: { tags, summary: `Start a ${c.kind} (202)`, params: projectParams, body: c.body } },
      async (request, reply) => {
        const project = projectOf(request);
        const body = request.body;
        checkOperationAllowed(request.token, body);
        const provider = providerOf(ctx, body.providerId);
        const { meta, owner } = await ownedCheckpoint(ctx, request, provider, body.checkpointId);
        await c.check(body, provider, ctx, request.token);
        const work = c.work(body, provider, ctx);
        const parameters: Record<string, unknown> = { ...body };
        const log = await ctx.runner.submit(
          {
            project,
            kind: c.kind,
            planId: owner?.plan.id ?? null,
            providerId: provider.id,
            checkpointId: meta.id,
            parameters,
          },
          work,
        );
        return operationAccepted(reply, log);
      },
    );
    app.get<{ Params: { project: string }; Querystring: { limit?: number; marker?: string } }>(
      `/v1/:project/${c.path}`,
      { schema: { tags, summary: `List ${c.path}`, params: projectParams, querystring: pageQuery } },
      async (request) => {
        const page = await ctx.catalog.listOperationLogs(projectOf(request), {
          ...request.query,
          kind: c.kind,
        });
        return { [c.path]: page.items.map((l) => operationLogView(l)), next: page.next };
      },
    );
    app.get<{ Params: { project: string; id: string } }>(
      `/v1/:project/${c.path}/:id`,
      { schema: { tags, summary: `Show a ${c.one}`, params: idParams } },
      async (request) => {
        const log = await ctx.catalog.getOperationLog(projectOf(request), request.params.id);
        if (!log || log.kind !== c.kind) throw notFound(`${c.one} ${request.params.id}`);
        return { [c.one]: operationLogView(log, ctx.runner.liveTasks(log.id)) };
      },
    );
  }

  const tags = ['operation_logs'];
  app.get<{ Params: { project: string }; Querystring: OperationLogFilter }>(
    '/v1/:project/operation_logs',
    {
      schema: { tags, summary: 'List operation logs', params: projectParams, querystring: operationLogQuery },
    },
    async (request) => {
      const page = await ctx.catalog.listOperationLogs(projectOf(request), request.query);
      return { operationLogs: page.items.map((l) => operationLogView(l)), next: page.next };
    },
  );

  const getLog = async (project: string, id: string) => {
    const log = await ctx.catalog.getOperationLog(project, id);
    if (!log) throw notFound(`operation log ${id}`);
    return log;
  };

  app.get<{ Params: { project: string; id: string } }>(
    '/v1/:project/operation_logs/:id',
    { schema: { tags, summary: 'Show an operation log', params: idParams } },
    async (request) => {
      const log = await getLog(projectOf(request), request.params.id);
      return { operationLog: operationLogView(log, ctx.runner.liveTasks(log.id)) };
    },
  );

  app.post<{ Params: { project: string; id: string } }>(
    '/v1/:project/operation_logs/:id/cancel',
    {
      schema: {
        tags,
        summary:
          'Cancel a queued or running operation (202): its hooks are aborted, owed teardowns still run, and it ends `cancelled`',
        params: idParams,
      },
    },
    async (request, reply) => {
      const project = projectOf(request);
      const log = await getLog(project, request.params.id);
      const asked = await ctx.catalog.requestCancel(project, log.id);
      if (!asked) {
        const now = (await ctx.catalog.getOperationLog(project, log.id)) ?? log;
        const already = now.cancelRequestedAt !== null && !TERMINAL.has(now.status);
        throw new HoardError(
          'OPERATION_NOT_RUNNING',
          already
            ? `operation log ${log.id} is being cancelled already (asked at ${now.cancelRequestedAt})`
            : `operation log ${log.id} is ${now.status}: only a queued or running operation can be cancelled`,
          { details: { operationLog: log.id, status: already ? 'cancelling' : now.status } },
        );
      }
      // Here at once; a server elsewhere running it sees the request within a second.
      ctx.runner.cancel(asked.id);
      reply.code(202).header('location', `/v1/${asked.project}/operation_logs/${asked.id}`);
      return { operationLog: operationLogView(asked, ctx.runner.liveTasks(asked.id)) };
    },
  );

  app.get<{ Params: { project: string; id: string } }>(
    '/v1/:project/operation_logs/:id/graph',
    { schema: { tags, summary: "The operation's hook graph", params: idParams } },
    async (request) => {
      const project = projectOf(request);
      const log = await getLog(project, request.params.id);
      const provider = providerOf(ctx, log.providerId ?? 'local');
      const kind = log.kind === 'retention_protect' ? 'protect' : log.kind;
      if (log.checkpointId) {
        const meta = await readCheckpoint(provider, log.checkpointId).catch(() => undefined);
        if (meta) return hookGraphJson(checkpointHookGraph(meta, provider, kind));
      }
      if (kind === 'protect' && log.planId) {
        const plan = await ctx.catalog.getPlan(project, log.planId, { includeDeleted: true });
        if (plan) return hookGraphJson(await planHookGraph(toPlan(plan), provider, 'protect'));
      }
      // The checkpoint is gone (deleted): the tasks the run recorded, without edges.
      const tasks = (
        (log.result as { operation?: { tasks?: { resource: string; hook: string }[] } })?.operation?.tasks ??
        []
      ).map((t) => ({
        id: `${t.resource}:${t.hook}`,
        resource: t.resource,
        hook: t.hook,
        implemented: true,
      }));
      return { tasks, edges: [] };
    },
  );

  app.get<{ Params: { project: string; id: string } }>(
    '/v1/:project/operation_logs/:id/events',
    {
      schema: {
        tags,
        summary: 'Live events (server-sent): status, task, progress, end',
        params: idParams,
        querystring: eventsQuery,
      },
    },
    async (request, reply) => {
      const project = projectOf(request);
      const first = await getLog(project, request.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // A stream closed by the server stopping carries no `end`: a client reconnects (EventSource
      // does, after this delay) and the first `status` tells where the operation stands.
      res.write('retry: 2000\n\n');
      let closed = false;
      const send = (event: string, data: unknown) => {
        if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const timers: NodeJS.Timeout[] = [];
      let unsubscribe: (() => void) | undefined;
      const close = () => {
        if (closed) return;
        closed = true;
        unsubscribe?.();
        ctx.closing.removeEventListener('abort', close);
        for (const t of timers) clearInterval(t);
        res.end();
      };
      request.raw.on('close', close);
      if (ctx.closing.aborted) return close();
      ctx.closing.addEventListener('abort', close, { once: true });
      const finish = (log: OperationLogRecord) => {
        send('end', operationLogView(log));
        close();
      };

      send('status', operationLogView(first, ctx.runner.liveTasks(first.id)));
      if (TERMINAL.has(first.status)) return finish(first);
      unsubscribe = ctx.runner.subscribe(first.id, (event: LiveEvent) => {
        if (event.type === 'status') send('status', operationLogView(event.log));
        else if (event.type === 'end') finish(event.log);
        else {
          const { type, ...data } = event;
          send(type, data);
        }
      });
      timers.push(setInterval(() => !closed && res.write(': keep-alive\n\n'), 15_000));
      // It may have ended between the first read and subscribing, or run in another server, or
      // in a worker (whose events stop if it dies): then follow the catalog.
      let last = first.status;
      const poll = async () => {
        const log = await ctx.catalog.getOperationLog(project, first.id);
        if (!log || closed) return;
        if (TERMINAL.has(log.status)) return finish(log);
        if (log.status !== last) send('status', operationLogView(log));
        last = log.status;
      };
      await poll();
      if ((!unsubscribe || ctx.runner.remote) && !closed)
        timers.push(setInterval(() => void poll().catch(close), 1000));
    },
  );
}
