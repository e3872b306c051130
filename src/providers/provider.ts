import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { FsBank } from '../bank/fs.js';
import type { Bank, EncryptionMode, EncryptionSettings } from '../bank/index.js';
import type { S3Bank as S3BankClass } from '../bank/s3.js';
import { HoardError } from '../errors.js';
import { BUILTIN_PLUGINS } from '../plugins/builtins.js';
import { loadPlugin, PluginRegistry } from '../plugins/registry.js';
import { type Conf, type ConfSection, maskSecrets, parseConf } from './conf.js';

export interface Provider {
  id: string;
  name: string;
  description: string;
  /** `fs` or `s3`. */
  bankType: string;
  bank: Bank;
  /** How the bank encrypts what it stores (`[provider] encryption`). */
  encryption: EncryptionMode;
  /** Where the password comes from, for `hoard key` (password mode only). */
  password?: () => Promise<string>;
  registry: PluginRegistry;
  /** The provider file, or undefined for the built-in `local`. */
  file: string | undefined;
  /** Settings by section, secrets masked: safe to show. */
  settings: Record<string, ConfSection>;
}

export interface ProviderProblem {
  file: string;
  message: string;
  code: string;
}

/** Id of the built-in provider, the same on every machine. */
export const LOCAL_PROVIDER_ID = '2e0c8826-81d6-44f5-bbe5-8f46a98c5845';

const PROVIDER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Every provider of a home directory: `<home>/providers/*.conf`, plus the built-in `local`
 * (fs bank under `<home>/banks/local`, all built-in plugins) unless a file defines `local`.
 * A broken file is reported in `problems` and the others still load.
 */
export async function loadProviders(
  home: string,
): Promise<{ providers: Provider[]; problems: ProviderProblem[] }> {
  const dir = join(home, 'providers');
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.conf')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const providers: Provider[] = [];
  const problems: ProviderProblem[] = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      const provider = await providerFromConf(parseConf(await readFile(file, 'utf8'), file), file, home);
      const clash = providers.find((p) => p.name === provider.name || p.id === provider.id);
      if (clash) {
        throw new HoardError('PROVIDER_INVALID', `${file}: provider name or id also used by ${clash.file}`, {
          details: { file },
        });
      }
      providers.push(provider);
    } catch (error) {
      const e =
        error instanceof HoardError
          ? error
          : new HoardError('PROVIDER_INVALID', `${file}: ${(error as Error).message}`);
      problems.push({ file, message: e.message, code: e.code });
    }
  }
  if (!providers.some((p) => p.name === 'local')) providers.unshift(await localProvider(home));
  return { providers, problems };
}

export async function localProvider(home: string): Promise<Provider> {
  const registry = new PluginRegistry('local');
  for (const factory of BUILTIN_PLUGINS.values()) registry.add(await factory({}));
  const path = join(home, 'banks', 'local');
  return {
    id: LOCAL_PROVIDER_ID,
    name: 'local',
    description: 'Local filesystem bank with all built-in plugins',
    bankType: 'fs',
    bank: new FsBank(path, { encryption: { mode: 'none', where: 'the bank of provider "local"' } }),
    encryption: 'none',
    registry,
    file: undefined,
    settings: { fs: { path } },
  };
}

async function providerFromConf(conf: Conf, file: string, home: string): Promise<Provider> {
  const head = conf.provider;
  if (!head)
    throw new HoardError('PROVIDER_INVALID', `${file}: no [provider] section`, { details: { file } });
  const single = (key: string, required: boolean): string | undefined => {
    const v = head[key];
    if (Array.isArray(v))
      throw new HoardError('PROVIDER_INVALID', `${file}: [provider] ${key} is given more than once`, {
        details: { file, key },
      });
    if (required && !v)
      throw new HoardError('PROVIDER_INVALID', `${file}: [provider] needs "${key} = …"`, {
        details: { file, key },
      });
    return v;
  };
  const name = single('name', true)!;
  if (!PROVIDER_NAME.test(name)) {
    // The name becomes a directory (the default bank path): no separators, no dot-names.
    throw new HoardError(
      'PROVIDER_INVALID',
      `${file}: [provider] name must be letters, digits, ".", "_" or "-", starting with a letter or digit; got "${name}"`,
      {
        details: { file, key: 'name' },
      },
    );
  }
  const id = single('id', true)!;
  if (!UUID.test(id)) {
    throw new HoardError('PROVIDER_INVALID', `${file}: [provider] id must be a UUID, got "${id}"`, {
      details: { file, key: 'id' },
    });
  }
  const bankType = single('bank', true)!;
  const plugins = head.plugin === undefined ? [] : ([] as string[]).concat(head.plugin);
  if (plugins.length === 0) {
    throw new HoardError('PROVIDER_INVALID', `${file}: [provider] needs at least one "plugin = …"`, {
      details: { file },
    });
  }
  const registry = new PluginRegistry(name);
  for (const plugin of plugins) {
    try {
      registry.add(
        await loadPlugin(plugin, (section) => conf[section], BUILTIN_PLUGINS, dirname(file), { home }),
      );
    } catch (error) {
      // Name the file once: the message names the plugin already.
      if (!(error instanceof HoardError) || error.message.startsWith(file)) throw error;
      throw new HoardError(error.code, `${file}: ${error.message}`, {
        details: { file, ...(error.details ?? {}) },
        cause: error.cause,
      });
    }
  }
  const encryption = encryptionSettings(conf, file, name, id, home);
  const settings: Record<string, ConfSection> = {};
  for (const [section, values] of Object.entries(conf))
    if (section !== 'provider') settings[section] = maskSecrets(values);
  // The S3 bank's modules load only for a provider that uses one.
  const s3 = bankType === 's3' ? (await import('../bank/s3.js')).S3Bank : undefined;
  return {
    id,
    name,
    description: single('description', false) ?? '',
    bankType,
    bank: openBank(
      bankType,
      s3,
      conf[bankType] ?? {},
      file,
      join(home, 'banks', name),
      encryption,
      join(home, 'cache', id),
    ),
    encryption: encryption.mode,
    ...(encryption.password ? { password: encryption.password } : {}),
    registry,
    file,
    settings,
  };
}

const ENCRYPTION_MODES = ['none', 'password', 'public-key'];
/** The `[encryption]` settings of each mode. */
const ENCRYPTION_SETTINGS: Record<string, string[]> = {
  none: [],
  password: ['password_file'],
  'public-key': ['recipient', 'identity_file'],
};

/**
 * `encryption = none | password | public-key` in [provider] and the `[encryption]` section:
 * password mode takes the password from `password_file` (its first line) or HOARD_PASSWORD;
 * public-key mode takes the age `recipient` (enough to protect) and, to read, `identity_file`.
 * Files are read when the bank is first used, so that listing providers needs neither. A
 * public-key writer keeps the repository's writer key in `<home>/keys/<provider id>.json`.
 */
function encryptionSettings(
  conf: Conf,
  file: string,
  name: string,
  id: string,
  home: string,
): EncryptionSettings {
  const invalid = (problem: string, key: string) =>
    new HoardError('PROVIDER_INVALID', `${file}: ${problem}`, { details: { file, key } });
  const mode = conf.provider?.encryption ?? 'none';
  if (Array.isArray(mode)) throw invalid('[provider] encryption is given more than once', 'encryption');
  if (!ENCRYPTION_MODES.includes(mode)) {
    throw invalid(
      `[provider] encryption must be one of ${ENCRYPTION_MODES.join(', ')}, got "${mode}"`,
      'encryption',
    );
  }
  const section = conf.encryption ?? {};
  if (mode === 'none' && conf.encryption) {
    throw invalid(
      'an [encryption] section, but [provider] says no encryption: add "encryption = password" or "encryption = public-key"',
      'encryption',
    );
  }
  const allowed = ENCRYPTION_SETTINGS[mode] ?? [];
  for (const key of Object.keys(section)) {
    if (!allowed.includes(key)) {
      throw invalid(
        `[encryption] "${key}" is not a setting of ${mode} mode (there are: ${allowed.join(', ')})`,
        key,
      );
    }
  }
  const setting = (key: string): string | undefined => {
    const value = section[key];
    if (Array.isArray(value)) throw invalid(`[encryption] ${key} is given more than once`, key);
    return value === '' ? undefined : value;
  };
  /** The text of a file named in [encryption], relative to the provider file. */
  const readSetting = async (key: string, path: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw invalid(
        `[encryption] ${key} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        key,
      );
    }
  };
  const where = `the bank of provider "${name}"`;
  if (mode === 'none') return { mode: 'none', where };
  if (mode === 'public-key') {
    const recipient = setting('recipient');
    if (recipient === undefined)
      throw invalid('[encryption] needs "recipient = age1…" in public-key mode', 'recipient');
    const identityFile = setting('identity_file');
    const identityPath = identityFile ? resolve(dirname(file), identityFile) : undefined;
    return {
      mode: 'public-key',
      where,
      recipient,
      identity: async () =>
        identityPath === undefined ? undefined : readSetting('identity_file', identityPath),
      writerKeyFile: join(home, 'keys', `${id}.json`),
    };
  }
  const passwordFile = setting('password_file');
  const path = passwordFile ? resolve(dirname(file), passwordFile) : undefined;
  return {
    mode: 'password',
    where,
    password: async () => {
      if (path === undefined) return process.env.HOARD_PASSWORD ?? '';
      const text = await readSetting('password_file', path);
      // The first line, as restic reads --password-file: a trailing newline is not part of it.
      const password = text.split(/\r?\n/)[0] ?? '';
      if (password === '') throw invalid(`[encryption] password_file ${path} is empty`, 'password_file');
      return password;
    },
  };
}

function openBank(
  type: string,
  s3: typeof S3BankClass | undefined,
  settings: ConfSection,
  file: string,
  defaultPath: string,
  encryption: EncryptionSettings,
  /** `<home>/cache/<provider id>`: a remote bank's local copies (bank/cache.ts) go below it. */
  cacheRoot: string,
): Bank {
  if (type === 'fs') {
    const path = settings.path ?? defaultPath;
    if (Array.isArray(path))
      throw new HoardError('PROVIDER_INVALID', `${file}: [fs] path is given more than once`, {
        details: { file },
      });
    // Password mode: the KDF's parameters that opened the bank are kept in the provider's
    // cache folder, as for s3, so that the next process derives the key early (deferred.ts).
    const hint =
      encryption.mode === 'password'
        ? {
            kdfHintFile: join(
              cacheRoot,
              `fs-${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 16)}.kdf.json`,
            ),
          }
        : {};
    return new FsBank(path, { encryption: { ...encryption, ...hint } });
  }
  if (type === 's3' && s3) return openS3Bank(s3, settings, file, encryption, cacheRoot);
  throw new HoardError('PROVIDER_INVALID', `${file}: bank "${type}" is not known (built in: fs, s3)`, {
    details: { file, bank: type },
  });
}

const S3_SETTINGS = [
  'bucket',
  'prefix',
  'endpoint',
  'region',
  'access_key_id',
  'secret_access_key',
  'force_path_style',
];

/**
 * The `[s3]` section: `bucket`, `prefix`, `endpoint` (absent: AWS), `region` (default
 * us-east-1), `access_key_id` and `secret_access_key` (absent: the AWS SDK's environment and
 * profile chain), `force_path_style` (default true when `endpoint` is set).
 */
function openS3Bank(
  S3Bank: typeof S3BankClass,
  settings: ConfSection,
  file: string,
  encryption: EncryptionSettings,
  cacheRoot: string,
): Bank {
  const invalid = (problem: string, key?: string) =>
    new HoardError('PROVIDER_INVALID', `${file}: [s3] ${problem}`, {
      details: { file, ...(key ? { key } : {}) },
    });
  const value = (key: string): string | undefined => {
    const v = settings[key];
    if (Array.isArray(v)) throw invalid(`${key} is given more than once`, key);
    return v === '' ? undefined : v;
  };
  for (const key of Object.keys(settings)) {
    if (!S3_SETTINGS.includes(key))
      throw invalid(`"${key}" is not a setting (there are: ${S3_SETTINGS.join(', ')})`, key);
  }
  const bucket = value('bucket');
  if (bucket === undefined) throw invalid('needs "bucket = …"', 'bucket');
  const accessKeyId = value('access_key_id');
  const secretAccessKey = value('secret_access_key');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw invalid(
      'access_key_id and secret_access_key go together: give both, or neither to use the AWS environment',
    );
  }
  const pathStyle = value('force_path_style');
  if (pathStyle !== undefined && !['true', 'false'].includes(pathStyle)) {
    throw invalid(`force_path_style must be true or false, got "${pathStyle}"`, 'force_path_style');
  }
  const endpoint = value('endpoint');
  const prefix = value('prefix');
  const region = value('region');
  try {
    return new S3Bank({
      bucket,
      ...(prefix === undefined ? {} : { prefix }),
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(region === undefined ? {} : { region }),
      ...(accessKeyId !== undefined && secretAccessKey !== undefined
        ? { credentials: { accessKeyId, secretAccessKey } }
        : {}),
      ...(pathStyle === undefined ? {} : { forcePathStyle: pathStyle === 'true' }),
      encryption,
      // One folder per bucket and prefix: a provider pointed at another bucket starts afresh.
      cacheDir: join(
        cacheRoot,
        createHash('sha256')
          .update(`${endpoint ?? 'aws'}\n${bucket}\n${prefix ?? ''}`)
          .digest('hex')
          .slice(0, 16),
      ),
    });
  } catch (error) {
    if (error instanceof HoardError && error.code === 'BANK_ARGUMENT_INVALID') {
      throw invalid(error.message.replace(/^s3 bank: /, ''));
    }
    throw error;
  }
}

/** Finds a provider by name or id; PROVIDER_UNKNOWN lists the ones there are. */
export function findProvider(
  providers: Provider[],
  nameOrId: string,
  problems: ProviderProblem[] = [],
): Provider {
  const found = providers.find((p) => p.name === nameOrId || p.id === nameOrId);
  if (found) return found;
  const broken = problems
    .map(
      (p) =>
        ` (${p.file} did not load: ${p.message.startsWith(`${p.file}: `) ? p.message.slice(p.file.length + 2) : p.message})`,
    )
    .join('');
  throw new HoardError(
    'PROVIDER_UNKNOWN',
    `no provider "${nameOrId}"; there are: ${providers.map((p) => p.name).join(', ')}${broken}`,
    { details: { provider: nameOrId } },
  );
}

/** A provider as `providers list` and the API show it (no settings). */
export function providerSummary(p: Provider) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    bank: p.bankType,
    encryption: p.encryption,
    plugins: p.registry.names,
  };
}

/** Each resource type the provider handles, with its plugin and schemas. */
export function providerTypes(p: Provider) {
  return p.registry.list().flatMap((plugin) =>
    plugin.types.map((t) => ({
      type: t.type,
      plugin: plugin.name,
      schemas: {
        resource: t.schemas?.resource ?? null,
        options: t.schemas?.options ?? null,
        restore: t.schemas?.restore ?? null,
        verify: t.schemas?.verify ?? null,
        savedInfo: t.schemas?.savedInfo ?? null,
      },
    })),
  );
}
