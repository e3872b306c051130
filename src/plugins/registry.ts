import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HoardError } from '../errors.js';
import type { Protectable } from '../resources/protectable.js';
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

  add(plugin: ProtectionPlugin): this {
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

  protectables(): Map<string, Protectable> {
    const out = new Map<string, Protectable>();
    for (const [type, { spec }] of this.types)
      if (spec.protectable) out.set(type, { type, ...spec.protectable });
    return out;
  }
}

/**
 * Instantiates the plugin a provider file names: a built-in name, or an npm package name /
 * module path (relative to the provider file) whose default export or `plugin` export is a
 * {@link PluginFactory}.
 */
export async function loadPlugin(
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
        `plugin "${name}" is neither built in (${[...builtins.keys()].join(', ')}) nor a module that can be imported: ${(error as Error).message}`,
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
  const plugin = await factory(settings);
  if (!plugin || typeof plugin.operation !== 'function' || !Array.isArray(plugin.types)) {
    throw new HoardError(
      'PLUGIN_UNKNOWN',
      `plugin "${name}" did not return a protection plugin (name, types, operation)`,
      {
        details: { plugin: name },
      },
    );
  }
  return plugin;
}
