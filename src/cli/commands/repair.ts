import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { ByteProgress } from '../progress.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('repair')
    .description(
      "Read a provider's whole content store back, and drop what is damaged so it can be written again",
    )
    .option('--provider <id>', 'provider (default local)', 'local')
    .option('--dry-run', 'only report what is damaged and what would be dropped')
    .addHelpText(
      'after',
      `
It reads every pack and checks every blob against its id (as restic's check --read-data),
records what is damaged (so no protect deduplicates against it: the next protect of the
same data writes it again), rewrites packs holding damaged blobs with their sound ones,
rebuilds lost index objects from packs, and names the checkpoints that refer to blobs with
no sound copy left. Those stay incomplete until a protect of the same data writes the
blobs again; then they verify and restore again. Exit 0 if nothing referenced is lost,
3 if some checkpoint lacks data, 4 if an operation holds the store (try again later).

Examples:
  hoard repair --dry-run
  hoard repair --provider offsite --json`,
    )
    .action(async (opts: { provider: string; dryRun?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const { repair } = await import('../../flows/repair.js');
      const provider = await ctx.provider(opts.provider);
      const progress = new ByteProgress(ctx, 'reading every pack');
      const report = await ctx
        .interruptible((signal) =>
          repair(provider, { dryRun: opts.dryRun === true, signal, onProgress: progress.update }),
        )
        .finally(() => progress.finish());
      ctx.print({ repair: report }, () => {
        const { check, prune, affected } = report;
        const would = report.dryRun ? 'would ' : '';
        const lines = [
          `read ${check.packs} packs (${check.bytes} bytes): ${check.blobsSound} blobs sound, ${check.damagedCopies} damaged${check.unreadable.length ? `, ${check.unreadable.length} packs unreadable` : ''}`,
        ];
        for (const copy of check.damaged.slice(0, 20))
          lines.push(`  damaged: blob ${copy.blob} in pack ${copy.pack}: ${copy.problem}`);
        if (check.damaged.length > 20)
          lines.push(`  … and ${check.damagedCopies - 20} more (--json lists them)`);
        if (check.cleared > 0)
          lines.push(`cleared ${check.cleared} damage records of copies found sound again`);
        lines.push(
          `${would}rewrite ${prune.packsRewritten} packs, ${would}remove ${prune.packsRemoved}, ${would}rebuild ${prune.indexesRecovered} indexes; ${prune.bytesFreed} bytes freed`,
        );
        if (affected.length === 0) lines.push('no checkpoint lacks data');
        else {
          lines.push(`${affected.length} checkpoint(s) refer to blobs with no sound copy left:`);
          for (const c of affected) lines.push(`  ${c.id}  ${c.plan}  ${c.status}  ${c.blobs} blob(s) lost`);
          lines.push(
            'protect the same data again to write those blobs anew (the checkpoints then verify), or delete them',
          );
        }
        return lines.join('\n');
      });
      if (report.affected.length > 0) ctx.exitCode = 3;
    });
}
