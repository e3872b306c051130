/**
 * The part of TypeBox's `Type` builder that the built-in plugins use, as a few lines that
 * build the very objects TypeBox builds (the same keys in the same order, the same `Kind` and
 * `Optional` symbols, so `Static` types them and Ajv reads them alike), with TypeBox's own
 * types. Loading TypeBox is about a hundred CommonJS files: every `hoard` command that loads
 * the providers (listing checkpoints, say) paid for it to build schemas it never reads.
 * Plugin authors get the real TypeBox from `hoard` (typebox.ts); test/plugins/typebox-lite
 * checks each function here against it.
 */
import type { Type as TypeBox } from '@sinclair/typebox';

export type { Static, TSchema } from '@sinclair/typebox';

type Builder = Pick<
  typeof TypeBox,
  | 'Array'
  | 'Boolean'
  | 'Integer'
  | 'Literal'
  | 'Number'
  | 'Object'
  | 'Optional'
  | 'Record'
  | 'String'
  | 'Union'
>;
type Schema = Record<string | symbol, unknown>;
type Options = Record<string, unknown> | undefined;

// TypeBox registers its symbols globally (Symbol.for), so these are TypeBox's.
const Kind = Symbol.for('TypeBox.Kind');
const OptionalKind = Symbol.for('TypeBox.Optional');
/** TypeBox's exact pattern for a record keyed by any string. */
const ANY_STRING = '^(.*)$';

/** TypeBox's CreateType (its default instance mode: neither frozen nor cloned). */
function create(schema: Schema, options: Options): Schema {
  return options !== undefined ? { ...options, ...schema } : schema;
}

const lite = {
  Array: (items: Schema, options?: Options) => create({ [Kind]: 'Array', type: 'array', items }, options),
  Boolean: (options?: Options) => create({ [Kind]: 'Boolean', type: 'boolean' }, options),
  Integer: (options?: Options) => create({ [Kind]: 'Integer', type: 'integer' }, options),
  Literal: (value: string | number | boolean, options?: Options) =>
    create({ [Kind]: 'Literal', const: value, type: typeof value }, options),
  Number: (options?: Options) => create({ [Kind]: 'Number', type: 'number' }, options),
  Object: (properties: Record<string, Schema>, options?: Options) => {
    const required = Object.keys(properties).filter((key) => properties[key]![OptionalKind] !== 'Optional');
    return create(
      required.length > 0
        ? { [Kind]: 'Object', type: 'object', required, properties }
        : { [Kind]: 'Object', type: 'object', properties },
      options,
    );
  },
  Optional: (schema: Schema, enable?: boolean) => {
    if (enable === false) {
      const { [OptionalKind]: _optional, ...rest } = schema;
      return rest;
    }
    return { ...schema, [OptionalKind]: 'Optional' };
  },
  /** Keyed by strings only (`Type.String()`, with or without a `pattern`), as the built-ins use it. */
  Record: (key: Schema, value: Schema, options: Options = {}) => {
    if (key[Kind] !== 'String') throw new TypeError('typebox-lite: Record takes a Type.String() key only');
    const pattern = typeof key.pattern === 'string' ? key.pattern : ANY_STRING;
    return create({ [Kind]: 'Record', type: 'object', patternProperties: { [pattern]: value } }, options);
  },
  String: (options?: Options) => create({ [Kind]: 'String', type: 'string' }, options),
  Union: (types: Schema[], options?: Options) =>
    types.length === 0
      ? create({ [Kind]: 'Never', not: {} }, options)
      : types.length === 1
        ? create(types[0]!, options)
        : create({ [Kind]: 'Union', anyOf: types }, options),
} satisfies Record<keyof Builder, unknown>;

/** TypeBox's `Type`, for the functions the built-in plugins use; see the file's comment. */
export const Type = lite as unknown as Builder;
