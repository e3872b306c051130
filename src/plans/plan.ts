/**
 * Plan files (SPEC §7): YAML or JSON, read and checked before any hook runs. Every error
 * names the file and the offending entry.
 */
import { readFile } from 'node:fs/promises';
import { resourceKeyProblem } from '../checkpoints/keys.js';
import { HoardError } from '../errors.js';
import type { Parameters } from '../plugins/params.js';
import { parametersFor } from '../plugins/params.js';
import type { PluginRegistry } from '../plugins/registry.js';
import { validate } from '../plugins/schema.js';
import type { GraphInput } from '../resources/graph.js';
import { HOST_NAME, type Resource, resourceKey } from '../resources/resource.js';
import { parseYaml } from './yaml.js';

export interface Plan {
  /** The plan's key in a bank: a plan file's name, or a service plan's catalog id. */
  name: string;
  /**
   * What people call the plan when `name` is not it (a service plan, filed under its id):
   * recorded in each checkpoint as `planName`, so the CLI shows it too.
   */
  displayName?: string;
  /** Provider name or id; default `local`. */
  provider: string;
  description?: string;
  resources: GraphInput[];
  parameters: Parameters;
  /** Where the plan came from, for messages. */
  source: string;
}

export const PLAN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The shape of a plan file, before its resources are checked against their plugins. */
export const PLAN_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'resources'],
  properties: {
    name: { type: 'string', pattern: PLAN_NAME.source },
    provider: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    resources: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['type', 'id'],
        properties: {
          type: { type: 'string', minLength: 1, pattern: '^[^#]+$' },
          id: { type: 'string', minLength: 1 },
          name: { type: 'string' },
          host: { type: 'string', pattern: HOST_NAME.source },
          children: { type: 'array', items: { type: 'string', minLength: 1 } },
        },
      },
    },
    parameters: { type: 'object', additionalProperties: { type: 'object' } },
  },
};

export async function loadPlan(path: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new HoardError(
      'PLAN_INVALID',
      `cannot read plan ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      {
        details: { file: path },
        cause: error,
      },
    );
  }
  return parsePlan(text, path);
}

export function parsePlan(text: string, source: string): Plan {
  const raw = parseYaml(text, source, 'PLAN_INVALID');
  validate(PLAN_SCHEMA, raw, source, 'PLAN_INVALID');
  const value = raw as {
    name: string;
    provider?: string;
    description?: string;
    resources: (Record<string, unknown> & {
      type: string;
      id: string;
      name?: string;
      host?: string;
      children?: string[];
    })[];
    parameters?: Parameters;
  };

  const keys = value.resources.map((r) => resourceKey(r));
  checkResourceKeys(value.resources, keys, source);
  const byId = new Map<string, string[]>();
  for (const [i, r] of value.resources.entries()) byId.set(r.id, [...(byId.get(r.id) ?? []), keys[i]!]);
  const resources: GraphInput[] = value.resources.map((entry, i) => {
    const { type, id, name, host, children = [], ...extra } = entry;
    const resource: Resource = { type, id };
    if (name !== undefined) resource.name = name;
    if (host !== undefined) resource.host = host;
    if (Object.keys(extra).length > 0) resource.extra = extra;
    const childKeys = children.map((ref) => {
      if (keys.includes(ref)) return ref;
      const matches = byId.get(ref) ?? [];
      if (matches.length === 1) return matches[0]!;
      const problem =
        matches.length === 0
          ? `names a child "${ref}" that is not a resource of the plan`
          : `names a child "${ref}" that is ambiguous (${matches.join(', ')}); write it as type#id`;
      throw new HoardError('PLAN_INVALID', `${source}: resources[${i}] (${keys[i]}) ${problem}`, {
        details: { file: source, resource: keys[i], child: ref },
      });
    });
    return { resource, children: childKeys };
  });
  const plan: Plan = {
    name: value.name,
    provider: value.provider ?? 'local',
    resources,
    parameters: value.parameters ?? {},
    source,
  };
  if (value.description !== undefined) plan.description = value.description;
  return plan;
}

/** Every `type#id` once, and each one short enough to name its section in a checkpoint. */
function checkResourceKeys(resources: { type: string; id: string }[], keys: string[], source: string): void {
  const first = new Map<string, number>();
  for (const [i, key] of keys.entries()) {
    const { type, id } = resources[i]!;
    const problem = resourceKeyProblem(type, id);
    if (problem) {
      const shown = key.length > 60 ? `${key.slice(0, 60)}…` : key;
      throw new HoardError('PLAN_INVALID', `${source}: resources[${i}] (${shown}): ${problem}`, {
        details: { file: source, index: i, type, idLength: id.length },
      });
    }
    const earlier = first.get(key);
    if (earlier !== undefined) {
      throw new HoardError(
        'PLAN_INVALID',
        `${source}: resources[${earlier}] and resources[${i}] are both ${key}; a type#id may appear once`,
        { details: { file: source, resource: key, indexes: [earlier, i] } },
      );
    }
    first.set(key, i);
  }
}

/**
 * Checks the plan against the provider's plugins: every type handled, every resource's
 * fields and every parameter set valid for its plugin's schemas, no parameter key for a
 * type or resource the plan does not have.
 */
export function checkPlan(plan: Plan, registry: PluginRegistry): void {
  const keys = new Set(plan.resources.map((r) => resourceKey(r.resource)));
  const types = new Set(plan.resources.map((r) => r.resource.type));
  plan.resources.forEach(({ resource }, i) => {
    const where = `${plan.source}: resources[${i}] (${resourceKey(resource)})`;
    const { spec } = registry.handler(resource.type, where);
    if (spec.schemas?.resource) validate(spec.schemas.resource, resource.extra ?? {}, where, 'PLAN_INVALID');
    else if (resource.extra) {
      throw new HoardError(
        'PLAN_INVALID',
        `${where}: ${Object.keys(resource.extra).join(', ')} is not a known field`,
        {
          details: { file: plan.source, resource: resourceKey(resource) },
        },
      );
    }
  });
  for (const key of Object.keys(plan.parameters)) {
    if (!keys.has(key) && !types.has(key)) {
      throw new HoardError(
        'PLAN_INVALID',
        `${plan.source}: parameters["${key}"] names no type or type#id of the plan's resources`,
        { details: { file: plan.source, parameter: key } },
      );
    }
  }
}

/** Validates one resource's merged parameters for `schema`; `where` names the file. */
export function resourceParameters(
  parameters: Parameters,
  resource: Resource,
  schema: Record<string, unknown> | undefined,
  where: string,
): Record<string, unknown> {
  const merged = parametersFor(parameters, resource);
  if (schema) validate(schema, merged, `${where}: parameters for ${resourceKey(resource)}`);
  return merged;
}
