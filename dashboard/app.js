// @ts-check
/**
 * The dashboard's shell: log in, the navigation, and a hash router (`#/overview`, `#/plans`,
 * `#/schedules`, `#/checkpoints?provider=…`, `#/checkpoints/<provider>/<id>`,
 * `#/operations/<id>`, `#/agents` …) that renders one view at a time; each view is a module of views/.
 * A 401 from anywhere ends the session and returns to the login form. Once a view is drawn,
 * `#main` carries `data-shown` = the route (`location.hash`) it was drawn for, so a script or
 * test can wait for the view of the current route rather than read the one it replaces.
 */
import { ApiError, api, clearSession, loadSession, saveSession } from './api.js';
import { h, replace, viewerZone } from './dom.js';
import { route } from './ui.js';
import { agentsView } from './views/agents.js';
import { checkpointView } from './views/checkpoint.js';
import { checkpointsView } from './views/checkpoints.js';
import { operationView } from './views/operation.js';
import { operationsView } from './views/operations.js';
import { overviewView } from './views/overview.js';
import { plansView } from './views/plans.js';
import { providersView } from './views/providers.js';
import { schedulesView } from './views/schedules.js';

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const main = byId('main');
const nav = byId('nav');
const banner = byId('banner');

const VIEWS = {
  overview: overviewView,
  plans: plansView,
  schedules: schedulesView,
  providers: providersView,
  checkpoints: checkpointsView,
  operations: operationsView,
  agents: agentsView,
};
const NAV = [
  ['overview', 'Overview'],
  ['plans', 'Plans'],
  ['schedules', 'Schedules'],
  ['providers', 'Providers'],
  ['checkpoints', 'Checkpoints'],
  ['operations', 'Operations'],
  ['agents', 'Agents'],
];

/** Thrown after a 401 so that the view that met it stops quietly. */
class SessionEnded extends Error {}

/** The view on screen: bumped on every render, so late answers for an old view are dropped. */
let generation = 0;
const cleanups = [];

function leaveView() {
  generation++;
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // cleanup is best effort
    }
  }
}

function showError(error) {
  if (error instanceof SessionEnded) return;
  const code = error instanceof ApiError ? error.code : 'ERROR';
  replace(banner, h('strong', {}, code), ': ', error.message);
  banner.hidden = false;
}

function endSession(message) {
  clearSession();
  leaveView();
  renderLogin(message);
}

function renderLogin(message) {
  delete main.dataset.shown;
  nav.hidden = true;
  banner.hidden = true;
  const project = h('input', {
    id: 'login-project',
    name: 'project',
    required: true,
    autocomplete: 'username',
    'data-testid': 'login-project',
  });
  const token = h('input', {
    id: 'login-token',
    name: 'token',
    type: 'password',
    required: true,
    autocomplete: 'current-password',
    spellcheck: 'false',
    'data-testid': 'login-token',
  });
  const error = h(
    'p',
    { class: 'problem', role: 'alert', 'data-testid': 'login-error', hidden: !message },
    message ?? '',
  );
  const submit = h('button', { type: 'submit', 'data-testid': 'login-submit' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login',
      'data-testid': 'login-form',
      'aria-labelledby': 'login-heading',
      onsubmit: async (e) => {
        e.preventDefault();
        const session = { project: project.value.trim(), token: token.value.trim() };
        submit.disabled = true;
        error.hidden = true;
        try {
          // Any cheap call proves the token and the project.
          await api(session, 'GET', ['providers']);
          saveSession(session.project, session.token);
          if (!location.hash || location.hash === '#/') location.hash = '#/overview';
          else render();
        } catch (err) {
          error.textContent =
            err.status === 401
              ? 'token rejected'
              : err.status === 403
                ? `this token may not use project "${session.project}"`
                : err.message;
          error.hidden = false;
          submit.disabled = false;
        }
      },
    },
    h('h2', { id: 'login-heading' }, 'Log in'),
    h('p', { class: 'field' }, h('label', { for: 'login-project' }, 'Project'), project),
    h('p', { class: 'field' }, h('label', { for: 'login-token' }, 'Token'), token),
    h(
      'p',
      { class: 'muted' },
      'Make one on the server with ',
      h('code', {}, 'hoard tokens create --project NAME'),
      '.',
    ),
    error,
    submit,
  );
  replace(main, form);
  project.focus();
}

function renderNav(session, current) {
  nav.hidden = false;
  replace(
    nav,
    h(
      'ul',
      {},
      NAV.map(([name, label]) =>
        h(
          'li',
          {},
          h(
            'a',
            {
              href: `#/${name}`,
              'aria-current': name === current ? 'page' : null,
              'data-testid': `nav-${name}`,
            },
            label,
          ),
        ),
      ),
    ),
    h(
      'span',
      { class: 'zone', 'data-testid': 'viewer-zone', title: 'Every time on these pages is in this zone' },
      'Times in ',
      viewerZone(),
    ),
    h(
      'span',
      { class: 'who' },
      'Project ',
      h('strong', { 'data-testid': 'current-project' }, session.project),
      ' ',
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          'data-testid': 'logout',
          onclick: () => endSession('Logged out.'),
        },
        'Log out',
      ),
    ),
  );
}

async function render() {
  leaveView();
  banner.hidden = true;
  delete main.dataset.shown;
  const shown = location.hash;
  const session = loadSession();
  if (!session) {
    renderLogin();
    return;
  }
  const [path, qs] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = (path ?? '').split('/').filter(Boolean);
  const name = parts[0] ?? 'overview';
  const query = new URLSearchParams(qs ?? '');
  const mine = generation;

  const ctx = {
    session,
    main,
    alive: () => generation === mine,
    onCleanup: (fn) => cleanups.push(fn),
    go: (hash) => {
      if (location.hash === hash) render();
      else location.hash = hash;
    },
    refresh: () => render(),
    /** `api()` as this session; a 401 ends the session. */
    call: async (method, segments, options) => {
      try {
        return await api(session, method, segments, options);
      } catch (error) {
        if (error.status === 401) {
          if (generation === mine) endSession('token rejected');
          throw new SessionEnded('token rejected');
        }
        throw error;
      }
    },
    /** Runs a button's action with the button disabled; errors go to the banner. */
    action: async (button, fn) => {
      button.disabled = true;
      banner.hidden = true;
      try {
        await fn();
      } catch (error) {
        showError(error);
      } finally {
        button.disabled = false;
      }
    },
    /** Shows the operation a 202 answer started. */
    openOperation: (res) => {
      const id = (res?.operationLog ?? res)?.id;
      if (id) ctx.go(`#/operations/${encodeURIComponent(id)}`);
    },
  };

  renderNav(session, name);
  replace(main, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…'));
  try {
    if (name === 'operations' && parts[1]) await operationView(ctx, decodeURIComponent(parts[1]));
    else if (name === 'checkpoints' && parts[1] && parts[2])
      await checkpointView(ctx, decodeURIComponent(parts[1]), decodeURIComponent(parts[2]));
    else if (VIEWS[name]) await VIEWS[name](ctx, query);
    else ctx.go(route('overview'));
  } catch (error) {
    if (ctx.alive()) {
      replace(main, h('p', { class: 'muted' }, 'This view could not be loaded.'));
      showError(error);
    }
  }
  if (ctx.alive()) main.dataset.shown = shown;
}

window.addEventListener('hashchange', render);
render();
