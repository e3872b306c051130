import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { type ErrorCode, HoardError } from '../errors.js';
import type { JsonSchema } from './sdk.js';

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

/**
 * Validates `value` against `schema` (types, required, enums — the whole schema, not just
 * key names) and throws one error naming where it is (`where`, e.g. the file and field)
 * and every problem found. Fills in schema defaults.
 */
export function validate(
  schema: JsonSchema,
  value: unknown,
  where: string,
  code: ErrorCode = 'PARAMS_INVALID',
): void {
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(schema);
    compiled.set(schema, check);
  }
  if (check(value)) return;
  const problems = (check.errors ?? []).map(describe);
  throw new HoardError(code, `${where}: ${problems.join('; ')}`, { details: { where, problems } });
}

function describe(error: ErrorObject): string {
  const at = error.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : '';
  const field = (name: string) => (at ? `${at}.${name}` : name);
  switch (error.keyword) {
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
