// @ts-check
/**
 * One checkpoint (`#/checkpoints/{provider}/{id}`): its resources with their statistics, a file
 * browser over each resource that has entries (`…/resources/{resource}?path`), a restore form
 * with a tick per resource (only the ticked ones are restored) and a target field per resource
 * whose restore schema takes a `target` (files chosen in the browser restore alone, as
 * `include`), and Verify and Delete.
 */
import { badge, bytes, h, replace, statsText, time } from '../dom.js';
import { field, problemBox, submitting } from '../forms.js';
import { DELETABLE } from '../statuses.js';
import { heading, providerNamer, route, table } from '../ui.js';

/** @typedef {import('../types.js').Ctx} Ctx */
/** @typedef {import('../types.js').Entry} Entry */
/** @typedef {import('../types.js').ProviderType} ProviderType */
/** @typedef {import('../types.js').ResourceListing} ResourceListing */

/**
 * A resource in the restore form: its tick, and its target as its type's restore schema asks.
 * @typedef {object} TargetField
 * @property {ResourceListing} resource
 * @property {HTMLInputElement} pick ticked: restore this resource
 * @property {boolean} required the schema requires a target
 * @property {HTMLInputElement | null} target present when the schema takes `target`
 * @property {HTMLInputElement | null} overwrite present when the schema takes `overwrite`
 * @property {boolean} canInclude the schema takes `include` (a restore of chosen paths)
 */

/**
 * @param {Ctx} ctx
 * @param {string} providerId
 * @param {string} id
 */
export async function checkpointView(ctx, providerId, id) {
  const segments = ['providers', providerId, 'checkpoints', id];
  let shown;
  try {
    shown = await Promise.all([
      ctx.call('GET', segments),
      ctx.call('GET', [...segments, 'resources']),
      ctx.call('GET', ['providers']),
      ctx.call('GET', ['providers', providerId]),
    ]);
  } catch (error) {
    if (error.status !== 404) throw error;
    replace(
      ctx.main,
      heading('Checkpoint', ctx),
      h('p', { role: 'alert', 'data-testid': 'checkpoint-missing' }, error.message),
    );
    return;
  }
  if (!ctx.alive()) return;
  const [{ checkpoint }, { resources }, { providers }, { provider }] = shown;
  const providerName = providerNamer(providers)(provider.id);
  /** @type {Map<string, ProviderType>} */
  const types = new Map((provider.types ?? []).map((/** @type {ProviderType} */ t) => [t.type, t]));
  const available = checkpoint.status === 'available';

  /** Paths chosen in the browser, per resource (`type#id`). */
  /** @type {Map<string, Set<string>>} */
  const chosen = new Map();
  const restore = restoreForm(ctx, provider.id, checkpoint.id, resources, types, chosen, available);
  const browser = fileBrowser(ctx, segments, resources, chosen, () => restore.chosenChanged());

  replace(
    ctx.main,
    heading(['Checkpoint ', h('code', { 'data-testid': 'checkpoint-id' }, checkpoint.id)], ctx),
    h(
      'dl',
      { class: 'details', 'data-testid': 'checkpoint-details' },
      detail('Status', badge(checkpoint.status, { 'data-testid': 'checkpoint-status' })),
      detail(
        'Plan',
        h(
          'a',
          { href: route('checkpoints', { provider: provider.id, plan: checkpoint.plan }) },
          checkpoint.planName ?? checkpoint.plan,
        ),
      ),
      detail('Provider', h('span', { 'data-testid': 'checkpoint-provider' }, providerName)),
      detail('Created', time(checkpoint.createdAt)),
      detail(
        'Size',
        h(
          'span',
          {
            'data-testid': 'checkpoint-stats',
            ...(checkpoint.stats ? { 'data-bytes': String(checkpoint.stats.bytes) } : {}),
          },
          statsText(checkpoint.stats),
        ),
      ),
      checkpoint.error
        ? detail('Error', h('span', { class: 'error-text' }, checkpoint.error.message ?? ''))
        : null,
    ),
    h(
      'p',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          'data-testid': 'verify-button',
          disabled: !available,
          onclick: (/** @type {MouseEvent} */ e) =>
            ctx.action(/** @type {HTMLButtonElement} */ (e.currentTarget), async () =>
              ctx.openOperation(
                await ctx.call('POST', ['verifications'], {
                  body: { providerId: provider.id, checkpointId: checkpoint.id },
                }),
              ),
            ),
        },
        'Verify',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          'data-testid': 'delete-button',
          disabled: !DELETABLE.has(checkpoint.status),
          onclick: (/** @type {MouseEvent} */ e) => {
            if (!confirm(`Delete checkpoint ${checkpoint.id}? Its data will be removed.`)) return;
            ctx.action(/** @type {HTMLButtonElement} */ (e.currentTarget), async () =>
              ctx.openOperation(await ctx.call('DELETE', segments)),
            );
          },
        },
        'Delete',
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'resources-heading' },
      h('h3', { id: 'resources-heading' }, 'Resources'),
      table(
        'resources-table',
        ['Resource', 'Status', 'Files', 'Size', 'New', 'Stored', 'Took', ''],
        resources.map((/** @type {ResourceListing} */ r) => resourceRow(r, browser.open)),
        'This checkpoint has no resources.',
      ),
    ),
    browser.element,
    restore.element,
  );
}

/**
 * @param {string} term
 * @param {Node | string} value
 */
function detail(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

/**
 * @param {ResourceListing} r
 * @param {(resource: string, path: string) => void} open
 */
function resourceRow(r, open) {
  const s = r.stats;
  const dash = () => h('span', { class: 'muted' }, '—');
  return h(
    'tr',
    { 'data-testid': 'resource-row', 'data-resource': r.resource, 'data-status': r.status },
    h('th', { scope: 'row' }, h('code', {}, r.resource)),
    h(
      'td',
      {},
      badge(r.status),
      r.error?.message ? h('div', { class: 'error-text' }, r.error.message) : null,
    ),
    h('td', { 'data-testid': 'resource-files' }, s ? String(s.files) : dash()),
    h(
      'td',
      { 'data-testid': 'resource-bytes', 'data-bytes': s ? String(s.bytes) : null },
      s ? bytes(s.bytes) : dash(),
    ),
    h('td', {}, s ? bytes(s.newBytes) : dash()),
    h('td', {}, s ? bytes(s.storedBytes) : dash()),
    h('td', {}, s ? took(s.durationMs) : dash()),
    h(
      'td',
      { class: 'actions' },
      r.browse
        ? h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              'data-testid': 'browse-button',
              'aria-label': `Browse ${r.resource}`,
              onclick: () => open(r.resource, ''),
            },
            r.browse === 'entries' ? 'Browse files' : 'Show info',
          )
        : null,
    ),
  );
}

/** @param {number} ms */
function took(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * The file browser: a resource's entries one directory at a time (a breadcrumb above), each
 * file, link or directory with a checkbox that adds it to the restore's chosen paths; for a
 * resource without entries, its saved info.
 * @param {Ctx} ctx
 * @param {string[]} segments the checkpoint's path in the API
 * @param {ResourceListing[]} resources
 * @param {Map<string, Set<string>>} chosen
 * @param {() => void} changed called when a path is chosen or dropped
 */
function fileBrowser(ctx, segments, resources, chosen, changed) {
  const body = h('div', { 'data-testid': 'browser-body' });
  const title = h('h3', { id: 'browser-heading' }, 'Files');
  const element = h(
    'section',
    { 'aria-labelledby': 'browser-heading', 'data-testid': 'browser', hidden: true },
    title,
    body,
  );
  let request = 0;

  /**
   * @param {string} resource
   * @param {string} path
   */
  async function open(resource, path) {
    const mine = ++request;
    element.hidden = false;
    replace(title, 'Files of ', h('code', {}, resource));
    replace(body, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…'));
    element.scrollIntoView({ block: 'nearest' });
    let answer;
    try {
      answer = await ctx.call('GET', [...segments, 'resources', resource], { query: { path } });
    } catch (error) {
      if (mine !== request || !ctx.alive()) return;
      replace(
        body,
        h(
          'p',
          { class: 'problem', role: 'alert' },
          h('strong', {}, error.code ?? 'ERROR'),
          ': ',
          error.message,
        ),
      );
      return;
    }
    if (mine !== request || !ctx.alive()) return;
    const listing = resources.find((r) => r.resource === resource);
    if (!('entries' in answer)) {
      replace(title, listing?.browse === 'info' ? 'Saved info of ' : 'Resource ', h('code', {}, resource));
      replace(
        body,
        answer.info
          ? h('pre', { class: 'log', 'data-testid': 'resource-info' }, JSON.stringify(answer.info, null, 2))
          : h('p', { class: 'muted' }, 'Its plugin keeps no info to show.'),
      );
      return;
    }
    const picked = chosen.get(resource) ?? new Set();
    chosen.set(resource, picked);
    /** @type {Entry[]} */
    const entries = [...answer.entries].sort(
      (a, b) => Number(b.type === 'dir') - Number(a.type === 'dir') || a.path.localeCompare(b.path),
    );
    replace(
      body,
      breadcrumb(answer.path ?? path, (p) => open(resource, p)),
      table(
        'entries-table',
        ['', 'Name', 'Size', 'Mode', 'Modified'],
        entries.map((e) => entryRow(e, picked, changed, () => open(resource, e.path))),
        'This directory is empty.',
      ),
      h(
        'p',
        { class: 'muted' },
        'Tick files or directories to restore only them (a directory with everything below it), below.',
      ),
    );
  }

  return { element, open };
}

/**
 * `root / a / b`, each part a button that opens that directory.
 * @param {string} path
 * @param {(path: string) => void} go
 */
function breadcrumb(path, go) {
  const parts = path.split('/').filter(Boolean);
  const crumbs = [
    h('button', { type: 'button', class: 'link', 'data-testid': 'crumb', onclick: () => go('') }, 'root'),
  ];
  parts.forEach((part, i) => {
    const at = parts.slice(0, i + 1).join('/');
    crumbs.push(
      h('span', { class: 'muted' }, ' / '),
      h('button', { type: 'button', class: 'link', 'data-testid': 'crumb', onclick: () => go(at) }, part),
    );
  });
  return h('nav', { class: 'crumbs', 'aria-label': 'Directory', 'data-testid': 'browser-path' }, crumbs);
}

/**
 * @param {Entry} e
 * @param {Set<string>} picked
 * @param {() => void} changed
 * @param {() => void} enter opens a directory
 */
function entryRow(e, picked, changed, enter) {
  const name = e.path.slice(e.path.lastIndexOf('/') + 1);
  const box = h('input', {
    type: 'checkbox',
    'data-testid': 'entry-select',
    'aria-label': `Restore ${e.path}`,
    checked: picked.has(e.path),
    onchange: (/** @type {Event} */ ev) => {
      if (/** @type {HTMLInputElement} */ (ev.currentTarget).checked) picked.add(e.path);
      else picked.delete(e.path);
      changed();
    },
  });
  return h(
    'tr',
    { 'data-testid': 'entry-row', 'data-path': e.path, 'data-type': e.type },
    h('td', {}, box),
    h(
      'th',
      { scope: 'row' },
      e.type === 'dir'
        ? h(
            'button',
            { type: 'button', class: 'link', 'data-testid': 'entry-open', onclick: enter },
            `${name}/`,
          )
        : name,
      e.type === 'symlink' ? h('span', { class: 'muted' }, ` → ${e.target ?? ''}`) : null,
    ),
    h('td', { 'data-bytes': String(e.size) }, e.type === 'dir' ? '' : bytes(e.size)),
    h('td', {}, h('code', {}, (e.mode ?? 0).toString(8).padStart(4, '0'))),
    h('td', {}, time(e.mtime)),
  );
}

/**
 * The restore form: every resource with a tick (all ticked at first; a resource left unticked
 * is not restored: the request names the ticked ones as `resources`), a target per resource
 * whose restore schema has one (required where the schema requires it, for a ticked
 * resource), `overwrite` where it takes one. Paths chosen in the browser go as that
 * resource's `include`, so only they come back; choosing the first path unticks the
 * resources where nothing is chosen (a restore of chosen files restores only them).
 * @param {Ctx} ctx
 * @param {string} providerId
 * @param {string} checkpointId
 * @param {ResourceListing[]} resources
 * @param {Map<string, ProviderType>} types
 * @param {Map<string, Set<string>>} chosen
 * @param {boolean} available
 */
function restoreForm(ctx, providerId, checkpointId, resources, types, chosen, available) {
  /** @type {TargetField[]} */
  const fields = [];
  for (const r of resources) {
    const schema = types.get(r.type)?.schemas.restore;
    const props = schema?.properties ?? {};
    const isPath = Boolean(types.get(r.type)?.schemas.resource?.properties?.path);
    const key = r.resource;
    const required = (schema?.required ?? []).includes('target');
    const target = props.target
      ? /** @type {HTMLInputElement} */ (
          h('input', {
            id: `restore-target-${key}`,
            type: 'text',
            autocomplete: 'off',
            spellcheck: 'false',
            'data-testid': 'restore-target',
            'data-resource': key,
            required,
            placeholder: isPath ? '/absolute/path/on/the/server' : 'a new name',
          })
        )
      : null;
    const pick = /** @type {HTMLInputElement} */ (
      h('input', {
        id: `restore-pick-${key}`,
        type: 'checkbox',
        checked: true,
        'data-testid': 'restore-pick',
        'data-resource': key,
        onchange: () => picked(),
      })
    );
    fields.push({
      resource: r,
      pick,
      required,
      target,
      overwrite: props.overwrite
        ? /** @type {HTMLInputElement} */ (
            h('input', {
              id: `restore-overwrite-${key}`,
              type: 'checkbox',
              'data-testid': 'restore-overwrite',
              'data-resource': key,
            })
          )
        : null,
      canInclude: Boolean(props.include),
    });
  }
  /** An unticked resource's fields are neither required nor sent. */
  const picked = () => {
    for (const f of fields) {
      if (f.target) {
        f.target.disabled = !f.pick.checked;
        f.target.required = f.required && f.pick.checked;
      }
      if (f.overwrite) f.overwrite.disabled = !f.pick.checked;
    }
  };
  const chosenList = h('div', { 'data-testid': 'restore-chosen' });
  const problem = problemBox('restore-form-error');
  const submit = h(
    'button',
    { type: 'submit', 'data-testid': 'restore-submit', disabled: !available },
    'Restore',
  );
  const form = h(
    'form',
    {
      class: 'create',
      'data-testid': 'restore-form',
      onsubmit: (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        submitting(form, problem, async () => {
          const ticked = fields.filter((f) => f.pick.checked);
          if (ticked.length === 0) throw new Error('Tick at least one resource to restore.');
          /** @type {Record<string, Record<string, unknown>>} */
          const parameters = {};
          for (const f of ticked) {
            /** @type {Record<string, unknown>} */
            const value = {};
            if (f.target?.value.trim()) value.target = f.target.value.trim();
            if (f.overwrite?.checked) value.overwrite = true;
            const paths = [...(chosen.get(f.resource.resource) ?? [])];
            if (paths.length && f.canInclude) value.include = paths.sort();
            if (Object.keys(value).length) parameters[f.resource.resource] = value;
          }
          const body = {
            providerId,
            checkpointId,
            ...(Object.keys(parameters).length ? { parameters } : {}),
            ...(ticked.length < fields.length ? { resources: ticked.map((f) => f.resource.resource) } : {}),
          };
          ctx.openOperation(await ctx.call('POST', ['restores'], { body }));
        });
      },
    },
    fields.map((f) =>
      h(
        'fieldset',
        { 'data-testid': 'restore-resource', 'data-resource': f.resource.resource },
        h('legend', {}, h('label', { for: f.pick.id }, f.pick, ' ', h('code', {}, f.resource.resource))),
        f.target
          ? field('Restore into', f.target)
          : h('p', { class: 'muted' }, 'Restored where its plugin puts it.'),
        f.overwrite ? field('Replace what is there', f.overwrite) : null,
      ),
    ),
    chosenList,
    problem,
    submit,
  );
  let anyChosen = false;
  const chosenChanged = () => {
    const withPaths = fields
      .filter((f) => f.canInclude)
      .map(
        (f) =>
          /** @type {[string, string[]]} */ ([
            f.resource.resource,
            [...(chosen.get(f.resource.resource) ?? [])],
          ]),
      )
      .filter(([, paths]) => paths.length);
    replace(
      chosenList,
      withPaths.length
        ? [
            h('p', {}, 'Only these paths are restored (with the directories above them):'),
            h(
              'ul',
              {},
              withPaths.flatMap(([resource, paths]) =>
                paths
                  .sort()
                  .map((p) => h('li', { 'data-testid': 'chosen-path' }, h('code', {}, resource), ' ', p)),
              ),
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                'data-testid': 'clear-chosen',
                onclick: () => {
                  for (const set of chosen.values()) set.clear();
                  const boxes = /** @type {NodeListOf<HTMLInputElement>} */ (
                    document.querySelectorAll('[data-testid="entry-select"]')
                  );
                  for (const box of boxes) box.checked = false;
                  chosenChanged();
                },
              },
              'Restore everything instead',
            ),
          ]
        : h(
            'p',
            { class: 'muted' },
            'Each ticked resource is restored whole; tick files in the browser above to restore only them.',
          ),
    );
    submit.textContent = withPaths.length ? 'Restore the chosen paths' : 'Restore';
    // The first path chosen: only resources with chosen paths stay ticked; the last one
    // cleared ("Restore everything instead"): every resource is ticked again.
    if (withPaths.length > 0 !== anyChosen) {
      anyChosen = withPaths.length > 0;
      const having = new Set(withPaths.map(([resource]) => resource));
      for (const f of fields) f.pick.checked = !anyChosen || having.has(f.resource.resource);
    } else {
      // A path chosen in a resource ticks it.
      for (const f of fields)
        if (withPaths.some(([resource]) => resource === f.resource.resource)) f.pick.checked = true;
    }
    picked();
  };
  chosenChanged();
  return {
    element: h(
      'section',
      { 'aria-labelledby': 'restore-heading' },
      h('h3', { id: 'restore-heading' }, 'Restore'),
      available ? null : h('p', { class: 'muted' }, 'Only an available checkpoint can be restored.'),
      form,
    ),
    chosenChanged,
  };
}
