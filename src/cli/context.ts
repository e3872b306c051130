/**
 * What every command needs: the home directory, the providers, and how to print. The
 * providers and the checkpoint flows are imported when a command first asks for them, so
 * that a command that needs neither (`--help`, `tokens list`) does not load them.
 */
import { statSync } from 'node:fs';
import { constants, homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { HoardError } from '../errors.js';
import type { HookTransport } from '../flows/transport.js';
import { CHECKPOINT_ID } from '../flows/vocabulary.js';
import type { Provider, ProviderProblem } from '../providers/provider.js';
import { queueSettings } from '../queue/connection.js';

const checkpointFlows = () => import('../flows/checkpoints.js');
const providerModule = () => import('../providers/provider.js');

export interface GlobalOptions {
  home?: string;
  json?: boolean;
}

/** Where the CLI prints to: a process's stdout or stderr, or a test's collector. */
export interface Output {
  write(text: string): unknown;
  /** A terminal: progress is drawn only there. */
  isTTY?: boolean;
  /** The terminal's width, for the progress line. */
  columns?: number;
}

/**
 * The world one `main` call sees. The bin passes this process's (`processIo()`); a test passes
 * collectors and its own environment, and calls `main` in-process.
 */
export interface CliIo {
  stdout: Output;
  stderr: Output;
  /**
   * What the CLI itself reads (HOARD_HOME, HOARD_NEW_PASSWORD, CI, HOARD_SCHEDULER_TICK_MS,
   * HOARD_HEARTBEAT_MS). The layers below read `process.env` (HOARD_PASSWORD, HOARD_KDF_N,
   * HOARD_LEASE_TTL_MS …), so a caller that wants those changed sets them there.
   */
  env: NodeJS.ProcessEnv;
  /** Relative paths given on the command line (plans, --target, --params, --home) are resolved against it. */
  cwd: string;
  /** Read by `hoard key add` for a password typed at a terminal. */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /**
   * Ends the process at once: the second Ctrl-C of a command or of `hoard serve`. The bin
   * passes `process.exit`; `main` never calls it otherwise.
   */
  exit(code: number): void;
}

/** This process's streams, environment, directory and exit. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
    exit: (code) => process.exit(code),
  };
}

export class CliContext {
  private loaded: Promise<{ providers: Provider[]; problems: ProviderProblem[] }> | undefined;
  readonly home: string;
  readonly json: boolean;
  /** The exit status a command chose for a run that completed (1: the operation failed; 3: data lost). */
  exitCode = 0;

  constructor(
    options: GlobalOptions,
    readonly io: CliIo,
  ) {
    this.home = resolve(io.cwd, options.home ?? io.env.HOARD_HOME ?? join(homedir(), '.hoard'));
    this.json = options.json === true;
    checkHome(this.home, options.home !== undefined ? '--home' : io.env.HOARD_HOME ? 'HOARD_HOME' : 'home');
  }

  /**
   * A path from the command line, relative to `io.cwd`. Left as given when that is this
   * process's directory, so messages name the file as the user wrote it.
   */
  path(given: string): string {
    return isAbsolute(given) || this.io.cwd === process.cwd() ? given : resolve(this.io.cwd, given);
  }

  /** Whether progress may be drawn: on a terminal, outside CI. */
  get drawsProgress(): boolean {
    return this.io.stderr.isTTY === true && this.io.env.CI !== 'true';
  }

  private transport: Promise<HookTransport> | undefined;

  /**
   * What carries hooks of resources with a `host` to their agents (SPEC §12), as run options:
   * `{transport}` when HOARD_QUEUE_URL is set, else nothing. The queue is connected when the
   * first such hook runs (a plan without hosts never needs Redis), and closed by `close`.
   * HOARD_AGENT_WAIT (seconds, default 60) bounds how long a hook waits for an agent.
   */
  hooks(): { transport?: HookTransport } {
    const settings = queueSettings(this.io.env);
    if (!settings) return {};
    const agentWait = this.io.env.HOARD_AGENT_WAIT?.trim();
    const seconds = agentWait ? Number(agentWait) : undefined;
    if (seconds !== undefined && !(seconds > 0 && seconds <= 86_400)) {
      throw new HoardError(
        'QUEUE_INVALID',
        'HOARD_AGENT_WAIT must be a number of seconds > 0 (at most 86400)',
        {
          details: { variable: 'HOARD_AGENT_WAIT' },
        },
      );
    }
    const lock = Number(this.io.env.HOARD_AGENT_LOCK_MS) || undefined;
    const open = () => {
      this.transport ??= import('../queue/hooks.js').then(({ QueueHookTransport }) =>
        QueueHookTransport.open(settings, {
          ...(seconds !== undefined ? { agentWaitMs: seconds * 1000 } : {}),
          ...(lock !== undefined ? { lockMs: lock } : {}),
        }),
      );
      this.transport.catch(() => {
        this.transport = undefined;
      });
      return this.transport;
    };
    return {
      transport: {
        run: async (request, io) => (await open()).run(request, io),
        close: async () => {},
      },
    };
  }

  /** Gives up what the command opened (the queue's connections). */
  async close(): Promise<void> {
    const transport = await this.transport?.catch(() => undefined);
    this.transport = undefined;
    await transport?.close();
  }

  /** Loads the providers once; a broken provider file is a warning on stderr, not a failure. */
  providers(): Promise<{ providers: Provider[]; problems: ProviderProblem[] }> {
    this.loaded ??= providerModule().then(async ({ loadProviders }) => {
      const result = await loadProviders(this.home);
      for (const problem of result.problems) this.io.stderr.write(`warning: ${problem.message}\n`);
      return result;
    });
    return this.loaded;
  }

  async provider(nameOrId: string): Promise<Provider> {
    const { providers, problems } = await this.providers();
    return (await providerModule()).findProvider(providers, nameOrId, problems);
  }

  /** The provider holding checkpoint `id`: the one named, or the first whose bank has it. */
  async providerOf(id: string, nameOrId?: string): Promise<Provider> {
    if (nameOrId) return this.provider(nameOrId);
    const { providers } = await this.providers();
    const { readCheckpoint } = await checkpointFlows();
    for (const provider of providers) {
      try {
        await readCheckpoint(provider, id);
        return provider;
      } catch (error) {
        if (!(error instanceof HoardError && error.code === 'CHECKPOINT_NOT_FOUND')) throw error;
      }
    }
    await readCheckpoint(providers[0]!, id); // throws the right error
    throw new HoardError('CHECKPOINT_NOT_FOUND', `no checkpoint ${id} in any provider`);
  }

  /**
   * A CHECKPOINT argument (SPEC §8) as a provider and a full id: a full id, a unique prefix
   * (of the ids in the provider named, else in every provider), or `latest`, the newest
   * `available` checkpoint (of `plan` if given). CHECKPOINT_NOT_FOUND if none; USAGE naming
   * the candidates if a prefix names several.
   */
  async checkpoint(ref: string, options: { provider?: string | undefined; plan?: string | undefined } = {}) {
    if (CHECKPOINT_ID.test(ref)) return { provider: await this.providerOf(ref, options.provider), id: ref };
    const providers = options.provider
      ? [await this.provider(options.provider)]
      : (await this.providers()).providers;
    const { checkpointsWithPrefix, listCheckpoints } = await checkpointFlows();
    if (ref === 'latest') {
      let found: { provider: Provider; id: string } | undefined;
      for (const provider of providers) {
        const [newest] = (
          await listCheckpoints(provider, {
            status: 'available',
            limit: 1,
            ...(options.plan ? { plan: options.plan } : {}),
          })
        ).checkpoints;
        if (newest && (!found || newest.id > found.id)) found = { provider, id: newest.id };
      }
      if (found) return found;
      const of = options.plan ? ` of plan ${options.plan}` : '';
      throw new HoardError(
        'CHECKPOINT_NOT_FOUND',
        `"latest": no available checkpoint${of} in ${where(providers)}`,
      );
    }
    const matches = new Map<string, Provider>();
    for (const provider of providers) {
      for (const id of await checkpointsWithPrefix(provider, ref))
        if (!matches.has(id)) matches.set(id, provider);
    }
    if (matches.size === 1) {
      const [id, provider] = [...matches][0]!;
      return { provider, id };
    }
    if (matches.size === 0) {
      throw new HoardError(
        'CHECKPOINT_NOT_FOUND',
        `no checkpoint id starts with ${ref} in ${where(providers)}`,
        {
          details: { checkpoint: ref },
        },
      );
    }
    throw new HoardError(
      'USAGE',
      `${ref} is the start of ${matches.size === 10 ? '10 or more' : matches.size} checkpoint ids (${[...matches.keys()].slice(0, 5).join(', ')}${matches.size > 5 ? ', …' : ''}): give more of it`,
      { details: { checkpoint: ref, candidates: [...matches.keys()] } },
    );
  }

  /** Prints `value` as the one JSON document on stdout, or `human()` as text. */
  print(value: unknown, human: () => string): void {
    this.io.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  }

  /** The signal that cut this run short, if one did: `main` then returns 128 + its number (130 for Ctrl-C). */
  interrupted: 'SIGINT' | 'SIGTERM' | undefined;

  /**
   * Runs `work` with a signal that the first Ctrl-C (or SIGTERM) aborts, so hooks are
   * cancelled and owed teardowns still run; a second Ctrl-C exits at once (`io.exit`).
   */
  async interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let interrupts = 0;
    const onSignal = (name: 'SIGINT' | 'SIGTERM') => {
      this.interrupted ??= name;
      if (++interrupts > 1) this.io.exit(128 + constants.signals[name]);
      this.io.stderr.write(`\n${name}: cancelling; running teardowns (press Ctrl-C again to exit now)\n`);
      controller.abort(new Error(`interrupted by ${name}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await work(controller.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/**
 * The home may be missing (it is made when first written) but, when it exists, it must be a
 * directory: anything else is the caller's mistake, named with where it came from.
 */
function checkHome(home: string, from: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(home).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    const why = code === 'ENOTDIR' ? 'a part of its path is a file' : `it cannot be read (${code})`;
    throw new HoardError('USAGE', `${from} ${home} must be a directory: ${why}`, {
      details: { home, from },
      cause: error,
    });
  }
  if (!isDirectory) {
    throw new HoardError('USAGE', `${from} ${home} must be a directory; it is a file`, {
      details: { home, from },
    });
  }
}

function where(providers: readonly Provider[]): string {
  return providers.length === 1 ? `provider ${providers[0]!.name}` : 'any provider';
}
