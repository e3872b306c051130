/** Providers, and the protectables their plugins offer (Karbor's protectables/instances). */
import type { FastifyInstance } from 'fastify';
import { providerSummary, providerTypes } from '../../providers/provider.js';
import { providerOf, type ServiceContext } from '../context.js';
import { notFound } from '../http-errors.js';
import { projectParams, providerParams } from '../schemas.js';

export function registerProviders(app: FastifyInstance, ctx: ServiceContext): void {
  app.get(
    '/v1/:project/providers',
    { schema: { tags: ['providers'], summary: 'List providers', params: projectParams } },
    async () => ({ providers: ctx.providers.map(providerSummary) }),
  );

  app.get<{ Params: { project: string; providerId: string } }>(
    '/v1/:project/providers/:providerId',
    {
      schema: { tags: ['providers'], summary: "A provider and each type's schemas", params: providerParams },
    },
    async (request) => {
      const provider = providerOf(ctx, request.params.providerId);
      return {
        provider: {
          ...providerSummary(provider),
          types: providerTypes(provider),
        },
      };
    },
  );

  app.get(
    '/v1/:project/protectables',
    {
      schema: {
        tags: ['protectables'],
        summary: 'Resource types the providers handle',
        params: projectParams,
      },
    },
    async () => {
      const types = new Set<string>();
      for (const p of ctx.providers)
        for (const plugin of p.registry.list()) for (const t of plugin.types) types.add(t.type);
      return { protectables: [...types].sort() };
    },
  );

  app.get<{ Params: { project: string; type: string }; Querystring: { providerId?: string } }>(
    '/v1/:project/protectables/:type/instances',
    {
      schema: {
        tags: ['protectables'],
        summary: 'Resources of a type that its protectable can list',
        params: {
          type: 'object',
          required: ['project', 'type'],
          properties: { project: projectParams.properties.project, type: { type: 'string', maxLength: 128 } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { providerId: { type: 'string', maxLength: 64 } },
        },
      },
    },
    async (request) => {
      const provider = providerOf(ctx, request.query.providerId ?? 'local');
      const type = request.params.type;
      if (!provider.registry.list().some((plugin) => plugin.types.some((t) => t.type === type)))
        throw notFound(`protectable type "${type}" in provider ${provider.name}`);
      // Only a type whose plugin can enumerate what exists lists instances (postgres.server
      // lists databases); others are named in plans.
      const protectable = provider.registry.protectables().get(type);
      const listable = protectable?.listResources !== undefined;
      return { instances: listable ? await protectable!.listResources!({}) : [], listable };
    },
  );
}
