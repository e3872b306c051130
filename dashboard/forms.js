// @ts-check
/**
 * Pieces of the forms that create things (plans, triggers, scheduled operations): labelled
 * controls, and a problem box next to each form that shows what the server said was wrong
 * (`error.message`, and each of `details.errors` when the body had several problems).
 */
import { h, replace } from './dom.js';

/** `<input>` whose id, name and data-testid are all `id`. */
export function input(id, attrs = {}) {
  return h('input', { id, name: id, type: 'text', autocomplete: 'off', 'data-testid': id, ...attrs });
}

/** `<select>` whose id, name and data-testid are all `id`, with `[value, text]` options. */
export function choice(id, pairs, attrs = {}) {
  return setOptions(h('select', { id, name: id, 'data-testid': id, ...attrs }), pairs);
}

/** Replaces a select's options, keeping its value when it is still offered. */
export function setOptions(select, pairs) {
  const value = select.value;
  replace(
    select,
    pairs.map(([v, text]) => h('option', { value: v }, text)),
  );
  if (pairs.some(([v]) => v === value)) select.value = value;
  return select;
}

/** A labelled control, with an optional hint after it. */
export function field(label, control, hint) {
  return h(
    'p',
    { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hint ? h('span', { class: 'muted' }, hint) : null,
  );
}

/** The alert box of a form, hidden until a problem is shown in it. */
export function problemBox(testid) {
  return h('div', { class: 'problem', role: 'alert', 'data-testid': testid, hidden: true });
}

/** Shows an ApiError (or any Error) in `box`: its code, message and the body's `details.errors`. */
export function showProblem(box, error) {
  const errors = Array.isArray(error.details?.errors) ? error.details.errors : [];
  replace(
    box,
    error.code ? [h('strong', {}, error.code), ': '] : [],
    h('span', { 'data-testid': 'problem-message' }, error.message),
    errors.length
      ? h(
          'ul',
          {},
          errors.map((e) => h('li', {}, typeof e === 'string' ? e : (e?.message ?? JSON.stringify(e)))),
        )
      : null,
  );
  box.hidden = false;
}

/**
 * Runs a form's submission: its submit button disabled meanwhile, its problem box cleared
 * first and filled with whatever `fn` throws.
 */
export async function submitting(form, box, fn) {
  const buttons = form.querySelectorAll('button[type="submit"]');
  for (const b of buttons) b.disabled = true;
  box.hidden = true;
  try {
    await fn();
  } catch (error) {
    showProblem(box, error);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

/** A textarea's JSON, which must be an array or an object (`kind`); empty gives `undefined`. */
export function parseJson(text, name, kind) {
  if (!text.trim()) return undefined;
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${name}: not valid JSON (${error.message})`);
  }
  const isArray = Array.isArray(value);
  const ok = kind === 'array' ? isArray : value !== null && typeof value === 'object' && !isArray;
  if (!ok) throw new Error(`${name}: expected a JSON ${kind}`);
  return value;
}

/** A number input's value as a number, or `undefined` when empty. */
export function numberOf(el) {
  const text = el.value.trim();
  return text === '' ? undefined : Number(text);
}
