/** What every command needs: the home directory, the providers, and how to print. */
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { HoardError } from '../errors.js';
import {
  CHECKPOINT_ID,
  checkpointsWithPrefix,
  listCheckpoints,
  readCheckpoint,
} from '../flows/checkpoints.js';
import { findProvider, loadProviders, type Provider, type ProviderProblem } from '../providers/provider.js';

export interface GlobalOptions {
  home?: string;
  json?: boolean;
}

export class CliContext {
  private loaded: Promise<{ providers: Provider[]; problems: ProviderProblem[] }> | undefined;
  readonly home: string;
  readonly json: boolean;

  constructor(options: GlobalOptions) {
    this.home = resolve(options.home ?? process.env.HOARD_HOME ?? join(homedir(), '.hoard'));
    this.json = options.json === true;
    checkHome(
      this.home,
      options.home !== undefined ? '--home' : process.env.HOARD_HOME ? 'HOARD_HOME' : 'home',
    );
  }

  /** Loads the providers once; a broken provider file is a warning on stderr, not a failure. */
  providers(): Promise<{ providers: Provider[]; problems: ProviderProblem[] }> {
    this.loaded ??= loadProviders(this.home).then((result) => {
      for (const problem of result.problems) process.stderr.write(`warning: ${problem.message}\n`);
      return result;
    });
    return this.loaded;
  }

  async provider(nameOrId: string): Promise<Provider> {
    const { providers, problems } = await this.providers();
    return findProvider(providers, nameOrId, problems);
  }

  /** The provider holding checkpoint `id`: the one named, or the first whose bank has it. */
  async providerOf(id: string, nameOrId?: string): Promise<Provider> {
    if (nameOrId) return this.provider(nameOrId);
    const { providers } = await this.providers();
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
    process.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
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
