import { resolve } from 'node:path';
import type { Command } from 'commander';
import { HoardError } from '../../errors.js';
import { queueSettings, redactedUrl } from '../../queue/connection.js';
import { OperationQueue } from '../../queue/operations.js';
import type { CliContext } from '../context.js';
import { collect, positiveIntOrZero, runUntilStopped } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('serve')
    .description('Run the REST API, the web dashboard, /metrics and the scheduler on one port')
    .option('--port <n>', 'port to listen on (0 picks a free one)', positiveIntOrZero, 8420)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option(
      '--path-root <dir>',
      "directory a project token's plan paths and restore targets must lie in (repeatable; default: anywhere)",
      collect,
      [],
    )
    .option('--log-requests', "log every request (Fastify's JSON log) on stderr")
    .option(
      '--no-runner',
      'run no operations here: queue them (HOARD_QUEUE_URL) for `hoard worker` processes',
    )
    .addHelpText(
      'after',
      `
The catalog (plans, triggers, schedules, operation logs, tokens) is HOME/catalog.sqlite,
or PostgreSQL when HOARD_CATALOG_URL=postgres://… is set (several servers may then share it;
each scheduled run happens once).

Examples:
  hoard tokens create --project demo          # prints the token once
  hoard serve --port 8420                      # then open http://127.0.0.1:8420/
  HOARD_CATALOG_URL=postgres://hoard@db/hoard hoard serve --host 0.0.0.0
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8420/v1/demo/plans

With --no-runner (and HOARD_QUEUE_URL=redis://…), this server answers the API and runs the
scheduler, and queues every operation for \`hoard worker\` processes sharing its catalog
(HOARD_CATALOG_URL) and providers: the API and the protection service then scale apart.
  HOARD_QUEUE_URL=redis://127.0.0.1:6379 HOARD_CATALOG_URL=postgres://hoard@db/hoard hoard serve --no-runner

Operations run as this server's user. Project tokens may not create exec.task plans (shell
commands) nor pass exec.task parameters: that takes an admin token. With --path-root, the
paths in their plans and their restore targets must lie inside the given directories.

With --json, prints {"url": …} on stdout once listening. SIGINT/SIGTERM stop it: running
operations get 30 s to finish, then are cancelled (their teardowns still run).`,
    )
    .action(
      async (
        opts: { port: number; host: string; pathRoot: string[]; logRequests?: boolean; runner: boolean },
        cmd: Command,
      ) => {
        const ctx = context(cmd);
        const settings = opts.runner ? undefined : queueSettings(ctx.io.env);
        if (!opts.runner && !settings)
          throw new HoardError(
            'USAGE',
            '--no-runner queues operations for `hoard worker` processes: set HOARD_QUEUE_URL=redis://HOST:PORT',
          );
        const { providers, problems } = await ctx.providers();
        // Loaded here, not at start-up: the service's modules would slow every other command.
        const [{ openCatalog }, { createService }] = await Promise.all([
          import('../../catalog/index.js'),
          import('../../service/server.js'),
        ]);
        const queue = settings ? await OperationQueue.open(settings) : undefined;
        const catalog = await openCatalog(ctx.home).catch(async (error) => {
          await queue?.close();
          throw error;
        });
        const tickMs = Number(ctx.io.env.HOARD_SCHEDULER_TICK_MS ?? 1000);
        // With HOARD_QUEUE_URL, hooks of resources with a host go to their agents (SPEC §12).
        const hookQueue = queueSettings(ctx.io.env);
        const { transport } = ctx.hooks();
        const service = await createService({
          catalog,
          providers,
          problems,
          tickMs,
          ...(ctx.io.env.HOARD_HEARTBEAT_MS ? { heartbeatMs: Number(ctx.io.env.HOARD_HEARTBEAT_MS) } : {}),
          logRequests: opts.logRequests === true,
          ...(queue ? { queue } : {}),
          pathRoots: opts.pathRoot.map((p) => resolve(ctx.io.cwd, p)),
          ...(hookQueue && transport ? { hooks: { settings: hookQueue, transport } } : {}),
        });
        let address: string;
        try {
          address = await service.app.listen({ port: opts.port, host: opts.host });
        } catch (error) {
          await service.close(0);
          await catalog.close();
          await queue?.close();
          throw listenError(error, opts.host, opts.port);
        }
        const url = address.replace('[::1]', 'localhost');
        ctx.print(
          { url, catalog: catalog.kind, home: ctx.home, ...(queue ? { operations: 'queued' } : {}) },
          () =>
            [
              `hoard serve: listening on ${url} (dashboard: ${url}/, API: ${url}/openapi.json)`,
              `catalog: ${catalog.kind}`,
              ...(settings
                ? [
                    `operations: queued for hoard worker at ${redactedUrl(settings.url)} (prefix ${settings.prefix})`,
                  ]
                : []),
            ].join('\n'),
        );
        await runUntilStopped(ctx, () =>
          service
            .close()
            .then(() => catalog.close())
            .then(() => queue?.close()),
        );
      },
    );
}

/** Why the server could not listen, as the user can fix it (USAGE: exit 2), or the error itself. */
function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException)?.code;
  const where = `${host}:${port}`;
  const why: Record<string, string> = {
    EADDRINUSE: `${where} is already in use (another hoard serve?): choose another --port, or --port 0 for a free one`,
    EACCES: `no permission to listen on ${where} (ports below 1024 need privileges): choose another --port`,
    EADDRNOTAVAIL: `${host} is not an address of this machine: choose another --host (e.g. 127.0.0.1 or 0.0.0.0)`,
    ENOTFOUND: `the host name ${host} does not resolve: choose another --host (e.g. 127.0.0.1 or 0.0.0.0)`,
  };
  const message = code ? why[code] : undefined;
  return message
    ? new HoardError('USAGE', `cannot listen: ${message}`, { details: { host, port, code }, cause: error })
    : error;
}
