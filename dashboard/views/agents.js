// @ts-check
/**
 * The agents and workers up now (SPEC §12, `GET /v1/{project}/agents`): host, version, plugins,
 * concurrency, what each is running and how long ago it last beat. The list is fetched again
 * every heartbeat, so a process that starts appears and one that dies goes (its record expires
 * after three missed heartbeats).
 */
import { h, replace, time } from '../dom.js';
import { heading, table } from '../ui.js';

/** @typedef {import('../types.js').Ctx} Ctx */
/** @typedef {import('../types.js').Member} Member */

/** How often the list is fetched again: an agent's heartbeat (2 s by default). */
const FOLLOW_MS = 2000;

/** @param {Ctx} ctx */
export async function agentsView(ctx) {
  const load = () => ctx.call('GET', ['agents']);
  const list = h('div', { 'data-testid': 'agents-list', 'aria-live': 'polite' });
  const draw = (/** @type {{agents: Member[], queue: boolean}} */ answer) => {
    list.dataset.queue = String(answer.queue);
    list.dataset.count = String(answer.agents.length);
    if (answer.agents.length === 0) replace(list, emptyState(answer.queue));
    else
      replace(
        list,
        table(
          'agents-table',
          ['Host', 'Kind', 'Running', 'Last heartbeat', 'Version', 'Plugins', 'Up since'],
          answer.agents.map((m) => memberRow(m, Date.now())),
          '',
        ),
      );
  };
  draw(await load());
  if (!ctx.alive()) return;
  replace(
    ctx.main,
    heading('Agents', ctx),
    h(
      'p',
      { class: 'muted' },
      'Agents run the hooks of resources that name a ',
      h('code', {}, 'host'),
      '; workers run the operations of a ',
      h('code', {}, 'hoard serve --no-runner'),
      '. A project’s token sees the agents of the hosts its plans name; an admin token sees every agent and worker.',
    ),
    list,
  );

  let timer;
  ctx.onCleanup(() => clearTimeout(timer));
  const follow = () => {
    timer = setTimeout(async () => {
      try {
        const answer = await load();
        if (!ctx.alive()) return;
        draw(answer);
      } catch (error) {
        // A failed refresh keeps the last list; the next one may succeed (a 401 ends the session).
        if (error.status === 401 || !ctx.alive()) return;
      }
      follow();
    }, FOLLOW_MS);
  };
  follow();
}

/** @param {boolean} queue whether the server has a queue (HOARD_QUEUE_URL) at all */
function emptyState(queue) {
  const start = h('code', {}, 'hoard agent --host NAME');
  return h(
    'div',
    { class: 'empty', 'data-testid': 'agents-empty', 'data-queue': String(queue) },
    queue
      ? h('p', {}, 'No agents or workers are up.')
      : h(
          'p',
          {},
          'This server has no queue configured (',
          h('code', {}, 'HOARD_QUEUE_URL'),
          ', a Redis), so it has no agents or workers: every hook runs in the server itself.',
        ),
    h(
      'p',
      {},
      'To run the hooks of resources with ',
      h('code', {}, 'host: NAME'),
      ' on that machine, start ',
      start,
      ' there, with the same provider files and ',
      h('code', {}, 'HOARD_QUEUE_URL'),
      queue ? ' as this server.' : ' set for it and for this server (restart the server after setting it).',
    ),
    h('p', { class: 'muted' }, 'See “Many machines” in the README.'),
  );
}

/**
 * @param {Member} m
 * @param {number} now the browser's clock, in ms
 */
function memberRow(m, now) {
  return h(
    'tr',
    { 'data-testid': 'agent-row', 'data-member-id': m.id, 'data-host': m.host, 'data-kind': m.kind },
    h('th', { scope: 'row', class: 'when', 'data-testid': 'agent-host' }, m.host),
    h('td', {}, m.kind),
    h(
      'td',
      { class: 'when', 'data-testid': 'agent-running', 'data-running': String(m.running) },
      `${m.running} of ${m.concurrency} `,
      h('span', { class: 'muted' }, m.kind === 'agent' ? 'hooks' : 'operations'),
    ),
    h(
      'td',
      { class: 'when', 'data-testid': 'agent-heartbeat', 'data-at': m.lastHeartbeat },
      h('span', { title: m.lastHeartbeat }, age(m.lastHeartbeat, now)),
    ),
    h('td', { 'data-testid': 'agent-version' }, m.version),
    h(
      'td',
      { 'data-testid': 'agent-plugins' },
      m.plugins.length
        ? m.plugins.map((p, i) => [i ? ', ' : '', h('code', {}, p)])
        : h('span', { class: 'muted' }, 'none'),
    ),
    h('td', {}, time(m.startedAt)),
  );
}

/**
 * "just now", "4 s ago", "2 min ago": how long ago `iso` was by the browser's clock (a clock
 * a little ahead of the browser's reads as "just now").
 * @param {string} iso
 * @param {number} now
 */
export function age(iso, now) {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  if (ms < 1000) return 'just now';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s ago`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min ago`;
  return `${Math.round(min / 60)} h ago`;
}
