import type { Command } from 'commander';
import { CHECKPOINT_STATUSES, type CheckpointStatus } from '../../checkpoints/status.js';
import { CheckpointStore } from '../../checkpoints/store.js';
import { HoardError } from '../../errors.js';
import { deleteCheckpoint } from '../../flows/checkpoint-ops.js';
import { checkpointView } from '../../flows/checkpoint-view.js';
import type { CliContext } from '../context.js';
import { formatCheckpoint, formatResult } from '../format.js';
import { interruptible, positiveInt } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  const checkpoints = program.command('checkpoints').description('List, show and delete checkpoints');

  checkpoints
    .command('list')
    .description('List checkpoints, newest first')
    .option('--plan <name>', 'only this plan')
    .option('--status <status>', `only this status (${CHECKPOINT_STATUSES.join(', ')})`)
    .option('--since <time>', 'created at or after this ISO time')
    .option('--until <time>', 'created before this ISO time')
    .option('--limit <n>', 'at most this many (default 100)', positiveInt)
    .option('--marker <id>', 'start after this checkpoint (the "next" of the previous page)')
    .option('--provider <id>', 'provider (default local)', 'local')
    .addHelpText(
      'after',
      '\nExamples:\n  hoard checkpoints list --plan shop-nightly --limit 20\n  hoard checkpoints list --status error --json',
    )
    .action(async (opts: ListFlags, cmd: Command) => {
      const ctx = context(cmd);
      if (opts.status && !CHECKPOINT_STATUSES.includes(opts.status)) {
        throw new HoardError(
          'USAGE',
          `--status must be one of ${CHECKPOINT_STATUSES.join(', ')}, got "${opts.status}"`,
        );
      }
      const provider = await ctx.provider(opts.provider);
      const page = await new CheckpointStore(provider.bank).list({
        ...(opts.plan ? { plan: opts.plan } : {}),
        ...(opts.status ? { status: opts.status } : {}),
        ...(opts.since ? { since: opts.since } : {}),
        ...(opts.until ? { until: opts.until } : {}),
        ...(opts.limit ? { limit: opts.limit } : {}),
        ...(opts.marker ? { marker: opts.marker } : {}),
      });
      ctx.print(page, () =>
        page.checkpoints.length === 0
          ? 'no checkpoints'
          : [
              ...page.checkpoints.map((c) => `${c.id}  ${c.status.padEnd(14)}  ${c.plan}  ${c.createdAt}`),
              ...(page.next ? [`more: --marker ${page.next}`] : []),
            ].join('\n'),
      );
    });

  checkpoints
    .command('show')
    .description('Show one checkpoint and its resources')
    .argument('<checkpoint>', 'checkpoint id')
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .addHelpText('after', '\nExample:\n  hoard checkpoints show 20261123T094512345Z-3fa9c1d2 --json')
    .action(async (id: string, opts: { provider?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const provider = await ctx.providerOf(id, opts.provider);
      const checkpoint = checkpointView(await new CheckpointStore(provider.bank).get(id));
      ctx.print({ checkpoint }, () => formatCheckpoint(checkpoint));
    });

  checkpoints
    .command('delete')
    .description("Delete a checkpoint: runs the plugins' delete hooks, then removes every key of it")
    .argument('<checkpoint>', 'checkpoint id')
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .addHelpText('after', '\nExample:\n  hoard checkpoints delete 20261123T094512345Z-3fa9c1d2')
    .action(async (id: string, opts: { provider?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const provider = await ctx.providerOf(id, opts.provider);
      const result = await interruptible((signal) => deleteCheckpoint(id, provider, { signal }));
      ctx.print(result, () => formatResult(result));
      if (result.checkpoint.status !== 'deleted') process.exitCode = 1;
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
