/**
 * `hoard operations list | cancel`: the service's operation logs, read from and written to
 * the catalog of the home directory (or HOARD_CATALOG_URL) as `hoard tokens` does; the
 * server running an operation sees a cancellation asked here within a second.
 */
import type { Command } from 'commander';
import type { Catalog } from '../../catalog/index.js';
import {
  OPERATION_LOG_ENDED,
  OPERATION_LOG_STATUSES,
  type OperationLogRecord,
  type OperationLogStatus,
} from '../../catalog/types.js';
import { HoardError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { positiveInt } from '../util.js';

const STATUSES: readonly OperationLogStatus[] = OPERATION_LOG_STATUSES;
const ENDED = OPERATION_LOG_ENDED;

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  const operations = program
    .command('operations')
    .description("The service's operation logs: list them, cancel a running one")
    .addHelpText(
      'after',
      `
These read and write the service's catalog (HOME/catalog.sqlite, or HOARD_CATALOG_URL), as
hoard tokens does; run them where hoard serve runs. The API does the same with
GET /v1/PROJECT/operation_logs and POST /v1/PROJECT/operation_logs/ID/cancel. A protect run by
"hoard protect" in a terminal is not an operation log: stop it with Ctrl-C (exit 130).

Examples:
  hoard operations list --status running
  hoard operations cancel 0193a5c2-7b1e-7c3d-9f00-1a2b3c4d5e6f --wait`,
    );

  operations
    .command('list')
    .description('List operation logs, newest first')
    .option('--project <name>', 'only this project')
    .option('--status <status>', `only this status (${STATUSES.join(', ')})`)
    .option('--limit <n>', 'at most this many (default 100)', positiveInt)
    .addHelpText(
      'after',
      '\nExamples:\n  hoard operations list --status running\n  hoard operations list --project shop --json',
    )
    .action(async (opts: { project?: string; status?: OperationLogStatus; limit?: number }, cmd: Command) => {
      const ctx = context(cmd);
      if (opts.status && !STATUSES.includes(opts.status))
        throw new HoardError('USAGE', `--status must be one of ${STATUSES.join(', ')}, got "${opts.status}"`);
      await withCatalog(ctx.home, async (catalog) => {
        const page = await catalog.listOperationLogs(opts.project ?? null, {
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.limit ? { limit: opts.limit } : {}),
        });
        const logs = page.items.map(shown);
        ctx.print({ operationLogs: logs, next: page.next }, () =>
          logs.length
            ? logs
                .map(
                  (l) =>
                    `${l.id}  ${l.project.padEnd(12)} ${l.kind.padEnd(17)} ${l.status.padEnd(9)} ${l.checkpointId ?? '-'}  ${l.createdAt}`,
                )
                .join('\n')
            : 'no operation logs',
        );
      });
    });

  operations
    .command('cancel')
    .description(
      'Cancel a queued or running operation: its hooks are aborted, owed teardowns still run, and it ends "cancelled"',
    )
    .argument('<id>', 'operation log id (from operations list, or the API)')
    .option('--wait', 'wait until it has ended, and print how')
    .addHelpText(
      'after',
      `
Exit 0 once asked (with --wait: once it has ended); 2 if no such log, or it has already ended
or is being cancelled (OPERATION_NOT_RUNNING).

Example:
  hoard operations cancel 0193a5c2-7b1e-7c3d-9f00-1a2b3c4d5e6f --wait`,
    )
    .action(async (id: string, opts: { wait?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      await withCatalog(ctx.home, async (catalog) => {
        const asked = await catalog.requestCancel(null, id);
        if (!asked) {
          const log = await catalog.getOperationLog(null, id);
          if (!log) throw new HoardError('USAGE', `no operation log ${id} (see hoard operations list)`);
          const already = log.cancelRequestedAt !== null && !ENDED.has(log.status);
          throw new HoardError(
            'OPERATION_NOT_RUNNING',
            already
              ? `operation log ${id} is being cancelled already (asked at ${log.cancelRequestedAt})`
              : `operation log ${id} is ${log.status}: only a queued or running operation can be cancelled`,
            { details: { operationLog: id, status: already ? 'cancelling' : log.status } },
          );
        }
        let log: OperationLogRecord = asked;
        if (log.status === 'queued') {
          // No process runs it yet, so none would act on the request until a worker takes it:
          // it ends here, at once (a worker that took it meanwhile has it running, and stops it).
          const { cancelQueued } = await import('../../service/queued-runner.js');
          const cancelled = await cancelQueued(catalog, id);
          if (cancelled) {
            log = cancelled;
            await forgetJob(ctx, cancelled);
          } else log = (await catalog.getOperationLog(null, id)) ?? log;
        }
        while (opts.wait && !ENDED.has(log.status)) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          log = (await catalog.getOperationLog(null, id)) ?? log;
        }
        ctx.print({ operationLog: shown(log) }, () =>
          ENDED.has(log.status)
            ? `operation ${id} (${log.kind}) ended ${log.status}${log.error ? `: ${log.error.message}` : ''}`
            : `cancellation of operation ${id} (${log.kind}) asked; the server running it stops it within a second (owed teardowns still run)`,
        );
      });
    });
}

/**
 * With HOARD_QUEUE_URL, a cancelled queued operation's job is removed and the API servers are
 * told it ended (their event streams end). Best effort: a worker that takes the job anyway
 * finds the log ended and runs nothing, and a server reads the status from the catalog.
 */
async function forgetJob(ctx: CliContext, log: OperationLogRecord): Promise<void> {
  const { queueSettings } = await import('../../queue/connection.js');
  const settings = queueSettings(ctx.io.env);
  if (!settings) return;
  const { OperationQueue } = await import('../../queue/operations.js');
  const queue = await OperationQueue.open(settings).catch(() => undefined);
  if (!queue) return;
  try {
    await queue.remove(log.id);
    await queue.publish(log.id, { type: 'end', log }).catch(() => {});
  } finally {
    await queue.close();
  }
}

/** The log as the API shows it: without the heartbeat, which only servers use. */
function shown(log: OperationLogRecord) {
  const { heartbeatAt: _heartbeat, ...rest } = log;
  return rest;
}

async function withCatalog(home: string, use: (catalog: Catalog) => Promise<void>): Promise<void> {
  // Loaded when an operations command runs rather than whenever hoard starts.
  const catalog = await (await import('../../catalog/index.js')).openCatalog(home);
  try {
    await use(catalog);
  } finally {
    await catalog.close();
  }
}
