/**
 * `hoard serve`: the REST API (docs/api.md), the dashboard and /metrics on one port, the
 * scheduler, and the runner of long operations. Fastify was chosen for its schema-first
 * routes (Ajv validation and the OpenAPI document come from the same schemas), body limits
 * and typed plugins; nothing here is a hand-written HTTP layer.
 */
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Catalog, OperationLogRecord, ScheduledOperationRecord } from '../catalog/index.js';
import { HoardError } from '../errors.js';
import { validatePolicy } from '../flows/retention.js';
import type { Provider, ProviderProblem } from '../providers/provider.js';
import type { OperationQueue } from '../queue/operations.js';
import { registerAuth } from './auth.js';
import { providerOf, type ServiceContext } from './context.js';
import { ApiError, errorReply } from './http-errors.js';
import { Metrics } from './metrics.js';
import { protectWork, retentionProtectWork } from './operations.js';
import { QueuedRunner } from './queued-runner.js';
import { registerCheckpoints } from './routes/checkpoints.js';
import { registerOperationLogs } from './routes/operation-logs.js';
import { registerPlans } from './routes/plans.js';
import { registerProviders } from './routes/providers.js';
import { registerSchedules } from './routes/schedules.js';
import { registerSystem } from './routes/system.js';
import { OperationRunner, type Runner, type Work } from './runner.js';
import { Scheduler } from './scheduler.js';

export const BODY_LIMIT = 1024 * 1024;
/** Deepest nesting of arrays and objects a request body may have (deeper ones are refused
 * before anything walks them recursively). */
export const BODY_DEPTH = 64;

export interface ServiceOptions {
  catalog: Catalog;
  providers: Provider[];
  problems?: ProviderProblem[];
  /** Directories project tokens' paths must lie in (`--path-root`); default anywhere. */
  pathRoots?: readonly string[];
  /** Scheduler tick in ms (default 1000); 0 = no scheduler. */
  tickMs?: number;
  heartbeatMs?: number;
  /**
   * The scheduler's clock (default: the system's). A test passes one it moves itself, with a
   * `tickMs` longer than the test, and calls `scheduler.tick()` when it has moved it.
   */
  now?: () => Date;
  /**
   * This server in the catalog: the `owner` of the operation logs it runs and the fires it
   * claims (default `host:pid`). Two services in one process need one each.
   */
  owner?: string;
  /**
   * Queue operations for `hoard worker` processes instead of running them here
   * (`hoard serve --no-runner`); the caller opens and closes the queue.
   */
  queue?: OperationQueue;
  /** Fastify's request log (default off). */
  logRequests?: boolean;
}

export interface Service {
  app: FastifyInstance;
  context: ServiceContext;
  scheduler: Scheduler | undefined;
  /** Stops the scheduler, waits for running operations (then cancels them), closes the server. */
  close(graceMs?: number): Promise<void>;
}

export async function createService(options: ServiceOptions): Promise<Service> {
  const { catalog } = options;
  const logError = (message: string, error: unknown) =>
    process.stderr.write(`hoard serve: ${message}: ${(error as Error)?.stack ?? String(error)}\n`);
  let providers: Provider[] = [];
  const metrics = new Metrics(catalog, async () => providers);
  providers = options.providers.map((p) => metrics.instrument(p));
  const runnerOptions = {
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.owner ? { owner: options.owner } : {}),
    onFinished: (log: OperationLogRecord) => metrics.finished(log),
    logError,
  };
  const runner: Runner = options.queue
    ? await QueuedRunner.open(catalog, options.queue, runnerOptions)
    : new OperationRunner(catalog, runnerOptions);
  const closing = new AbortController();
  let scheduler: Scheduler | undefined;
  const context: ServiceContext = {
    catalog,
    runner,
    metrics,
    providers,
    problems: options.problems ?? [],
    policy: { pathRoots: options.pathRoots ?? [] },
    closing: closing.signal,
    launchScheduled: (operation, fireAt) => launchScheduled(context, operation, fireAt),
    settleScheduler: async () => scheduler?.settle(),
  };

  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: options.logRequests ?? false,
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
  });
  // Bodies are validated strictly (a string is not a number); paths and queries are text,
  // so they are coerced.
  const strict = new Ajv({ allErrors: true, strict: false });
  const coercing = new Ajv({ allErrors: true, strict: false, coerceTypes: true, useDefaults: true });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? strict.compile(schema) : coercing.compile(schema),
  );
  // Every route's method and path pattern, so that a path served under other methods is a
  // 405 naming them, not a 404.
  const patterns: { method: string; path: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    const path = new RegExp(
      `^${route.url
        .split('/')
        .map((segment) =>
          segment.startsWith(':')
            ? '[^/]+'
            : segment === '*'
              ? '.*'
              : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('/')}/?$`,
    );
    for (const method of [route.method].flat()) patterns.push({ method, path });
  });
  // JSON only: a text body is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  app.addHook('preValidation', async (request) => {
    if (nestedDeeperThan(request.body, BODY_DEPTH))
      throw new ApiError(400, 'REQUEST_INVALID', `body is nested more than ${BODY_DEPTH} levels deep`);
  });
  app.setErrorHandler((error, request, reply) => {
    const { status, body, internal } = errorReply(error);
    if (internal) logError(`${request.method} ${request.url}`, error);
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = [
      ...new Set(
        patterns.filter((p) => p.method !== request.method && p.path.test(path)).map((p) => p.method),
      ),
    ].filter((m) => m !== 'HEAD');
    if (allowed.length > 0) {
      const { status, body } = errorReply(
        new ApiError(
          405,
          'METHOD_NOT_ALLOWED',
          `${request.method} is not allowed on ${path}; it takes ${allowed.join(', ')}`,
          { allowed },
        ),
      );
      void reply.code(status).header('allow', allowed.join(', ')).send(body);
      return;
    }
    const { status, body } = errorReply(
      new ApiError(
        404,
        'NOT_FOUND',
        `no route ${request.method} ${path}; the API is described at /openapi.json`,
      ),
    );
    void reply.code(status).send(body);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Hoard',
        version: '1',
        description:
          'Data-protection orchestrator: plans, checkpoints, restores, schedules. Guide: docs/api.md',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  registerAuth(app, catalog);
  await registerSystem(app, context);
  registerProviders(app, context);
  registerPlans(app, context);
  registerCheckpoints(app, context);
  registerOperationLogs(app, context);
  registerSchedules(app, context);
  await app.ready();

  scheduler =
    options.tickMs === 0
      ? undefined
      : new Scheduler({
          catalog,
          launch: context.launchScheduled,
          tickMs: options.tickMs ?? 1000,
          logError,
          ...(options.now ? { now: options.now } : {}),
          ...(options.owner ? { owner: options.owner } : {}),
        });
  scheduler?.start();

  return {
    app,
    context,
    scheduler,
    async close(graceMs = 30_000) {
      await scheduler?.stop();
      closing.abort();
      await app.close();
      await runner.close(graceMs);
    },
  };
}

async function launchScheduled(
  ctx: ServiceContext,
  operation: ScheduledOperationRecord,
  fireAt: Date,
): Promise<void> {
  const base = {
    project: operation.project,
    kind: operation.operationType,
    planId: operation.definition.planId,
    scheduledOperationId: operation.id,
    fireAt: fireAt.toISOString(),
  } as const;
  const plan = await ctx.catalog.getPlan(operation.project, operation.definition.planId);
  let provider: Provider | undefined;
  let problem: string | undefined;
  if (!plan) problem = `plan ${operation.definition.planId} was deleted`;
  else {
    try {
      provider = providerOf(ctx, operation.definition.providerId ?? plan.provider);
    } catch (error) {
      problem = (error as Error).message;
    }
  }
  if (!plan || !provider) {
    await ctx.runner.submit(base, async () => {
      throw new HoardError('USAGE', `scheduled operation "${operation.name}" cannot run: ${problem}`);
    });
    return;
  }
  const work: Work =
    operation.operationType === 'retention_protect'
      ? (run) =>
          retentionProtectWork(
            plan,
            provider,
            validatePolicy(
              operation.definition.retention,
              `scheduled operation "${operation.name}" retention`,
            ),
          )(run)
      : protectWork(plan, provider);
  await ctx.runner.submit({ ...base, providerId: provider.id }, work);
}

/** Whether a parsed JSON value nests arrays and objects more than `max` levels (no recursion). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [node, depth] = next;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}
