import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BrowseContext, definePlugin, type HookContext, PluginHarness } from '../../src/index.js';

/** A plugin that stores a greeting during protect and checks it on restore. */
const greeter = definePlugin(() => ({
  name: 'greeter',
  types: [
    {
      type: 'greeting',
      schemas: {
        options: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
        restore: { type: 'object', properties: { target: { type: 'string' } } },
      },
      restoreTarget: true,
    },
  ],
  operation(kind, _resource, { parameters, protectParameters }) {
    if (kind === 'protect') {
      return {
        async onMain(ctx: HookContext) {
          await ctx.bank.put('greeting.txt', String(parameters.text));
          ctx.log(`stored ${ctx.resource.id}`);
        },
      };
    }
    if (kind === 'restore') {
      return {
        async onMain(ctx: HookContext) {
          const text = (await ctx.bank.get('greeting.txt')).toString();
          assert.equal(text, protectParameters.text);
          await assert.rejects(ctx.bank.put('x', 'y'), /read-only/);
          ctx.log(`restored ${text} to ${parameters.target}`);
        },
      };
    }
    return undefined;
  },
}));

describe('plugin SDK test kit', () => {
  it('runs a plugin over a small graph in hook order against an in-memory bank', async () => {
    const harness = new PluginHarness({
      plugins: [await greeter({})],
      resources: [
        { resource: { type: 'greeting', id: 'parent' }, children: ['greeting#child'] },
        { resource: { type: 'greeting', id: 'child' }, children: [] },
      ],
      parameters: { greeting: { text: 'hello' }, 'greeting#child': { text: 'hi' } },
    });
    const protect = await harness.run('protect');
    assert.equal(protect.status, 'succeeded');
    assert.deepEqual(protect.log.sort(), [
      'greeting#child main: stored child',
      'greeting#parent main: stored parent',
    ]);
    const restore = await harness.run('restore', { greeting: { target: '/tmp/x' } });
    assert.equal(restore.status, 'succeeded', JSON.stringify(restore.tasks.find((t) => t.error)));
    assert.ok(restore.log.includes('greeting#child main: restored hi to /tmp/x'));
  });

  it("gives a type's browse methods the context ls gives them, read-only", async () => {
    const plugin = await greeter({});
    const withBrowse = {
      ...plugin,
      types: [
        {
          ...plugin.types[0]!,
          browse: {
            info: async (ctx: BrowseContext) => ({ text: (await ctx.bank.get('greeting.txt')).toString() }),
          },
        },
      ],
    };
    const harness = new PluginHarness({
      plugins: [withBrowse],
      resources: [{ resource: { type: 'greeting', id: 'one' }, children: [] }],
      parameters: { greeting: { text: 'hello' } },
    });
    assert.equal((await harness.run('protect')).status, 'succeeded');
    const ctx = harness.browseContext('greeting#one');
    assert.deepEqual(ctx.protectParameters, { text: 'hello' });
    assert.deepEqual(await withBrowse.types[0]!.browse.info(ctx), { text: 'hello' });
    await assert.rejects(ctx.bank.put('x', 'y'), /read-only/);
    assert.throws(() => harness.browseContext('greeting#two'), /no resource greeting#two/);
  });

  it('reports a hook that throws with resource, hook and cause', async () => {
    const harness = new PluginHarness({
      plugins: [
        {
          name: 'broken',
          types: [{ type: 'b' }],
          operation: () => ({
            onMain: () => {
              throw new Error('disk on fire', { cause: new Error('EIO') });
            },
          }),
        },
      ],
      resources: [{ resource: { type: 'b', id: 'x' }, children: [] }],
    });
    const log = await harness.run('protect');
    assert.equal(log.status, 'failed');
    const task = log.tasks.find((t) => t.status === 'failed')!;
    assert.equal(task.error?.code, 'HOOK_FAILED');
    assert.match(task.error!.message, /b#x main: disk on fire/);
    assert.equal(task.error?.cause?.message, 'disk on fire');
    assert.equal(task.error?.cause?.cause?.message, 'EIO');
  });

  it('rejects parameters its schema does not allow, naming the field', async () => {
    const harness = new PluginHarness({
      plugins: [await greeter({})],
      resources: [{ resource: { type: 'greeting', id: 'g' }, children: [] }],
      parameters: { greeting: { text: 42 } },
    });
    await assert.rejects(harness.run('protect'), /parameters for greeting#g: text must be a string/);
  });
});

describe('hook context: poll', () => {
  const poller = (calls: { n: number }, readyAfter: number, timeoutMs: number) => ({
    name: 'poller',
    types: [{ type: 'p' }],
    operation: () => ({
      async onMain(ctx: HookContext) {
        const value = await ctx.poll(async () => (++calls.n >= readyAfter ? 'done' : undefined), {
          intervalMs: 5,
          timeoutMs,
          what: 'the snapshot to complete',
        });
        ctx.log(value);
      },
    }),
  });

  it('returns the first value the check gives', async () => {
    const calls = { n: 0 };
    const harness = new PluginHarness({
      plugins: [poller(calls, 3, 5000)],
      resources: [{ resource: { type: 'p', id: 'x' }, children: [] }],
    });
    const log = await harness.run('protect');
    assert.equal(log.status, 'succeeded');
    assert.deepEqual(log.log, ['p#x main: done']);
    assert.equal(calls.n, 3);
  });

  it('gives up with HOOK_TIMEOUT naming what it waited for, never waiting forever', async () => {
    const calls = { n: 0 };
    const harness = new PluginHarness({
      plugins: [poller(calls, Number.POSITIVE_INFINITY, 60)],
      resources: [{ resource: { type: 'p', id: 'x' }, children: [] }],
    });
    const log = await harness.run('protect');
    const task = log.tasks.find((t) => t.status === 'failed')!;
    assert.equal(task.error?.code, 'HOOK_TIMEOUT');
    assert.match(task.error!.message, /p#x main: gave up after 60 ms waiting for the snapshot to complete/);
    assert.ok(calls.n >= 2);
  });
});

describe('plugin mistakes, as a plugin author meets them in a test', () => {
  it('operation() that throws: that resource fails with HOOK_FAILED naming plugin, resource, operation and hook; the others run', async () => {
    const ran: string[] = [];
    const harness = new PluginHarness({
      plugins: [
        {
          name: 'half-done',
          types: [{ type: 'h' }],
          operation: (kind, resource) => {
            if (resource.id === 'child')
              throw new TypeError("Cannot read properties of undefined (reading 'path')");
            return {
              onPrepareBegin: () => void ran.push(`${resource.id} ${kind} prepareBegin`),
              onPrepareFinish: () => void ran.push(`${resource.id} ${kind} prepareFinish`),
            };
          },
        },
      ],
      resources: [
        { resource: { type: 'h', id: 'parent' }, children: ['h#child'] },
        { resource: { type: 'h', id: 'child' }, children: [] },
      ],
    });
    const log = await harness.run('protect');
    assert.equal(log.status, 'failed');
    const failed = log.tasks.filter((t) => t.status === 'failed');
    assert.deepEqual(
      failed.map((t) => `${t.resource} ${t.hook}`),
      ['h#child prepareBegin'],
    );
    assert.equal(
      failed[0]!.error!.message,
      `h#child prepareBegin: plugin "half-done": operation("protect", h#child) threw: Cannot read properties of undefined (reading 'path')`,
    );
    assert.equal(failed[0]!.error!.cause?.name, 'TypeError');
    assert.deepEqual(ran, ['parent protect prepareBegin', 'parent protect prepareFinish']);
  });

  it('a plugin that is not one is refused when the harness is made, naming the mistake', () => {
    assert.throws(
      () =>
        new PluginHarness({
          plugins: [{ name: 'typo', types: [{ type: 't', schemas: { option: {}, options: 'x' } }] } as never],
          resources: [],
        }),
      /plugin "typo" is not a protection plugin: its operation is undefined, not a function/,
    );
  });

  it('with discover, a protectable that returns garbage is named before anything runs', async () => {
    const ran: string[] = [];
    const harness = new PluginHarness({
      plugins: [
        {
          name: 'finder',
          types: [
            {
              type: 'srv',
              protectable: { getDependentResources: async () => ({ databases: ['a'] }) as never },
            },
          ],
          operation: () => ({ onMain: () => void ran.push('main') }),
        },
      ],
      resources: [{ resource: { type: 'srv', id: 's' }, children: [] }],
      discover: true,
    });
    await assert.rejects(
      harness.run('protect'),
      /could not discover the dependents of srv#s: plugin "finder" \(the protectable of srv\) returned object, not a list of resources/,
    );
    assert.deepEqual(ran, []);
  });
});
