import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('gc')
    .description(
      "Finish what crashed operations left and remove data no checkpoint needs any more from a provider's bank",
    )
    .option('--provider <id>', 'provider (default local)', 'local')
    .option('--dry-run', 'only report what would be removed')
    .addHelpText(
      'after',
      `
Deleting a checkpoint already collects what it alone used; run this after a crash, or when
a delete reported that a protect was running. In order, it:
  - finishes deletes that were killed or failed (checkpoints left deleted or error_deleting),
    running their delete hooks again where they had not succeeded;
  - removes checkpoint folders that lost their record and re-indexes records no listing shows
    (only what no live process holds and is older than two lease lifetimes);
  - collects the content store: every pack no checkpoint needing its data refers to;
  - sweeps temporary files and dead lease records that crashed processes left.
While an operation uses the content store it refuses that step (STORE_BUSY, exit 4) and
removes no data.

Examples:
  hoard gc --dry-run
  hoard gc --provider offsite --json`,
    )
    .action(async (opts: { provider: string; dryRun?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const { collectGarbage } = await import('../../flows/gc.js');
      const report = await collectGarbage(await ctx.provider(opts.provider), {
        dryRun: opts.dryRun === true,
      });
      ctx.print({ gc: report }, () => {
        const would = report.dryRun ? 'would ' : '';
        const lines = [
          `${would}${report.dryRun ? 'remove' : 'removed'} ${report.packsRemoved} packs (${report.bytesFreed} bytes), ${would}${report.dryRun ? 'rewrite' : 'rewrote'} ${report.packsRewritten}; ${report.bytesKept} bytes kept`,
        ];
        if (report.deletesFinished.length > 0)
          lines.push(
            `${would}${report.dryRun ? 'finish' : 'finished'} the delete of ${report.deletesFinished.join(', ')}`,
          );
        for (const { checkpoint, error } of report.deletesFailed)
          lines.push(`the delete of ${checkpoint} failed again (it stays error_deleting): ${error}`);
        if (report.foldersRemoved.length > 0)
          lines.push(
            `${would}${report.dryRun ? 'remove' : 'removed'} folders without a record: ${report.foldersRemoved.join(', ')}`,
          );
        if (report.indexMoved > 0)
          lines.push(
            `moved the index entries of ${report.indexMoved} checkpoints to the newest-first layout`,
          );
        if (report.reindexed.length > 0)
          lines.push(`${would}${report.dryRun ? 'index' : 'indexed'} again: ${report.reindexed.join(', ')}`);
        const { temporary, directories, leases } = report.swept;
        if (temporary + directories + leases > 0)
          lines.push(
            `swept ${temporary} temporary files, ${directories} empty directories, ${leases} dead leases`,
          );
        if (report.blobsMissing > 0)
          lines.push(
            `${report.blobsMissing} referenced blob(s) are in no pack: run hoard verify on the checkpoints that use them`,
          );
        for (const problem of report.problems) lines.push(`problem: ${problem}`);
        return lines.join('\n');
      });
    });
}
