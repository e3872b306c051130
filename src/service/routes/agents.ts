/**
 * `GET /v1/{project}/agents` (SPEC §12): the agents and workers up now, from the registry in
 * the queue's Redis. An admin token sees every member; a project's token sees the agents of
 * the hosts its plans name. Without a queue (HOARD_QUEUE_URL unset) the list is empty.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { connectQueue } from '../../queue/connection.js';
import { listMembers, type Member } from '../../queue/registry.js';
import { projectOf, type ServiceContext } from '../context.js';
import { projectParams } from '../schemas.js';

export function registerAgents(app: FastifyInstance, ctx: ServiceContext): void {
  let redis: Promise<Redis> | undefined;
  app.addHook('onClose', async () => {
    (await redis?.catch(() => undefined))?.disconnect();
  });

  app.get(
    '/v1/:project/agents',
    {
      schema: {
        tags: ['agents'],
        summary:
          'Agents and workers up now: host, kind, version, plugins, concurrency, last heartbeat, running',
        params: projectParams,
      },
    },
    async (request) => {
      const settings = ctx.queue;
      if (!settings) return { agents: [], queue: false };
      redis ??= connectQueue(settings);
      redis.catch(() => {
        redis = undefined;
      });
      const members = await listMembers(await redis, settings.prefix);
      if (request.token?.admin) return { agents: members, queue: true };
      const hosts = await planHosts(ctx, projectOf(request));
      return { agents: members.filter((m: Member) => m.kind === 'agent' && hosts.has(m.host)), queue: true };
    },
  );
}

/** The hosts the project's plans name. */
async function planHosts(ctx: ServiceContext, project: string): Promise<Set<string>> {
  const hosts = new Set<string>();
  for (let marker: string | undefined; ; ) {
    const page = await ctx.catalog.listPlans(project, { limit: 1000, ...(marker ? { marker } : {}) });
    for (const plan of page.items)
      for (const resource of plan.resources) {
        const host = (resource as { host?: unknown } | null)?.host;
        if (typeof host === 'string') hosts.add(host);
      }
    if (!page.next) break;
    marker = page.next;
  }
  return hosts;
}
