import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { HoardError } from '../../errors.js';
import type { Parameters } from '../../plugins/params.js';
import type { CliContext } from '../context.js';
import { formatResult } from '../format.js';
import { Progress } from '../progress.js';
import { checkpointReference, collect, smallYoungGeneration } from '../util.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  program
    .command('restore')
    .description('Restore a checkpoint')
    .argument(
      '<checkpoint>',
      'checkpoint id, unique prefix (6+ characters) or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .option('--plan <name>', 'with "latest": the newest available checkpoint of this plan')
    .option('--target <path>', 'where to restore, when exactly one resource takes a target')
    .option(
      '--param <key=value>',
      'restore parameter, e.g. fs.directory#uploads.target=/restore/u (repeatable)',
      collect,
      [],
    )
    .option('--params <file>', 'restore parameters file (YAML or JSON, same shape as plan parameters)')
    .option(
      '--include <path>',
      'restore only this path of the file resource (a directory with everything below it; repeatable)',
      collect,
      [],
    )
    .option(
      '--resource <type#id>',
      'restore only this resource (type#id, or its id alone when unique; repeatable): the others are left alone',
      collect,
      [],
    )
    .option('--overwrite', 'allow restoring over existing data')
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .addHelpText(
      'after',
      `
Examples:
  hoard restore 20261123T094512345Z-3fa9c1d2 --target /tmp/restored
  hoard restore 20261123T094512345Z-3fa9c1d2 --param 'fs.directory#uploads.target=/restore/u' --param 'sqlite.database#db.target=/restore/db.sqlite'
  hoard restore 20261123T094512345Z-3fa9c1d2 --params restore.yaml --overwrite
  hoard restore latest --plan quickstart --target /tmp/restored
  hoard restore 20261123T0945 --target /tmp/restored      # a unique prefix
  hoard restore latest --plan quickstart --target /tmp/r --include docs --include notes/todo.md
  hoard restore 20261123T0945 --param 'fs.directory#notes.target=/tmp/r' --param 'fs.directory#notes.include=["docs"]'
  hoard restore latest --plan quickstart --resource sqlite.database#db --target /tmp/db.sqlite

--include restores only those paths (and the directories above them, with their modes and
times) of the one file resource; with several, use the parameter form. A path the checkpoint
does not hold is exit 2, naming it, before anything is written; "hoard ls" shows the paths.
--resource restores only the resources named (their parents' and children's hooks do not
run unless they are named too); --target and --include then count only those.`,
    )
    .action(async (ref: string, opts: RestoreFlags, cmd: Command) => {
      smallYoungGeneration();
      const ctx = context(cmd);
      const { restore } = await import('../../flows/checkpoint-ops.js');
      const { operationSucceeded } = await import('../../flows/checkpoint-view.js');
      const parameters = opts.params ? await readParams(ctx.path(opts.params)) : {};
      const { provider, id } = await ctx.checkpoint(ref, opts);
      const progress = new Progress(ctx, `restore ${id}`);
      const result = await ctx
        .interruptible(async (signal) =>
          restore(id, provider, {
            ...ctx.hooks(),
            signal,
            onEvent: progress.onEvent,
            parameters,
            assignments: opts.param,
            ...(opts.target !== undefined ? { target: ctx.path(opts.target) } : {}),
            ...(opts.overwrite ? { overwrite: true } : {}),
            ...(opts.include.length > 0 ? { include: opts.include } : {}),
            ...(opts.resource.length > 0 ? { resources: opts.resource } : {}),
          }),
        )
        .finally(() => progress.finish());
      ctx.print(result, () => formatResult(result));
      if (!operationSucceeded('restore', result)) ctx.exitCode = 1;
    });

  program
    .command('verify')
    .description('Check that a checkpoint can be restored (each plugin verifies its data)')
    .argument(
      '<checkpoint>',
      'checkpoint id, unique prefix (6+ characters) or "latest"',
      checkpointReference('CHECKPOINT'),
    )
    .option('--plan <name>', 'with "latest": the newest available checkpoint of this plan')
    .option('--param <key=value>', 'verify parameter (repeatable)', collect, [])
    .option('--resource <type#id>', 'verify only this resource (repeatable)', collect, [])
    .option('--provider <id>', 'provider holding the checkpoint (default: search all)')
    .addHelpText(
      'after',
      '\nExamples:\n  hoard verify 20261123T094512345Z-3fa9c1d2 --json\n  hoard verify latest --plan quickstart\n  hoard verify latest --plan quickstart --resource fs.directory#files\n\nExit status: 0 verified, 1 damage found.',
    )
    .action(
      async (
        ref: string,
        opts: { param: string[]; resource: string[]; provider?: string; plan?: string },
        cmd: Command,
      ) => {
        const ctx = context(cmd);
        const { verify } = await import('../../flows/checkpoint-ops.js');
        const { operationSucceeded } = await import('../../flows/checkpoint-view.js');
        const { provider, id } = await ctx.checkpoint(ref, opts);
        const progress = new Progress(ctx, `verify ${id}`);
        const result = await ctx
          .interruptible((signal) =>
            verify(id, provider, {
              signal,
              onEvent: progress.onEvent,
              assignments: opts.param,
              ...(opts.resource.length > 0 ? { resources: opts.resource } : {}),
              ...ctx.hooks(),
            }),
          )
          .finally(() => progress.finish());
        ctx.print(result, () => formatResult(result));
        if (!operationSucceeded('verify', result)) ctx.exitCode = 1;
      },
    );
}

interface RestoreFlags {
  target?: string;
  param: string[];
  params?: string;
  overwrite?: boolean;
  include: string[];
  resource: string[];
  provider?: string;
}

async function readParams(file: string): Promise<Parameters> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new HoardError(
      'PARAMS_INVALID',
      `--params: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      { details: { file }, cause: error },
    );
  }
  const { parseYaml } = await import('../../plans/yaml.js');
  const value = parseYaml(text, file, 'PARAMS_INVALID');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HoardError('PARAMS_INVALID', `${file}: expected a mapping of TYPE or TYPE#ID to parameters`, {
      details: { file },
    });
  }
  return value as Parameters;
}
