#!/usr/bin/env node
/** `hoard`: parses the command line, runs one command, maps errors to exit status 1 or 2. */
import { Command, CommanderError } from 'commander';
import { type ErrorCode, errorInfo, HoardError } from '../errors.js';
import * as checkpoints from './commands/checkpoints.js';
import * as copy from './commands/copy.js';
import * as gc from './commands/gc.js';
import * as graph from './commands/graph.js';
import * as protect from './commands/protect.js';
import * as providers from './commands/providers.js';
import * as prune from './commands/prune.js';
import * as restore from './commands/restore.js';
import * as serve from './commands/serve.js';
import * as tokens from './commands/tokens.js';
import { CliContext, type GlobalOptions } from './context.js';

/** Codes that mean the operation ran and failed (exit 1); every other code is bad input (exit 2). */
const OPERATION_FAILED: ReadonlySet<ErrorCode> = new Set([
  'HOOK_FAILED',
  'HOOK_TIMEOUT',
  'LEASE_LOST',
  'INTERNAL',
]);

// `hoard … | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const program = new Command('hoard')
  .description(
    'Protect applications made of interdependent resources into checkpoints that restore, verify and survive crashes',
  )
  .option('--home <dir>', 'Hoard home directory (providers, banks); also HOARD_HOME; default ~/.hoard')
  .option('--json', 'print exactly one JSON document on stdout')
  .showHelpAfterError('(run with --help for usage and examples)')
  .exitOverride()
  .addHelpText(
    'after',
    `
Examples:
  hoard protect examples/quickstart/plan.yaml
  hoard checkpoints list --plan quickstart
  hoard restore CHECKPOINT --target /tmp/restored
  hoard graph examples/quickstart/plan.yaml --format mermaid`,
  );

let json = false;
const context = (cmd: Command): CliContext => {
  const options = cmd.optsWithGlobals<GlobalOptions>();
  json = options.json === true;
  return new CliContext(options);
};

for (const command of [protect, restore, copy, checkpoints, providers, graph, gc, prune, serve, tokens])
  command.register(program, context);
for (const cmd of program.commands) cmd.exitOverride();
for (const cmd of program.commands.flatMap((c) => c.commands)) cmd.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    if (
      error.exitCode === 0 ||
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version'
    )
      return 0;
    if (json || process.argv.includes('--json')) {
      process.stdout.write(
        `${JSON.stringify({ error: { code: 'USAGE', message: error.message.replace(/^error: /, '') } })}\n`,
      );
    }
    return 2;
  }
  const wantsJson = json || process.argv.includes('--json');
  if (error instanceof HoardError) {
    if (wantsJson) process.stdout.write(`${JSON.stringify(error.toJSON())}\n`);
    process.stderr.write(`hoard: ${error.message}\n`);
    return OPERATION_FAILED.has(error.code) ? 1 : 2;
  }
  // Not a user's mistake: keep everything for the bug report.
  const info = errorInfo(error);
  if (wantsJson)
    process.stdout.write(
      `${JSON.stringify({ error: { code: 'INTERNAL', message: info.message, details: info } })}\n`,
    );
  process.stderr.write(`hoard: internal error: ${info.message}\n${info.stack ?? ''}\n`);
  return 1;
}
