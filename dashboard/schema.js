// @ts-check
/**
 * Checks a value against a plugin's JSON Schema in the browser, so a form can name a wrong
 * field before it is sent. The schemas are the ones the API validates with (`GET
 * /providers/{id}` gives each type's); this covers the keywords Hoard's plugins use (type,
 * properties, required, additionalProperties, items, enum, minimum, maximum, minLength,
 * minItems, pattern). The server checks again, fully: it has the last word.
 */

/** @typedef {import('./types.js').JsonSchema} JsonSchema */

/**
 * Every problem of `value` against `schema`, each naming where (`where.field[2]`).
 * @param {JsonSchema | null | undefined} schema
 * @param {unknown} value
 * @param {string} where
 * @returns {string[]}
 */
export function problems(schema, value, where) {
  if (!schema) return [];
  /** @type {string[]} */
  const out = [];
  const types = schema.type === undefined ? [] : [schema.type].flat();
  if (types.length && !types.some((t) => isType(t, value))) {
    out.push(`${where}: expected ${types.join(' or ')}, got ${kindOf(value)}`);
    return out;
  }
  if (schema.enum && !schema.enum.some((e) => e === value))
    out.push(`${where}: expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum)
      out.push(`${where}: expected at least ${schema.minimum}, got ${value}`);
    if (schema.maximum !== undefined && value > schema.maximum)
      out.push(`${where}: expected at most ${schema.maximum}, got ${value}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength)
      out.push(schema.minLength === 1 ? `${where}: must not be empty` : `${where}: too short`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value))
      out.push(`${where}: does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      out.push(`${where}: expected at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`);
    if (schema.items)
      for (const [i, item] of value.entries()) out.push(...problems(schema.items, item, `${where}[${i}]`));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const object = /** @type {Record<string, unknown>} */ (value);
    for (const key of schema.required ?? []) if (!(key in object)) out.push(`${where}: ${key} is required`);
    const props = schema.properties ?? {};
    for (const [key, v] of Object.entries(object)) {
      const sub = props[key];
      if (sub) out.push(...problems(sub, v, `${where}.${key}`));
      else if (schema.additionalProperties === false) out.push(`${where}: ${key} is not a known field`);
      else if (typeof schema.additionalProperties === 'object')
        out.push(...problems(schema.additionalProperties, v, `${where}.${key}`));
    }
  }
  return out;
}

/**
 * @param {string} type
 * @param {unknown} value
 */
function isType(type, value) {
  switch (type) {
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

/** @param {unknown} value */
function kindOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && Number.isInteger(value)) return `the integer ${value}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
