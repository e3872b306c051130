import type { Command } from 'commander';
import { collectGarbage } from '../../flows/gc.js';
import type { CliContext } from '../context.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('gc')
    .description("Remove data no checkpoint needs any more from a provider's content store")
    .option('--provider <id>', 'provider (default local)', 'local')
    .option('--dry-run', 'only report what would be removed')
    .addHelpText(
      'after',
      `
Deleting a checkpoint already collects what it alone used; run this after a crash, or when
a delete reported that a protect was running. It waits for no one: while a protect writes
to the store it refuses (STORE_BUSY, exit 4) and changes nothing.

Examples:
  hoard gc --dry-run
  hoard gc --provider offsite --json`,
    )
    .action(async (opts: { provider: string; dryRun?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const report = await collectGarbage(await ctx.provider(opts.provider), {
        dryRun: opts.dryRun === true,
      });
      ctx.print(
        { gc: report },
        () =>
          `${report.dryRun ? 'would remove' : 'removed'} ${report.packsRemoved} packs (${report.bytesFreed} bytes), rewrote ${report.packsRewritten}; ${report.bytesKept} bytes kept`,
      );
    });
}
