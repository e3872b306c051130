/**
 * The list views: providers, plans, checkpoints of a provider, operation logs. Each takes
 * the router's context and the route's query (filters, the paging `marker`, and `limit`,
 * the page size, which defaults to the server's 100).
 */
import { badge, h, replace, time } from './dom.js';

const CHECKPOINT_STATUSES = [
  'protecting',
  'available',
  'error',
  'copying',
  'deleting',
  'deleted',
  'error_deleting',
];
/** Statuses a checkpoint may be deleted from (restore and verify need `available`). */
const DELETABLE = new Set(['available', 'error', 'error_deleting']);
const OPERATION_KINDS = ['protect', 'restore', 'verify', 'copy', 'delete', 'retention_protect'];
const OPERATION_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'skipped'];

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
            ' ',
            h('a', { href: route('checkpoints', { provider, plan: plan.id }) }, 'Checkpoints'),
          ),
        );
      }),
      'No plans yet. Create one with POST /v1/{project}/plans.',
    ),
    pager(ctx, 'plans', query, marker, next),
  );
}

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
  const target = h('input', {
    id: 'restore-target',
    type: 'text',
    'data-testid': 'restore-target',
    placeholder: '/path/to/restore/into',
    autocomplete: 'off',
    'aria-describedby': 'restore-target-help',
  });

  const operate = (button, segments, body, method = 'POST') =>
    ctx.action(button, async () => ctx.openOperation(await ctx.call(method, segments, body ? { body } : {})));

  replace(
    ctx.main,
    heading('Checkpoints', ctx),
    h(
      'form',
      { class: 'filters', 'data-testid': 'checkpoint-filters', onsubmit: (e) => e.preventDefault() },
      select(
        'Provider',
        'checkpoint-provider',
        provider.id,
        providers.map((p) => [p.id, p.name]),
        (v) => refilter({ provider: v, plan: '' }),
      ),
      select(
        'Plan',
        'checkpoint-plan',
        planId,
        [['', 'any plan'], ...plans.map((p) => [p.id, p.name])],
        (v) => refilter({ plan: v }),
      ),
      select(
        'Status',
        'checkpoint-status',
        status,
        [['', 'any status'], ...CHECKPOINT_STATUSES.map((s) => [s, s])],
        (v) => refilter({ status: v }),
      ),
    ),
    h(
      'p',
      { class: 'field' },
      h('label', { for: 'restore-target' }, 'Restore into'),
      target,
      h(
        'span',
        { id: 'restore-target-help', class: 'muted' },
        'A directory for the checkpoint’s one resource that takes a target; leave empty to use the plan’s restore parameters.',
      ),
    ),
    table(
      'checkpoints-table',
      ['Checkpoint', 'Plan', 'Status', 'Created', 'Actions'],
      checkpoints.map((cp) =>
        h(
          'tr',
          { 'data-testid': 'checkpoint-row', 'data-checkpoint-id': cp.id, 'data-status': cp.status },
          h('th', { scope: 'row' }, h('code', {}, cp.id)),
          h('td', {}, cp.planName ?? cp.plan ?? ''),
          h('td', {}, badge(cp.status, { 'data-testid': 'checkpoint-status' })),
          h('td', {}, time(cp.createdAt)),
          h(
            'td',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                'data-testid': 'restore-button',
                disabled: cp.status !== 'available',
                'aria-label': `Restore checkpoint ${cp.id}`,
                onclick: (e) => {
                  const path = target.value.trim();
                  const body = { providerId: provider.id, checkpointId: cp.id };
                  if (path) body.target = path;
                  operate(e.currentTarget, ['restores'], body);
                },
              },
              'Restore',
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

export async function operationsView(ctx, query) {
  const kind = query.get('kind') ?? '';
  const status = query.get('status') ?? '';
  const marker = query.get('marker') ?? '';
  const { operationLogs, next } = await ctx.call('GET', ['operation_logs'], {
    query: { kind, status, marker, limit: query.get('limit') },
  });
  if (!ctx.alive()) return;
  const refilter = (change) => ctx.go(route('operations', { kind, status, ...change }));
  replace(
    ctx.main,
    heading('Operations', ctx),
    h(
      'form',
      { class: 'filters', 'data-testid': 'operation-filters', onsubmit: (e) => e.preventDefault() },
      select('Kind', 'operation-kind', kind, [['', 'any kind'], ...OPERATION_KINDS.map((k) => [k, k])], (v) =>
        refilter({ kind: v }),
      ),
      select(
        'Status',
        'operation-status-filter',
        status,
        [['', 'any status'], ...OPERATION_STATUSES.map((s) => [s, s])],
        (v) => refilter({ status: v }),
      ),
    ),
    table(
      'operations-table',
      ['Created', 'Kind', 'Status', 'Checkpoint', 'Operation'],
      operationLogs.map((op) =>
        h(
          'tr',
          { 'data-testid': 'operation-row', 'data-operation-id': op.id, 'data-status': op.status },
          h('td', {}, time(op.createdAt)),
          h('td', {}, op.kind),
          h('td', {}, badge(op.status)),
          h('td', {}, op.checkpointId ? h('code', {}, op.checkpointId) : '—'),
          h('td', {}, h('a', { href: `#/operations/${encodeURIComponent(op.id)}` }, h('code', {}, op.id))),
        ),
      ),
      'No operations match.',
    ),
    pager(ctx, 'operations', query, marker, next),
  );
}

/** The plan's provider: `providerId` as the server gives it (`provider` in older drafts), else local. */
function planProvider(plan) {
  return plan.providerId || plan.provider || 'local';
}

/** `#/name?k=v`, leaving out empty values. */
export function route(name, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) qs.set(k, v);
  const text = qs.toString();
  return `#/${name}${text ? `?${text}` : ''}`;
}

function heading(title, ctx) {
  return h(
    'div',
    { class: 'view-head' },
    h('h2', {}, title),
    h('button', { type: 'button', class: 'secondary', onclick: () => ctx.refresh() }, 'Refresh'),
  );
}

function table(testid, columns, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'muted', 'data-testid': `${testid}-empty` }, empty);
  return h(
    'table',
    { 'data-testid': testid },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h('tbody', {}, rows),
  );
}

function select(label, testid, value, options, onchange) {
  const id = `f-${testid}`;
  return h(
    'span',
    { class: 'field' },
    h('label', { for: id }, label),
    h(
      'select',
      { id, 'data-testid': testid, onchange: (e) => onchange(e.currentTarget.value) },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
    ),
  );
}

/** "First page" and "Next page": the marker of the page shown rides in the route. */
function pager(ctx, name, query, marker, next) {
  const params = Object.fromEntries(query);
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'data-testid': 'first-page',
        disabled: !marker,
        onclick: () => ctx.go(route(name, { ...params, marker: '' })),
      },
      'First page',
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'data-testid': 'next-page',
        disabled: !next,
        onclick: () => ctx.go(route(name, { ...params, marker: next })),
      },
      'Next page',
    ),
  );
}

/** A bank or plugin as the API gives it: a string, or an object with a name or type. */
function describe(value) {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object') return String(value);
  return value.name ?? value.type ?? JSON.stringify(value);
}
