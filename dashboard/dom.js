// @ts-check
/**
 * Building DOM without markup strings: every piece of data becomes a text node or an
 * attribute value, so nothing the server sends is ever parsed as HTML.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * `h('button', {type: 'button', onclick: f, dataset: {testid: 'x'}}, 'Label', child…)`.
 * Attributes whose value is `false`, `null` or `undefined` are left out; `on*` functions
 * become listeners; strings and numbers among the children become text nodes.
 */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** `h` for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') {
      for (const [k, v] of Object.entries(value))
        if (v !== undefined && v !== null) el.dataset[k] = String(v);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' && 'value' in el) {
      el.value = String(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The viewer's time zone (IANA name, e.g. `Europe/Paris`): every time shown is in it. */
export function viewerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/**
 * A time in the viewer's zone, with the zone's short name ("7 Dec 2026, 09:15:03 CET"; only the
 * time of day, to the millisecond, when `short`), the exact ISO time as its tooltip and `datetime`.
 * @param {string | null | undefined} iso
 * @param {boolean} [short]
 */
export function time(iso, short = false) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', {}, iso);
  const text = short
    ? date.toLocaleTimeString(undefined, {
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        fractionalSecondDigits: 3,
      })
    : date.toLocaleString(undefined, {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        timeZoneName: 'short',
      });
  return h('time', { datetime: iso, title: `${iso} (${viewerZone()})` }, text);
}

/** "830 ms", "4.2 s", "3 min 05 s", "2 h 07 min". */
export function duration(fromIso, toIso) {
  if (!fromIso || !toIso) return '';
  const ms = new Date(toIso).getTime() - new Date(fromIso).getTime();
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const sec = Math.round(ms / 1000);
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${String(sec % 60).padStart(2, '0')} s`;
  const min = Math.round(sec / 60);
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')} min`;
}

/** A coloured status word; `data-status` lets tests and CSS read it. */
export function badge(status, attrs = {}) {
  const value = status ?? 'unknown';
  return h(
    'span',
    { ...attrs, class: `badge status-${value}`, dataset: { ...attrs.dataset, status: value } },
    value,
  );
}

/** Bytes in binary units, three significant digits: "512 B", "1.21 MiB", "932 GiB" (as the CLI). */
export function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit]}`;
}

/**
 * A checkpoint's or resource's statistics (SPEC §13) in one phrase; a dash for a checkpoint
 * protected before they were recorded.
 */
export function statsText(stats) {
  if (!stats) return '—';
  const ms = stats.durationMs;
  const took = ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
  if (!stats.files && !stats.bytes && !stats.newBytes && !stats.storedBytes) return `in ${took}`;
  return `${stats.files} file${stats.files === 1 ? '' : 's'}, ${bytes(stats.bytes)} (${bytes(stats.newBytes)} new, ${bytes(stats.storedBytes)} stored) in ${took}`;
}
