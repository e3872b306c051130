/**
 * The built-in plugins build their schemas with typebox-lite instead of TypeBox (start-up
 * time): each of its functions must give what TypeBox's gives — the same keys in the same
 * order (what `providers show` prints), the same symbols (what `Static` and TypeBox's guards
 * read) — for every kind of call the built-ins make.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type * as TypeBoxModule from '@sinclair/typebox';
import { Type as Lite } from '../../src/plugins/typebox-lite.js';

const { Type: Real } = createRequire(import.meta.url)('@sinclair/typebox') as typeof TypeBoxModule;

/** Both builders, so each case is written once. */
type Build = (T: typeof Real) => unknown;

const cases: Record<string, Build> = {
  'a string': (T) => T.String(),
  'a string with options': (T) => T.String({ minLength: 1, description: 'a path' }),
  'an integer with bounds': (T) => T.Integer({ minimum: 1, maximum: 64 }),
  'a number with an exclusive bound': (T) => T.Number({ exclusiveMinimum: 0, description: 'seconds' }),
  'a boolean': (T) => T.Boolean(),
  'a string literal': (T) => T.Literal('custom'),
  'a number literal with options': (T) => T.Literal(3, { description: 'three' }),
  'an optional string': (T) => T.Optional(T.String({ minLength: 1 })),
  'an optional taken off again': (T) => T.Optional(T.Optional(T.String()), false),
  'an array with options': (T) => T.Array(T.String({ minLength: 1 }), { minItems: 1 }),
  'a union of literals': (T) =>
    T.Array(T.Union([T.Literal('main'), T.Literal('complete')]), { uniqueItems: true }),
  'a union of one': (T) => T.Union([T.String()], { description: 'one' }),
  'a union of none': (T) => T.Union([]),
  'a record of strings': (T) => T.Optional(T.Record(T.String(), T.String())),
  'a record with a key pattern': (T) => T.Record(T.String({ pattern: '^[a-z]+$' }), T.Integer()),
  'an empty object': (T) => T.Object({}),
  'an open object': (T) => T.Object({}, { additionalProperties: true }),
  'an object with required and optional fields': (T) =>
    T.Object(
      {
        target: T.String({ minLength: 1 }),
        overwrite: T.Optional(T.Boolean()),
        include: T.Optional(T.Array(T.String({ minLength: 1 }), { minItems: 1 })),
      },
      { additionalProperties: false },
    ),
  'an object of optional fields only': (T) =>
    T.Object({ path: T.Optional(T.String({ minLength: 1 })) }, { additionalProperties: false }),
  'nested objects': (T) =>
    T.Object({ inner: T.Object({ a: T.Integer(), b: T.Optional(T.Number()) }), c: T.Optional(T.Object({})) }),
};

describe('typebox-lite builds what TypeBox builds', () => {
  for (const [name, build] of Object.entries(cases)) {
    it(name, () => {
      const real = build(Real);
      const lite = build(Lite as unknown as typeof Real);
      // deepStrictEqual compares own symbol keys too (TypeBox's Kind and Optional).
      assert.deepStrictEqual(lite, real);
      assert.equal(JSON.stringify(lite), JSON.stringify(real), 'the same keys in the same order');
    });
  }

  it('refuses a record key it does not build as TypeBox does', () => {
    assert.throws(
      () => Lite.Record(Lite.Integer(), Lite.String()),
      /Record takes a Type.String\(\) key only/,
    );
  });
});
