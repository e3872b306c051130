// @ts-check
/** "New plan": POST /plans. */
import { h } from '../dom.js';
import { choice, field, input, parseJson, problemBox, submitting } from '../forms.js';
import { route } from '../ui.js';

const RESOURCES_EXAMPLE = '[{"type": "fs.directory", "id": "docs", "path": "/srv/docs"}]';

/** "New plan": POST /plans with the resources and parameters typed as JSON. */
export function planForm(ctx, providers, open) {
  const name = input('plan-name', { required: true, maxlength: 128 });
  const provider = choice(
    'plan-provider',
    providers.map((p) => [p.id, p.name]),
  );
  provider.value = providers.find((p) => p.name === 'local')?.id ?? providers[0]?.id ?? '';
  const description = input('plan-description', { maxlength: 1000 });
  const resources = h('textarea', {
    id: 'plan-resources',
    name: 'plan-resources',
    rows: 4,
    required: true,
    spellcheck: 'false',
    placeholder: RESOURCES_EXAMPLE,
    'data-testid': 'plan-resources',
  });
  const parameters = h('textarea', {
    id: 'plan-parameters',
    name: 'plan-parameters',
    rows: 2,
    spellcheck: 'false',
    placeholder: '{}',
    'data-testid': 'plan-parameters',
  });
  const problem = problemBox('plan-form-error');
  const form = h(
    'form',
    {
      class: 'create',
      'data-testid': 'plan-form',
      onsubmit: (e) => {
        e.preventDefault();
        submitting(form, problem, async () => {
          const body = {
            name: name.value.trim(),
            providerId: provider.value,
            resources: parseJson(resources.value, 'Resources', 'array') ?? [],
          };
          if (description.value.trim()) body.description = description.value.trim();
          const params = parseJson(parameters.value, 'Parameters', 'object');
          if (params) body.parameters = params;
          await ctx.call('POST', ['plans'], { body });
          ctx.go(route('plans'));
        });
      },
    },
    field('Name', name),
    field('Provider', provider),
    field('Description', description),
    field('Resources', resources, 'a JSON array of resources, as in a plan file'),
    field('Parameters', parameters, 'a JSON object (optional)'),
    problem,
    h('button', { type: 'submit', 'data-testid': 'plan-submit' }, 'Create plan'),
  );
  return h(
    'details',
    { class: 'create', 'data-testid': 'new-plan', open },
    h('summary', {}, 'New plan'),
    form,
  );
}
