/**
 * What a project token may ask of the server's host. The API runs operations as the
 * server's own user, so two things are held back from non-admin tokens:
 *
 * - `exec.task` runs shell commands: only an admin token may create a plan that has one or
 *   pass exec.task parameters to a restore or verify;
 * - paths: with `hoard serve --path-root DIR` (repeatable), every `path` of a plan's
 *   resources and every restore `target` that is a path a project token names must lie
 *   inside one of the roots.
 *
 * And for every token: a restore target that is a path must be absolute (a relative one
 * would land wherever the server happened to be started).
 */
import { isAbsolute, relative, resolve } from 'node:path';
import type { TokenRecord } from '../catalog/index.js';
import { HoardError } from '../errors.js';
import type { PreparedOperation } from '../flows/checkpoint-ops.js';
import type { Provider } from '../providers/provider.js';
import { ApiError } from './http-errors.js';

const EXEC = 'exec.task';

export interface HostPolicy {
  /** Directories project tokens' paths must lie in; empty = anywhere. */
  pathRoots: readonly string[];
}

const forbidden = (message: string) => new ApiError(403, 'FORBIDDEN', message);

function isExec(key: string): boolean {
  return key === EXEC || key.startsWith(`${EXEC}#`);
}

export function inside(path: string, roots: readonly string[]): boolean {
  const full = resolve(path);
  return roots.some((root) => {
    const rel = relative(resolve(root), full);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  });
}

function checkPath(path: unknown, field: string, policy: HostPolicy): void {
  if (typeof path !== 'string' || policy.pathRoots.length === 0) return;
  if (!inside(path, policy.pathRoots))
    throw forbidden(`${field} "${path}" is outside the server's path roots (${policy.pathRoots.join(', ')})`);
}

/** A plan a project token creates or replaces. */
export function checkPlanAllowed(
  token: TokenRecord | null,
  plan: { resources: unknown[]; parameters?: Record<string, unknown> },
  policy: HostPolicy,
): void {
  if (token?.admin) return;
  plan.resources.forEach((r, i) => {
    const resource = r as { type?: unknown; path?: unknown };
    if (resource.type === EXEC)
      throw forbidden(
        `resources[${i}] is an exec.task, which runs shell commands on the server: only an admin token may create it`,
      );
    checkPath(resource.path, `resources[${i}].path`, policy);
  });
  for (const key of Object.keys(plan.parameters ?? {}))
    if (isExec(key)) throw forbidden(`parameters["${key}"]: only an admin token may set exec.task commands`);
}

/** Restore or verify parameters from a project token: no exec.task commands. */
export function checkOperationAllowed(
  token: TokenRecord | null,
  request: { parameters?: Record<string, unknown> },
): void {
  if (token?.admin) return;
  for (const key of Object.keys(request.parameters ?? {}))
    if (isExec(key)) throw forbidden(`parameters["${key}"]: only an admin token may set exec.task commands`);
}

/**
 * The restore targets of a checked restore that are paths on the server — those of types
 * whose resources have a `path` (fs.directory, sqlite.database; a postgres.database target
 * is a database name): absolute, and for a project token inside the path roots.
 */
export function checkRestoreTargets(
  token: TokenRecord | null,
  prepared: PreparedOperation,
  provider: Provider,
  policy: HostPolicy,
): void {
  for (const node of prepared.graph.nodes) {
    const { spec } = provider.registry.handler(node.resource.type);
    const fields = (spec.schemas?.resource as { properties?: Record<string, unknown> } | undefined)
      ?.properties;
    if (!spec.restoreTarget || fields?.path === undefined) continue;
    const target = prepared.parameters.get(node.key)?.parameters.target;
    if (typeof target !== 'string') continue;
    if (!isAbsolute(target))
      throw new HoardError(
        'PARAMS_INVALID',
        `restore target "${target}" of ${node.key} is a relative path: give an absolute path on the server`,
        { details: { resource: node.key, target } },
      );
    if (!token?.admin) checkPath(target, `the restore target of ${node.key}`, policy);
  }
}
