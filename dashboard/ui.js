// @ts-check
/**
 * Pieces every view uses: routes, the view's heading, tables, filter selects and the pager.
 */
import { h } from './dom.js';

/** @typedef {import('./types.js').Ctx} Ctx */
/** @typedef {import('./types.js').Provider} Provider */

/**
 * `#/name?k=v`, leaving out empty values.
 * @param {string} name the route, e.g. `checkpoints` or `checkpoints/local/ID` (segments already escaped)
 * @param {Record<string, string | null | undefined>} [params]
 */
export function route(name, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) qs.set(k, v);
  const text = qs.toString();
  return `#/${name}${text ? `?${text}` : ''}`;
}

/**
 * The route of one checkpoint's page.
 * @param {string} providerId
 * @param {string} checkpointId
 */
export function checkpointRoute(providerId, checkpointId) {
  return `#/checkpoints/${encodeURIComponent(providerId)}/${encodeURIComponent(checkpointId)}`;
}

/**
 * A view's title with a Refresh button.
 * @param {string | Node | (string | Node)[]} title
 * @param {Ctx} ctx
 */
export function heading(title, ctx) {
  return h(
    'div',
    { class: 'view-head' },
    h('h2', {}, title),
    h('button', { type: 'button', class: 'secondary', onclick: () => ctx.refresh() }, 'Refresh'),
  );
}

/**
 * A table, or a muted sentence when there are no rows. On a narrow screen it scrolls sideways
 * inside its own box rather than widening the page.
 * @param {string} testid
 * @param {string[]} columns
 * @param {HTMLElement[]} rows
 * @param {string} empty
 */
export function table(testid, columns, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'muted', 'data-testid': `${testid}-empty` }, empty);
  return h(
    'div',
    { class: 'table-box' },
    h(
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
    ),
  );
}

/**
 * A labelled select that calls `onchange` with the chosen value (the filters of a list).
 * @param {string} label
 * @param {string} testid
 * @param {string} value
 * @param {[string, string][]} options `[value, text]`
 * @param {(value: string) => void} onchange
 */
export function filterSelect(label, testid, value, options, onchange) {
  const id = `f-${testid}`;
  return h(
    'span',
    { class: 'field' },
    h('label', { for: id }, label),
    h(
      'select',
      {
        id,
        'data-testid': testid,
        onchange: (/** @type {Event} */ e) =>
          onchange(/** @type {HTMLSelectElement} */ (e.currentTarget).value),
      },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
    ),
  );
}

/**
 * "First page" and "Next page": the marker of the page shown rides in the route.
 * @param {Ctx} ctx
 * @param {string} name
 * @param {URLSearchParams} query
 * @param {string} marker
 * @param {string | null | undefined} next
 */
export function pager(ctx, name, query, marker, next) {
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
        onclick: () => ctx.go(route(name, { ...params, marker: next ?? '' })),
      },
      'Next page',
    ),
  );
}

/**
 * A bank or plugin as the API gives it: a string, or an object with a name or type.
 * @param {unknown} value
 * @returns {string}
 */
export function describe(value) {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object') return String(value);
  const named = /** @type {{name?: string, type?: string}} */ (value);
  return named.name ?? named.type ?? JSON.stringify(value);
}

/**
 * Looks a provider up by id or name; a provider the server no longer has keeps its id.
 * @param {Provider[]} providers
 * @returns {(idOrName: string | null | undefined) => string}
 */
export function providerNamer(providers) {
  return (idOrName) =>
    idOrName ? (providers.find((p) => p.id === idOrName || p.name === idOrName)?.name ?? idOrName) : '—';
}

/**
 * An option whose value is its text.
 * @param {string} value
 * @returns {[string, string]}
 */
export function pair(value) {
  return [value, value];
}
