import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { InstalledPlugin } from '../../plugins/packages.js';
import type { CliContext } from '../context.js';

/** The plugins directory's npm packages, loaded when a plugins command runs. */
const packages = () => import('../../plugins/packages.js');

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  const plugins = program
    .command('plugins')
    .description('Install, list and remove plugin packages (npm) in HOME/plugins')
    .addHelpText(
      'after',
      `
A provider file names an installed package in "plugin = PACKAGE"; Hoard looks for it in
HOME/plugins/node_modules first, then in its own installation. Its settings are the section
named after the plugin's name ([NAME], shown by "plugins list"). A plugin imports the SDK as
"hoard" (a peer dependency): it gets this installation's, never the npm registry's "hoard".

Examples:
  hoard plugins install hoard-plugin-redis            # from the npm registry
  hoard plugins install hoard-plugin-redis@1.2.0
  hoard plugins install ./hoard-plugin-redis-1.2.0.tgz # a tarball (npm pack)
  hoard plugins install examples/plugins/greeting     # a folder (copied, built beforehand)
  hoard plugins list --json
  hoard plugins remove hoard-plugin-redis`,
    );

  plugins
    .command('install')
    .description('Install a plugin package with npm, and check it exports a plugin for this SDK')
    .argument('<spec>', 'an npm package name (with @version or @tag), a tarball, or a folder')
    .addHelpText(
      'after',
      `
Runs "npm install --prefix HOME/plugins SPEC" (npm must be on the PATH, or HOARD_NPM names it).
A package that exports no plugin factory, or one built for another major of the plugin SDK
(its sdkVersion), is refused and not kept. Installing a package again upgrades or
reinstalls it.

Examples:
  hoard plugins install hoard-plugin-redis
  hoard plugins install @acme/hoard-plugin-mariadb@^2
  hoard plugins install ./hoard-plugin-greeting-1.0.0.tgz
  hoard --home /srv/hoard plugins install examples/plugins/greeting`,
    )
    .action(async (spec: string, _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const installed = await (await packages()).installPlugin(ctx.home, spec);
      ctx.print({ plugin: installed, ...(await packages()).pluginsSummary(ctx.home) }, () =>
        [
          `installed ${describe(installed)}`,
          installed.problem
            ? `  note: it does not load without settings: ${installed.problem.message}`
            : `  name it in a provider file: plugin = ${installed.package}${installed.plugin ? `, settings in [${installed.plugin}]` : ''}`,
        ].join('\n'),
      );
    });

  plugins
    .command('list')
    .description('List the installed plugin packages, each with its plugin name, types and SDK version')
    .addHelpText(
      'after',
      `
Each package is loaded without settings, as a check: one whose factory needs settings shows
why it did not load, and still works in a provider file that gives them.

Examples:
  hoard plugins list
  hoard plugins list --json | jq -r '.plugins[].package'`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const list = await (await packages()).listPlugins(ctx.home);
      const summary = (await packages()).pluginsSummary(ctx.home);
      ctx.print({ plugins: list, ...summary }, () =>
        list.length === 0
          ? `no plugin packages in ${summary.directory} (built in: ${summary.builtins.join(', ')})`
          : [
              `plugin packages in ${summary.directory} (this Hoard's plugin SDK: ${summary.sdkVersion})`,
              ...list.map(
                (p) => `  ${describe(p)}${p.problem ? `\n    does not load: ${p.problem.message}` : ''}`,
              ),
            ].join('\n'),
      );
    });

  plugins
    .command('remove')
    .description('Remove an installed plugin package')
    .argument('<package>', 'the package name, as "plugins list" shows it')
    .addHelpText(
      'after',
      `
A provider file that still names the package no longer loads afterwards (the others do):
the command names such files.

Examples:
  hoard plugins remove hoard-plugin-redis
  hoard plugins remove @acme/hoard-plugin-mariadb`,
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const removed = await (await packages()).removePlugin(ctx.home, name);
      const users = await providersNaming(ctx.home, name);
      ctx.print({ removed, providersNamingIt: users }, () =>
        [
          `removed ${removed.package}${removed.version ? ` ${removed.version}` : ''}`,
          ...users.map(
            (file) => `  warning: ${file} still names it (plugin = ${name}): that provider will not load`,
          ),
        ].join('\n'),
      );
    });
}

function describe(p: InstalledPlugin): string {
  const plugin = p.plugin
    ? ` — plugin ${p.plugin} (types: ${p.types.join(', ') || 'none'}; SDK ${p.sdkVersion ?? 'not declared'})`
    : '';
  return `${p.package}${p.version ? ` ${p.version}` : ''}${plugin}`;
}

/** Provider files whose `plugin =` lines name `name`. */
async function providersNaming(home: string, name: string): Promise<string[]> {
  const dir = join(home, 'providers');
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.conf')).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const f of files) {
    const file = join(dir, f);
    try {
      const { parseConf } = await import('../../providers/conf.js');
      const plugins = parseConf(await readFile(file, 'utf8'), file).provider?.plugin;
      if (plugins !== undefined && ([] as string[]).concat(plugins).includes(name)) out.push(file);
    } catch {
      // a broken file is reported when providers load
    }
  }
  return out;
}
