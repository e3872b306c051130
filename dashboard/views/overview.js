// @ts-check
/**
 * The overview (the landing page): per plan, the last success, the last failure, the next
 * scheduled run and the storage its checkpoints use. A success is the newest `available`
 * checkpoint (so checkpoints the CLI made count too) or succeeded protect run, whichever is
 * newer; a failure is the newest failed protect run or checkpoint in `error`.
 */
import { bytes, h, replace, time } from '../dom.js';
import { PROTECT_KINDS } from '../statuses.js';
import { checkpointRoute, heading, providerNamer, route, table } from '../ui.js';

/** @typedef {import('../types.js').Ctx} Ctx */
/** @typedef {import('../types.js').Plan} Plan */
/** @typedef {import('../types.js').CheckpointSummary} CheckpointSummary */
/** @typedef {import('../types.js').OperationLog} OperationLog */
/** @typedef {import('../types.js').ScheduledOperation} ScheduledOperation */
/** @typedef {import('../types.js').Trigger} Trigger */

/** Lists are read this many at a time; a plan with more says so. */
const LIMIT = 1000;
/** Operation logs looked at per plan and status for its newest protect. */
const RECENT = 50;

/**
 * @param {Ctx} ctx
 */
export async function overviewView(ctx) {
  const [{ plans, next }, { providers }, { scheduledOperations }, { triggers }] = await Promise.all([
    ctx.call('GET', ['plans'], { query: { limit: LIMIT } }),
    ctx.call('GET', ['providers']),
    ctx.call('GET', ['scheduled_operations'], { query: { limit: LIMIT } }),
    ctx.call('GET', ['triggers'], { query: { limit: LIMIT } }),
  ]);
  if (!ctx.alive()) return;
  const providerName = providerNamer(providers);
  /** @type {Map<string, Trigger>} */
  const triggerById = new Map(triggers.map((/** @type {Trigger} */ t) => [t.id, t]));

  const rows = await Promise.all(
    plans.map((/** @type {Plan} */ plan) => planSummary(ctx, plan, scheduledOperations, triggerById)),
  );
  if (!ctx.alive()) return;
  replace(
    ctx.main,
    heading('Overview', ctx),
    table(
      'overview-table',
      ['Plan', 'Last success', 'Last failure', 'Next run', 'Checkpoints', 'Storage used'],
      rows.map((r) => overviewRow(r, providerName)),
      'No plans yet: make one under Plans.',
    ),
    next ? h('p', { class: 'muted' }, `Only the first ${LIMIT} plans are shown.`) : null,
    h(
      'p',
      { class: 'muted' },
      'Storage used: what each plan’s checkpoints added to its provider’s repository when they were made (their stored bytes, after deduplication and compression), summed over the checkpoints not deleted; data several checkpoints share counts once, in the first that stored it.',
    ),
  );
}

/**
 * @typedef {object} PlanSummary
 * @property {Plan} plan
 * @property {{at: string, checkpointId?: string | null, operationId?: string} | null} success
 * @property {{at: string, message: string, checkpointId?: string | null, operationId?: string} | null} failure
 * @property {{at: string, schedule: string} | null} nextRun
 * @property {number} count checkpoints not deleted
 * @property {number} stored their stored bytes
 * @property {boolean} more the plan has more checkpoints than were read
 * @property {string | null} problem why its checkpoints could not be read
 */

/**
 * @param {Ctx} ctx
 * @param {Plan} plan
 * @param {ScheduledOperation[]} schedules
 * @param {Map<string, Trigger>} triggers
 * @returns {Promise<PlanSummary>}
 */
async function planSummary(ctx, plan, schedules, triggers) {
  const logs = (/** @type {string} */ status) =>
    ctx
      .call('GET', ['operation_logs'], { query: { planId: plan.id, status, limit: RECENT } })
      .then((/** @type {{operationLogs: OperationLog[]}} */ r) =>
        r.operationLogs.find((op) => PROTECT_KINDS.has(op.kind)),
      );
  const [listed, succeeded, failed] = await Promise.all([
    ctx
      .call('GET', ['providers', plan.providerId, 'checkpoints'], {
        query: { planId: plan.id, limit: LIMIT },
      })
      .catch((/** @type {Error} */ error) => error),
    logs('succeeded'),
    logs('failed'),
  ]);
  const problem = listed instanceof Error ? listed.message : null;
  /** @type {CheckpointSummary[]} */
  const checkpoints = listed instanceof Error ? [] : listed.checkpoints;
  const kept = checkpoints.filter((c) => c.status !== 'deleted');
  const good = checkpoints.find((c) => c.status === 'available');
  const bad = checkpoints.find((c) => c.status === 'error');

  /** @type {PlanSummary['success']} */
  let success = good ? { at: good.createdAt, checkpointId: good.id } : null;
  const succeededAt = succeeded ? (succeeded.endedAt ?? succeeded.createdAt) : null;
  if (succeeded && succeededAt && (!success || succeededAt > success.at))
    success = { at: succeededAt, checkpointId: succeeded.checkpointId, operationId: succeeded.id };

  /** @type {PlanSummary['failure']} */
  let failure = bad ? { at: bad.createdAt, message: 'checkpoint in error', checkpointId: bad.id } : null;
  const failedAt = failed ? (failed.endedAt ?? failed.createdAt) : null;
  if (failed && failedAt && (!failure || failedAt > failure.at))
    failure = {
      at: failedAt,
      message: failed.error?.message ?? 'failed',
      checkpointId: failed.checkpointId,
      operationId: failed.id,
    };

  /** @type {PlanSummary['nextRun']} */
  let nextRun = null;
  for (const so of schedules) {
    if (!so.enabled || so.operationDefinition?.planId !== plan.id) continue;
    const at = triggers.get(so.triggerId)?.nextFires?.[0];
    if (at && (!nextRun || at < nextRun.at)) nextRun = { at, schedule: so.name };
  }
  return {
    plan,
    success,
    failure,
    nextRun,
    count: kept.length,
    stored: kept.reduce((n, c) => n + (c.stats?.storedBytes ?? 0), 0),
    more: !(listed instanceof Error) && Boolean(listed.next),
    problem,
  };
}

/**
 * @param {PlanSummary} r
 * @param {(id: string) => string} providerName
 */
function overviewRow(r, providerName) {
  const { plan } = r;
  const none = (/** @type {string} */ text) => h('span', { class: 'muted' }, text);
  /** @param {{at: string, checkpointId?: string | null, operationId?: string}} what */
  const where = (what) =>
    what.operationId
      ? h('a', { href: `#/operations/${encodeURIComponent(what.operationId)}` }, time(what.at))
      : what.checkpointId
        ? h('a', { href: checkpointRoute(plan.providerId, what.checkpointId) }, time(what.at))
        : time(what.at);
  return h(
    'tr',
    { 'data-testid': 'overview-row', 'data-plan-id': plan.id, 'data-plan-name': plan.name },
    h(
      'th',
      { scope: 'row' },
      h('a', { href: route('checkpoints', { provider: plan.providerId, plan: plan.id }) }, plan.name),
      h('div', { class: 'muted' }, 'to ', providerName(plan.providerId)),
    ),
    h(
      'td',
      { 'data-testid': 'last-success', 'data-at': r.success?.at ?? null },
      r.success ? where(r.success) : none('never'),
    ),
    h(
      'td',
      { 'data-testid': 'last-failure', 'data-at': r.failure?.at ?? null },
      r.failure ? [where(r.failure), h('div', { class: 'error-text' }, r.failure.message)] : none('none'),
    ),
    h(
      'td',
      { 'data-testid': 'next-run', 'data-at': r.nextRun?.at ?? null },
      r.nextRun
        ? [time(r.nextRun.at), h('div', { class: 'muted' }, r.nextRun.schedule)]
        : none('not scheduled'),
    ),
    h('td', { 'data-testid': 'checkpoint-count' }, r.problem ? none('—') : `${r.count}${r.more ? '+' : ''}`),
    h(
      'td',
      { 'data-testid': 'storage', 'data-bytes': r.problem ? null : String(r.stored) },
      r.problem ? h('span', { class: 'error-text' }, r.problem) : `${bytes(r.stored)}${r.more ? '+' : ''}`,
    ),
  );
}
