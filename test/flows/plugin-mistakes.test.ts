/**
 * A plugin's mistake — whatever it throws, returns or never finishes — fails only its own
 * resource (naming plugin, resource, operation and hook), leaves its checkpoint `error` and
 * no pending marker, and never stops another plan on the same provider.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { protect } from '../../src/flows/protect.js';
import type { HookContext, Operation, ProtectionPlugin, ResourceTypeSpec } from '../../src/plugins/sdk.js';
import { type Fixture, fixture, plan } from './fixture.js';

/** `test.app`: records its hooks; the parent of the broken resource in the plan below. */
function recorder(calls: string[]): ProtectionPlugin {
  const hook = (name: string) => (ctx: HookContext) => void calls.push(`${ctx.resource.id} ${name}`);
  return {
    name: 'test.app',
    types: [{ type: 'test.app' }],
    operation: (kind) =>
      kind === 'protect'
        ? {
            onPrepareBegin: hook('prepareBegin'),
            onPrepareFinish: hook('prepareFinish'),
            onMain: hook('main'),
            onComplete: hook('complete'),
          }
        : undefined,
  };
}

/** `test.bad`, whose `operation()` is `operation` (in every way a plugin can get it wrong). */
function bad(operation: () => unknown, spec: Partial<ResourceTypeSpec> = {}): ProtectionPlugin {
  return {
    name: 'test.bad',
    types: [{ type: 'test.bad', ...spec }],
    operation: operation as ProtectionPlugin['operation'],
  };
}

const BROKEN = plan(`
name: broken
resources:
  - {type: test.app, id: app, children: ["test.bad#x"]}
  - {type: test.bad, id: x}
`);

const OTHER = plan(`
name: other
resources:
  - {type: test.app, id: other}
`);

async function withFixture(plugins: ProtectionPlugin[], body: (f: Fixture) => Promise<void>) {
  const f = await fixture(plugins);
  try {
    await body(f);
  } finally {
    await f.done();
  }
}

interface Case {
  name: string;
  operation: () => unknown;
  /** The hook of test.bad#x that fails. */
  hook: string;
  message: RegExp;
  code?: string;
}

const never = () => new Promise<void>(() => {});

const CASES: Case[] = [
  {
    name: 'operation() throws an Error',
    operation: () => {
      throw new Error('boom');
    },
    hook: 'prepareBegin',
    message:
      /^test\.bad#x prepareBegin: plugin "test\.bad": operation\("protect", test\.bad#x\) threw: boom$/,
  },
  {
    name: 'operation() throws a string',
    operation: () => {
      throw 'boom';
    },
    hook: 'prepareBegin',
    message:
      /plugin "test\.bad": operation\("protect", test\.bad#x\) threw a string \("boom"\), not an Error$/,
  },
  {
    name: 'operation() throws undefined',
    operation: () => {
      throw undefined;
    },
    hook: 'prepareBegin',
    message: /plugin "test\.bad": operation\("protect", test\.bad#x\) threw undefined, not an Error$/,
  },
  {
    name: 'operation() returns a string',
    operation: () => 'onMain',
    hook: 'prepareBegin',
    message: /returned a string \("onMain"\), not an Operation \(an object of hooks\) or undefined$/,
  },
  {
    name: 'operation() returns a number',
    operation: () => 42,
    hook: 'prepareBegin',
    message: /returned a number \(42\), not an Operation/,
  },
  {
    name: 'operation() is async (returns a Promise)',
    operation: async () => ({ onMain: () => {} }),
    hook: 'prepareBegin',
    message: /returned a Promise: operation\(\) must return the Operation itself \(it may not be async\)$/,
  },
  {
    name: 'operation() returns a timeoutMs that is not one',
    operation: () => ({ onMain: () => {}, timeoutMs: -5 }),
    hook: 'prepareBegin',
    message: /whose timeoutMs is a number \(-5\), not a number of milliseconds > 0$/,
  },
  {
    name: 'a hook that is not a function',
    operation: () => ({ onMain: 'snapshot' }),
    hook: 'main',
    message:
      /^test\.bad#x main: plugin "test\.bad": operation\("protect", test\.bad#x\) returned an Operation whose onMain is a string \("snapshot"\), not a function$/,
  },
  {
    name: 'a getter on the Operation throws',
    operation: () => ({
      get onMain() {
        throw new Error('lazy hook failed');
      },
    }),
    hook: 'prepareBegin',
    message: /reading what operation\("protect", test\.bad#x\) returned threw: lazy hook failed$/,
  },
  {
    name: 'a hook throws undefined',
    operation: () => ({
      onMain: () => {
        throw undefined;
      },
    }),
    hook: 'main',
    message:
      /^test\.bad#x main: plugin "test\.bad" threw undefined, not an Error \(in its protect operation\)$/,
  },
  {
    name: 'a hook rejects with a string',
    operation: () => ({ onMain: () => Promise.reject('disk full') }),
    hook: 'main',
    message: /^test\.bad#x main: plugin "test\.bad" threw a string \("disk full"\), not an Error/,
  },
  {
    name: 'a hook never settles (past its timeout)',
    operation: () => ({ onMain: never, timeoutMs: 50 }),
    hook: 'main',
    code: 'HOOK_TIMEOUT',
    message: /^test\.bad#x main: did not finish within 50 ms$/,
  },
];

describe("a plugin's mistake fails only its resource, never the run, and leaves no pending marker", () => {
  for (const c of CASES) {
    it(`${c.name}: the checkpoint is error naming it, teardowns above it run, another plan still protects`, async () => {
      const calls: string[] = [];
      await withFixture([recorder(calls), bad(c.operation)], async (f) => {
        const result = await protect(BROKEN, f.provider);
        assert.equal(result.checkpoint.status, 'error');
        const op = result.operation!;
        const failed = op.tasks.filter((t) => t.status === 'failed');
        assert.deepEqual(
          failed.map((t) => `${t.resource}:${t.hook}`),
          [`test.bad#x:${c.hook}`],
        );
        const error = failed[0]!.error!;
        assert.equal(error.code, c.code ?? 'HOOK_FAILED');
        assert.match(error.message, c.message);
        if (error.code === 'HOOK_FAILED') {
          assert.equal(error.details?.plugin, 'test.bad');
          assert.equal(error.details?.operation, 'protect');
          assert.equal(error.details?.resource, 'test.bad#x');
          assert.equal(error.details?.hook, c.hook);
        }
        // The usual failure semantics: the parent thaws, its main and complete do not run.
        assert.ok(calls.includes('app prepareFinish'), calls.join(', '));
        assert.ok(!calls.includes('app complete'), calls.join(', '));
        assert.equal(
          op.tasks.find((t) => t.resource === 'test.app#app' && t.hook === 'complete')?.status,
          'upstream_failed',
        );
        const resource = result.checkpoint.resources.find((r) => r.id === 'x')!;
        assert.equal(resource.status, 'error');
        assert.deepEqual(await f.provider.bank.list('index/pending/'), [], 'no pending marker is left');

        const other = await protect(OTHER, f.provider);
        assert.equal(other.checkpoint.status, 'available');
        assert.deepEqual(other.operation!.log, [], 'nothing was left to recover');
      });
    });
  }

  it("operation() throwing during a restore fails that resource's restore the same way", async () => {
    const calls: string[] = [];
    let restoring = false;
    const plugin = bad(() => {
      if (restoring) throw new RangeError('no restore for you');
      return { onMain: () => {} };
    });
    await withFixture([recorder(calls), plugin], async (f) => {
      const { restore } = await import('../../src/flows/checkpoint-ops.js');
      const done = await protect(BROKEN, f.provider);
      assert.equal(done.checkpoint.status, 'available');
      restoring = true;
      const result = await restore(done.checkpoint.id, f.provider);
      const failed = result.operation!.tasks.filter((t) => t.status === 'failed');
      assert.deepEqual(
        failed.map((t) => `${t.resource}:${t.hook}`),
        ['test.bad#x:prepareBegin'],
      );
      assert.match(
        failed[0]!.error!.message,
        /operation\("restore", test\.bad#x\) threw: no restore for you/,
      );
    });
  });

  it('a hook that never settles and has no timeout holds only its own plan: another protects meanwhile', async () => {
    const calls: string[] = [];
    let started!: () => void;
    const hanging = new Promise<void>((r) => {
      started = r;
    });
    const plugin = bad(() => ({
      onMain: (ctx: HookContext) =>
        new Promise<void>((_, reject) => {
          started();
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
    }));
    await withFixture([recorder(calls), plugin], async (f) => {
      const controller = new AbortController();
      const first = protect(BROKEN, f.provider, { signal: controller.signal });
      await hanging;
      const other = await protect(OTHER, f.provider);
      assert.equal(other.checkpoint.status, 'available');
      assert.deepEqual(other.operation!.log, [], 'the live protect was not taken for dead');
      controller.abort(new HoardError('TASK_CANCELLED', 'the test stops it'));
      const result = await first;
      assert.equal(result.checkpoint.status, 'error');
      assert.ok(calls.includes('app prepareFinish'));
      assert.deepEqual(await f.provider.bank.list('index/pending/'), []);
    });
  });
});

describe('discovery and schemas: a plugin mistake stops only the plan that uses it, before anything runs', () => {
  // A discovery that fails is an operation that failed (exit 1): an `error` checkpoint names it.
  const SERVER = plan(`
name: discovering
resources:
  - {type: test.bad, id: srv}
`);

  const protectableCases: {
    name: string;
    getDependentResources: () => unknown;
    code: string;
    message: RegExp;
  }[] = [
    {
      name: 'throws undefined',
      getDependentResources: () => Promise.reject(undefined),
      code: 'DISCOVERY_FAILED',
      message:
        /could not discover the dependents of test\.bad#srv: plugin "test\.bad" \(the protectable of test\.bad\) threw undefined, not an Error/,
    },
    {
      name: 'returns something that is not a list',
      getDependentResources: async () => ({ type: 'test.app', id: 'a' }),
      code: 'DISCOVERY_FAILED',
      message: /plugin "test\.bad" \(the protectable of test\.bad\) returned object, not a list of resources/,
    },
    {
      name: 'returns a resource without an id',
      getDependentResources: async () => [{ type: 'test.app' }],
      code: 'DISCOVERY_FAILED',
      message: /returned a list whose item 0 has no id/,
    },
    {
      name: 'never answers',
      getDependentResources: never,
      code: 'HOOK_TIMEOUT',
      message: /plugin "test\.bad" \(the protectable of test\.bad\) did not answer within 100 ms/,
    },
  ];

  for (const c of protectableCases) {
    it(`a protectable that ${c.name}: an error checkpoint, ${c.code} naming plugin and resource, no hook run, no marker, another plan protects`, {
      timeout: 20_000,
    }, async () => {
      const before = process.env.HOARD_DISCOVERY_TIMEOUT_MS;
      process.env.HOARD_DISCOVERY_TIMEOUT_MS = '100';
      try {
        const calls: string[] = [];
        const plugin = bad(() => ({ onMain: () => void calls.push('main') }), {
          protectable: { getDependentResources: c.getDependentResources as never },
        });
        await withFixture([recorder([]), plugin], async (f) => {
          const result = await protect(SERVER, f.provider);
          assert.equal(result.checkpoint.status, 'error');
          assert.equal(result.checkpoint.error?.code, c.code);
          assert.match(result.checkpoint.error?.message ?? '', c.message);
          assert.deepEqual(calls, [], 'no hook ran');
          assert.deepEqual(await f.provider.bank.list('index/pending/'), [], 'no marker');
          const other = await protect(OTHER, f.provider);
          assert.equal(other.checkpoint.status, 'available');
        });
      } finally {
        if (before === undefined) delete process.env.HOARD_DISCOVERY_TIMEOUT_MS;
        else process.env.HOARD_DISCOVERY_TIMEOUT_MS = before;
      }
    });
  }

  it('an options schema that is not a JSON Schema: PROVIDER_INVALID naming plugin, schema and type; other plans protect', async () => {
    const plugin = bad(() => ({}) satisfies Operation, { schemas: { options: { type: 'banana' } } });
    await withFixture([recorder([]), plugin], async (f) => {
      await assert.rejects(protect(BROKEN, f.provider), (error: unknown) => {
        assert.ok(error instanceof HoardError, String(error));
        assert.equal(error.code, 'PROVIDER_INVALID');
        assert.match(
          error.message,
          /parameters for test\.bad#x: plugin "test\.bad": the options schema of type test\.bad is not a valid JSON Schema: schema is invalid/,
        );
        return true;
      });
      assert.deepEqual(await f.provider.bank.list('index/'), []);
      const other = await protect(OTHER, f.provider);
      assert.equal(other.checkpoint.status, 'available');
    });
  });
});
