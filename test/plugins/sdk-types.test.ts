/**
 * The SDK's types, checked by the compiler: `npx tsc` fails on this file if a `@ts-expect-error`
 * line below compiles (a misspelled key or a wrong parameter type that the types let through),
 * or if a line without one does not (typed parameters read as the schemas say). The runtime
 * cases check what `definePlugin` builds from a type's `operations`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  definePlugin,
  defineType,
  HoardError,
  type HookContext,
  type Operation,
  PluginHarness,
  type Static,
  Type,
} from '../../src/index.js';

const restoreSchema = Type.Object(
  { target: Type.String({ minLength: 1 }), overwrite: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
const optionsSchema = Type.Object({ depth: Type.Optional(Type.Integer({ minimum: 1 })) });
const resourceSchema = Type.Object({ path: Type.Optional(Type.String()) });

/** Compiles only when `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_proof: T): void {}

const seen: string[] = [];

const typed = definePlugin(() => ({
  name: 'typed',
  types: [
    defineType({
      type: 'typed.thing',
      restoreTarget: true,
      schemas: { resource: resourceSchema, options: optionsSchema, restore: restoreSchema },
      operations: {
        protect: (resource, { parameters }) => {
          expectType<Equal<typeof resource.extra, { path?: string } | undefined>>(true);
          expectType<Equal<typeof parameters.depth, number | undefined>>(true);
          return {
            onMain: (ctx) => {
              const depth: number | undefined = ctx.parameters.depth;
              seen.push(`protect ${resource.extra?.path ?? resource.id} depth ${depth}`);
            },
          };
        },
        restore: (_resource, { parameters, protectParameters }) => {
          const target: string = parameters.target;
          expectType<Equal<typeof protectParameters, Static<typeof optionsSchema>>>(true);
          return {
            onMain: (ctx) => {
              // ctx.parameters is the restore schema's type, ctx.protectParameters the options'.
              const again: string = ctx.parameters.target;
              const overwrite: boolean | undefined = ctx.parameters.overwrite;
              seen.push(`restore ${target} ${again} ${overwrite} ${ctx.protectParameters.depth}`);
            },
          };
        },
      },
    }),
  ],
}));

// --- what must not compile -----------------------------------------------------------------

defineType({
  type: 'x',
  // @ts-expect-error `schema` is a misspelling of `schemas`
  schema: { restore: restoreSchema },
});

defineType({
  type: 'x',
  schemas: { restore: restoreSchema },
  operations: {
    // @ts-expect-error `main` is a misspelling of `onMain`
    restore: () => ({ main: () => {} }),
  },
});

defineType({
  type: 'x',
  schemas: { restore: restoreSchema },
  operations: {
    // @ts-expect-error `timeout` is a misspelling of `timeoutMs`, even beside a hook
    restore: () => ({ onMain: () => {}, timeout: 5 }),
  },
});

defineType({
  type: 'x',
  schemas: { restore: restoreSchema },
  operations: {
    restore: () => ({
      onMain: (ctx) => {
        // @ts-expect-error `target` is a string, not a number
        const wrong: number = ctx.parameters.target;
        void wrong;
        // @ts-expect-error no such restore parameter
        void ctx.parameters.targt;
      },
    }),
    // @ts-expect-error there is no operation kind `backup`
    backup: () => undefined,
  },
});

// @ts-expect-error `timeout` is not a plugin key
definePlugin(() => ({ name: 'p', types: [], operation: () => undefined, timeout: 5 }));

// @ts-expect-error `schemas` belongs to a type, not to the plugin
definePlugin(() => ({ name: 'p', types: [], operation: () => undefined, schemas: {} }));

// Inline types without defineType: the usual misspellings do not compile there either.
// @ts-expect-error `schema` on an inline type
definePlugin(() => ({ name: 'p', types: [{ type: 't', schema: {} }], operation: () => undefined }));

// An Operation written by hand, as the plugins with their own operation() do.
// @ts-expect-error `main` is a misspelling of `onMain`
const byHand: Operation = { main: async () => {} };
void byHand;
// @ts-expect-error `timeout` is a misspelling of `timeoutMs`
const byHand2: Operation = { onMain: async () => {}, timeout: 1000 };
void byHand2;

// A plain JSON Schema still works, and gives untyped parameters.
defineType({
  type: 'plain',
  schemas: { restore: { type: 'object', properties: { target: { type: 'string' } } } },
  operations: {
    restore: () => ({
      onMain: (ctx: HookContext) => {
        expectType<Equal<typeof ctx.parameters, Record<string, unknown>>>(true);
      },
    }),
  },
});

// --- what definePlugin builds --------------------------------------------------------------

describe('definePlugin with typed operations', () => {
  it("makes the plugin's operation() from its types' operations, with the validated parameters", async () => {
    seen.length = 0;
    const h = new PluginHarness({
      plugins: [await typed({})],
      resources: [{ resource: { type: 'typed.thing', id: 'a', extra: { path: '/p' } }, children: [] }],
      parameters: { 'typed.thing': { depth: 3 } },
    });
    assert.equal((await h.run('protect')).status, 'succeeded');
    assert.equal((await h.run('restore', { 'typed.thing#a': { target: '/t' } })).status, 'succeeded');
    // verify: the type gives no verify operation, so nothing runs and nothing fails
    assert.equal((await h.run('verify')).status, 'succeeded');
    assert.deepEqual(seen, ['protect /p depth 3', 'restore /t /t undefined 3']);
  });

  it('validates by the same schemas at run time: a wrong parameter type is refused before any hook', async () => {
    seen.length = 0;
    const h = new PluginHarness({
      plugins: [await typed({})],
      resources: [{ resource: { type: 'typed.thing', id: 'a' }, children: [] }],
    });
    await h.run('protect');
    await assert.rejects(
      h.run('restore', { 'typed.thing#a': { target: 5 } }),
      (error: unknown) =>
        error instanceof HoardError &&
        error.code === 'PARAMS_INVALID' &&
        /target must be a string/.test(error.message),
    );
    assert.deepEqual(seen, ['protect a depth undefined']);
  });

  it('refuses a plugin that gives both operation() and operations, naming it and the type', async () => {
    const both = definePlugin(() => ({
      name: 'both',
      types: [defineType({ type: 'both.t', operations: { protect: () => undefined } })],
      operation: () => undefined,
    }));
    await assert.rejects(
      async () => both({}),
      (error: unknown) =>
        error instanceof HoardError &&
        error.code === 'PROVIDER_INVALID' &&
        error.message === 'plugin "both" gives both operation() and operations on type "both.t": give one',
    );
  });
});
