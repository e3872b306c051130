// @ts-check
/**
 * The checkpoints of a provider, filtered by plan and status; each opens its own page
 * (views/checkpoint.js: browse and restore), and can be verified or deleted from here.
 */
import { badge, bytes, h, replace, statsText, time } from '../dom.js';
import { CHECKPOINT_STATUSES, DELETABLE } from '../statuses.js';
import { checkpointRoute, filterSelect, heading, pager, pair, route, table } from '../ui.js';

/** @typedef {import('../types.js').Ctx} Ctx */

/**
 * @param {Ctx} ctx
 * @param {URLSearchParams} query
 */
export async function checkpointsView(ctx, query) {
  const [{ providers }, { plans }] = await Promise.all([
    ctx.call('GET', ['providers']),
    ctx.call('GET', ['plans'], { query: { limit: 1000 } }),
  ]);
  if (!ctx.alive()) return;
  if (providers.length === 0) {
    replace(ctx.main, heading('Checkpoints', ctx), h('p', {}, 'No providers.'));
    return;
  }
  const wanted = query.get('provider');
  const provider = providers.find((p) => p.id === wanted || p.name === wanted) ?? providers[0];
  const planId = query.get('plan') ?? '';
  const status = query.get('status') ?? '';
  const marker = query.get('marker') ?? '';
  const { checkpoints, next } = await ctx.call('GET', ['providers', provider.id, 'checkpoints'], {
    query: { planId, status, marker, limit: query.get('limit') },
  });
  if (!ctx.alive()) return;

  const filters = { provider: provider.id, plan: planId, status };
  const refilter = (change) => ctx.go(route('checkpoints', { ...filters, ...change }));
  const operate = (button, segments, body, method = 'POST') =>
    ctx.action(button, async () => ctx.openOperation(await ctx.call(method, segments, body ? { body } : {})));

  replace(
    ctx.main,
    heading('Checkpoints', ctx),
    h(
      'form',
      { class: 'filters', 'data-testid': 'checkpoint-filters', onsubmit: (e) => e.preventDefault() },
      filterSelect(
        'Provider',
        'checkpoint-provider',
        provider.id,
        providers.map((p) => [p.id, p.name]),
        (v) => refilter({ provider: v, plan: '' }),
      ),
      filterSelect(
        'Plan',
        'checkpoint-plan',
        planId,
        [['', 'any plan'], ...plans.map((p) => [p.id, p.name])],
        (v) => refilter({ plan: v }),
      ),
      filterSelect(
        'Status',
        'checkpoint-status',
        status,
        [['', 'any status'], ...CHECKPOINT_STATUSES.map((s) => pair(s))],
        (v) => refilter({ status: v }),
      ),
    ),
    table(
      'checkpoints-table',
      ['Checkpoint', 'Plan', 'Status', 'Created', 'Size', 'Actions'],
      checkpoints.map((cp) =>
        h(
          'tr',
          { 'data-testid': 'checkpoint-row', 'data-checkpoint-id': cp.id, 'data-status': cp.status },
          h(
            'th',
            { scope: 'row' },
            h(
              'a',
              { href: checkpointRoute(provider.id, cp.id), 'data-testid': 'checkpoint-link' },
              h('code', {}, cp.id),
            ),
          ),
          h('td', {}, cp.planName ?? cp.plan ?? ''),
          h('td', {}, badge(cp.status, { 'data-testid': 'checkpoint-status' })),
          h('td', {}, time(cp.createdAt)),
          h(
            'td',
            {
              'data-testid': 'checkpoint-size',
              ...(cp.stats ? { 'data-bytes': String(cp.stats.bytes), title: statsText(cp.stats) } : {}),
            },
            cp.stats ? bytes(cp.stats.bytes) : h('span', { class: 'muted' }, '—'),
          ),
          h(
            'td',
            { class: 'actions' },
            h(
              'a',
              {
                class: 'button',
                href: checkpointRoute(provider.id, cp.id),
                'data-testid': 'open-button',
                'aria-label': `Open checkpoint ${cp.id}: browse and restore`,
              },
              'Browse & restore',
            ),
            h(
              'button',
              {
                type: 'button',
                'data-testid': 'verify-button',
                disabled: cp.status !== 'available',
                'aria-label': `Verify checkpoint ${cp.id}`,
                onclick: (e) =>
                  operate(e.currentTarget, ['verifications'], {
                    providerId: provider.id,
                    checkpointId: cp.id,
                  }),
              },
              'Verify',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'data-testid': 'delete-button',
                disabled: !DELETABLE.has(cp.status),
                'aria-label': `Delete checkpoint ${cp.id}`,
                onclick: (e) => {
                  if (!confirm(`Delete checkpoint ${cp.id}? Its data will be removed.`)) return;
                  operate(
                    e.currentTarget,
                    ['providers', provider.id, 'checkpoints', cp.id],
                    undefined,
                    'DELETE',
                  );
                },
              },
              'Delete',
            ),
          ),
        ),
      ),
      'No checkpoints match.',
    ),
    pager(ctx, 'checkpoints', query, marker, next),
  );
}
