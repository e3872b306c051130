import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HoardError } from '../errors.js';
import type { Protectable } from '../resources/protectable.js';
import { describeValue, pluginProblem, sdkMismatch, threw } from './contract.js';
import { nameSchema } from './schema.js';
import {
  type PluginFactory,
  type PluginSettings,
  type ProtectionPlugin,
  type ResourceTypeSpec,
  SDK_VERSION,
} from './sdk.js';

export interface TypeHandler {
  plugin: ProtectionPlugin;
  spec: ResourceTypeSpec;
}

/** The plugins of one provider, and which of them handles each resource type. */
export class PluginRegistry {
  private readonly plugins = new Map<string, ProtectionPlugin>();
  private readonly types = new Map<string, TypeHandler>();

  constructor(readonly provider: string) {}

  /**
   * Adds a plugin; PROVIDER_INVALID naming the plugin and its mistake when it is not a
   * protection plugin as the SDK describes one (name, types, operation, schemas objects,
   * protectable methods functions), or when another plugin handles one of its types;
   * PLUGIN_SDK_MISMATCH when its `sdkVersion` has another major than this SDK's.
   */
  add(plugin: ProtectionPlugin): this {
    const problem = pluginProblem(plugin);
    if (problem) {
      const name = typeof (plugin as { name?: unknown } | null)?.name === 'string' ? `"${plugin.name}"` : '';
      throw new HoardError(
        'PROVIDER_INVALID',
        `provider ${this.provider}: plugin ${name || describeValue(plugin)} is not a protection plugin: ${problem}`,
        { details: { provider: this.provider, ...(name ? { plugin: plugin.name } : {}) } },
      );
    }
    const mismatch = sdkMismatch(plugin.sdkVersion, SDK_VERSION);
    if (mismatch) {
      throw new HoardError(
        'PLUGIN_SDK_MISMATCH',
        `provider ${this.provider}: plugin "${plugin.name}": ${mismatch}`,
        {
          details: {
            provider: this.provider,
            plugin: plugin.name,
            wanted: plugin.sdkVersion,
            running: SDK_VERSION,
          },
        },
      );
    }
    for (const spec of plugin.types) {
      for (const [which, schema] of Object.entries(spec.schemas ?? {}))
        if (schema) nameSchema(schema, `plugin "${plugin.name}": the ${which} schema of type ${spec.type}`);
    }
    this.plugins.set(plugin.name, plugin);
    for (const spec of plugin.types) {
      const other = this.types.get(spec.type);
      if (other && other.plugin !== plugin) {
        throw new HoardError(
          'PROVIDER_INVALID',
          `provider ${this.provider}: plugins ${other.plugin.name} and ${plugin.name} both handle type ${spec.type}`,
          { details: { provider: this.provider, type: spec.type } },
        );
      }
      this.types.set(spec.type, { plugin, spec });
    }
    return this;
  }

  get names(): string[] {
    return [...this.plugins.keys()];
  }

  list(): ProtectionPlugin[] {
    return [...this.plugins.values()];
  }

  /** The plugin for `type`, or PLUGIN_UNKNOWN naming the types this provider does handle. */
  handler(type: string, where = `provider ${this.provider}`): TypeHandler {
    const handler = this.types.get(type);
    if (!handler) {
      throw new HoardError(
        'PLUGIN_UNKNOWN',
        `${where}: unknown resource type "${type}"; provider ${this.provider} handles ${[...this.types.keys()].sort().join(', ') || 'no types'}`,
        { details: { type, provider: this.provider } },
      );
    }
    return handler;
  }

  /** Each type's protectable, with the name of the plugin that gives it (for messages). */
  protectables(): Map<string, Protectable & { plugin: string }> {
    const out = new Map<string, Protectable & { plugin: string }>();
    for (const [type, { plugin, spec }] of this.types)
      if (spec.protectable) out.set(type, { ...spec.protectable, type, plugin: plugin.name });
    return out;
  }
}

/** How long a plugin module may take to import and its factory to return, by default. */
export const PLUGIN_LOAD_TIMEOUT_MS = 30_000;

export interface LoadPluginOptions {
  /** Milliseconds the import and the factory may take together; default {@link PLUGIN_LOAD_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** A home whose plugins directory (`HOME/plugins/node_modules`) is searched before Hoard's own installation. */
  home?: string;
}

/**
 * A plugin's settings: one section, or a function giving the provider file's section of a
 * name (undefined when there is none), so that the plugin's own `name` picks its section.
 */
export type SettingsSource = PluginSettings | ((section: string) => PluginSettings | undefined);

/**
 * Instantiates the plugin a provider file names: a built-in name; an npm package name, found in
 * `HOME/plugins/node_modules` first, then from Hoard's own installation; or a module path
 * (relative to `baseDir`, the provider file's folder). The module's default export or `plugin`
 * export is a {@link PluginFactory}.
 *
 * Settings are the section named after the plugin's `name`: a package's factory is first
 * called with the section named as the `plugin =` line (older provider files), or none, to
 * learn that name, then again with the plugin's own section when there is one.
 *
 * A package or module that is not there is PLUGIN_UNKNOWN; one that does not import or exports
 * no factory PLUGIN_INVALID; a plugin built for another major of the SDK PLUGIN_SDK_MISMATCH; a
 * factory that throws, returns something that is not a protection plugin, or does not return
 * within `timeoutMs` (with its import) PROVIDER_INVALID naming the plugin. The provider does
 * not load, and the others still do.
 */
export async function loadPlugin(
  name: string,
  settings: SettingsSource,
  builtins: ReadonlyMap<string, PluginFactory>,
  baseDir: string,
  options: LoadPluginOptions = {},
): Promise<ProtectionPlugin> {
  const timeoutMs = options.timeoutMs ?? PLUGIN_LOAD_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HoardError(
            'PROVIDER_INVALID',
            `plugin "${name}" did not load within ${timeoutMs} ms (its module or its factory never returned)`,
            { details: { plugin: name, timeoutMs } },
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([instantiate(name, settings, builtins, baseDir, options.home), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function instantiate(
  name: string,
  settings: SettingsSource,
  builtins: ReadonlyMap<string, PluginFactory>,
  baseDir: string,
  home: string | undefined,
): Promise<ProtectionPlugin> {
  const builtin = builtins.get(name);
  const factory = builtin ?? (await importFactory(name, builtins, baseDir, home));
  if (typeof settings !== 'function') return checked(name, await create(name, factory, settings));
  // A built-in's name is the one the provider file gives.
  const named = settings(name);
  let plugin = await create(name, factory, named ?? {}, !builtin && named === undefined);
  if (!builtin && plugin.name !== name) {
    const own = settings(plugin.name);
    if (own && named) {
      throw new HoardError(
        'PROVIDER_INVALID',
        `plugin "${name}": its settings are in both [${name}] and [${plugin.name}]; keep one, [${plugin.name}] (the plugin's name)`,
        { details: { plugin: name, name: plugin.name } },
      );
    }
    if (own) {
      const first = plugin.name;
      plugin = await create(name, factory, own);
      if (plugin.name !== first) {
        throw new HoardError(
          'PROVIDER_INVALID',
          `plugin "${name}": its factory named the plugin "${first}" without settings and "${plugin.name}" with [${first}]; a plugin's name may not depend on its settings`,
          { details: { plugin: name } },
        );
      }
    }
  }
  return builtin ? plugin : checked(name, plugin);
}

/** Calls the factory; PROVIDER_INVALID when it throws or returns something that is no plugin. */
async function create(
  name: string,
  factory: PluginFactory,
  settings: PluginSettings,
  probing = false,
): Promise<ProtectionPlugin> {
  let plugin: unknown;
  try {
    plugin = await factory(settings);
  } catch (error) {
    const hint = probing
      ? " (it was called without settings, to learn the plugin's name: a factory should give its plugin without settings and check them when a hook needs them)"
      : '';
    throw new HoardError('PROVIDER_INVALID', `plugin "${name}": its factory ${threw(error)}${hint}`, {
      details: { plugin: name },
      cause: error,
    });
  }
  const problem = pluginProblem(plugin);
  if (problem) {
    throw new HoardError(
      'PROVIDER_INVALID',
      `plugin "${name}": its factory did not return a protection plugin: ${problem}`,
      { details: { plugin: name } },
    );
  }
  return plugin as ProtectionPlugin;
}

/** PLUGIN_SDK_MISMATCH when a loaded plugin was built for another major of the SDK. */
async function checked(name: string, plugin: ProtectionPlugin): Promise<ProtectionPlugin> {
  const mismatch = sdkMismatch(plugin.sdkVersion, SDK_VERSION);
  if (mismatch) {
    const { isPackageSpecifier, splitSpecifier } = await import('./resolve.js');
    const what = isPackageSpecifier(name) ? `package "${splitSpecifier(name)[0]}"` : `module "${name}"`;
    const major = SDK_VERSION.split('.')[0];
    throw new HoardError(
      'PLUGIN_SDK_MISMATCH',
      `plugin ${what} (plugin "${plugin.name}"): ${mismatch}; install a version of it built for SDK ${major}.x${isPackageSpecifier(name) ? ` (hoard plugins install ${splitSpecifier(name)[0]}@VERSION)` : ''}, or run a Hoard whose SDK is ${plugin.sdkVersion?.split('.')[0]}.x`,
      {
        details: { plugin: name, name: plugin.name, wanted: plugin.sdkVersion, running: SDK_VERSION },
      },
    );
  }
  return plugin;
}

/** The factory a package or module exports (default, or `plugin`). */
async function importFactory(
  name: string,
  builtins: ReadonlyMap<string, PluginFactory>,
  baseDir: string,
  home: string | undefined,
): Promise<PluginFactory> {
  // Package resolution is imported for a plugin that is not built in: most providers have none.
  const { isPackageSpecifier, pluginsDir, resolveInstalled, splitSpecifier } = await import('./resolve.js');
  const path = name.startsWith('.') || isAbsolute(name) ? resolve(baseDir, name) : undefined;
  const installed =
    path === undefined && home !== undefined && isPackageSpecifier(name)
      ? await resolveInstalled(home, name)
      : undefined;
  let module: Record<string, unknown>;
  try {
    module = (await import(
      path ? pathToFileURL(path).href : installed ? pathToFileURL(installed).href : name
    )) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const message = error instanceof Error ? error.message : describeValue(error);
    const builtIn = `built in (${[...builtins.keys()].join(', ')})`;
    if (path !== undefined && code === 'ERR_MODULE_NOT_FOUND' && message.includes(path)) {
      throw new HoardError(
        'PLUGIN_UNKNOWN',
        `plugin "${name}" is not ${builtIn}, and there is no module ${path}`,
        {
          details: { plugin: name, path },
        },
      );
    }
    const pkg = splitSpecifier(name)[0];
    if (
      path === undefined &&
      installed === undefined &&
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_INVALID_MODULE_SPECIFIER') &&
      message.includes(`'${pkg}'`)
    ) {
      const where = home === undefined ? '' : ` in ${join(pluginsDir(home), 'node_modules')} nor`;
      throw new HoardError(
        'PLUGIN_UNKNOWN',
        `plugin "${name}" is not ${builtIn}, and no package "${pkg}" is installed${where} in Hoard's installation: install it with "hoard plugins install ${pkg}"`,
        { details: { plugin: name, package: pkg } },
      );
    }
    throw new HoardError(
      'PLUGIN_INVALID',
      `plugin "${name}": ${path ? `module ${path}` : `package ${installed ?? pkg}`} cannot be imported: ${message}`,
      { details: { plugin: name }, cause: error },
    );
  }
  const exported = module.default ?? module.plugin;
  if (typeof exported !== 'function') {
    throw new HoardError(
      'PLUGIN_INVALID',
      `plugin "${name}": ${path ? `module ${path}` : `package ${installed ?? name}`} exports no plugin factory (its default or "plugin" export is ${describeValue(exported)}, not a function: export default definePlugin((settings) => ({...})))`,
      { details: { plugin: name } },
    );
  }
  return exported as PluginFactory;
}
