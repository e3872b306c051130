import type { Resource } from '../resources/resource.js';
import { resourceKey } from '../resources/resource.js';

export type Parameters = Record<string, Record<string, unknown>>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Objects merge key by key, recursively; where both give a value, `over` wins; arrays and scalars are replaced whole. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

/** A resource's parameters: `parameters[type]` overlaid by `parameters["type#id"]`. */
export function parametersFor(
  parameters: Parameters | undefined,
  resource: Resource,
): Record<string, unknown> {
  const byType = parameters?.[resource.type];
  const byId = parameters?.[resourceKey(resource)];
  return (deepMerge(byType ?? {}, byId ?? {}) ?? {}) as Record<string, unknown>;
}
