/** What every route needs: the catalog, the providers, the runner, and who is asking. */
import type { FastifyRequest } from 'fastify';
import type { Catalog, ScheduledOperationRecord, TokenRecord } from '../catalog/index.js';
import { findProvider, type Provider, type ProviderProblem } from '../providers/provider.js';
import { ApiError } from './http-errors.js';
import type { Metrics } from './metrics.js';
import type { HostPolicy } from './policy.js';
import type { Runner } from './runner.js';

declare module 'fastify' {
  interface FastifyRequest {
    token: TokenRecord | null;
  }
}

export interface ServiceContext {
  catalog: Catalog;
  /** Runs operations here, or queues them for workers (`--no-runner`). */
  runner: Runner;
  metrics: Metrics;
  providers: Provider[];
  problems: ProviderProblem[];
  policy: HostPolicy;
  /** Aborted when the server stops: open event streams end then. */
  closing: AbortSignal;
  /** Starts a scheduled operation's run (also what the scheduler calls). */
  launchScheduled(operation: ScheduledOperationRecord, fireAt: Date): Promise<void>;
  /** Waits for this server's scheduler pass under way (see Scheduler.settle). */
  settleScheduler(): Promise<void>;
}

/** A provider by id or name; unknown is 404 listing the ones there are. */
export function providerOf(ctx: ServiceContext, nameOrId: string): Provider {
  return findProvider(ctx.providers, nameOrId, ctx.problems);
}

/** The project of the path, which the token may act in (checked by the auth hook). */
export function projectOf(request: FastifyRequest): string {
  const project = (request.params as { project?: string }).project;
  if (!project) throw new ApiError(500, 'INTERNAL', 'route without a project');
  return project;
}
