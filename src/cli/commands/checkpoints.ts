import type { Command } from 'commander';
import { HoardError } from '../../errors.js';
import type { OperationResult } from '../../flows/checkpoint-view.js';
import { CHECKPOINT_ID, CHECKPOINT_STATUSES, type CheckpointStatus } from '../../flows/vocabulary.js';
import type { Provider } from '../../providers/provider.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatCheckpoint, formatOutputs, formatResult } from '../format.js';
import { checkpointArgument, checkpointReference, positiveInt, timeArgument } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  const checkpoints = program.command('checkpoints').description('List, show and delete checkpoints');

  checkpoints
    .command('list')
    .description('List checkpoints, newest first, with the size of their content (SIZE; "-" if not recorded)')
    .option('--plan <name>', "only this plan: a plan file's name, or a service plan's id")
    .option('--status <status>', `only this status (${CHECKPOINT_STATUSES.join(', ')})`)
    .option(
      '--since <time>',
      'created at or after this ISO time or duration back from now (90m, 12h, 7d)',
      timeArgument('--since'),
    )
    .option(
      '--until <time>',
      'created before this ISO time or duration back from now',
      timeArgument('--until'),
    )
    .option('--limit <n>', 'at most this many (default 100)', positiveInt)
    .option(
      '--marker <id>',
      'start after this checkpoint (the "next" of the previous page)',
      checkpointArgument('--marker'),
    )
    .option('--provider <id>', 'provider (default local)', 'local')
    .addHelpText(
      'after',
      `
PLAN is the plan's name; for a checkpoint made by hoard serve, --json also has "plan", the
plan's id, which the bank files it under (and --plan takes).

Examples:
  hoard checkpoints list --plan shop-nightly --limit 20
  hoard checkpoints list --status error --json`,
    )
    .action(async (opts: ListFlags, cmd: Command) => {
      const ctx = context(cmd);
      const { listCheckpoints, withStats } = await import('../../flows/checkpoints.js');
      if (opts.status && !CHECKPOINT_STATUSES.includes(opts.status)) {
        throw new HoardError(
          'USAGE',
          `--status must be one of ${CHECKPOINT_STATUSES.join(', ')}, got "${opts.status}"`,
        );
      }
      const provider = await ctx.provider(opts.provider);
      const page = await listCheckpoints(provider, {
        ...(opts.plan ? { plan: opts.plan } : {}),
        ...(opts.status ? { status: opts.status } : {}),
        ...(opts.since ? { since: opts.since } : {}),
        ...(opts.until ? { until: opts.until } : {}),
        ...(opts.limit ? { limit: opts.limit } : {}),
        ...(opts.marker ? { marker: opts.marker } : {}),
      });
      const listed = { checkpoints: await withStats(provider, page.checkpoints), next: page.next };
      ctx.print(listed, () =>
        listed.checkpoints.length === 0
          ? 'no checkpoints'
          : [
              ...table(
                ['ID', 'STATUS', 'PLAN', 'CREATED', 'SIZE'],
                listed.checkpoints.map((c) => [
                  c.id,
                  c.status,
                  c.planName ?? c.plan,
                  c.createdAt,
                  c.stats ? formatBytes(c.stats.bytes) : '-',
                ]),
              ),
              ...(page.next ? [`more: --marker ${page.next}`] : []),
            ].join('\n'),
      );
    });

  checkpoints
    .command('show')
    .description(
      "Show one checkpoint: its resources with their statistics, and its protect's log (with the output of exec.task's commands)",
    )
    .argument(
      '<checkpoint>',
      'checkpoint id, unique prefix (6+ characters) or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .option('--plan <name>', 'with "latest": the newest available checkpoint of this plan')
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .addHelpText('after', '\nExample:\n  hoard checkpoints show 20261123T094512345Z-3fa9c1d2 --json')
    .action(async (ref: string, opts: { provider?: string; plan?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const { getCheckpoint, protectLog } = await import('../../flows/checkpoints.js');
      const { checkpointView } = await import('../../flows/checkpoint-view.js');
      const { provider, id } = await ctx.checkpoint(ref, opts);
      const meta = await getCheckpoint(provider, id);
      const checkpoint = checkpointView(meta);
      // The protect's log: its hooks' times, errors and commands' output.
      const operation = await protectLog(provider, meta);
      ctx.print({ checkpoint, ...(operation ? { operation } : {}) }, () =>
        [formatCheckpoint(checkpoint), ...(operation ? formatOutputs(operation) : [])].join('\n'),
      );
    });

  checkpoints
    .command('delete')
    .description("Delete a checkpoint: runs the plugins' delete hooks, then removes every key of it")
    .argument(
      '<checkpoint>',
      'checkpoint id, unique prefix (6+ characters) or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .option('--plan <name>', 'with "latest": the newest available checkpoint of this plan')
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .option(
      '--force',
      "only for a checkpoint whose record is damaged (CHECKPOINT_CORRUPT): remove its keys without its plugins' delete hooks",
    )
    .addHelpText(
      'after',
      `
A checkpoint whose meta.json is damaged cannot run its plugins' delete hooks (they need the
record); --force removes its keys anyway, and the next "hoard gc" collects the data only it
used. Anything a plugin made outside the bank for it is left as it is.

Examples:
  hoard checkpoints delete 20261123T094512345Z-3fa9c1d2
  hoard checkpoints delete 20261123T094512345Z-3fa9c1d2 --force   # its meta.json is damaged`,
    )
    .action(
      async (ref: string, opts: { provider?: string; plan?: string; force?: boolean }, cmd: Command) => {
        const ctx = context(cmd);
        const { discardCheckpoint } = await import('../../flows/checkpoints.js');
        const { deleteCheckpoint } = await import('../../flows/checkpoint-ops.js');
        const { operationSucceeded } = await import('../../flows/checkpoint-view.js');
        // A prefix or "latest" is looked up in the index, which a damaged record keeps.
        const id = CHECKPOINT_ID.test(ref) ? ref : (await ctx.checkpoint(ref, opts)).id;
        if (opts.force) {
          const provider = await holderOf(ctx, id, opts.provider);
          const discarded = await discardCheckpoint(provider, id);
          ctx.print({ discarded: { id, provider: provider.name, ...discarded } }, () =>
            [
              `removed damaged checkpoint ${id} from provider ${provider.name} (${discarded.keys} keys; its plugins' delete hooks did not run)`,
              'run "hoard gc" to collect the data only it used',
            ].join('\n'),
          );
          return;
        }
        let provider: Provider;
        let result: OperationResult;
        try {
          provider = await ctx.providerOf(id, opts.provider);
          result = await ctx.interruptible((signal) =>
            deleteCheckpoint(id, provider, { signal, ...ctx.hooks() }),
          );
        } catch (error) {
          if (!(error instanceof HoardError && error.code === 'CHECKPOINT_CORRUPT')) throw error;
          throw new HoardError(
            'CHECKPOINT_CORRUPT',
            `${error.message}; "hoard checkpoints delete ${id} --force" removes it without its plugins' delete hooks`,
            { ...(error.details ? { details: error.details } : {}), cause: error },
          );
        }
        ctx.print(result, () => formatResult(result));
        if (!operationSucceeded('delete', result)) ctx.exitCode = 1;
      },
    );
}

/** The provider whose bank holds a record for `id`, readable or not (for --force). */
async function holderOf(ctx: CliContext, id: string, nameOrId: string | undefined): Promise<Provider> {
  if (nameOrId) return ctx.provider(nameOrId);
  const { holdsCheckpointRecord } = await import('../../flows/checkpoints.js');
  const { providers } = await ctx.providers();
  for (const provider of providers) if (await holdsCheckpointRecord(provider, id)) return provider;
  throw new HoardError('CHECKPOINT_NOT_FOUND', `no checkpoint ${id} in any provider`, {
    details: { checkpoint: id },
  });
}

interface ListFlags {
  plan?: string;
  status?: CheckpointStatus;
  since?: string;
  until?: string;
  limit?: number;
  marker?: string;
  provider: string;
}

/** Rows under a header, each column as wide as its widest cell (the last one not padded). */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)];
}
