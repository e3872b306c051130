import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { formatResult } from '../format.js';
import { Progress } from '../progress.js';
import { positiveInt, smallYoungGeneration } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('protect')
    .description('Protect the resources of a plan into a new checkpoint')
    .argument('<plan>', 'plan file (YAML or JSON)')
    .option('--provider <id>', "provider name or id (default: the plan's provider, else local)")
    .option('--concurrency <n>', 'most hooks running at once', positiveInt)
    .addHelpText(
      'after',
      `
Examples:
  hoard protect examples/quickstart/plan.yaml
  hoard protect shop.yaml --provider offsite --json

Exit status: 0 checkpoint available, 1 a hook failed (checkpoint error), 2 bad input.`,
    )
    .action(async (planPath: string, opts: { provider?: string; concurrency?: number }, cmd: Command) => {
      smallYoungGeneration();
      const ctx = context(cmd);
      // A provider named here is found first, and its bank prepared (in password mode the key
      // derivation starts) while the modules below load and the plan is read. A bad plan is
      // still the error reported first.
      const named = opts.provider === undefined ? undefined : ctx.provider(opts.provider);
      named?.then((p) => p.bank.prepare?.()).catch(() => {});
      const { operationSucceeded } = await import('../../flows/checkpoint-view.js');
      const { protect } = await import('../../flows/protect.js');
      const { loadPlan } = await import('../../plans/plan.js');
      const plan = await loadPlan(ctx.path(planPath));
      const provider = await (named ?? ctx.provider(plan.provider));
      const progress = new Progress(ctx, `protect ${plan.name}`);
      progress.setTotal(plan.resources.length * 4);
      const result = await ctx
        .interruptible((signal) =>
          protect(plan, provider, {
            signal,
            ...ctx.hooks(),
            onEvent: progress.onEvent,
            ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
          }),
        )
        .finally(() => progress.finish());
      ctx.print(result, () => formatResult(result));
      if (!operationSucceeded('protect', result)) ctx.exitCode = 1;
    });
}
