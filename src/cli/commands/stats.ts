import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('stats')
    .description("What a provider's repository holds: packs, stored and logical bytes, deduplication")
    .option('--provider <id>', 'provider (default local)', 'local')
    .addHelpText(
      'after',
      `
Stored bytes are the content store's packs as its index describes them (no pack is read);
logical bytes are the content of the available checkpoints as their protects recorded it,
added up over checkpoints. The dedup ratio compares the logical bytes of the content kept in
the store (fs.directory's files) with the packs' bytes: 10 protects of the same 1 GiB tree
stored once give about 10 (times the compression). Database copies and dumps are kept beside
the store, counted in the logical bytes but not in the ratio. Checkpoints protected before
statistics were recorded count in neither (see "without statistics").

Examples:
  hoard stats
  hoard stats --provider offsite --json`,
    )
    .action(async (opts: { provider: string }, cmd: Command) => {
      const ctx = context(cmd);
      const { repositoryStats } = await import('../../flows/stats.js');
      const stats = await repositoryStats(await ctx.provider(opts.provider));
      ctx.print({ stats }, () =>
        [
          `provider ${stats.provider.name}`,
          `  packs           ${stats.packs} (${stats.blobs} blobs)`,
          `  stored bytes    ${formatBytes(stats.storedBytes)} (${stats.storedBytes})`,
          `  logical bytes   ${formatBytes(stats.logicalBytes)} (${stats.logicalBytes}; ${stats.files} files in ${stats.checkpoints} available checkpoints${stats.withoutStats ? `, ${stats.withoutStats} of them without statistics` : ''})`,
          `  in the store    ${formatBytes(stats.storeLogicalBytes)} (${stats.storeLogicalBytes})`,
          `  dedup ratio     ${stats.dedupRatio === null ? '-' : `${stats.dedupRatio.toFixed(2)}x`}`,
        ].join('\n'),
      );
    });
}
