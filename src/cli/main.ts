#!/usr/bin/env node
/**
 * `hoard`: parses the command line, runs one command, and maps an error to its exit status
 * through the one table of codes (ERRORS in errors.ts, docs/errors.md).
 */
import { constants } from 'node:os';
import { Command, CommanderError } from 'commander';
import { EXIT, errorInfo, errorSpec, HoardError } from '../errors.js';
import * as checkpoints from './commands/checkpoints.js';
import * as copy from './commands/copy.js';
import * as diff from './commands/diff.js';
import * as gc from './commands/gc.js';
import * as graph from './commands/graph.js';
import * as key from './commands/key.js';
import * as ls from './commands/ls.js';
import * as operations from './commands/operations.js';
import * as plugins from './commands/plugins.js';
import * as protect from './commands/protect.js';
import * as providers from './commands/providers.js';
import * as prune from './commands/prune.js';
import * as repair from './commands/repair.js';
import * as restore from './commands/restore.js';
import * as serve from './commands/serve.js';
import * as stats from './commands/stats.js';
import * as tokens from './commands/tokens.js';
import { CliContext, type GlobalOptions } from './context.js';
import { interruptedBy } from './util.js';

// `hoard … | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

// A promise nobody waits for (a plugin's background work, say) must not kill a protect half
// way, leaving a checkpoint for recovery: say so, and carry on.
process.on('unhandledRejection', (reason) => {
  const message = reason instanceof Error ? reason.message : String(reason);
  process.stderr.write(
    `hoard: warning: a promise failed with nothing waiting for it (a plugin's background work?): ${message}\n`,
  );
});

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

for (const command of [
  protect,
  restore,
  copy,
  checkpoints,
  ls,
  diff,
  providers,
  plugins,
  graph,
  gc,
  repair,
  prune,
  key,
  serve,
  stats,
  tokens,
  operations,
])
  command.register(program, context);
for (const cmd of program.commands) cmd.exitOverride();
for (const cmd of program.commands.flatMap((c) => c.commands)) cmd.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}
// A run cut short by Ctrl-C (or SIGTERM) says so, whatever it printed: 128 + the signal's number.
const signal = interruptedBy();
if (signal) process.exitCode = 128 + constants.signals[signal];

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
    return EXIT.USAGE;
  }
  const wantsJson = json || process.argv.includes('--json');
  if (error instanceof HoardError) {
    if (wantsJson) process.stdout.write(`${JSON.stringify(error.toJSON())}\n`);
    process.stderr.write(`hoard: ${error.message}\n`);
    return errorSpec(error.code).exit;
  }
  // Not a user's mistake: keep everything for the bug report.
  const info = errorInfo(error);
  if (wantsJson)
    process.stdout.write(
      `${JSON.stringify({ error: { code: 'INTERNAL', message: info.message, details: info } })}\n`,
    );
  process.stderr.write(`hoard: internal error: ${info.message}\n${info.stack ?? ''}\n`);
  return EXIT.FAILED;
}
