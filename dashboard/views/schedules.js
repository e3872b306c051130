// @ts-check
/**
 * Schedules: time triggers (a cron pattern in a time zone) and the scheduled operations a
 * trigger fires — a protect of a plan, or a retention_protect that protects it and then
 * prunes its checkpoints by a retention policy (every policy `hoard prune --policy` takes).
 * The lists are redrawn in place after each change, so the forms keep what was typed.
 */
import { h, replace, time } from '../dom.js';
import { choice, field, input, numberOf, problemBox, setOptions, submitting } from '../forms.js';
import { heading, route, table } from '../ui.js';

const OPERATION_TYPES = ['protect', 'retention_protect'];
const POLICY_KINDS = [
  ['max_backups', 'keep the newest N (max_backups)'],
  ['retention_duration', 'keep N days (retention_duration)'],
  ['keep', 'keep last/hourly/daily/… (keep)'],
  ['age', 'remove past an age, keeping a minimum (age)'],
  ['decay', 'one per ever longer window (decay)'],
];
const KEEP_FIELDS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'];
/**
 * rsbackup's policies: [field, label, hint, input attributes]; empty fields take rsbackup's defaults.
 * @type {Record<string, [string, string, string, Record<string, string | number>][]>}
 */
const RSBACKUP_FIELDS = {
  age: [
    ['minBackups', 'Min backups', 'never fewer than this (default 1)', { min: 1, step: 1, placeholder: '1' }],
    [
      'pruneAgeDays',
      'Prune age (days)',
      'remove backups older than this (default 366)',
      { min: 1, step: 1, placeholder: '366' },
    ],
  ],
  decay: [
    [
      'start',
      'Start (days)',
      'keep everything this young (default 1)',
      { min: 1, step: 1, placeholder: '1' },
    ],
    [
      'window',
      'Window (days)',
      'the first window after start (default 1)',
      { min: 1, step: 1, placeholder: '1' },
    ],
    [
      'scale',
      'Scale',
      'each window this many times the last, above 1 (default 2)',
      { min: 1, step: 'any', placeholder: '2' },
    ],
    [
      'limit',
      'Limit (days)',
      'remove backups older than this (default 366)',
      { min: 1, step: 1, placeholder: '366' },
    ],
  ],
};
/** The lists show this many; a project with more is told so. */
const LIMIT = 1000;

export async function schedulesView(ctx) {
  const triggerList = h('div');
  const scheduleList = h('div');
  const triggers = triggerForm(ctx, () => reload());
  const schedules = scheduleForm(ctx, () => reload());

  async function reload() {
    const [t, so, p] = await Promise.all([
      ctx.call('GET', ['triggers'], { query: { limit: LIMIT } }),
      ctx.call('GET', ['scheduled_operations'], { query: { limit: LIMIT } }),
      ctx.call('GET', ['plans'], { query: { limit: LIMIT } }),
    ]);
    if (!ctx.alive()) return;
    const triggerName = new Map(t.triggers.map((x) => [x.id, x.name]));
    const planName = new Map(p.plans.map((x) => [x.id, x.name]));
    schedules.offer(t.triggers, p.plans);
    replace(
      triggerList,
      table(
        'triggers-table',
        ['Name', 'Pattern', 'Time zone', 'Window', 'Start', 'End', 'Next fires', 'Actions'],
        t.triggers.map((trigger) => triggerRow(ctx, trigger, reload)),
        'No triggers yet.',
      ),
      more(t.next),
    );
    replace(
      scheduleList,
      table(
        'schedules-table',
        ['Name', 'Type', 'Trigger', 'Plan', 'Retention', 'Enabled', 'Created', 'Actions'],
        so.scheduledOperations.map((op) => scheduleRow(ctx, op, triggerName, planName, reload)),
        'No scheduled operations yet.',
      ),
      more(so.next),
    );
  }

  await reload();
  if (!ctx.alive()) return;
  replace(
    ctx.main,
    heading('Schedules', ctx),
    h(
      'section',
      { 'aria-labelledby': 'triggers-heading' },
      h('h3', { id: 'triggers-heading' }, 'Triggers'),
      triggers.element,
      triggerList,
    ),
    h(
      'section',
      { 'aria-labelledby': 'schedules-heading' },
      h('h3', { id: 'schedules-heading' }, 'Scheduled operations'),
      schedules.element,
      scheduleList,
    ),
  );
}

function triggerRow(ctx, trigger, reload) {
  const p = trigger.properties ?? {};
  const fires = h('td', { 'data-testid': 'trigger-next-fires' }, h('span', { class: 'muted' }, '…'));
  ctx.call('GET', ['triggers', trigger.id]).then(
    (res) => ctx.alive() && replace(fires, fireList(res.nextFires)),
    (error) => ctx.alive() && replace(fires, h('span', { class: 'error-text' }, error.message)),
  );
  return h(
    'tr',
    { 'data-testid': 'trigger-row', 'data-trigger-id': trigger.id, 'data-trigger-name': trigger.name },
    h('th', { scope: 'row' }, trigger.name),
    h('td', {}, h('code', {}, p.pattern)),
    h('td', {}, p.timezone ?? 'UTC'),
    h('td', {}, p.window !== undefined ? `${p.window} s` : h('span', { class: 'muted' }, 'default')),
    h('td', {}, time(p.start)),
    h('td', {}, time(p.end)),
    fires,
    h(
      'td',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          'data-testid': 'trigger-delete-button',
          'aria-label': `Delete trigger ${trigger.name}`,
          onclick: (e) => {
            if (!confirm(`Delete trigger ${trigger.name}?`)) return;
            ctx.action(e.currentTarget, async () => {
              await ctx.call('DELETE', ['triggers', trigger.id]);
              await reload();
            });
          },
        },
        'Delete',
      ),
    ),
  );
}

function scheduleRow(ctx, op, triggerName, planName, reload) {
  const planId = op.operationDefinition?.planId;
  return h(
    'tr',
    {
      'data-testid': 'schedule-row',
      'data-schedule-id': op.id,
      'data-schedule-name': op.name,
      'data-enabled': String(op.enabled),
    },
    h('th', { scope: 'row' }, op.name),
    h('td', {}, op.operationType),
    h('td', {}, triggerName.get(op.triggerId) ?? h('code', {}, op.triggerId)),
    h('td', {}, planName.get(planId) ?? [h('code', {}, planId), ' (deleted)']),
    h('td', {}, policyText(op.operationDefinition?.retention)),
    h('td', {}, op.enabled ? 'yes' : 'no'),
    h('td', {}, time(op.createdAt)),
    h(
      'td',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          'data-testid': 'schedule-toggle',
          'aria-label': `${op.enabled ? 'Disable' : 'Enable'} ${op.name}`,
          onclick: (e) =>
            ctx.action(e.currentTarget, async () => {
              await ctx.call('PATCH', ['scheduled_operations', op.id], { body: { enabled: !op.enabled } });
              await reload();
            }),
        },
        op.enabled ? 'Disable' : 'Enable',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          'data-testid': 'schedule-delete-button',
          'aria-label': `Delete scheduled operation ${op.name}`,
          onclick: (e) => {
            if (!confirm(`Delete scheduled operation ${op.name}? Its runs' logs stay.`)) return;
            ctx.action(e.currentTarget, async () => {
              await ctx.call('DELETE', ['scheduled_operations', op.id]);
              await reload();
            });
          },
        },
        'Delete',
      ),
      ' ',
      h(
        'a',
        { href: route('operations', { scheduledOperation: op.id }), 'data-testid': 'schedule-runs' },
        'Runs',
      ),
    ),
  );
}

/** "New trigger": POST /triggers; shows the next fire times the server answers with. */
function triggerForm(ctx, reload) {
  const name = input('trigger-name', { required: true, maxlength: 128 });
  const pattern = input('trigger-pattern', { required: true, placeholder: '0 3 * * *' });
  const timezone = input('trigger-timezone', { value: 'UTC' });
  const windowSeconds = input('trigger-window', {
    type: 'number',
    min: 0,
    max: 7 * 86_400,
    step: 1,
    placeholder: '1800',
  });
  const start = input('trigger-start', { placeholder: '2026-12-01T00:00:00Z' });
  const end = input('trigger-end', { placeholder: '2027-12-01T00:00:00Z' });
  const problem = problemBox('trigger-form-error');
  const created = h('div', { 'data-testid': 'trigger-created', hidden: true });
  const form = h(
    'form',
    {
      class: 'create',
      'data-testid': 'trigger-form',
      onsubmit: (e) => {
        e.preventDefault();
        created.hidden = true;
        submitting(form, problem, async () => {
          const properties = { pattern: pattern.value.trim() };
          if (timezone.value.trim()) properties.timezone = timezone.value.trim();
          if (numberOf(windowSeconds) !== undefined) properties.window = numberOf(windowSeconds);
          if (start.value.trim()) properties.start = start.value.trim();
          if (end.value.trim()) properties.end = end.value.trim();
          const res = await ctx.call('POST', ['triggers'], {
            body: { name: name.value.trim(), type: 'time', properties },
          });
          replace(
            created,
            h('p', {}, 'Trigger ', h('strong', {}, res.trigger.name), ' created. It fires next at:'),
            fireList(res.nextFires),
          );
          created.hidden = false;
          await reload();
        });
      },
    },
    field('Name', name),
    field('Cron pattern', pattern, 'minute hour day month weekday; six fields put seconds first'),
    field('Time zone', timezone, 'an IANA zone, e.g. Europe/Paris'),
    field('Window (s)', windowSeconds, 'how late a missed run may still start (default 1800)'),
    field('Start', start, 'optional ISO date-time'),
    field('End', end, 'optional ISO date-time'),
    problem,
    h('button', { type: 'submit', 'data-testid': 'trigger-submit' }, 'Create trigger'),
  );
  return {
    element: h(
      'div',
      {},
      h('details', { class: 'create', 'data-testid': 'new-trigger' }, h('summary', {}, 'New trigger'), form),
      created,
    ),
  };
}

/** "New scheduled operation": POST /scheduled_operations, with a retention policy for retention_protect. */
function scheduleForm(ctx, reload) {
  const name = input('schedule-name', { required: true, maxlength: 128 });
  const type = choice(
    'schedule-type',
    OPERATION_TYPES.map((t) => [t, t]),
  );
  const trigger = choice('schedule-trigger', [], { required: true });
  const plan = choice('schedule-plan', [], { required: true });
  const kind = choice('retention-kind', POLICY_KINDS);
  const count = input('retention-count', { type: 'number', min: 1, step: 1, placeholder: '7' });
  const days = input('retention-days', { type: 'number', min: 1, step: 1, placeholder: '30' });
  const keep = Object.fromEntries(
    KEEP_FIELDS.map((f) => [f, input(`retention-keep-${f}`, { type: 'number', min: 0, step: 1 })]),
  );
  const countField = field('Count', count, 'checkpoints to keep');
  const daysField = field('Days', days, 'remove checkpoints older than this');
  const keepFields = h(
    'div',
    {},
    KEEP_FIELDS.map((f) => field(`Keep ${f}`, keep[f])),
  );
  const rsbackup = Object.fromEntries(
    Object.entries(RSBACKUP_FIELDS).map(([policy, fields]) => {
      const inputs = Object.fromEntries(
        fields.map(([f, , , attrs]) => [f, input(`retention-${policy}-${f}`, { type: 'number', ...attrs })]),
      );
      const box = h(
        'div',
        { 'data-testid': `retention-${policy}` },
        fields.map(([f, label, hint]) => field(label, inputs[f], hint)),
      );
      return [policy, { inputs, box }];
    }),
  );
  const policy = h(
    'fieldset',
    { 'data-testid': 'retention-policy' },
    h('legend', {}, 'Retention policy'),
    field('Kind', kind),
    countField,
    daysField,
    keepFields,
    Object.values(rsbackup).map((r) => r.box),
  );
  const show = () => {
    policy.hidden = type.value !== 'retention_protect';
    countField.hidden = kind.value !== 'max_backups';
    daysField.hidden = kind.value !== 'retention_duration';
    keepFields.hidden = kind.value !== 'keep';
    for (const [name, r] of Object.entries(rsbackup)) r.box.hidden = kind.value !== name;
  };
  type.addEventListener('change', show);
  kind.addEventListener('change', show);
  show();

  const retention = () => {
    if (kind.value === 'max_backups') return { kind: kind.value, count: numberOf(count) };
    if (kind.value === 'retention_duration') return { kind: kind.value, days: numberOf(days) };
    if (rsbackup[kind.value]) {
      const value = { kind: kind.value };
      for (const [f, el] of Object.entries(rsbackup[kind.value].inputs))
        if (numberOf(el) !== undefined) value[f] = numberOf(el);
      return value;
    }
    const value = { kind: kind.value };
    for (const f of KEEP_FIELDS) if (numberOf(keep[f]) !== undefined) value[f] = numberOf(keep[f]);
    return value;
  };

  const problem = problemBox('schedule-form-error');
  const form = h(
    'form',
    {
      class: 'create',
      'data-testid': 'schedule-form',
      onsubmit: (e) => {
        e.preventDefault();
        submitting(form, problem, async () => {
          const operationDefinition = { planId: plan.value };
          if (type.value === 'retention_protect') operationDefinition.retention = retention();
          await ctx.call('POST', ['scheduled_operations'], {
            body: {
              name: name.value.trim(),
              operationType: type.value,
              triggerId: trigger.value,
              operationDefinition,
            },
          });
          await reload();
        });
      },
    },
    field('Name', name),
    field('Operation', type),
    field('Trigger', trigger),
    field('Plan', plan),
    policy,
    problem,
    h('button', { type: 'submit', 'data-testid': 'schedule-submit' }, 'Schedule'),
  );
  return {
    element: h(
      'details',
      { class: 'create', 'data-testid': 'new-schedule' },
      h('summary', {}, 'New scheduled operation'),
      form,
    ),
    /** Offers the project's triggers and plans in the form. */
    offer(triggers, plans) {
      setOptions(trigger, [['', 'choose a trigger'], ...triggers.map((t) => [t.id, t.name])]);
      setOptions(plan, [['', 'choose a plan'], ...plans.map((p) => [p.id, p.name])]);
    },
  };
}

/** The fire times the server gives (ISO, UTC), shown in the viewer's zone; `datetime` keeps the ISO. */
function fireList(fires) {
  if (!fires?.length) return h('span', { class: 'muted' }, 'never again');
  return h(
    'ol',
    { class: 'fires' },
    fires.map((iso) => h('li', { 'data-testid': 'next-fire' }, time(iso))),
  );
}

/** `max_backups: count 2`, `keep: daily 7, weekly 4`. */
function policyText(policy) {
  if (!policy) return h('span', { class: 'muted' }, '—');
  const { kind, ...rest } = policy;
  const values = Object.entries(rest).map(([k, v]) => `${k} ${v}`);
  return `${kind}${values.length ? `: ${values.join(', ')}` : ''}`;
}

function more(next) {
  return next ? h('p', { class: 'muted' }, `Only the newest ${LIMIT} are shown.`) : null;
}
