/** Providers, and the protectables their plugins offer (Karbor's protectables/instances). */
import type { FastifyInstance } from 'fastify';
import { HoardError } from '../../errors.js';
import { providerSummary, providerTypes } from '../../providers/provider.js';
import { DISCOVERY_TIMEOUT_MS } from '../../resources/graph.js';
import type { Protectable } from '../../resources/protectable.js';
import type { Resource } from '../../resources/resource.js';
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
      return { instances: listable ? await listInstances(protectable!, type) : [], listable };
    },
  );
}

/**
 * A plugin's `listResources`, bounded in time (HOARD_DISCOVERY_TIMEOUT_MS) and checked: a
 * plugin that throws, hangs or answers garbage is a 502/504 naming it, never a 500 or a
 * request that never ends.
 */
async function listInstances(protectable: Protectable, type: string): Promise<Resource[]> {
  const timeoutMs = Number(process.env.HOARD_DISCOVERY_TIMEOUT_MS) || DISCOVERY_TIMEOUT_MS;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new HoardError(
        'HOOK_TIMEOUT',
        `the protectable of ${type} did not list its instances within ${timeoutMs} ms`,
        { details: { type, timeoutMs } },
      );
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  let found: unknown;
  try {
    found = await Promise.race([
      (async () => protectable.listResources!({ signal: controller.signal }))(),
      timedOut,
    ]);
  } catch (error) {
    if (error instanceof HoardError && error.code === 'HOOK_TIMEOUT') throw error;
    throw new HoardError(
      'HOOK_FAILED',
      `the protectable of ${type} failed to list its instances: ${error instanceof Error ? error.message : String(error)}`,
      { details: { type }, cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
  if (
    !Array.isArray(found) ||
    !found.every((r) => r && typeof r === 'object' && typeof r.type === 'string' && typeof r.id === 'string')
  ) {
    throw new HoardError(
      'HOOK_FAILED',
      `the protectable of ${type} listed something that is not a list of resources {type, id}`,
      {
        details: { type },
      },
    );
  }
  return found as Resource[];
}
