// @ts-check
/**
 * "New plan": POST /plans from fields. The provider's types come with their plugins' schemas
 * (`GET /providers/{id}`): each resource gets the fields of its type's `resource` schema (a
 * path…), its children, and each type in the plan the fields of its `options` schema (the
 * plan's parameters for that type). Advanced: the resources or the parameters as JSON, as in a
 * plan file. Before sending, the plan is checked against those same schemas (schema.js); the
 * server checks it again and its answer is shown as it is.
 */
import { h, replace } from '../dom.js';
import { choice, field, input, parseJson, problemBox, submitting } from '../forms.js';
import { problems } from '../schema.js';
import { route } from '../ui.js';

/** @typedef {import('../types.js').Ctx} Ctx */
/** @typedef {import('../types.js').Provider} Provider */
/** @typedef {import('../types.js').ProviderType} ProviderType */
/** @typedef {import('../types.js').JsonSchema} JsonSchema */

const RESOURCES_EXAMPLE = '[{"type": "fs.directory", "id": "docs", "path": "/srv/docs"}]';
const PARAMETERS_EXAMPLE = '{"fs.directory": {"exclude": ["*.tmp"]}}';
/** The plan file's rule for a resource id (src/plans/plan.ts). */
const ID_MAX = 200;
/** The plan file's rule for a host (src/resources/resource.ts HOST_NAME). */
const HOST_PATTERN = '[A-Za-z0-9][A-Za-z0-9._\\-]{0,62}';

/**
 * Inputs for the simple properties of an object schema; `read()` gives the object they make
 * (empty fields left out). Properties that are objects are left to the advanced JSON.
 * @param {JsonSchema | null} schema
 * @param {string} prefix id and data-testid prefix of each input
 */
function schemaFields(schema, prefix) {
  /** @type {{key: string, read: () => unknown, element: HTMLElement}[]} */
  const fields = [];
  const required = new Set(schema?.required ?? []);
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    const type = [prop.type].flat()[0];
    const id = `${prefix}-${key}`;
    const label = required.has(key) ? `${key} (required)` : key;
    if (type === 'boolean') {
      const box = /** @type {HTMLInputElement} */ (h('input', { id, type: 'checkbox', 'data-testid': id }));
      fields.push({ key, read: () => (box.checked ? true : undefined), element: field(label, box) });
    } else if (type === 'integer' || type === 'number') {
      // No min/max here: the schema check names a value out of range with the field's path.
      const el = input(id, { type: 'number', step: type === 'integer' ? 1 : 'any' });
      fields.push({
        key,
        read: () => (el.value.trim() === '' ? undefined : Number(el.value)),
        element: field(label, el),
      });
    } else if (type === 'string') {
      const el = input(id);
      fields.push({ key, read: () => el.value.trim() || undefined, element: field(label, el) });
    } else if (type === 'array' && [prop.items?.type].flat()[0] === 'string') {
      const el = /** @type {HTMLTextAreaElement} */ (
        h('textarea', { id, name: id, rows: 2, spellcheck: 'false', 'data-testid': id })
      );
      const read = () => {
        const lines = el.value
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        return lines.length ? lines : undefined;
      };
      fields.push({ key, read, element: field(label, el, 'one per line') });
    }
  }
  const read = () => {
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const f of fields) {
      const v = f.read();
      if (v !== undefined) out[f.key] = v;
    }
    return out;
  };
  return { elements: fields.map((f) => f.element), read };
}

/**
 * @param {Ctx} ctx
 * @param {Provider[]} providers
 * @param {boolean} open the form starts unfolded (no plans yet)
 */
export function planForm(ctx, providers, open) {
  const name = input('plan-name', { required: true, maxlength: 128 });
  const provider = choice(
    'plan-provider',
    providers.map((p) => /** @type {[string, string]} */ ([p.id, p.name])),
  );
  provider.value = providers.find((p) => p.name === 'local')?.id ?? providers[0]?.id ?? '';
  const description = input('plan-description', { maxlength: 1000 });
  const resourceList = h('div', { 'data-testid': 'plan-resource-list' });
  const parameterList = h('div', { 'data-testid': 'plan-parameter-list' });
  const advancedResources = /** @type {HTMLTextAreaElement} */ (
    h('textarea', {
      id: 'plan-resources',
      name: 'plan-resources',
      rows: 4,
      spellcheck: 'false',
      placeholder: RESOURCES_EXAMPLE,
      'data-testid': 'plan-resources',
    })
  );
  const advancedParameters = /** @type {HTMLTextAreaElement} */ (
    h('textarea', {
      id: 'plan-parameters',
      name: 'plan-parameters',
      rows: 3,
      spellcheck: 'false',
      placeholder: PARAMETERS_EXAMPLE,
      'data-testid': 'plan-parameters',
    })
  );
  const problem = problemBox('plan-form-error');
  // The hosts of the agents up now, offered in each resource's Host field (a hint: a host
  // whose agent is down may still be named).
  const hosts = h('datalist', { id: 'agent-hosts', 'data-testid': 'agent-hosts' });
  ctx
    .call('GET', ['agents'])
    .then((/** @type {{agents?: {host?: string}[]}} */ res) => {
      const names = [...new Set((res.agents ?? []).map((a) => a.host).filter(Boolean))].sort();
      replace(
        hosts,
        names.map((name) => h('option', { value: String(name) })),
      );
    })
    .catch(() => {});

  /** @type {Map<string, ProviderType>} */
  let types = new Map();
  /** @type {{element: HTMLElement, read: () => Record<string, unknown>, type: () => string}[]} */
  let rows = [];
  /** Each type's parameter fields, kept across redraws so what was typed stays. */
  /** @type {Map<string, {element: HTMLElement, read: () => Record<string, unknown>}>} */
  const parameterFields = new Map();
  let counter = 0;

  function resourceRow() {
    const n = ++counter;
    const type = choice(
      `resource-type-${n}`,
      [...types.keys()].map((t) => /** @type {[string, string]} */ ([t, t])),
      { 'data-testid': 'resource-type' },
    );
    const id = input(`resource-id-${n}`, {
      maxlength: ID_MAX,
      'data-testid': 'resource-id',
      placeholder: 'docs',
    });
    const children = input(`resource-children-${n}`, {
      'data-testid': 'resource-children',
      placeholder: 'db, uploads',
    });
    const host = input(`resource-host-${n}`, {
      'data-testid': 'resource-host',
      pattern: HOST_PATTERN,
      maxlength: 63,
      list: 'agent-hosts',
      placeholder: 'db-1',
    });
    const own = h('div', { class: 'schema-fields' });
    /** @type {() => Record<string, unknown>} */
    let readOwn = () => ({});
    const drawOwn = () => {
      const made = schemaFields(types.get(type.value)?.schemas.resource ?? null, `resource-${n}`);
      replace(own, made.elements);
      readOwn = made.read;
    };
    drawOwn();
    const element = h(
      'fieldset',
      { 'data-testid': 'plan-resource' },
      h('legend', {}, `Resource ${n}`),
      field('Type', type),
      field('Id', id, 'unique in the plan; with the type, it names the resource (type#id)'),
      own,
      field(
        'Children',
        children,
        'ids (or type#id) of resources of this plan protected inside this one; comma-separated',
      ),
      field(
        'Host',
        host,
        'its hooks run on the agent of this host (hoard agent --host NAME); empty: on the server',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          'data-testid': 'remove-resource',
          onclick: () => {
            rows = rows.filter((r) => r.element !== element);
            element.remove();
            drawParameters();
          },
        },
        'Remove this resource',
      ),
    );
    type.addEventListener('change', () => {
      drawOwn();
      drawParameters();
    });
    const read = () => {
      /** @type {Record<string, unknown>} */
      const out = { type: type.value, id: id.value.trim(), ...readOwn() };
      const kids = children.value
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
      if (kids.length) out.children = kids;
      if (host.value.trim()) out.host = host.value.trim();
      return out;
    };
    return { element, read, type: () => type.value };
  }

  function addResource() {
    const row = resourceRow();
    rows.push(row);
    resourceList.append(row.element);
    drawParameters();
  }

  /** One fieldset per type in the plan whose options schema has fields. */
  function drawParameters() {
    const inPlan = [...new Set(rows.map((r) => r.type()))];
    const shown = [];
    for (const type of inPlan) {
      let made = parameterFields.get(type);
      if (!made) {
        const fields = schemaFields(types.get(type)?.schemas.options ?? null, `param-${type}`);
        if (!fields.elements.length) continue;
        made = {
          element: h(
            'fieldset',
            { 'data-testid': 'plan-parameters-of', 'data-type': type },
            h('legend', {}, h('code', {}, type), ' options (every resource of this type)'),
            fields.elements,
          ),
          read: fields.read,
        };
        parameterFields.set(type, made);
      }
      shown.push(made.element);
    }
    replace(parameterList, shown);
  }

  async function loadTypes() {
    replace(resourceList, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading the provider’s types…'));
    try {
      const res = await ctx.call('GET', ['providers', provider.value]);
      types = new Map((res.provider.types ?? []).map((/** @type {ProviderType} */ t) => [t.type, t]));
    } catch (error) {
      replace(resourceList, h('p', { class: 'error-text' }, `The provider’s types: ${error.message}`));
      return;
    }
    rows = [];
    parameterFields.clear();
    replace(resourceList);
    addResource();
  }
  provider.addEventListener('change', () => void loadTypes());

  /** The plan's resources and parameters, checked against the types' schemas. */
  function collect() {
    const resources =
      parseJson(advancedResources.value, 'Resources (JSON)', 'array') ?? rows.map((r) => r.read());
    /** @type {Record<string, Record<string, unknown>>} */
    const parameters = {};
    for (const [type, made] of parameterFields) {
      const value = made.read();
      if (Object.keys(value).length && rows.some((r) => r.type() === type)) parameters[type] = value;
    }
    const given = parseJson(advancedParameters.value, 'Parameters (JSON)', 'object') ?? {};
    for (const [key, value] of Object.entries(given)) parameters[key] = { ...parameters[key], ...value };

    /** @type {string[]} */
    const found = [];
    if (resources.length === 0) found.push('resources: add at least one');
    const keys = new Set();
    resources.forEach((/** @type {Record<string, unknown>} */ r, i) => {
      const where = `resources[${i}]${r.type && r.id ? ` (${r.type}#${r.id})` : ''}`;
      const type = types.get(String(r.type));
      if (!type) {
        found.push(`${where}: unknown resource type ${JSON.stringify(r.type)} in this provider`);
        return;
      }
      if (typeof r.id !== 'string' || !r.id) found.push(`${where}: id is required`);
      keys.add(`${r.type}#${r.id}`);
      const { type: _t, id: _i, name: _n, children: _c, host: _h, ...own } = r;
      found.push(...problems(type.schemas.resource, own, where));
    });
    resources.forEach((/** @type {Record<string, unknown>} */ r, i) => {
      for (const child of /** @type {string[]} */ (Array.isArray(r.children) ? r.children : [])) {
        const hits = child.includes('#')
          ? [...keys].filter((k) => k === child)
          : [...keys].filter((k) => k.slice(k.indexOf('#') + 1) === child);
        if (hits.length === 0) found.push(`resources[${i}]: child "${child}" is not a resource of this plan`);
      }
    });
    for (const [key, value] of Object.entries(parameters)) {
      const type = types.get(key.split('#')[0] ?? '');
      if (!type) found.push(`parameters.${key}: names no type of this provider`);
      else found.push(...problems(type.schemas.options, value, `parameters.${key}`));
    }
    if (found.length) {
      const error = new Error(
        `the plan does not match its types' schemas (${found.length} problem${found.length === 1 ? '' : 's'})`,
      );
      Object.assign(error, { code: 'PLAN_INVALID', details: { errors: found } });
      throw error;
    }
    return { resources, parameters };
  }

  const form = h(
    'form',
    {
      class: 'create',
      'data-testid': 'plan-form',
      onsubmit: (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        submitting(form, problem, async () => {
          const { resources, parameters } = collect();
          /** @type {Record<string, unknown>} */
          const body = { name: name.value.trim(), providerId: provider.value, resources };
          if (description.value.trim()) body.description = description.value.trim();
          if (Object.keys(parameters).length) body.parameters = parameters;
          await ctx.call('POST', ['plans'], { body });
          ctx.go(route('plans'));
        });
      },
    },
    field('Name', name, 'letters, digits, ".", "_", "-"'),
    field('Provider', provider),
    field('Description', description),
    h('h4', {}, 'Resources'),
    resourceList,
    h(
      'button',
      { type: 'button', class: 'secondary', 'data-testid': 'add-resource', onclick: addResource },
      'Add a resource',
    ),
    h('h4', {}, 'Parameters'),
    parameterList,
    h(
      'details',
      { 'data-testid': 'plan-advanced' },
      h('summary', {}, 'Advanced: JSON, as in a plan file'),
      field(
        'Resources (JSON)',
        advancedResources,
        'a JSON array of resources; when given, it replaces the resources above',
      ),
      field(
        'Parameters (JSON)',
        advancedParameters,
        'a JSON object, keys a type or a type#id; merged over the fields above',
      ),
    ),
    hosts,
    problem,
    h('button', { type: 'submit', 'data-testid': 'plan-submit' }, 'Create plan'),
  );
  void loadTypes();
  return h(
    'details',
    { class: 'create', 'data-testid': 'new-plan', open },
    h('summary', {}, 'New plan'),
    form,
  );
}
