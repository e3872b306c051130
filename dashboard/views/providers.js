// @ts-check
/** The providers: where checkpoints go (a bank) and the plugins that make them. */
import { h, replace } from '../dom.js';
import { describe, heading, table } from '../ui.js';

/** @typedef {import('../types.js').Ctx} Ctx */

/** @param {Ctx} ctx */
export async function providersView(ctx) {
  const { providers } = await ctx.call('GET', ['providers']);
  if (!ctx.alive()) return;
  replace(
    ctx.main,
    heading('Providers', ctx),
    table(
      'providers-table',
      ['Name', 'Id', 'Description', 'Bank', 'Plugins'],
      providers.map((p) =>
        h(
          'tr',
          { 'data-testid': 'provider-row', 'data-provider-id': p.id },
          h('th', { scope: 'row' }, p.name),
          h('td', {}, h('code', {}, p.id)),
          h('td', {}, p.description ?? ''),
          h('td', {}, describe(p.bank)),
          h('td', {}, (p.plugins ?? []).map(describe).join(', ')),
        ),
      ),
      'No providers.',
    ),
  );
}
