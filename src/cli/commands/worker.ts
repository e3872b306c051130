import type { Command } from 'commander';
import { HoardError } from '../../errors.js';
import { queueSettings, redactedUrl } from '../../queue/connection.js';
import type { CliContext } from '../context.js';
import { positiveInt, runUntilStopped } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('worker')
    .description('Run the operations a `hoard serve --no-runner` queued (HOARD_QUEUE_URL)')
    .option('--concurrency <n>', 'operations run at once', positiveInt, 1)
    .addHelpText(
      'after',
      `
A worker takes queued operations (protect, restore, verify, copy, delete, scheduled runs) from
the queue at HOARD_QUEUE_URL (a Redis URL; HOARD_QUEUE_PREFIX namespaces it, default "hoard"),
and runs each with the providers of its home directory, recording the run in the catalog the
API server uses: HOME/catalog.sqlite, or HOARD_CATALOG_URL=postgres://… — the same catalog
and the same providers (banks) as the server's. Each operation runs once, on one worker;
cancelling it (API, dashboard, \`hoard operations cancel\`) reaches the worker running it.
A worker killed outright leaves its operation to be failed as abandoned once its heartbeat
is stale (about 40 s), as a killed \`hoard serve\` does; it is not run again.

Examples:
  export HOARD_QUEUE_URL=redis://127.0.0.1:6379
  hoard serve --no-runner --port 8420          # the API, the dashboard and the scheduler
  hoard worker --concurrency 2                 # on this or another machine, as many as wanted
  HOARD_CATALOG_URL=postgres://hoard@db/hoard hoard worker

With --json, prints {"worker": …} (its record in the registry) once it takes jobs.
SIGINT/SIGTERM stop it: running operations get 30 s to finish, then are cancelled (their
teardowns still run).`,
    )
    .action(async (opts: { concurrency: number }, cmd: Command) => {
      const ctx = context(cmd);
      const settings = queueSettings(ctx.io.env);
      if (!settings)
        throw new HoardError(
          'USAGE',
          'hoard worker takes operations from a queue: set HOARD_QUEUE_URL=redis://HOST:PORT (the one `hoard serve --no-runner` uses)',
        );
      const { providers, problems } = await ctx.providers();
      // Loaded here, not at start-up: the service's modules would slow every other command.
      const [{ openCatalog }, { OperationWorker }] = await Promise.all([
        import('../../catalog/index.js'),
        import('../../service/worker.js'),
      ]);
      const catalog = await openCatalog(ctx.home, ctx.io.env);
      let worker: import('../../service/worker.js').OperationWorker;
      try {
        worker = await OperationWorker.start({
          catalog,
          providers,
          problems,
          queue: settings,
          concurrency: opts.concurrency,
          ...ctx.hooks(),
          ...(ctx.io.env.HOARD_HEARTBEAT_MS ? { heartbeatMs: Number(ctx.io.env.HOARD_HEARTBEAT_MS) } : {}),
          ...(ctx.io.env.HOARD_WORKER_LOCK_MS
            ? { lockDurationMs: Number(ctx.io.env.HOARD_WORKER_LOCK_MS) }
            : {}),
        });
      } catch (error) {
        await catalog.close();
        throw error;
      }
      ctx.print({ worker: worker.member }, () =>
        [
          `hoard worker: taking operations from ${redactedUrl(settings.url)} (prefix ${settings.prefix}), ${opts.concurrency} at once`,
          `catalog: ${catalog.kind}; id ${worker.member.id}`,
        ].join('\n'),
      );
      await runUntilStopped(ctx, () => worker.close().then(() => catalog.close()));
    });
}
