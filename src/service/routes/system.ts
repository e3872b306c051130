/** Health, the OpenAPI document, metrics, the admin's project list and the dashboard. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../auth.js';
import type { ServiceContext } from '../context.js';

/** The package root (build/src/service/routes → ../../../..). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

export async function registerSystem(app: FastifyInstance, ctx: ServiceContext): Promise<void> {
  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness' } }, async () => ({
    status: 'ok',
    running: ctx.runner.running,
  }));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/metrics',
    { schema: { tags: ['system'], summary: 'Prometheus metrics' } },
    async (_request, reply) => {
      const { contentType, body } = await ctx.metrics.text();
      reply.type(contentType);
      return body;
    },
  );

  app.get(
    '/v1/projects',
    { schema: { tags: ['projects'], summary: 'Every project (admin)' } },
    async (request) => {
      requireAdmin(request);
      return { projects: await ctx.catalog.listProjects() };
    },
  );

  await app.register(fastifyStatic, {
    root: join(ROOT, 'dashboard'),
    prefix: '/dashboard/',
    index: false,
    decorateReply: true,
  });
  // The graph layout library, as the ES module the dashboard imports.
  const dagre = dirname(createRequire(import.meta.url).resolve('@dagrejs/dagre'));
  app.get('/dashboard/vendor/dagre.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.sendFile('dagre.esm.js', dagre),
  );
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.sendFile('index.html'));
}
