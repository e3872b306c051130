import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { formatResult } from '../format.js';
import { checkpointReference } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('copy')
    .description("Copy a checkpoint into another provider's bank")
    .argument(
      '<checkpoint>',
      'checkpoint id, unique prefix (6+ characters) or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .option('--plan <name>', 'with "latest": the newest available checkpoint of this plan')
    .requiredOption('--to <provider>', 'target provider name or id')
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .addHelpText('after', '\nExample:\n  hoard copy 20261123T094512345Z-3fa9c1d2 --to offsite')
    .action(async (ref: string, opts: { to: string; provider?: string; plan?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const { copyCheckpoint } = await import('../../flows/checkpoint-ops.js');
      const { operationSucceeded } = await import('../../flows/checkpoint-view.js');
      const { provider: from, id } = await ctx.checkpoint(ref, opts);
      const to = await ctx.provider(opts.to);
      const result = await ctx.interruptible((signal) =>
        copyCheckpoint(id, from, to, { signal, ...ctx.hooks() }),
      );
      ctx.print(result, () => formatResult(result));
      if (!operationSucceeded('copy', result)) ctx.exitCode = 1;
    });
}
