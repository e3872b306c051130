import type { Command } from 'commander';
import type { CheckpointDiff } from '../../flows/browse.js';
import type { CliContext } from '../context.js';
import { checkpointReference } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('diff')
    .description('What changed from one checkpoint to another, per resource')
    .argument(
      '<from>',
      'the older checkpoint: id, unique prefix (6+ characters) or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .argument(
      '<to>',
      'the newer checkpoint: id, unique prefix or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .option('--plan <name>', 'with "latest": the newest available checkpoint of this plan')
    .option('--provider <id>', 'provider holding both checkpoints (default: search all)')
    .addHelpText(
      'after',
      `
File resources (fs.directory) are compared path by path from their manifests, without
reading any file: "+" added, "-" removed, "M" modified (its content, type, link target or
mode differ; a new mtime alone is not a change). Other resources are "changed" or
"unchanged" (sqlite.database by its copy's checksum), or "unknown" where the plugin cannot
tell without restoring (a pg_dump archive carries its own time).

Examples:
  hoard diff 20261122T0300 20261123T0300
  hoard diff 20261122T030000123Z-1a2b3c4d latest --plan shop-nightly --json`,
    )
    .action(async (from: string, to: string, opts: { plan?: string; provider?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const { diffCheckpoints } = await import('../../flows/browse.js');
      const a = await ctx.checkpoint(from, opts);
      const b = await ctx.checkpoint(to, opts);
      const diff = await ctx.interruptible((signal) => diffCheckpoints(a, b, { signal }));
      ctx.print(diff, () => formatDiff(diff));
    });
}

function formatDiff(diff: CheckpointDiff): string {
  const lines = [`from ${diff.from.id} to ${diff.to.id}`];
  for (const r of diff.resources) {
    if (r.compared !== 'entries') {
      lines.push(`${r.resource}: ${r.status}`);
      continue;
    }
    const counts = `${r.added.length} added, ${r.removed.length} removed, ${r.modified.length} modified`;
    lines.push(`${r.resource}: ${r.status === 'unchanged' ? 'unchanged' : counts}`);
    const marked = [
      ...r.added.map((p) => ['+', p] as const),
      ...r.removed.map((p) => ['-', p] as const),
      ...r.modified.map((p) => ['M', p] as const),
    ].sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
    for (const [mark, path] of marked) lines.push(`${mark} ${path}`);
  }
  const { added, removed, modified } = diff.stats;
  lines.push(`${added} added, ${removed} removed, ${modified} modified`);
  return lines.join('\n');
}
