import type { Command } from 'commander';
import type { Provider } from '../../providers/provider.js';
import type { CliContext } from '../context.js';

export function register(program: Command, context: (cmd: Command) => CliContext): void {
  const providers = program.command('providers').description('Show the configured providers');

  providers
    .command('list')
    .description('List providers (files in HOME/providers/*.conf, and the built-in local)')
    .addHelpText('after', '\nExample:\n  hoard providers list --json')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const { providerSummary } = await import('../../providers/provider.js');
      const { providers: all, problems } = await ctx.providers();
      const list = all.map((p) => summary(p, providerSummary));
      ctx.print({ providers: list, problems }, () =>
        list.map((p) => `${p.name.padEnd(16)} ${p.id}  ${p.bank}  ${p.plugins.join(', ')}`).join('\n'),
      );
    });

  providers
    .command('show')
    .description("Show a provider: bank, settings (secrets hidden), and each type's schemas")
    .argument('<id>', 'provider name or id')
    .addHelpText('after', '\nExample:\n  hoard providers show local')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const { providerSummary, providerTypes } = await import('../../providers/provider.js');
      const provider = await ctx.provider(id);
      const detail = {
        ...summary(provider, providerSummary),
        settings: provider.settings,
        types: providerTypes(provider),
      };
      ctx.print({ provider: detail }, () =>
        [
          `${detail.name} (${detail.id})`,
          detail.description,
          `bank: ${detail.bank}  ${JSON.stringify(detail.settings)}`,
          ...detail.types.map((t) => `type ${t.type} (plugin ${t.plugin})`),
        ].join('\n'),
      );
    });
}

function summary(p: Provider, providerSummary: typeof import('../../providers/provider.js').providerSummary) {
  return { ...providerSummary(p), file: p.file ?? null };
}
