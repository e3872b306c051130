/**
 * What a project token may ask of the server's host. The API runs operations as the
 * server's own user, so two things are held back from non-admin tokens:
 *
 * - `exec.task` runs shell commands: only an admin token may create a plan that has one or
 *   pass exec.task parameters to a restore or verify;
 * - paths: with `hoard serve --path-root DIR` (repeatable), every `path` of a plan's
 *   resources and every absolute restore `target` a project token names must lie inside
 *   one of the roots.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import type { TokenRecord } from '../catalog/index.js';
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

/** Restore or verify parameters (and target) from a project token. */
export function checkOperationAllowed(
  token: TokenRecord | null,
  request: { target?: string; parameters?: Record<string, unknown> },
  policy: HostPolicy,
): void {
  if (token?.admin) return;
  if (request.target !== undefined && isAbsolute(request.target)) checkPath(request.target, 'target', policy);
  for (const [key, value] of Object.entries(request.parameters ?? {})) {
    if (isExec(key)) throw forbidden(`parameters["${key}"]: only an admin token may set exec.task commands`);
    const target = (value as { target?: unknown } | null)?.target;
    if (typeof target === 'string' && isAbsolute(target))
      checkPath(target, `parameters["${key}"].target`, policy);
  }
}
