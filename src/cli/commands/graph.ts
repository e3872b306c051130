import type { Command } from 'commander';
import { HoardError } from '../../errors.js';
import type { HookGraph } from '../../flows/hook-graph.js';
import type { CliContext } from '../context.js';

const OPERATIONS = ['protect', 'restore', 'verify', 'delete'] as const;
const FORMATS = ['json', 'dot', 'mermaid'] as const;
const COLOURS = {
  green: 'green',
  indigo: 'indigo',
  purple: 'purple',
  yellow: 'goldenrod',
  red: 'red',
  black: 'black',
};

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('graph')
    .description("Print a plan's hook graph: which hook runs after which")
    .argument('<plan>', 'plan file')
    .option('--operation <kind>', `one of ${OPERATIONS.join(', ')}`, 'protect')
    .option('--format <format>', `one of ${FORMATS.join(', ')}`, 'json')
    .option('--provider <id>', "provider (default: the plan's)")
    .addHelpText(
      'after',
      '\nExamples:\n  hoard graph shop.yaml --format dot | dot -Tsvg > shop.svg\n  hoard graph shop.yaml --operation restore --format mermaid',
    )
    .action(
      async (
        planPath: string,
        opts: { operation: string; format: string; provider?: string },
        cmd: Command,
      ) => {
        const ctx = context(cmd);
        const { hookGraphJson, planHookGraph } = await import('../../flows/graph-view.js');
        const { loadPlan } = await import('../../plans/plan.js');
        const kind = opts.operation as (typeof OPERATIONS)[number];
        if (!OPERATIONS.includes(kind))
          throw new HoardError('USAGE', `--operation must be one of ${OPERATIONS.join(', ')}`);
        const format = (ctx.json ? 'json' : opts.format) as (typeof FORMATS)[number];
        if (!FORMATS.includes(format))
          throw new HoardError('USAGE', `--format must be one of ${FORMATS.join(', ')}`);
        const plan = await loadPlan(ctx.path(planPath));
        const provider = await ctx.provider(opts.provider ?? plan.provider);
        const hooks = await planHookGraph(plan, provider, kind);
        if (format === 'json') ctx.io.stdout.write(`${JSON.stringify(hookGraphJson(hooks), null, 2)}\n`);
        else ctx.io.stdout.write(`${format === 'dot' ? toDot(hooks) : toMermaid(hooks)}\n`);
      },
    );
}

function toDot(hooks: HookGraph): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = ['digraph hooks {', '  rankdir=TB;', '  node [shape=box, fontname="sans-serif"];'];
  for (const t of hooks.tasks) {
    lines.push(
      `  ${q(t.id)} [label=${q(`${t.data!.resource}\n${t.data!.hook}`)}${t.data!.impl ? '' : ', style=dashed'}];`,
    );
  }
  for (const e of hooks.edges) lines.push(`  ${q(e.from)} -> ${q(e.to)} [color=${COLOURS[e.kind]}];`);
  lines.push('}');
  return lines.join('\n');
}

function toMermaid(hooks: HookGraph): string {
  const ids = new Map(hooks.tasks.map((t, i) => [t.id, `t${i}`]));
  const lines = ['flowchart TD'];
  for (const t of hooks.tasks)
    lines.push(`  ${ids.get(t.id)}["${`${t.data!.resource} ${t.data!.hook}`.replaceAll('"', '#quot;')}"]`);
  for (const e of hooks.edges) lines.push(`  ${ids.get(e.from)} --> ${ids.get(e.to)}`);
  for (const [i, e] of hooks.edges.entries()) lines.push(`  linkStyle ${i} stroke:${COLOURS[e.kind]}`);
  return lines.join('\n');
}
