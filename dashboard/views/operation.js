// @ts-check
/**
 * One operation: its status, its hook graph with each task coloured by its live state, and
 * a table of tasks. Live state comes from the operation's server-sent events
 * (`status`, `task`, `progress`, `end`); if the stream breaks, the view polls the log.
 */
import { eventsUrl } from '../api.js';
import { badge, duration, h, replace, statsText, time } from '../dom.js';
import { drawGraph, EDGE_COLOURS, EDGE_MEANINGS } from '../graph.js';
import {
  CANCELLABLE,
  TASK_STATUSES,
  TASK_DONE as TASK_TERMINAL,
  OPERATION_DONE as TERMINAL,
} from '../statuses.js';
import { checkpointRoute, providerNamer } from '../ui.js';

const POLL_MS = 1000;

/** Renders operation `id` into ctx.main and follows it until it ends or the view is left. */
export async function operationView(ctx, id) {
  let log;
  try {
    log = unwrap(await ctx.call('GET', ['operation_logs', id]));
  } catch (error) {
    if (error.status === 404) {
      replace(
        ctx.main,
        h('h2', {}, 'Operation'),
        h('p', { role: 'alert' }, `No operation ${id} in this project.`),
      );
      return;
    }
    throw error;
  }
  if (!ctx.alive()) return;

  /** Task id → {id, resource, hook, status, startedAt, endedAt, error, cause, progress}. */
  const tasks = new Map();
  let graph;
  let drawnFromTasks = false;
  let planName;
  let scheduleName;
  /** @type {(id: string | null | undefined) => string} */
  let providerName = (p) => p ?? '—';

  // Cancel (POST …/operation_logs/{id}/cancel): the run's hooks are cancelled and owed
  // teardowns still run; the answer is the log, and a 409 (it had ended) goes to the banner.
  const cancel = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      'data-testid': 'cancel-button',
      hidden: true,
      onclick: (/** @type {MouseEvent} */ e) => {
        const button = /** @type {HTMLButtonElement} */ (e.currentTarget);
        if (!confirm(`Cancel operation ${id}? Running hooks are stopped; owed teardowns still run.`)) return;
        ctx.action(button, async () => {
          const res = await ctx.call('POST', ['operation_logs', id, 'cancel']);
          applyLog(unwrap(res));
          live.textContent = TERMINAL.has(log.status) ? '' : '(cancelling)';
        });
      },
    },
    'Cancel',
  );

  const status = h('span', { role: 'status', 'aria-live': 'polite' });
  const live = h('span', { class: 'muted', 'data-testid': 'live-state' });
  const details = h('dl', { class: 'details' });
  const problem = h('div', {
    class: 'problem',
    role: 'alert',
    'data-testid': 'operation-error',
    hidden: true,
  });
  const graphBox = h(
    'div',
    { class: 'graph-box', 'data-testid': 'graph-container' },
    h('p', { class: 'muted' }, 'Loading the hook graph…'),
  );
  const retention = h('section', { 'aria-labelledby': 'retention-heading', hidden: true });
  const taskRows = h('tbody');
  const logLines = h('pre', { class: 'log', 'data-testid': 'operation-log', hidden: true });

  replace(
    ctx.main,
    h('h2', {}, `Operation `, h('code', {}, id)),
    h('p', { class: 'summary' }, 'Status: ', status, ' ', live, ' ', cancel),
    details,
    problem,
    retention,
    h(
      'section',
      { 'aria-labelledby': 'graph-heading' },
      h('h3', { id: 'graph-heading' }, 'Hook graph'),
      graphBox,
      legend(),
    ),
    h(
      'section',
      { 'aria-labelledby': 'tasks-heading' },
      h('h3', { id: 'tasks-heading' }, 'Tasks'),
      h(
        'div',
        { class: 'table-box' },
        h(
          'table',
          { 'data-testid': 'task-table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Task', 'Status', 'Started', 'Ended', 'Duration', 'Progress', 'Error'].map((c) =>
                h('th', { scope: 'col' }, c),
              ),
            ),
          ),
          taskRows,
        ),
      ),
    ),
    logLines,
  );

  const task = (resource, hook) => {
    const tid = `${resource}:${hook}`;
    let t = tasks.get(tid);
    if (!t) {
      t = { id: tid, resource, hook, status: 'pending', startedAt: null, endedAt: null };
      tasks.set(tid, t);
    }
    return t;
  };

  let frame = 0;
  const render = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      if (ctx.alive()) renderAll();
    });
  };

  function renderAll() {
    replace(status, badge(log.status, { 'data-testid': 'operation-status' }));
    cancel.hidden = !CANCELLABLE.has(log.status);
    renderDetails();
    const err = log.error ?? log.result?.operation?.error;
    const first = log.result?.operation?.firstFailure;
    const firstError = first ? tasks.get(first)?.error : undefined;
    problem.hidden = !err && !first;
    if (err) replace(problem, h('strong', {}, err.code ?? 'error'), ': ', err.message ?? '');
    else if (first)
      replace(
        problem,
        'First failure: ',
        h('code', {}, first),
        firstError
          ? [' — ', h('strong', {}, firstError.code ?? 'error'), ': ', firstError.message ?? '']
          : [],
      );
    const lines = log.result?.operation?.log;
    logLines.hidden = !(Array.isArray(lines) && lines.length);
    if (!logLines.hidden) replace(logLines, lines.join('\n'));
    renderRetention(retention, log.result?.retention);
    for (const t of tasks.values()) graph?.setStatus(t.id, t.status);
    replace(taskRows, [...tasks.values()].map(taskRow));
  }

  function renderDetails() {
    const checkpoint = log.result?.checkpoint;
    const rows = [
      ['Kind', log.kind],
      ['Plan', log.planId ? (planName ?? h('code', {}, log.planId)) : '—'],
      ['Provider', h('span', { 'data-testid': 'operation-provider' }, providerName(log.providerId))],
      [
        'Checkpoint',
        log.checkpointId
          ? h(
              'span',
              { 'data-testid': 'operation-checkpoint' },
              h(
                'a',
                { href: checkpointRoute(log.providerId ?? 'local', log.checkpointId) },
                log.checkpointId,
              ),
              checkpoint?.status ? [' ', badge(checkpoint.status)] : [],
            )
          : '—',
      ],
      ['Created', time(log.createdAt)],
      ['Started', time(log.startedAt)],
      ['Ended', time(log.endedAt)],
      ['Duration', duration(log.startedAt, log.endedAt) || '—'],
    ];
    // A protect's statistics, in total and per resource (SPEC §13).
    if (checkpoint?.stats) {
      rows.push([
        'Checkpoint size',
        h(
          'span',
          { 'data-testid': 'operation-stats', 'data-bytes': String(checkpoint.stats.bytes) },
          statsText(checkpoint.stats),
        ),
      ]);
      for (const r of checkpoint.resources ?? []) {
        if (r.stats)
          rows.push([
            h('code', {}, `${r.type}#${r.id}`),
            h('span', { 'data-testid': 'resource-stats' }, statsText(r.stats)),
          ]);
      }
    }
    if (log.scheduledOperationId) {
      const runs = `#/operations?${new URLSearchParams({ scheduledOperation: log.scheduledOperationId })}`;
      rows.push(
        [
          'Scheduled operation',
          h(
            'a',
            { href: runs, 'data-testid': 'operation-schedule', title: 'Its runs' },
            scheduleName ?? h('code', {}, log.scheduledOperationId),
          ),
        ],
        ['Fired at', time(log.fireAt)],
      );
    }
    replace(
      details,
      rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    );
  }

  function applyLog(next) {
    if (!next || typeof next !== 'object') return;
    // Answers can arrive out of order (the cancel's 202, taken while the run still ran, may
    // come after the stream's `end`): an ended operation never goes back to running.
    if (TERMINAL.has(log?.status) && !TERMINAL.has(next.status)) return;
    log = next;
    // While it runs here, the server adds `live`: each task's state so far.
    for (const t of Array.isArray(log.live) ? log.live : []) {
      if (!t?.resource || !t.hook) continue;
      const known = task(t.resource, t.hook);
      known.status = t.status;
      known.startedAt ??= t.startedAt ?? null;
      known.endedAt ??= t.endedAt ?? null;
    }
    for (const t of log.result?.operation?.tasks ?? []) {
      Object.assign(task(t.resource, t.hook), {
        status: t.status,
        startedAt: t.startedAt ?? null,
        endedAt: t.endedAt ?? null,
        error: t.error,
        cause: t.cause,
        stdout: t.stdout,
        stderr: t.stderr,
      });
    }
    render();
  }

  function applyTask(event) {
    const t = task(event.resource, event.hook);
    t.status = event.status;
    if (event.status === 'running') {
      t.startedAt ??= event.at ?? null;
      t.endedAt = null;
    } else if (TASK_TERMINAL.has(event.status)) {
      t.endedAt = event.at ?? t.endedAt;
    }
    if (event.error) t.error = typeof event.error === 'string' ? { message: event.error } : event.error;
    if (event.cause) t.cause = event.cause;
    render();
  }

  function applyProgress(event) {
    task(event.resource, event.hook).progress = event;
    render();
  }

  applyLog(log);
  renderAll();

  if (log.planId) {
    ctx.call('GET', ['plans', log.planId]).then(
      (res) => {
        planName = res?.plan?.name;
        render();
      },
      () => {}, // a deleted plan: the id stays
    );
  }

  ctx.call('GET', ['providers']).then(
    (res) => {
      providerName = providerNamer(res?.providers ?? []);
      render();
    },
    () => {}, // the id stays
  );

  if (log.scheduledOperationId) {
    ctx.call('GET', ['scheduled_operations', log.scheduledOperationId]).then(
      (res) => {
        scheduleName = res?.scheduledOperation?.name;
        render();
      },
      () => {}, // a deleted schedule: the id stays
    );
  }

  // The graph: the operation's own, else the plan's protect graph, else the tasks alone.
  loadGraph(ctx, () => log).then(
    (g) => {
      if (!ctx.alive()) return;
      showGraph(g);
    },
    (error) => {
      if (ctx.alive()) replace(graphBox, h('p', { class: 'muted' }, `No hook graph: ${error.message}`));
    },
  );

  function showGraph(given) {
    // Never trade the tasks already known (from events, or a graph drawn from them) for none.
    const g =
      given.tasks.length === 0 && tasks.size > 0
        ? { tasks: [...tasks.values()].map(({ id, resource, hook }) => ({ id, resource, hook })), edges: [] }
        : given;
    for (const t of g.tasks) task(t.resource, t.hook);
    drawnFromTasks = (g.edges ?? []).length === 0;
    if (g.tasks.length === 0) {
      replace(graphBox, h('p', { class: 'muted' }, 'No tasks yet.'));
      graph = undefined;
    } else {
      graph = drawGraph(g);
      replace(graphBox, graph.svg);
    }
    // Table rows in graph order, then any task only the events told of.
    const ordered = new Map(g.tasks.map((t) => [t.id, tasks.get(t.id)]));
    for (const [k, v] of tasks) if (!ordered.has(k)) ordered.set(k, v);
    tasks.clear();
    for (const [k, v] of ordered) tasks.set(k, v);
    renderAll();
  }

  /** When the graph came from the tasks alone, redraw it once they are all known. */
  function redrawFromTasks() {
    if (!drawnFromTasks && graph) return;
    const known = [...tasks.values()];
    if (known.length)
      showGraph({ tasks: known.map(({ id, resource, hook }) => ({ id, resource, hook })), edges: [] });
  }

  if (TERMINAL.has(log.status)) {
    live.textContent = '';
    return;
  }

  // Follow it live.
  let source;
  let timer;
  ctx.onCleanup(() => {
    source?.close();
    clearTimeout(timer);
    if (frame) cancelAnimationFrame(frame);
  });

  const finish = () => {
    source?.close();
    clearTimeout(timer);
    live.textContent = '';
    redrawFromTasks();
  };

  const poll = async () => {
    if (!ctx.alive()) return;
    try {
      applyLog(unwrap(await ctx.call('GET', ['operation_logs', id])));
    } catch (error) {
      if (error.status === 401 || !ctx.alive()) return;
      live.textContent = `(polling: ${error.message})`;
    }
    if (TERMINAL.has(log.status)) finish();
    else timer = setTimeout(poll, POLL_MS);
  };

  const parse = (e) => {
    try {
      return JSON.parse(e.data);
    } catch {
      return undefined;
    }
  };
  source = new EventSource(eventsUrl(ctx.session, id));
  live.textContent = '(live)';
  source.addEventListener('status', (e) => applyLog(unwrap(parse(e))));
  source.addEventListener('task', (e) => {
    const data = parse(e);
    if (data?.resource && data.hook) applyTask(data);
  });
  source.addEventListener('progress', (e) => {
    const data = parse(e);
    if (data?.resource && data.hook) applyProgress(data);
  });
  source.addEventListener('end', (e) => {
    applyLog(unwrap(parse(e)));
    finish();
  });
  source.addEventListener('error', () => {
    // The stream broke (or was refused) before `end`: poll the log instead of reconnecting.
    source.close();
    if (!ctx.alive()) return;
    if (TERMINAL.has(log.status)) return finish();
    live.textContent = '(polling)';
    clearTimeout(timer);
    poll();
  });
}

/** Events and GETs carry the log itself or `{operationLog}`; accept both. */
function unwrap(data) {
  return data?.operationLog ?? data;
}

/** The operation's graph; `current()` is the log as the view knows it now (for the fallback). */
async function loadGraph(ctx, current) {
  const log = current();
  try {
    return normalise(await ctx.call('GET', ['operation_logs', log.id, 'graph']));
  } catch (error) {
    if (error.status === 401) throw error;
  }
  if (log.kind === 'protect' && log.planId) {
    try {
      return normalise(
        await ctx.call('GET', ['plans', log.planId, 'graph'], { query: { operation: 'protect' } }),
      );
    } catch (error) {
      if (error.status === 401) throw error;
    }
  }
  const tasks = (current().result?.operation?.tasks ?? []).map((t) => ({
    id: `${t.resource}:${t.hook}`,
    resource: t.resource,
    hook: t.hook,
  }));
  return { tasks, edges: [] };
}

function normalise(g) {
  const tasks = (g?.tasks ?? []).map((t) => {
    // `type#id:hook`; the hook never holds a colon, a resource id may.
    const cut = String(t.id).lastIndexOf(':');
    return {
      ...t,
      resource: t.resource ?? t.id.slice(0, cut),
      hook: t.hook ?? t.id.slice(cut + 1),
    };
  });
  return { tasks, edges: g?.edges ?? [] };
}

/**
 * A retention_protect run's `result.retention`: a decision per checkpoint of the plan
 * (`{id, keep, reasons, deleted?, error?}`), or `{skipped}` when the protect failed.
 */
function renderRetention(section, value) {
  section.hidden = !value;
  if (!value) return;
  const heading = h('h3', { id: 'retention-heading' }, 'Retention');
  if (!Array.isArray(value.decisions)) {
    replace(section, heading, h('p', { class: 'muted' }, value.skipped ?? 'No decisions.'));
    return;
  }
  replace(
    section,
    heading,
    h(
      'div',
      { class: 'table-box' },
      h(
        'table',
        { 'data-testid': 'retention-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Checkpoint', 'Decision', 'Reasons'].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        h(
          'tbody',
          {},
          value.decisions.map((d) => {
            const decision = d.keep ? 'kept' : d.deleted ? 'deleted' : d.error ? 'not deleted' : 'to delete';
            return h(
              'tr',
              { 'data-testid': 'retention-row', 'data-checkpoint-id': d.id, 'data-decision': decision },
              h('th', { scope: 'row' }, h('code', {}, d.id)),
              h('td', { 'data-testid': 'retention-decision' }, decision),
              h(
                'td',
                {},
                (d.reasons ?? []).join('; '),
                d.error ? h('div', { class: 'error-text' }, d.error) : null,
              ),
            );
          }),
        ),
      ),
    ),
  );
}

function taskRow(t) {
  const progress = t.progress && t.status === 'running' ? progressText(t.progress) : '';
  const error = t.error
    ? `${t.error.code ? `${t.error.code}: ` : ''}${t.error.message ?? ''}`
    : t.cause
      ? `after ${t.cause}`
      : '';
  return h(
    'tr',
    { 'data-testid': 'task-row', 'data-task-id': t.id, 'data-status': t.status },
    h('th', { scope: 'row' }, h('code', {}, t.resource), ' ', t.hook),
    h('td', {}, badge(t.status)),
    h('td', { class: 'when' }, time(t.startedAt, true)),
    h('td', { class: 'when' }, time(t.endedAt, true)),
    h('td', {}, duration(t.startedAt, t.endedAt)),
    h('td', {}, progress),
    h('td', { class: 'error-text' }, error, output(t)),
  );
}

/** What the hook's command wrote (exec.task: the last 64 KiB of each stream), folded away. */
function output(t) {
  return ['stdout', 'stderr']
    .filter((stream) => t[stream])
    .map((stream) =>
      h(
        'details',
        { class: 'output', 'data-testid': `task-${stream}` },
        h('summary', {}, stream),
        h('pre', { class: 'log' }, t[stream]),
      ),
    );
}

/** `{fraction, detail?}` (what the server sends) or `{done, total?, unit?}` (docs/api.md). */
function progressText(p) {
  if (typeof p.fraction === 'number') {
    const percent = `${Math.floor(p.fraction * 100)}%`;
    return p.detail ? `${percent} (${p.detail})` : percent;
  }
  if (p.done === undefined) return '';
  return `${p.done}${p.total !== undefined && p.total !== null ? ` / ${p.total}` : ''}${p.unit ? ` ${p.unit}` : ''}`;
}

function legend() {
  return h(
    'div',
    { class: 'legend' },
    h(
      'ul',
      { 'aria-label': 'Edge colours' },
      Object.entries(EDGE_COLOURS).map(([kind, colour]) =>
        h(
          'li',
          {},
          h('span', { class: 'swatch line', style: `background:${colour}` }),
          `${kind}: ${EDGE_MEANINGS[kind]}`,
        ),
      ),
    ),
    h(
      'ul',
      { 'aria-label': 'Task states' },
      TASK_STATUSES.map((st) => h('li', {}, badge(st))),
    ),
  );
}
