/**
 * Checks of what plugin code hands to Hoard against the SDK's contract (sdk.ts). Plugins are
 * third-party code: a factory, `operation()` or a protectable may throw anything or return
 * anything, and Hoard must name the plugin and its mistake instead of failing later with a
 * TypeError far from it. Each check returns a sentence saying what is wrong, or undefined.
 */
/** A short description of any value, for messages: `undefined`, `a string ("boom")`, `an array` … */
export function describeValue(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)})`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `a ${typeof value} (${String(value)})`;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      return isThenable(value) ? 'a Promise' : 'an object';
  }
}

/** `threw: <message>` for an Error, `threw undefined, not an Error` for anything else thrown. */
export function threw(value: unknown): string {
  return value instanceof Error ? `threw: ${value.message}` : `threw ${describeValue(value)}, not an Error`;
}

export function isThenable(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const SEMVER = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/;

/**
 * Why a plugin built for SDK `wanted` cannot run on SDK `running`: a different major (or, before
 * 1.0, a different minor, as semver has it); undefined when it can, or when it declares none.
 */
export function sdkMismatch(wanted: string | undefined, running: string): string | undefined {
  if (wanted === undefined) return undefined;
  const [wMajor, wMinor] = wanted.split('.').map(Number);
  const [rMajor, rMinor] = running.split('.').map(Number);
  if (wMajor !== rMajor || (wMajor === 0 && wMinor !== rMinor))
    return `it was built for plugin SDK ${wanted}, and this Hoard has SDK ${running}`;
  return undefined;
}

const SCHEMAS = ['resource', 'options', 'restore', 'verify', 'savedInfo'];
const PROTECTABLE_METHODS = ['listResources', 'showResource', 'getDependentResources'];
const BROWSE_METHODS = ['entries', 'info', 'fingerprint'];

/** What is wrong with a value that should be a ProtectionPlugin (a factory's result). */
export function pluginProblem(value: unknown): string | undefined {
  try {
    if (isThenable(value)) return 'it is a Promise that was not awaited';
    if (!isRecord(value)) return `it is ${describeValue(value)}, not an object {name, types, operation}`;
    if (typeof value.name !== 'string' || value.name === '')
      return `its name is ${describeValue(value.name)}, not a non-empty string`;
    if (typeof value.operation !== 'function')
      return `its operation is ${describeValue(value.operation)}, not a function`;
    if (!Array.isArray(value.types)) return `its types are ${describeValue(value.types)}, not an array`;
    if (
      value.sdkVersion !== undefined &&
      !(typeof value.sdkVersion === 'string' && SEMVER.test(value.sdkVersion))
    )
      return `its sdkVersion is ${describeValue(value.sdkVersion)}, not a version such as "1.0.0"`;
    for (const [i, spec] of value.types.entries()) {
      const problem = typeProblem(spec);
      if (problem)
        return `types[${i}]${isRecord(spec) && typeof spec.type === 'string' ? ` (${spec.type})` : ''}: ${problem}`;
    }
    return undefined;
  } catch (error) {
    // A getter that throws is a mistake like any other.
    return `reading it ${threw(error)}`;
  }
}

function typeProblem(spec: unknown): string | undefined {
  if (!isRecord(spec)) return `is ${describeValue(spec)}, not an object {type, schemas?, protectable?}`;
  if (typeof spec.type !== 'string' || spec.type === '' || spec.type.includes('#'))
    return `type is ${describeValue(spec.type)}, not a non-empty string without "#"`;
  if (spec.schemas !== undefined) {
    if (!isRecord(spec.schemas)) return `schemas is ${describeValue(spec.schemas)}, not an object`;
    for (const name of SCHEMAS) {
      const schema = spec.schemas[name];
      if (schema !== undefined && !isRecord(schema))
        return `schemas.${name} is ${describeValue(schema)}, not a JSON Schema object`;
    }
  }
  if (spec.protectable !== undefined) {
    if (!isRecord(spec.protectable))
      return `protectable is ${describeValue(spec.protectable)}, not an object`;
    for (const name of PROTECTABLE_METHODS) {
      const method = spec.protectable[name];
      if (method !== undefined && typeof method !== 'function')
        return `protectable.${name} is ${describeValue(method)}, not a function`;
    }
  }
  if (spec.restoreTarget !== undefined && typeof spec.restoreTarget !== 'boolean')
    return `restoreTarget is ${describeValue(spec.restoreTarget)}, not a boolean`;
  if (spec.browse !== undefined) {
    if (!isRecord(spec.browse)) return `browse is ${describeValue(spec.browse)}, not an object`;
    for (const name of BROWSE_METHODS) {
      const method = spec.browse[name];
      if (method !== undefined && typeof method !== 'function')
        return `browse.${name} is ${describeValue(method)}, not a function`;
    }
  }
  return undefined;
}

/**
 * What is wrong with a value `operation()` returned, as a whole (each hook is checked by
 * {@link hookProblem}); undefined and null mean "nothing to do".
 */
export function operationProblem(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (isThenable(value))
    return 'returned a Promise: operation() must return the Operation itself (it may not be async)';
  if (!isRecord(value))
    return `returned ${describeValue(value)}, not an Operation (an object of hooks) or undefined`;
  const { timeoutMs, alwaysRun, idempotent } = value;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs < 2 ** 31))
    return `returned an Operation whose timeoutMs is ${describeValue(timeoutMs)}, not a number of milliseconds > 0`;
  if (
    alwaysRun !== undefined &&
    !(Array.isArray(alwaysRun) && alwaysRun.every((h) => h === 'main' || h === 'complete'))
  )
    return `returned an Operation whose alwaysRun is ${describeValue(alwaysRun)}, not a list of "main" and "complete"`;
  if (
    idempotent !== undefined &&
    typeof idempotent !== 'boolean' &&
    !(Array.isArray(idempotent) && idempotent.every((h) => HOOKS.has(h)))
  )
    return `returned an Operation whose idempotent is ${describeValue(idempotent)}, not true, false or a list of hook names`;
  return undefined;
}

const HOOKS: ReadonlySet<unknown> = new Set(['prepareBegin', 'prepareFinish', 'main', 'complete']);

/** What is wrong with one hook (`onMain` …) of an Operation; undefined for a function or none. */
export function hookProblem(method: string, hook: unknown): string | undefined {
  if (hook === undefined || typeof hook === 'function') return undefined;
  return `returned an Operation whose ${method} is ${describeValue(hook)}, not a function`;
}
