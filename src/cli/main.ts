#!/usr/bin/env node
/**
 * `hoard`: parses the command line, runs one command, and maps an error to its exit status
 * through the one table of codes (ERRORS in errors.ts, docs/errors.md).
 *
 * `main(argv, io)` is the whole CLI as a function: it prints only through `io`, returns the
 * exit status and never exits the process, so tests call it in-process. Run as a program
 * (the bin), this file passes it `process.argv` and this process's streams.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT, errorInfo, errorSpec, HoardError } from '../errors.js';
import { CliContext, type CliIo, type GlobalOptions, processIo } from './context.js';

/** A command module: adds its command(s) to the program. */
interface CommandModule {
  register(program: Command, context: (cmd: Command) => CliContext): void;
}

/**
 * Every command, in the order `hoard --help` lists them: the names a module registers, and
 * the module, imported only when one of its commands runs (every one of them for `--help`, a
 * mistyped command, or `hoard help`), so that starting `hoard` costs only what the command run
 * needs. A command module keeps its own imports light: what its actions call, they import
 * when they run.
 */
const COMMANDS: readonly { names: readonly string[]; load: () => Promise<CommandModule> }[] = [
  { names: ['protect'], load: () => import('./commands/protect.js') },
  { names: ['restore', 'verify'], load: () => import('./commands/restore.js') },
  { names: ['copy'], load: () => import('./commands/copy.js') },
  { names: ['checkpoints'], load: () => import('./commands/checkpoints.js') },
  { names: ['ls'], load: () => import('./commands/ls.js') },
  { names: ['diff'], load: () => import('./commands/diff.js') },
  { names: ['providers'], load: () => import('./commands/providers.js') },
  { names: ['plugins'], load: () => import('./commands/plugins.js') },
  { names: ['graph'], load: () => import('./commands/graph.js') },
  { names: ['gc'], load: () => import('./commands/gc.js') },
  { names: ['repair'], load: () => import('./commands/repair.js') },
  { names: ['prune'], load: () => import('./commands/prune.js') },
  { names: ['key'], load: () => import('./commands/key.js') },
  { names: ['serve'], load: () => import('./commands/serve.js') },
  { names: ['worker'], load: () => import('./commands/worker.js') },
  { names: ['stats'], load: () => import('./commands/stats.js') },
  { names: ['tokens'], load: () => import('./commands/tokens.js') },
  { names: ['operations'], load: () => import('./commands/operations.js') },
  { names: ['agent', 'agents'], load: () => import('./commands/agent.js') },
];

/** The global options that take a value (the command is the first word that is neither). */
const VALUE_OPTIONS = ['--home'];

/**
 * The modules `argv` needs: the one whose command it names, or all of them when it names none
 * that is known (`--help`, `help`, a typo, nothing), so that commander lists or suggests them all.
 */
function modulesFor(argv: readonly string[]) {
  let word: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--' || arg === '--help' || arg === '-h') break; // the program's help lists every command
    if (arg === '--version' || arg === '-V') return []; // the program's version: no command
    if (VALUE_OPTIONS.includes(arg)) i++;
    else if (!arg.startsWith('-')) {
      word = arg;
      break;
    }
  }
  const chosen = COMMANDS.find((c) => word !== undefined && c.names.includes(word));
  return chosen ? [chosen] : COMMANDS;
}

/**
 * Runs one `hoard` command line: `argv` is what follows the program's name
 * (`['protect', 'plan.yaml', '--json']`). Resolves to the exit status (docs/errors.md):
 * errors become one line on stderr (and the JSON error body on stdout with `--json`), never a
 * rejection.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let ctx: CliContext | undefined;
  const program = new Command('hoard')
    .description(
      'Protect applications made of interdependent resources into checkpoints that restore, verify and survive crashes',
    )
    .option('--home <dir>', 'Hoard home directory (providers, banks); also HOARD_HOME; default ~/.hoard')
    .option('--json', 'print exactly one JSON document on stdout')
    .version(hoardVersion(), '-V, --version', "print Hoard's version")
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      getOutHelpWidth: () => io.stdout.columns ?? 80,
      getErrHelpWidth: () => io.stderr.columns ?? 80,
    })
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
  const context = (cmd: Command): CliContext => {
    ctx = new CliContext(cmd.optsWithGlobals<GlobalOptions>(), io);
    return ctx;
  };
  const modules = await Promise.all(modulesFor(argv).map((c) => c.load()));
  for (const module of modules) module.register(program, context);
  for (const cmd of program.commands) cmd.exitOverride();
  for (const cmd of program.commands.flatMap((c) => c.commands)) cmd.exitOverride();

  let code: number;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    code = ctx?.exitCode ?? 0;
  } catch (error) {
    const wantsJson = ctx?.json === true || argv.includes('--json');
    code = report(error, wantsJson, io);
  } finally {
    await ctx?.close();
  }
  // A run cut short by Ctrl-C (or SIGTERM) says so, whatever it printed: 128 + the signal's number.
  const signal = ctx?.interrupted;
  return signal ? 128 + constants.signals[signal] : code;
}

function report(error: unknown, wantsJson: boolean, io: CliIo): number {
  if (error instanceof CommanderError) {
    if (
      error.exitCode === 0 ||
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version'
    )
      return 0;
    if (wantsJson) {
      io.stdout.write(
        `${JSON.stringify({ error: { code: 'USAGE', message: error.message.replace(/^error: /, '') } })}\n`,
      );
    }
    return EXIT.USAGE;
  }
  if (error instanceof HoardError) {
    if (wantsJson) io.stdout.write(`${JSON.stringify(error.toJSON())}\n`);
    io.stderr.write(`hoard: ${error.message}\n`);
    return errorSpec(error.code).exit;
  }
  // Not a user's mistake: keep everything for the bug report.
  const info = errorInfo(error);
  if (wantsJson)
    io.stdout.write(
      `${JSON.stringify({ error: { code: 'INTERNAL', message: info.message, details: info } })}\n`,
    );
  io.stderr.write(`hoard: internal error: ${info.message}\n${info.stack ?? ''}\n`);
  return EXIT.FAILED;
}

/** Hoard's version: the `version` of its package.json (build/src/cli/main.js is three folders below it). */
function hoardVersion(): string {
  const manifest = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** Whether this module is the program being run (`node main.js`, or the `hoard` link to it). */
function isProgram(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isProgram()) {
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
  process.exitCode = await main(process.argv.slice(2));
}
