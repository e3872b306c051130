import type { CheckpointMeta } from '../checkpoints/store.js';
import type { ErrorInfo } from '../errors.js';
import { HoardError } from '../errors.js';
import type { Parameters } from '../plugins/params.js';
import { parametersFor } from '../plugins/params.js';
import type { PluginRegistry } from '../plugins/registry.js';
import { validate } from '../plugins/schema.js';
import type { OperationKind, OperationParameters, ResourceStats } from '../plugins/sdk.js';
import type { ResourceGraph } from '../resources/graph.js';
import { resourceKey } from '../resources/resource.js';
import type { PruneReport } from '../store/index.js';
import type { OperationLog } from './operation.js';

/** The checkpoint as the CLI and the API show it (SPEC §8). */
export interface CheckpointView {
  id: string;
  status: string;
  /** The plan's key: a plan file's name, or a service plan's catalog id. */
  plan: string;
  /** The plan's name, when `plan` is a service plan's id and the record names it. */
  planName?: string;
  provider: { id: string; name: string };
  createdAt: string;
  updatedAt: string;
  resources: { type: string; id: string; status: string; error?: ErrorInfo; stats?: ResourceStats }[];
  error?: ErrorInfo;
  /** SPEC §13; absent for checkpoints protected before statistics were recorded. */
  stats?: ResourceStats;
}

export interface OperationResult {
  checkpoint: CheckpointView;
  operation?: OperationLog;
  /** Delete: what garbage collection of the content store did afterwards. */
  gc?: PruneReport | { skipped: string };
}

/**
 * Whether a `kind` operation did what was asked: protect and copy leave an `available`
 * checkpoint, restore and verify a `succeeded` operation, delete a `deleted` checkpoint. The
 * CLI's exit status and the service's operation log both follow this one answer.
 */
export function operationSucceeded(kind: OperationKind, result: OperationResult): boolean {
  switch (kind) {
    case 'protect':
    case 'copy':
      return result.checkpoint.status === 'available';
    case 'restore':
    case 'verify':
      return result.operation?.status === 'succeeded';
    case 'delete':
      return result.checkpoint.status === 'deleted';
  }
}

export function checkpointView(meta: CheckpointMeta): CheckpointView {
  const view: CheckpointView = {
    id: meta.id,
    status: meta.status,
    plan: meta.plan,
    ...(meta.planName ? { planName: meta.planName } : {}),
    provider: meta.provider,
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
    resources: meta.resources.map((r) => ({ ...r })),
  };
  if (meta.error) view.error = meta.error;
  if (meta.stats) view.stats = meta.stats;
  return view;
}

const SCHEMA_OF: Record<OperationKind, 'options' | 'restore' | 'verify' | undefined> = {
  protect: 'options',
  restore: 'restore',
  verify: 'verify',
  copy: undefined,
  delete: undefined,
};

/**
 * Each resource's parameters for an operation, validated by its plugin's schema for that
 * operation; `given` are this operation's parameters (for protect, the plan's), `saved`
 * the protect-time ones stored in the checkpoint. Keys of `given` that name no type or
 * resource of the graph are rejected. `preview` skips the schema check: for drawing the
 * hook graph of an operation whose parameters (a restore's target…) are not known yet.
 */
export function operationParameters(
  kind: OperationKind,
  graph: ResourceGraph,
  registry: PluginRegistry,
  given: Parameters,
  saved: Parameters,
  where: string,
  options: { preview?: boolean } = {},
): Map<string, OperationParameters> {
  const keys = new Set(graph.nodes.map((n) => n.key));
  const types = new Set(graph.nodes.map((n) => n.resource.type));
  for (const key of Object.keys(given)) {
    if (!keys.has(key) && !types.has(key)) {
      throw new HoardError(
        'PARAMS_INVALID',
        `${where}: parameters["${key}"] names no type or type#id of the checkpoint`,
        {
          details: { parameter: key },
        },
      );
    }
  }
  const out = new Map<string, OperationParameters>();
  for (const node of graph.nodes) {
    const { spec } = registry.handler(node.resource.type, where);
    const parameters = parametersFor(given, node.resource);
    const schema = SCHEMA_OF[kind] ? spec.schemas?.[SCHEMA_OF[kind]!] : undefined;
    if (schema && !options.preview)
      validate(schema, parameters, `${where}: parameters for ${resourceKey(node.resource)}`);
    const protectParameters = kind === 'protect' ? parameters : parametersFor(saved, node.resource);
    out.set(node.key, { parameters, protectParameters });
  }
  return out;
}

/**
 * Applies `--param KEY=VALUE` assignments: KEY is `TYPE.field…` or `TYPE#ID.field…`
 * (types and ids may hold dots, so the longest type or `type#id` of the graph that KEY
 * starts with wins); VALUE is JSON when it parses as JSON, a string otherwise.
 */
export function applyAssignments(
  params: Parameters,
  assignments: readonly string[],
  graph: ResourceGraph,
): Parameters {
  const out: Parameters = structuredClone(params);
  const names = [...new Set(graph.nodes.flatMap((n) => [n.key, n.resource.type]))].sort(
    (a, b) => b.length - a.length,
  );
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    const key = eq > 0 ? assignment.slice(0, eq) : '';
    const owner = names.find((n) => key.startsWith(`${n}.`));
    if (!owner) {
      throw new HoardError(
        'USAGE',
        `--param "${assignment}": expected TYPE#ID.FIELD=VALUE or TYPE.FIELD=VALUE with one of: ${names.join(', ')}`,
      );
    }
    const path = key.slice(owner.length + 1).split('.');
    const raw = assignment.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[owner] ??= {};
    let at: Record<string, unknown> = out[owner];
    for (const field of path.slice(0, -1)) {
      const next = at[field];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) at[field] = {};
      at = at[field] as Record<string, unknown>;
    }
    at[path[path.length - 1]!] = value;
  }
  return out;
}
