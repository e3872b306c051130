// @ts-check
/** The plans, with the "New plan" form, and the Protect and Delete of each. */
import { h, replace, time } from '../dom.js';
import { heading, pager, route, table } from '../ui.js';
import { planForm } from './plan-form.js';

/** @typedef {import('../types.js').Ctx} Ctx */

/**
 * @param {Ctx} ctx
 * @param {URLSearchParams} query
 */
export async function plansView(ctx, query) {
  const marker = query.get('marker') ?? '';
  const [{ plans, next }, { providers }] = await Promise.all([
    ctx.call('GET', ['plans'], { query: { marker, limit: query.get('limit') } }),
    ctx.call('GET', ['providers']),
  ]);
  if (!ctx.alive()) return;
  const providerName = (idOrName) =>
    providers.find((p) => p.id === idOrName || p.name === idOrName)?.name ?? idOrName;
  replace(
    ctx.main,
    heading('Plans', ctx),
    planForm(ctx, providers, plans.length === 0 && !marker),
    table(
      'plans-table',
      ['Name', 'Provider', 'Resources', 'Created', 'Actions'],
      plans.map((plan) => {
        const provider = planProvider(plan);
        return h(
          'tr',
          { 'data-testid': 'plan-row', 'data-plan-id': plan.id, 'data-plan-name': plan.name },
          h(
            'th',
            { scope: 'row' },
            plan.name,
            plan.description ? h('div', { class: 'muted' }, plan.description) : null,
          ),
          h('td', {}, providerName(provider)),
          h(
            'td',
            {},
            (plan.resources ?? []).map((r) => h('code', { class: 'resource' }, `${r.type}#${r.id}`)),
          ),
          h('td', {}, time(plan.createdAt)),
          h(
            'td',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                'data-testid': 'protect-button',
                'aria-label': `Protect plan ${plan.name}`,
                onclick: (e) =>
                  ctx.action(e.currentTarget, async () => {
                    const res = await ctx.call('POST', ['providers', provider, 'checkpoints'], {
                      body: { planId: plan.id },
                    });
                    ctx.openOperation(res);
                  }),
              },
              'Protect',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'data-testid': 'plan-delete-button',
                'aria-label': `Delete plan ${plan.name}`,
                onclick: (e) => {
                  if (!confirm(`Delete plan ${plan.name}? Its checkpoints stay.`)) return;
                  ctx.action(e.currentTarget, async () => {
                    await ctx.call('DELETE', ['plans', plan.id]);
                    ctx.refresh();
                  });
                },
              },
              'Delete',
            ),
            ' ',
            h('a', { href: route('checkpoints', { provider, plan: plan.id }) }, 'Checkpoints'),
          ),
        );
      }),
      'No plans yet.',
    ),
    pager(ctx, 'plans', query, marker, next),
  );
}

/** The plan's provider: `providerId` as the server gives it (`provider` in older drafts), else local. */
export function planProvider(plan) {
  return plan.providerId || plan.provider || 'local';
}
