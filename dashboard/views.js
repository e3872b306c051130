/**
 * The list views: providers, plans (with the "New plan" form), checkpoints of a provider,
 * operation logs (which follow a schedule's runs as they come). Each takes the router's
 * context and the route's query (filters, the paging `marker`, and `limit`, the page size,
 * which defaults to the server's 100).
 */
import { badge, bytes, h, replace, statsText, time } from './dom.js';
import { choice, field, input, parseJson, problemBox, submitting } from './forms.js';

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
const OPERATION_DONE = new Set(['succeeded', 'failed', 'skipped']);
/** How often a list of operations under way is fetched again. */
const FOLLOW_MS = 2000;

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

const RESOURCES_EXAMPLE = '[{"type": "fs.directory", "id": "docs", "path": "/srv/docs"}]';

/** "New plan": POST /plans with the resources and parameters typed as JSON. */
function planForm(ctx, providers, open) {
  const name = input('plan-name', { required: true, maxlength: 128 });
  const provider = choice(
    'plan-provider',
    providers.map((p) => [p.id, p.name]),
  );
  provider.value = providers.find((p) => p.name === 'local')?.id ?? providers[0]?.id ?? '';
  const description = input('plan-description', { maxlength: 1000 });
  const resources = h('textarea', {
    id: 'plan-resources',
    name: 'plan-resources',
    rows: 4,
    required: true,
    spellcheck: 'false',
    placeholder: RESOURCES_EXAMPLE,
    'data-testid': 'plan-resources',
  });
  const parameters = h('textarea', {
    id: 'plan-parameters',
    name: 'plan-parameters',
    rows: 2,
    spellcheck: 'false',
    placeholder: '{}',
    'data-testid': 'plan-parameters',
  });
  const problem = problemBox('plan-form-error');
  const form = h(
    'form',
    {
      class: 'create',
      'data-testid': 'plan-form',
      onsubmit: (e) => {
        e.preventDefault();
        submitting(form, problem, async () => {
          const body = {
            name: name.value.trim(),
            providerId: provider.value,
            resources: parseJson(resources.value, 'Resources', 'array') ?? [],
          };
          if (description.value.trim()) body.description = description.value.trim();
          const params = parseJson(parameters.value, 'Parameters', 'object');
          if (params) body.parameters = params;
          await ctx.call('POST', ['plans'], { body });
          ctx.go(route('plans'));
        });
      },
    },
    field('Name', name),
    field('Provider', provider),
    field('Description', description),
    field('Resources', resources, 'a JSON array of resources, as in a plan file'),
    field('Parameters', parameters, 'a JSON object (optional)'),
    problem,
    h('button', { type: 'submit', 'data-testid': 'plan-submit' }, 'Create plan'),
  );
  return h(
    'details',
    { class: 'create', 'data-testid': 'new-plan', open },
    h('summary', {}, 'New plan'),
    form,
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
      ['Checkpoint', 'Plan', 'Status', 'Created', 'Size', 'Actions'],
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
  const scheduledOperation = query.get('scheduledOperation') ?? '';
  const marker = query.get('marker') ?? '';
  const load = () =>
    ctx.call('GET', ['operation_logs'], {
      query: { kind, status, scheduledOperationId: scheduledOperation, marker, limit: query.get('limit') },
    });
  const [first, { scheduledOperations }] = await Promise.all([
    load(),
    ctx.call('GET', ['scheduled_operations'], { query: { limit: 1000 } }),
  ]);
  if (!ctx.alive()) return;
  const scheduleName = new Map(scheduledOperations.map((so) => [so.id, so.name]));
  const refilter = (change) => ctx.go(route('operations', { kind, status, scheduledOperation, ...change }));
  const list = h('div', { 'data-testid': 'operations-list' });
  const draw = ({ operationLogs, next }) =>
    replace(
      list,
      table(
        'operations-table',
        ['Created', 'Kind', 'Status', 'Checkpoint', 'Scheduled', 'Note', 'Operation'],
        operationLogs.map((op) => operationRow(op, scheduleName)),
        'No operations match.',
      ),
      pager(ctx, 'operations', query, marker, next),
    );
  draw(first);
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
      select(
        'Scheduled operation',
        'operation-schedule-filter',
        scheduledOperation,
        [
          ['', 'any'],
          ...(scheduledOperation && !scheduleName.has(scheduledOperation)
            ? [[scheduledOperation, scheduledOperation]]
            : []),
          ...scheduledOperations.map((so) => [so.id, so.name]),
        ],
        (v) => refilter({ scheduledOperation: v }),
      ),
    ),
    list,
  );

  // The first page follows new and running operations while a schedule's runs are shown
  // or any listed operation is still under way.
  if (marker) return;
  let timer;
  ctx.onCleanup(() => clearTimeout(timer));
  const follow = (page) => {
    if (scheduledOperation || page.operationLogs.some((op) => !OPERATION_DONE.has(op.status)))
      timer = setTimeout(async () => {
        let latest = page;
        try {
          latest = await load();
          if (!ctx.alive()) return;
          draw(latest);
        } catch (error) {
          if (error.status === 401 || !ctx.alive()) return;
        }
        follow(latest);
      }, FOLLOW_MS);
  };
  follow(first);
}

function operationRow(op, scheduleName) {
  return h(
    'tr',
    {
      'data-testid': 'operation-row',
      'data-operation-id': op.id,
      'data-status': op.status,
      'data-kind': op.kind,
    },
    h('td', {}, time(op.createdAt)),
    h('td', {}, op.kind),
    h('td', {}, badge(op.status)),
    h('td', {}, op.checkpointId ? h('code', {}, op.checkpointId) : '—'),
    h(
      'td',
      {},
      op.scheduledOperationId
        ? [
            h(
              'a',
              { href: route('operations', { scheduledOperation: op.scheduledOperationId }) },
              scheduleName.get(op.scheduledOperationId) ?? h('code', {}, op.scheduledOperationId),
            ),
            h('div', { class: 'muted' }, 'fired ', time(op.fireAt)),
          ]
        : '—',
    ),
    h('td', { 'data-testid': 'operation-note' }, operationNote(op)),
    h('td', {}, h('a', { href: `#/operations/${encodeURIComponent(op.id)}` }, h('code', {}, op.id))),
  );
}

/** Why it failed or was skipped; for a retention run, how many checkpoints it kept and deleted. */
function operationNote(op) {
  if (op.error?.message)
    return h('span', { class: op.status === 'skipped' ? 'muted' : 'error-text' }, op.error.message);
  const decisions = op.result?.retention?.decisions;
  if (!Array.isArray(decisions)) return op.result?.retention?.skipped ?? '';
  const kept = decisions.filter((d) => d.keep).length;
  const deleted = decisions.filter((d) => d.deleted).length;
  return `retention: ${kept} kept, ${deleted} deleted`;
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

export function heading(title, ctx) {
  return h(
    'div',
    { class: 'view-head' },
    h('h2', {}, title),
    h('button', { type: 'button', class: 'secondary', onclick: () => ctx.refresh() }, 'Refresh'),
  );
}

export function table(testid, columns, rows, empty) {
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
