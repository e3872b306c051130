import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { type ErrorCode, HoardError } from '../errors.js';
import type { JsonSchema } from './sdk.js';

/**
 * Ajv's options, here and in scripts/gen-validators.mjs. `verbose` gives each error its
 * schema, so a field's `description` can say what is expected.
 */
export const OPTIONS = { allErrors: true, strict: false, useDefaults: true, verbose: true } as const;

let ajv: Ajv | undefined;
/**
 * The one Ajv instance, made when a first schema without a precompiled validator is used:
 * required then, not imported above, so that a command that validates nothing (listing,
 * showing), or only what is precompiled, does not load it.
 */
function compiler(): Ajv {
  if (ajv) return ajv;
  const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  ajv = new AjvClass(OPTIONS);
  return ajv;
}

/** What identifies a schema in the precompiled table: its JSON. */
export function schemaKey(schema: JsonSchema): string {
  return JSON.stringify(schema);
}

let precompiled: ReadonlyMap<string, ValidateFunction> | undefined;
/**
 * The validator scripts/gen-validators.mjs compiled ahead of time for this very schema (the
 * plan file's, the built-in plugins'), if any: it saves loading Ajv and compiling, which cost
 * a protect 0.1–0.25 s of CPU. Loaded on first use, like Ajv.
 */
function precompiledFor(schema: JsonSchema): ValidateFunction | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  precompiled ??= (
    createRequire(import.meta.url)('./validators.generated.cjs') as {
      PRECOMPILED: ReadonlyMap<string, ValidateFunction>;
    }
  ).PRECOMPILED;
  return precompiled.get(schemaKey(schema));
}

const compiled = new WeakMap<JsonSchema, ValidateFunction>();
/** Whose schema each is (`plugin "x": the options schema of type t`), to name it when it is broken. */
const owners = new WeakMap<JsonSchema, string>();

/** Records whose schema `schema` is, so that a schema that does not compile names its plugin. */
export function nameSchema(schema: JsonSchema, owner: string): void {
  if (typeof schema === 'object' && schema !== null && !owners.has(schema)) owners.set(schema, owner);
}

/**
 * Validates `value` against `schema` (types, required, enums — the whole schema, not just
 * key names) and throws one error naming where it is (`where`, e.g. the file and field)
 * and every problem found. Fills in schema defaults. A schema that does not compile is
 * PROVIDER_INVALID naming its plugin (see {@link nameSchema}).
 */
export function validate(
  schema: JsonSchema,
  value: unknown,
  where: string,
  code: ErrorCode = 'PARAMS_INVALID',
): void {
  let check = compiled.get(schema);
  if (!check) {
    try {
      check = precompiledFor(schema) ?? compiler().compile(schema);
    } catch (error) {
      // A plugin's mistake, not the user's: a PROVIDER_INVALID naming whose schema it is.
      const owner = owners.get(schema) ?? 'the schema';
      throw new HoardError(
        'PROVIDER_INVALID',
        `${where}: ${owner} is not a valid JSON Schema: ${error instanceof Error ? error.message : String(error)}`,
        { details: { where, ...(owners.has(schema) ? { schema: owner } : {}) }, cause: error },
      );
    }
    compiled.set(schema, check);
  }
  if (check(value)) return;
  const problems = (check.errors ?? []).map(describe);
  throw new HoardError(code, `${where}: ${problems.join('; ')}`, { details: { where, problems } });
}

const BOUNDS: Record<string, string> = {
  maximum: 'at most',
  minimum: 'at least',
  exclusiveMaximum: 'less than',
  exclusiveMinimum: 'more than',
};

function describe(error: ErrorObject): string {
  const at = error.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : '';
  const field = (name: string) => (at ? `${at}.${name}` : name);
  const expected = (error.parentSchema as { description?: unknown } | undefined)?.description;
  const said = typeof expected === 'string' ? ` (${expected})` : '';
  switch (error.keyword) {
    case 'maximum':
    case 'minimum':
    case 'exclusiveMaximum':
    case 'exclusiveMinimum':
      return `${at || 'value'} must be ${BOUNDS[error.keyword]} ${String(error.params.limit)}${said}, got ${String(error.data)}`;
    case 'required':
      return `${field(String(error.params.missingProperty))} is required`;
    case 'additionalProperties':
      return `${field(String(error.params.additionalProperty))} is not a known field`;
    case 'enum':
      return `${at || 'value'} must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `${at || 'value'} must be ${error.params.type === 'object' ? 'an object' : `a ${error.params.type}`}`;
    default:
      return `${at || 'value'} ${error.message ?? 'is invalid'}`;
  }
}
