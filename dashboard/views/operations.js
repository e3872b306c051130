// @ts-check
/**
 * The operation logs, filtered by kind, status and scheduled operation; the first page
 * follows runs under way (and a schedule's new runs) as they come.
 */
import { badge, h, replace, time } from '../dom.js';
import { OPERATION_DONE, OPERATION_KINDS, OPERATION_STATUSES } from '../statuses.js';
import { filterSelect, heading, pager, pair, route, table } from '../ui.js';

/** @typedef {import('../types.js').Ctx} Ctx */

/** How often a list of operations under way is fetched again. */
const FOLLOW_MS = 2000;

/**
 * @param {Ctx} ctx
 * @param {URLSearchParams} query
 */
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
      filterSelect(
        'Kind',
        'operation-kind',
        kind,
        [['', 'any kind'], ...OPERATION_KINDS.map((k) => pair(k))],
        (v) => refilter({ kind: v }),
      ),
      filterSelect(
        'Status',
        'operation-status-filter',
        status,
        [['', 'any status'], ...OPERATION_STATUSES.map((s) => pair(s))],
        (v) => refilter({ status: v }),
      ),
      filterSelect(
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
