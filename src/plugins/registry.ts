import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HoardError } from '../errors.js';
import type { Protectable } from '../resources/protectable.js';
import { describeValue, pluginProblem, threw } from './contract.js';
import { nameSchema } from './schema.js';
import type { PluginFactory, PluginSettings, ProtectionPlugin, ResourceTypeSpec } from './sdk.js';

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
   * protectable methods functions), or when another plugin handles one of its types.
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

/**
 * Instantiates the plugin a provider file names: a built-in name, or an npm package name /
 * module path (relative to the provider file) whose default export or `plugin` export is a
 * {@link PluginFactory}. A module that cannot be imported is PLUGIN_UNKNOWN; a factory that
 * throws, returns something that is not a protection plugin, or does not return within
 * `timeoutMs` (with its import) is PROVIDER_INVALID naming the plugin — the provider does not
 * load, and the others still do.
 */
export async function loadPlugin(
  name: string,
  settings: PluginSettings,
  builtins: ReadonlyMap<string, PluginFactory>,
  baseDir: string,
  options: { timeoutMs?: number } = {},
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
    return await Promise.race([instantiate(name, settings, builtins, baseDir), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function instantiate(
  name: string,
  settings: PluginSettings,
  builtins: ReadonlyMap<string, PluginFactory>,
  baseDir: string,
): Promise<ProtectionPlugin> {
  let factory = builtins.get(name);
  if (!factory) {
    const specifier =
      name.startsWith('.') || isAbsolute(name) ? pathToFileURL(resolve(baseDir, name)).href : name;
    let module: Record<string, unknown>;
    try {
      module = (await import(specifier)) as Record<string, unknown>;
    } catch (error) {
      throw new HoardError(
        'PLUGIN_UNKNOWN',
        `plugin "${name}" is neither built in (${[...builtins.keys()].join(', ')}) nor a module that can be imported: ${error instanceof Error ? error.message : describeValue(error)}`,
        { details: { plugin: name }, cause: error },
      );
    }
    const exported = module.default ?? module.plugin;
    if (typeof exported !== 'function') {
      throw new HoardError(
        'PLUGIN_UNKNOWN',
        `module "${name}" has no default or "plugin" export that is a plugin factory`,
        {
          details: { plugin: name },
        },
      );
    }
    factory = exported as PluginFactory;
  }
  let plugin: unknown;
  try {
    plugin = await factory(settings);
  } catch (error) {
    throw new HoardError('PROVIDER_INVALID', `plugin "${name}": its factory ${threw(error)}`, {
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
