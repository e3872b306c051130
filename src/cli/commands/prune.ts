import type { Command } from 'commander';
import { HoardError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { positiveInt } from '../util.js';

interface PruneFlags {
  provider: string;
  policy?: string;
  maxBackups?: number;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  dryRun?: boolean;
}

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('prune')
    .description(
      "Apply a retention policy to a plan's checkpoints: show (--dry-run) or delete what may go, and why",
    )
    .argument(
      '<plan>',
      'plan name (a plan made through the API: its id, under which the bank files its checkpoints)',
    )
    .option(
      '--policy <yaml>',
      'the policy as YAML/JSON, e.g. "{kind: decay, start: 1, window: 1, scale: 2, limit: 366}"',
    )
    .option('--max-backups <n>', 'keep the newest N available checkpoints', positiveInt)
    .option('--keep-last <n>', "restic's keep-last", positiveInt)
    .option('--keep-hourly <n>', "restic's keep-hourly", positiveInt)
    .option('--keep-daily <n>', "restic's keep-daily", positiveInt)
    .option('--keep-weekly <n>', "restic's keep-weekly", positiveInt)
    .option('--keep-monthly <n>', "restic's keep-monthly", positiveInt)
    .option('--keep-yearly <n>', "restic's keep-yearly", positiveInt)
    .option('--provider <id>', 'provider (default local)', 'local')
    .option('--dry-run', 'only show the decisions')
    .addHelpText(
      'after',
      `
Policies: max_backups {count}, retention_duration {days}, keep {last, hourly, daily, weekly,
monthly, yearly} (restic's semantics), age {minBackups, pruneAgeDays} and decay {start,
window, scale, limit} (rsbackup's). Nothing is deleted when the plan's last protect failed,
and the last available checkpoint is never deleted.

Examples:
  hoard prune shop-nightly --keep-daily 7 --keep-weekly 4 --dry-run
  hoard prune shop-nightly --keep-hourly 24 --keep-daily 7 --keep-yearly 5
  hoard prune 0193a5c2-0000-7000-8000-000000000001 --max-backups 7 --dry-run   # an API plan, by id
  hoard prune shop-nightly --policy '{kind: decay, start: 1, window: 1, scale: 2, limit: 366}' --json`,
    )
    .action(async (plan: string, opts: PruneFlags, cmd: Command) => {
      const ctx = context(cmd);
      const { prunePlan, pruneShortfall } = await import('../../flows/prune.js');
      const { validatePolicy } = await import('../../flows/retention.js');
      const policy = validatePolicy(await policyFrom(opts), '--policy');
      const provider = await ctx.provider(opts.provider);
      const result = await ctx.interruptible((signal) =>
        prunePlan(plan, provider, policy, { dryRun: opts.dryRun === true, signal }),
      );
      ctx.print(result, () => {
        const retried = result.retried.map(
          (r) =>
            `${result.dryRun ? 'would retry' : r.deleted ? 'deleted' : 'NOT deleted'}  ${r.id}  error_deleting  a delete that was killed or failed, tried again${r.error ? `  (${r.error})` : ''}`,
        );
        const decided = result.decisions.map(
          (d) =>
            `${d.keep ? 'keep  ' : result.dryRun ? 'would delete' : d.deleted ? 'deleted' : 'NOT deleted'}  ${d.id}  ${d.status}  ${d.reasons.join('; ')}${d.error ? `  (${d.error})` : ''}`,
        );
        const lines = [...retried, ...decided];
        return lines.length === 0 ? `no checkpoints of plan ${plan}` : lines.join('\n');
      });
      if (pruneShortfall(result).length > 0) ctx.exitCode = 1;
    });
}

async function policyFrom(opts: PruneFlags): Promise<unknown> {
  const keep = {
    ...(opts.keepLast ? { last: opts.keepLast } : {}),
    ...(opts.keepHourly ? { hourly: opts.keepHourly } : {}),
    ...(opts.keepDaily ? { daily: opts.keepDaily } : {}),
    ...(opts.keepWeekly ? { weekly: opts.keepWeekly } : {}),
    ...(opts.keepMonthly ? { monthly: opts.keepMonthly } : {}),
    ...(opts.keepYearly ? { yearly: opts.keepYearly } : {}),
  };
  const given = [
    opts.policy !== undefined,
    opts.maxBackups !== undefined,
    Object.keys(keep).length > 0,
  ].filter(Boolean);
  if (given.length !== 1) {
    throw new HoardError('USAGE', 'give exactly one policy: --policy, --max-backups, or --keep-* options');
  }
  if (opts.policy !== undefined)
    return (await import('../../plans/yaml.js')).parseYaml(opts.policy, '--policy', 'USAGE');
  if (opts.maxBackups !== undefined) return { kind: 'max_backups', count: opts.maxBackups };
  return { kind: 'keep', ...keep };
}
