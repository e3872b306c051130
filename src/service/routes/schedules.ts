/** Triggers and scheduled operations (Karbor's names; the scheduler runs them). */
import type { FastifyInstance } from 'fastify';
import type {
  ScheduledOperationRecord,
  ScheduledOperationType,
  TimeTriggerProperties,
} from '../../catalog/index.js';
import { validatePolicy } from '../../flows/retention.js';
import { projectOf, providerOf, type ServiceContext } from '../context.js';
import { ApiError, notFound } from '../http-errors.js';
import {
  enabledBody,
  idParams,
  pageQuery,
  projectParams,
  scheduledOperationBody,
  triggerBody,
} from '../schemas.js';
import { checkTrigger, nextFires } from '../triggers.js';

interface ScheduledOperationBody {
  name: string;
  description?: string;
  operationType: ScheduledOperationType;
  triggerId: string;
  operationDefinition: { planId: string; providerId?: string; retention?: Record<string, unknown> };
  enabled?: boolean;
}

function scheduledOperationView(op: ScheduledOperationRecord) {
  const { definition, ...rest } = op;
  return { ...rest, operationDefinition: definition };
}

export function registerSchedules(app: FastifyInstance, ctx: ServiceContext): void {
  app.get<{ Params: { project: string }; Querystring: { limit?: number; marker?: string } }>(
    '/v1/:project/triggers',
    {
      schema: { tags: ['triggers'], summary: 'List triggers', params: projectParams, querystring: pageQuery },
    },
    async (request) => {
      const page = await ctx.catalog.listTriggers(projectOf(request), request.query);
      const now = new Date();
      return {
        triggers: page.items.map((trigger) => ({
          ...trigger,
          nextFires: nextFires(trigger.properties, now, 5),
        })),
        next: page.next,
      };
    },
  );

  app.post<{
    Params: { project: string };
    Body: { name: string; type: 'time'; properties: TimeTriggerProperties };
  }>(
    '/v1/:project/triggers',
    {
      schema: {
        tags: ['triggers'],
        summary: 'Create a time trigger',
        params: projectParams,
        body: triggerBody,
      },
    },
    async (request, reply) => {
      checkTrigger(request.body.properties);
      const trigger = await ctx.catalog.createTrigger({ project: projectOf(request), ...request.body });
      reply.code(201).header('location', `/v1/${trigger.project}/triggers/${trigger.id}`);
      return { trigger, nextFires: nextFires(trigger.properties, new Date(), 5) };
    },
  );

  app.get<{ Params: { project: string; id: string } }>(
    '/v1/:project/triggers/:id',
    { schema: { tags: ['triggers'], summary: 'Show a trigger and its next fire times', params: idParams } },
    async (request) => {
      const trigger = await ctx.catalog.getTrigger(projectOf(request), request.params.id);
      if (!trigger) throw notFound(`trigger ${request.params.id}`);
      return { trigger, nextFires: nextFires(trigger.properties, new Date(), 5) };
    },
  );

  app.delete<{ Params: { project: string; id: string } }>(
    '/v1/:project/triggers/:id',
    { schema: { tags: ['triggers'], summary: 'Delete an unused trigger', params: idParams } },
    async (request, reply) => {
      if (!(await ctx.catalog.deleteTrigger(projectOf(request), request.params.id)))
        throw notFound(`trigger ${request.params.id}`);
      reply.code(204);
    },
  );

  const tags = ['scheduled_operations'];
  app.get<{ Params: { project: string }; Querystring: { limit?: number; marker?: string } }>(
    '/v1/:project/scheduled_operations',
    { schema: { tags, summary: 'List scheduled operations', params: projectParams, querystring: pageQuery } },
    async (request) => {
      const page = await ctx.catalog.listScheduledOperations(projectOf(request), request.query);
      return { scheduledOperations: page.items.map(scheduledOperationView), next: page.next };
    },
  );

  app.post<{ Params: { project: string }; Body: ScheduledOperationBody }>(
    '/v1/:project/scheduled_operations',
    {
      schema: {
        tags,
        summary: 'Schedule a protect or a retention_protect of a plan',
        params: projectParams,
        body: scheduledOperationBody,
      },
    },
    async (request, reply) => {
      const project = projectOf(request);
      const body = request.body;
      let definition = body.operationDefinition;
      const invalid = (field: string, message: string) =>
        new ApiError(400, 'REQUEST_INVALID', `body/${field} ${message}`, { field });
      if (!(await ctx.catalog.getTrigger(project, body.triggerId)))
        throw invalid('triggerId', `names no trigger of project "${project}"`);
      const plan = await ctx.catalog.getPlan(project, definition.planId);
      if (!plan) throw invalid('operationDefinition/planId', `names no plan of project "${project}"`);
      providerOf(ctx, definition.providerId ?? plan.provider);
      if (body.operationType === 'retention_protect') {
        if (!definition.retention)
          throw invalid(
            'operationDefinition/retention',
            'is required for retention_protect (e.g. {"kind": "max_backups", "count": 7})',
          );
        // Kept as checked, rsbackup's defaults filled in: what will run is what is shown.
        definition = {
          ...definition,
          retention: validatePolicy(definition.retention, 'body/operationDefinition/retention'),
        };
      } else if (definition.retention) {
        throw invalid('operationDefinition/retention', 'is only for operationType retention_protect');
      }
      const op = await ctx.catalog.createScheduledOperation({
        project,
        name: body.name,
        description: body.description ?? null,
        operationType: body.operationType,
        triggerId: body.triggerId,
        definition,
        enabled: body.enabled ?? true,
      });
      reply.code(201).header('location', `/v1/${project}/scheduled_operations/${op.id}`);
      return { scheduledOperation: scheduledOperationView(op) };
    },
  );

  app.get<{ Params: { project: string; id: string } }>(
    '/v1/:project/scheduled_operations/:id',
    { schema: { tags, summary: 'Show a scheduled operation', params: idParams } },
    async (request) => {
      const op = await ctx.catalog.getScheduledOperation(projectOf(request), request.params.id);
      if (!op) throw notFound(`scheduled operation ${request.params.id}`);
      return { scheduledOperation: scheduledOperationView(op) };
    },
  );

  app.patch<{ Params: { project: string; id: string }; Body: { enabled: boolean } }>(
    '/v1/:project/scheduled_operations/:id',
    { schema: { tags, summary: 'Enable or disable', params: idParams, body: enabledBody } },
    async (request) => {
      const project = projectOf(request);
      if (!(await ctx.catalog.setScheduledOperationEnabled(project, request.params.id, request.body.enabled)))
        throw notFound(`scheduled operation ${request.params.id}`);
      // Disabled: no new claim is possible now; let a pass that claimed a fire before that
      // create its log, so the answer means "every run there will be is listed".
      if (!request.body.enabled) await ctx.settleScheduler();
      const op = await ctx.catalog.getScheduledOperation(project, request.params.id);
      return { scheduledOperation: scheduledOperationView(op!) };
    },
  );

  app.delete<{ Params: { project: string; id: string } }>(
    '/v1/:project/scheduled_operations/:id',
    { schema: { tags, summary: 'Delete a scheduled operation', params: idParams } },
    async (request, reply) => {
      if (!(await ctx.catalog.deleteScheduledOperation(projectOf(request), request.params.id)))
        throw notFound(`scheduled operation ${request.params.id}`);
      await ctx.settleScheduler();
      reply.code(204);
    },
  );
}
